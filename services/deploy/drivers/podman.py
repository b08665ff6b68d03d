"""Local deployer: `podman kube play` of the same manifests Kubernetes gets."""
from __future__ import annotations

import base64
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import yaml

from services.deploy.drivers import manifests
from services.deploy.drivers.spec import DeployError, DeploySpec, DeployStatus, LogStream, Ticker

KEY_LABEL = "berth.dev/key"


def plain_words(stderr: str) -> str:
    """Podman's error output to a sentence a user can act on."""
    text = stderr.strip().splitlines()
    last = next((line for line in reversed(text) if line.startswith("Error")), text[-1] if text else "")
    lowered = stderr.lower()
    if "manifest unknown" in lowered or "name unknown" in lowered or "not found" in lowered and "manifest" in lowered:
        return "Image pull failed (ErrImagePull): the image or tag does not exist in the registry."
    if "unauthorized" in lowered or "authentication required" in lowered or "401" in lowered:
        return ("Image pull failed (ErrImagePull): the registry refused access; the image is private and "
                "Berth has no valid credentials for it.")
    if "denied" in lowered:
        return "Image pull failed (ErrImagePull): access to the image was denied (403)."
    if "connection refused" in lowered or "no such host" in lowered:
        return "Image pull failed (ErrImagePull): the registry could not be reached."
    if "address already in use" in lowered or "port is already allocated" in lowered:
        return "The host port is already in use by another program or component."
    return re.sub(r"\s+", " ", last)[:500] or "podman failed without a message."


_STARTED = re.compile(r"^(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)(\.\d+)?\s*(Z|[+-]\d\d:?\d\d)?")


def _uptime(started_at: str) -> float:
    """Seconds since podman's StartedAt (RFC 3339 with nanoseconds, or Go's default format); when it
    cannot be read, the container is taken as settled (never waiting forever on a format)."""
    m = _STARTED.match(started_at or "")
    if not m:
        return float("inf")
    fraction = (m.group(3) or ".0")[:7]
    zone = (m.group(4) or "Z").replace("Z", "+00:00")
    if len(zone) == 5:
        zone = zone[:3] + ":" + zone[3:]
    try:
        started = datetime.fromisoformat(f"{m.group(1)}T{m.group(2)}{fraction}{zone}")
    except ValueError:
        return float("inf")
    return (datetime.now(UTC) - started).total_seconds()


