"""What Berth asks of a deployer: one Protocol every runtime driver (podman, Kubernetes) implements
whole, so a capability is read from a declared attribute, never probed with hasattr."""
from __future__ import annotations

from typing import ClassVar, Protocol, Self

from services.deploy.drivers.spec import DeploySpec, DeployStatus, LogStream


class Follower(Protocol):
    """A rollout being followed: `wait(timeout)` returns True as soon as the runtime reports a change
    (read the status again), False when the timeout passed without one."""

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc) -> None: ...

    def wait(self, timeout: float) -> bool: ...


class Deployer(Protocol):
    name: ClassVar[str]
    publishes_host_ports: ClassVar[bool]  # exposed ports are published on this machine (podman)
    probes_itself: ClassVar[bool]  # the runtime runs the health check (the kubelet); else Berth does
    max_replicas: ClassVar[int | None]  # None: as many as asked
    shares_volumes: ClassVar[bool]  # two components may mount one volume (podman); else ReadWriteOnce

    def apply(self, spec: DeploySpec) -> None: ...

    def status(self, spec: DeploySpec) -> DeployStatus: ...

    def delete(self, spec: DeploySpec) -> None:
        """Remove what runs; the component's volumes stay (see delete_volume)."""
        ...

    def delete_volume(self, namespace: str, name: str) -> None:
        """Delete one of the team's volumes and its data."""
        ...

    def address_of(self, namespace: str, name: str) -> str:
        """The host name the team's other components reach the component `name` by."""
        ...

    def follow(self, spec: DeploySpec) -> Follower:
        """What a release waits on during its rollout (a context manager); see Follower."""
        ...

    def restart(self, spec: DeploySpec) -> None: ...

    def logs(self, spec: DeploySpec, tail: int = 200, since_seconds: int | None = None,
             previous: bool = False) -> list[LogStream]: ...

    def events(self, spec: DeploySpec) -> list[dict]: ...

    def refresh_pull_secret(self, spec: DeploySpec) -> bool: ...

    def host_port_free(self, port: int) -> bool:
        """Whether a host port may be given to a component now (always, where none are published)."""
        ...

    def probe_address(self, spec: DeploySpec) -> tuple[str, int] | None:
        """Where Berth's own health check reaches the component (None where the runtime probes)."""
        ...
