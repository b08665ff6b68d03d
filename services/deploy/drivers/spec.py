"""What a deployer needs to run one component, as plain values."""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from services.errors import BerthError


class DeployError(BerthError):
    """A deploy step failed; the message is in plain words and safe to show."""

    def __init__(self, message: str, *, status: int | None = None, conflicts: tuple = ()):
        super().__init__(message)
        self.status = status
        self.conflicts = conflicts  # Kubernetes: (field manager, field) another manager owns


@dataclass
class PullCredentials:
    host: str
    username: str
    password: str


@dataclass
class Port:
    port: int
    protocol: str = "TCP"
    expose: bool = True
    host_port: int | None = None  # podman: the port on the host (assigned from a range when not chosen)
    public_host: str | None = None  # Kubernetes: a host name an Ingress routes to this port


@dataclass
class Volume:
    """A named persistent volume mounted into the container: a podman named volume, or a
    PersistentVolumeClaim (ReadWriteOnce) of `size_mb` on Kubernetes. It outlives the component."""

    name: str
    path: str
    size_mb: int = 1024
    read_only: bool = False


@dataclass
class ConfigFile:
    """A file written in Berth and mounted read-only into the container at `path` (a ConfigMap, or a
    Secret for a secret file, on Kubernetes; a file Berth writes and mounts on podman)."""

    path: str
    content: str
    mode: int = 0o644
    secret: bool = False


@dataclass
class HealthCheck:
    """One probe for readiness and liveness: an HTTP GET answering 2xx/3xx, or a TCP connect."""

    kind: str  # http / tcp
    port: int
    path: str = "/"
    initial_delay: int = 0
    period: int = 10
    failure_threshold: int = 3
    timeout: int = 2


@dataclass
class DeploySpec:
    namespace: str
    name: str
    application: str
    image: str  # pinned: host/repo@sha256:…
    release_id: int
    replicas: int = 1
    memory_mb: int = 256
    cpu_millicores: int | None = None
    env: list[tuple[str, str]] = field(default_factory=list)
    ports: list[Port] = field(default_factory=list)
    credentials: PullCredentials | None = None
    tls_verify: bool = True
    ca_bundle: str | None = None  # a private registry CA (PEM); podman gets it per pull, clusters must trust it
    health: HealthCheck | None = None
    run_as_root: bool = False  # Kubernetes: without it, the pod meets Pod Security "restricted"
    replicas_elsewhere: bool = False  # Kubernetes: replicas are left to an autoscaler or kubectl scale
    command: list[str] | None = None  # overrides the image's entrypoint (None: the image's)
    args: list[str] | None = None  # overrides the image's command (None: the image's)
    volumes: list[Volume] = field(default_factory=list)
    files: list[ConfigFile] = field(default_factory=list)
    version: str = ""  # the tag the digest was resolved from (a label; the image stays pinned by digest)


@dataclass
class LogStream:
    """The last lines one container printed (oldest first)."""

    name: str  # replica/container, as the runtime names it
    lines: list[str]
    previous: bool = False  # Kubernetes: the crashed run before the current one
    error: str = ""


@dataclass
class DeployStatus:
    """state: deploying / running / failed / stopped / unknown; reason: the runtime's own word."""

    state: str
    reason: str = ""
    message: str = ""

    @property
    def done(self) -> bool:
        return self.state in ("running", "failed", "stopped")


class Ticker:
    """How a release follows a runtime that cannot tell it about changes (podman): every wait is a
    plain pause, after which the status is read again."""

    def __enter__(self) -> Ticker:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def wait(self, timeout: float) -> bool:
        time.sleep(timeout)
        return True