class PodmanDeployer:
    name = "podman"
    publishes_host_ports = True
    probes_itself = False  # no systemd timers here: Berth runs the health check (services.deploy.drivers.probe)
    max_replicas = 1  # `podman kube play` starts one pod whatever the Deployment's replicas
    shares_volumes = True  # named volumes: any container on this machine may mount one

    def __init__(self, workdir: str | Path, podman: str = "podman", timeout: int = 300,
                 publish_address: str = "127.0.0.1", settle: float = 2.0, pod_prefix: str = ""):
        self.workdir = Path(workdir)
        # Prepended to every pod's name and key label, so two Berths (or two test runs) on one machine
        # never touch each other's pods.
        self.pod_prefix = pod_prefix
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.podman = podman
        self.timeout = timeout
        self.publish_address = publish_address
        # A container counts as running once it has stayed up this long (one that exits at once fails).
        self.settle = settle

    @staticmethod
    def available() -> bool:
        return shutil.which("podman") is not None

    def _key(self, spec: DeploySpec) -> str:
        return f"{self.pod_prefix}{spec.namespace}-{spec.name}"

    def _run(self, *args: str, check: bool = True, merge_output: bool = False) -> subprocess.CompletedProcess:
        """The one way Berth calls podman: a timeout, errors in plain words."""
        try:
            result = subprocess.run([self.podman, *args], stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT if merge_output else subprocess.PIPE,
                                    text=True, errors="replace", timeout=self.timeout, env=os.environ.copy())
        except subprocess.TimeoutExpired as e:
            raise DeployError(f"podman {args[0]} did not finish within {self.timeout}s.") from e
        except FileNotFoundError as e:
            raise DeployError("podman is not installed on this machine.") from e
        if check and result.returncode != 0:
            raise DeployError(plain_words(result.stderr))
        return result

    def _network(self, namespace: str) -> str:
        """The team's own network, made at its first deploy: its pods find each other by name there
        (CNI's dnsname plugin) and no other team's pod shares it."""
        name = f"{self.pod_prefix}{namespace}"
        if self._run("network", "exists", name, check=False).returncode != 0:
            result = self._run("network", "create", name, check=False)
            if result.returncode != 0 and "already exists" not in result.stderr:  # or made meanwhile
                raise DeployError(plain_words(result.stderr))
        return name

    def address_of(self, namespace: str, name: str) -> str:
        """The host name other components of the team reach this one by: its pod's name, which
        `kube play` (4.3) gives as <deployment>-pod-0 and dnsname resolves on the team's network."""
        return f"{self.pod_prefix}{namespace}-{name}-pod-0"

    def _volume_prefix(self, namespace: str) -> str:
        """Named volumes are the machine's: a team's volume `data` is `<prefix><namespace>-data`
        (`kube play` creates it at the first mount and keeps it through `kube down`)."""
        return f"{self.pod_prefix}{namespace}-"

    def delete_volume(self, namespace: str, name: str) -> None:
        """Delete a named volume and its data; refused while a container still uses it."""
        result = self._run("volume", "rm", f"{self._volume_prefix(namespace)}{name}", check=False)
        if result.returncode != 0 and "no such volume" not in result.stderr.lower():
            raise DeployError(plain_words(result.stderr))

    def _files_dir(self, spec: DeploySpec) -> Path:
        return self.workdir / "files" / self._key(spec)

    def _write_files(self, spec: DeploySpec) -> list[str]:
        """Write the config files of this release where its pod mounts them (podman 4.3 mounts a
        ConfigMap as a whole directory, ignoring subPath and modes): one directory per release, so
        the pod still running keeps its own until it is replaced; only Berth may enter it."""
        base = self._files_dir(spec)
        here = base / str(spec.release_id)
        if not spec.files:
            return []
        base.mkdir(parents=True, exist_ok=True, mode=0o700)
        here.mkdir(exist_ok=True, mode=0o700)  # the runtime mounts each file; nobody else need enter
        paths = []
        for i, f in enumerate(spec.files):
            path = here / manifests.file_key(i)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(f.content)
            os.chmod(path, f.mode)
            paths.append(str(path))
        return paths

    def _prune_files(self, spec: DeploySpec, keep: int | None) -> None:
        """Remove the config files of other releases than `keep` (of every release when None)."""
        base = self._files_dir(spec)
        if keep is None:
            shutil.rmtree(base, ignore_errors=True)
        elif base.is_dir():
            for old in base.iterdir():
                if old.name != str(keep):
                    shutil.rmtree(old, ignore_errors=True)

    def _manifest_path(self, spec: DeploySpec) -> Path:
        return self.workdir / f"{self._key(spec)}.yaml"

    def apply(self, spec: DeploySpec) -> None:
        local = replace(spec, name=self._key(spec))
        docs = [manifests.deployment(local, host_ip=self.publish_address, probes=False,
                                     claim_prefix=self._volume_prefix(spec.namespace),
                                     host_files=self._write_files(spec))]
        # Let the pod find itself by a label that is unique across teams.
        docs[0]["spec"]["template"]["metadata"]["labels"][KEY_LABEL] = local.name
        path = self._manifest_path(spec)
        path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
        args = ["kube", "play", "--replace", f"--tls-verify={'true' if spec.tls_verify else 'false'}",
                "--network", self._network(spec.namespace)]
        authfile = None
        cert_dir = None
        try:
            if spec.ca_bundle and spec.tls_verify:  # podman trusts every *.crt in --cert-dir for this pull
                cert_dir = tempfile.mkdtemp(prefix="berth-certs-")
                Path(cert_dir, "ca.crt").write_text(spec.ca_bundle)
                args += ["--cert-dir", cert_dir]
            if spec.credentials:
                c = spec.credentials
                fd, authfile = tempfile.mkstemp(prefix="berth-auth-", suffix=".json")
                with os.fdopen(fd, "w") as f:
                    auth = base64.b64encode(f"{c.username}:{c.password}".encode()).decode()
                    json.dump({"auths": {c.host: {"auth": auth}}}, f)
                args += ["--authfile", authfile]
            result = self._run(*args, str(path), check=False)
        finally:
            if authfile:
                os.unlink(authfile)
            if cert_dir:
                shutil.rmtree(cert_dir, ignore_errors=True)
        # podman 4.3 can exit 0 after a failed pull; its "Error:" line is the truth.
        if result.returncode != 0 or "\nError:" in "\n" + result.stderr:
            raise DeployError(plain_words(result.stderr))
        self._prune_files(spec, keep=spec.release_id)

    def _containers(self, spec: DeploySpec) -> list[dict]:
        pods = json.loads(self._run("pod", "ps", "--filter", f"label={KEY_LABEL}={self._key(spec)}",
                                    "--format", "json").stdout or "[]")
        names = [c["Names"] for pod in pods for c in pod.get("Containers", []) if not c["Names"].endswith("-infra")]
        if not names:
            return []
        return json.loads(self._run("inspect", *names).stdout or "[]")

    def status(self, spec: DeploySpec) -> DeployStatus:
        containers = self._containers(spec)
        if not containers:
            return DeployStatus("stopped", "NotFound", "No pod is running for this component.")
        for c in containers:
            state = c.get("State", {})
            if state.get("OOMKilled"):
                return DeployStatus("failed", "OOMKilled", "The container ran out of memory and was killed; "
                                    "raise the memory limit.")
            if state.get("Status") in ("exited", "stopped", "dead"):
                restarts = c.get("RestartCount", 0)
                reason = "CrashLoopBackOff" if restarts else "Error"
                return DeployStatus("failed", reason, f"The container exited with code {state.get('ExitCode')}"
                                    + (f" after {restarts} restarts." if restarts else "."))
        if all(c.get("State", {}).get("Running") for c in containers):
            up = min(_uptime(c.get("State", {}).get("StartedAt", "")) for c in containers)
            if up >= self.settle:
                return DeployStatus("running", "Running", "The container is running.")
            return DeployStatus("deploying", "Started", "The container started; checking that it stays up.")
        return DeployStatus("deploying", "ContainerCreating", "The container is starting.")

    def follow(self, spec: DeploySpec) -> Ticker:
        """podman has no watch a release could wait on: the status is read again after each pause."""
        return Ticker()

    def delete(self, spec: DeploySpec) -> None:
        path = self._manifest_path(spec)
        if path.exists():
            self._run("kube", "down", str(path), check=False)
            path.unlink(missing_ok=True)
        for c in self._containers(spec):
            self._run("pod", "rm", "-f", c.get("Pod", ""), check=False)
        self._prune_files(spec, keep=None)

    def host_port_free(self, port: int) -> bool:
        """Whether nothing listens on this host port now (another program, or a pod Berth forgot)."""
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((self.publish_address or "0.0.0.0", port))
            except OSError:
                return False
        return True

    def probe_address(self, spec: DeploySpec) -> tuple[str, int] | None:
        """Where the health check's port answers on the host (None when it is not published)."""
        port = next((p for p in spec.ports if p.port == spec.health.port and p.expose), None)
        if port is None:
            return None
        host = "127.0.0.1" if self.publish_address in ("0.0.0.0", "127.0.0.1", "") else self.publish_address
        return host, port.host_port or port.port

    def logs(self, spec: DeploySpec, tail: int = 200, since_seconds: int | None = None,
             previous: bool = False) -> list[LogStream]:
        """The last lines of each container (a crashed one's too: podman keeps its log)."""
        streams = []
        for c in self._containers(spec):
            name = c.get("Name", "?")
            args = ["logs", "--tail", str(tail)]
            if since_seconds:
                args += ["--since", f"{since_seconds}s"]
            result = self._run(*args, name, check=False, merge_output=True)
            lines = result.stdout.splitlines()
            short = name.removeprefix(f"{self._key(spec)}-pod-")
            if result.returncode != 0:
                streams.append(LogStream(short, [], error=plain_words(result.stdout)))
            else:
                streams.append(LogStream(short, lines[-tail:]))
        return streams

    def refresh_pull_secret(self, spec: DeploySpec) -> bool:
        """Nothing to refresh: podman gets an auth file with the current credentials at each pull."""
        return False

    def restart(self, spec: DeploySpec) -> None:
        pods = {c.get("Pod") for c in self._containers(spec) if c.get("Pod")}
        if not pods:
            raise DeployError("No pod is running for this component.")
        for pod in pods:
            self._run("pod", "restart", pod)

    def events(self, spec: DeploySpec) -> list[dict]:
        """Podman has no event objects per component; the state and log tell the story."""
        return []

    def inspect(self, spec: DeploySpec) -> list[dict]:
        """Raw podman inspection of the component's containers (for the UI and tests)."""
        return self._containers(spec)
