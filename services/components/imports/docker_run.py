"""A `docker run` command line as a component: every flag read with shell quoting and docker's own
flag table, and a report of what became of each one — mapped (to what), changed (how) or dropped
(why). Nothing is dropped silently. Pure: no Flask, no database."""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

from services.deploy.drivers.spec import HealthCheck, Port, Volume
from services.errors import BerthError

MAPPED, CHANGED, DROPPED = "mapped", "changed", "dropped"
MAX_LINE = 64 * 1024
MAX_PORTS = 50

# docker run's options (docker 27): the long name, its short one, whether it takes a value.
VALUE_FLAGS = {
    "add-host", "annotation", "attach", "blkio-weight", "blkio-weight-device", "cap-add", "cap-drop", "cgroup-parent",
    "cgroupns", "cidfile", "cpu-count", "cpu-percent", "cpu-period", "cpu-quota", "cpu-rt-period", "cpu-rt-runtime",
    "cpu-shares", "cpus", "cpuset-cpus", "cpuset-mems", "detach-keys", "device", "device-cgroup-rule",
    "device-read-bps", "device-read-iops", "device-write-bps", "device-write-iops", "dns", "dns-opt", "dns-option",
    "dns-search", "domainname", "entrypoint", "env", "env-file", "expose", "gpus", "group-add", "health-cmd",
    "health-interval", "health-retries", "health-start-interval", "health-start-period", "health-timeout",
    "hostname", "io-maxbandwidth", "io-maxiops", "ip", "ip6", "ipc", "isolation", "kernel-memory", "label",
    "label-file", "link", "link-local-ip", "log-driver", "log-opt", "mac-address", "memory", "memory-reservation",
    "memory-swap", "memory-swappiness", "mount", "name", "net", "net-alias", "network", "network-alias",
    "oom-score-adj", "pid", "pids-limit", "platform", "publish", "pull", "restart", "runtime", "security-opt",
    "shm-size", "stop-signal", "stop-timeout", "storage-opt", "sysctl", "tmpfs", "ulimit", "user", "userns", "uts",
    "volume", "volume-driver", "volumes-from", "workdir",
}
BOOL_FLAGS = {"detach", "disable-content-trust", "help", "init", "interactive", "no-healthcheck", "oom-kill-disable",
              "privileged", "publish-all", "quiet", "read-only", "rm", "sig-proxy", "tty", "use-api-socket"}
SHORT = {"a": "attach", "c": "cpu-shares", "d": "detach", "e": "env", "h": "hostname", "i": "interactive",
         "l": "label", "m": "memory", "p": "publish", "P": "publish-all", "q": "quiet", "t": "tty", "u": "user",
         "v": "volume", "w": "workdir"}

# Flags Berth has no counterpart for, with the reason the report gives.
WHY_DROPPED = {
    "privileged": "Never: a component gets no extra privileges (Pod Security, and podman alike).",
    "cap-add": "Components get no extra Linux capabilities.",
    "cap-drop": "Capabilities are Berth's to set (every one dropped unless the component runs as root).",
    "device": "Host devices are never passed to a component.",
    "gpus": "Berth does not schedule GPUs.",
    "pid": "Components never share the host's or another container's process namespace.",
    "ipc": "Components never share IPC namespaces.",
    "uts": "Components never share the host's UTS namespace.",
    "userns": "User namespaces are the runtime's to set.",
    "cgroupns": "Cgroup namespaces are the runtime's to set.",
    "cgroup-parent": "Cgroups are the runtime's to set.",
    "security-opt": "Security options are Berth's to set (seccomp RuntimeDefault).",
    "sysctl": "Kernel parameters are not set per component.",
    "add-host": "Extra /etc/hosts entries are not supported; use a connection to another component.",
    "dns": "DNS is the runtime's (the cluster's, or the team's podman network).",
    "dns-option": "DNS is the runtime's.",
    "dns-opt": "DNS is the runtime's.",
    "dns-search": "DNS is the runtime's.",
    "hostname": "A component's host name is its pod's.",
    "domainname": "A component's host name is its pod's.",
    "mac-address": "Addresses are the runtime's.",
    "ip": "Addresses are the runtime's.",
    "ip6": "Addresses are the runtime's.",
    "link-local-ip": "Addresses are the runtime's.",
    "link": "Legacy links are not supported; connect the component to the other one instead (Connects to).",
    "volumes-from": "Use a named volume shared within the application instead.",
    "volume-driver": "Volumes use the runtime's default driver (or the configured storage class).",
    "tmpfs": "tmpfs mounts are not supported; the container's own filesystem is writable.",
    "log-driver": "Logs are the runtime's; Berth reads them on the Logs tab.",
    "log-opt": "Logs are the runtime's.",
    "label": "Container labels are Berth's to set.",
    "label-file": "Container labels are Berth's to set.",
    "annotation": "Annotations are Berth's to set.",
    "ulimit": "Limits are the runtime's.",
    "shm-size": "The shared memory size is the runtime's default.",
    "memory-reservation": "Berth sets one memory limit, used as the request too.",
    "memory-swap": "Swap is not configured per component.",
    "memory-swappiness": "Swap is not configured per component.",
    "kernel-memory": "Not supported by current kernels or Berth.",
    "oom-kill-disable": "A component over its memory limit is killed and reported (OOMKilled).",
    "oom-score-adj": "The runtime sets OOM scores.",
    "pids-limit": "Process limits are the runtime's.",
    "cpu-shares": "Berth sets a CPU limit (--cpus), not relative shares.",
    "cpu-period": "Berth sets a CPU limit (--cpus) instead.",
    "cpu-quota": "Berth sets a CPU limit (--cpus) instead.",
    "cpu-rt-period": "Real-time scheduling is not supported.",
    "cpu-rt-runtime": "Real-time scheduling is not supported.",
    "cpuset-cpus": "CPUs are not pinned per component.",
    "cpuset-mems": "Memory nodes are not pinned per component.",
    "cpu-count": "Windows only.",
    "cpu-percent": "Windows only.",
    "io-maxbandwidth": "Windows only.",
    "io-maxiops": "Windows only.",
    "isolation": "Windows only.",
    "blkio-weight": "Block I/O weights are not set per component.",
    "blkio-weight-device": "Block I/O weights are not set per component.",
    "device-read-bps": "Device limits are not set per component.",
    "device-read-iops": "Device limits are not set per component.",
    "device-write-bps": "Device limits are not set per component.",
    "device-write-iops": "Device limits are not set per component.",
    "device-cgroup-rule": "Host devices are never passed to a component.",
    "storage-opt": "Storage options are the runtime's.",
    "runtime": "The runtime is Berth's (runc on podman, the cluster's on Kubernetes).",
    "group-add": "Supplementary groups are not set per component.",
    "user": "Berth runs the image's user (non-root on Kubernetes unless 'Run as root'); no user setting yet.",
    "workdir": "Berth has no working-directory setting yet; the image's WORKDIR applies.",
    "read-only": "A read-only root filesystem is not supported yet.",
    "init": "No init process is added; the image's entrypoint runs as PID 1.",
    "stop-signal": "Components stop with the runtime's signal (SIGTERM).",
    "stop-timeout": "The runtime's grace period applies.",
    "interactive": "Components run unattended, without stdin.",
    "tty": "Components run without a terminal.",
    "attach": "Components run unattended; read their output on the Logs tab.",
    "sig-proxy": "Components run unattended.",
    "detach-keys": "Components run unattended.",
    "rm": "Berth keeps the container until the component is deleted.",
    "cidfile": "No container id file is written.",
    "pull": "Berth pulls the exact digest of each release.",
    "disable-content-trust": "Content trust is not checked by this flag.",
    "quiet": "Nothing to quiet.",
    "help": "Not a setting.",
    "use-api-socket": "Components never get the engine's socket.",
    "network-alias": "A component is reached by its own name (Connects to).",
    "net-alias": "A component is reached by its own name (Connects to).",
    "platform": "Berth deploys the image's digest for its runtime's platform; see 'Only when the image has my "
                "platform' under Build source.",
}

UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "m": 1024**2, "mb": 1024**2, "g": 1024**3, "gb": 1024**3,
         "t": 1024**4, "tb": 1024**4}


class CommandError(BerthError):
    """The command line cannot be read at all (not one flag of it)."""


@dataclass
class Outcome:
    flag: str  # as written, e.g. "-p 127.0.0.1:8080:80"
    fate: str  # mapped / changed / dropped
    detail: str


@dataclass
class Plan:
    image: str = ""
    name: str = ""
    command: list[str] | None = None
    args: list[str] | None = None
    env: list[tuple[str, str]] = field(default_factory=list)
    ports: list[Port] = field(default_factory=list)
    volumes: list[Volume] = field(default_factory=list)
    memory_mb: int | None = None
    cpu_millicores: int | None = None
    health: HealthCheck | None = None
    report: list[Outcome] = field(default_factory=list)

    def add(self, flag: str, fate: str, detail: str) -> None:
        self.report.append(Outcome(flag, fate, detail))


def words(line: str) -> list[str]:
    """The command line as the shell would split it (line continuations joined, comments dropped)."""
    if len(line) > MAX_LINE:
        raise CommandError(f"The command has {len(line):,} characters; at most {MAX_LINE:,}.")
    joined = re.sub(r"\\\r?\n", " ", line.strip())
    try:
        lexer = shlex.shlex(joined, posix=True, punctuation_chars=False)
        lexer.whitespace_split = True
        lexer.commenters = "#"
        return list(lexer)
    except ValueError as e:
        raise CommandError(f"The command cannot be split as a shell would: {e}.") from None


def _strip_prefix(argv: list[str]) -> list[str]:
    """What follows `[sudo] docker|podman [container] run`."""
    i = 0
    while i < len(argv) and argv[i] in ("sudo", "$", "#"):
        i += 1
    if i < len(argv) and re.fullmatch(r"(\S*/)?(docker|podman|nerdctl)", argv[i]):
        i += 1
        if i < len(argv) and argv[i] == "container":
            i += 1
        if i < len(argv) and argv[i] in ("run", "create"):
            return argv[i + 1:]
        raise CommandError("This is not a `docker run` command (expected `docker run …`).")
    if i < len(argv) and argv[i] == "run":
        return argv[i + 1:]
    raise CommandError("Paste a command starting with `docker run` (or `podman run`).")


def parse(line: str, env_file: str = "") -> Plan:
    """Read a docker run line; `env_file` is the content of the file(s) --env-file names, pasted."""
    argv = _strip_prefix(words(line))
    plan = Plan()
    flags: list[tuple[str, str, str | None]] = []  # (as written, long name, value)
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--":
            i += 1
            break
        if not word.startswith("-") or word == "-":
            break
        if word.startswith("--"):
            name, eq, value = word[2:].partition("=")
            if name in VALUE_FLAGS and not eq:
                if i + 1 >= len(argv):
                    raise CommandError(f"{word} needs a value.")
                value, i = argv[i + 1], i + 1
                flags.append((f"{word} {shlex.quote(value)}", name, value))
            elif name in VALUE_FLAGS:
                flags.append((word, name, value))
            elif name in BOOL_FLAGS:
                flags.append((word, name, value if eq else None))
            else:
                flags.append((word, "?", value if eq else None))
            i += 1
            continue
        # Short flags: -it, -p8080:80, -e FOO=bar, -dp 80:80
        j = 1
        while j < len(word):
            letter = word[j]
            name = SHORT.get(letter)
            if name is None:
                flags.append((f"-{letter}", "?", None))
                j += 1
                continue
            if name in VALUE_FLAGS:
                rest = word[j + 1:]
                if rest.startswith("="):
                    rest = rest[1:]
                if rest:
                    flags.append((f"-{letter} {shlex.quote(rest)}", name, rest))
                else:
                    if i + 1 >= len(argv):
                        raise CommandError(f"-{letter} needs a value.")
                    i += 1
                    flags.append((f"-{letter} {shlex.quote(argv[i])}", name, argv[i]))
                break
            flags.append((f"-{letter}", name, None))
            j += 1
        i += 1
    if i >= len(argv):
        raise CommandError("The command names no image (it comes after the options).")
    plan.image = argv[i]
    plan.add(plan.image, MAPPED, f"image {plan.image}")
    rest = argv[i + 1:]
    if rest:
        plan.args = rest
        plan.add(shlex.join(rest), MAPPED, f"arguments {shlex.join(rest)} (instead of the image's command)")
    health: dict = {}
    for written, name, value in flags:
        _apply(plan, written, name, value, env_file, health)
    _health(plan, health)
    if not plan.name:
        plan.name = suggest_name(plan.image)
        plan.add("(no --name)", CHANGED, f"named {plan.name} after the image")
    return plan


def suggest_name(image: str) -> str:
    last = image.split("@")[0].rsplit("/", 1)[-1].split(":")[0].lower()
    return re.sub(r"[^a-z0-9-]+", "-", last).strip("-")[:63] or "app"


def size_mb(text: str) -> int | None:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([a-zA-Z]{0,2})", text.strip())
    if not m or m.group(2).lower() not in UNITS:
        return None
    return max(1, round(float(m.group(1)) * UNITS[m.group(2).lower()] / 1024**2))


def _apply(plan: Plan, written: str, name: str, value: str | None, env_file: str, health: dict) -> None:
    if name == "?":
        plan.add(written, DROPPED, "Not an option of docker run that Berth knows.")
    elif name in ("env", "env-file"):
        _env(plan, written, name, value or "", env_file)
    elif name == "publish":
        publish(plan, written, value or "")
    elif name == "expose":
        _expose(plan, written, value or "")
    elif name == "publish-all":
        plan.add(written, CHANGED, "every exposed port is published: on podman each gets a host port from "
                 "BERTH_HOST_PORTS (tick Expose on the image's ports below); on Kubernetes a Service reaches them")
    elif name in ("volume", "mount"):
        volume(plan, written, name, value or "")
    elif name == "memory":
        mb = size_mb(value or "")
        if mb is None or mb < 4:
            plan.add(written, DROPPED, "Not a memory size Berth can read (e.g. 512m, 1g; at least 4 MiB).")
        else:
            plan.memory_mb = mb
            plan.add(written, MAPPED, f"memory limit {mb} MiB (also the request)")
    elif name == "cpus":
        try:
            millicores = round(float(value or "") * 1000)
        except ValueError:
            millicores = 0
        if millicores < 10:
            plan.add(written, DROPPED, "Not a CPU count Berth can read (e.g. 0.5, 2).")
        else:
            plan.cpu_millicores = millicores
            plan.add(written, MAPPED, f"CPU limit {millicores} millicores")
    elif name == "name":
        wanted = suggest_name(value or "")
        plan.name = wanted
        plan.add(written, MAPPED if wanted == value else CHANGED,
                 f"component name {wanted}" + ("" if wanted == value else " (lowercase letters, digits and dashes)"))
    elif name == "restart":
        policy = (value or "").split(":")[0]
        if policy in ("always", "unless-stopped"):
            plan.add(written, MAPPED, "restarted whenever it stops (what Kubernetes and podman pods do)")
        else:
            plan.add(written, CHANGED, f"'{policy}' becomes 'always': a component is restarted whenever it stops")
    elif name == "entrypoint":
        plan.command = [value] if value else []
        plan.add(written, MAPPED, f"command {value or '(empty)'} (instead of the image's entrypoint)")
    elif name.startswith("health-") or name == "no-healthcheck":
        health[name] = (written, value)
    elif name == "detach":
        plan.add(written, CHANGED, "always: components run in the background")
    elif name in ("network", "net"):
        if value in ("host", "none") or (value or "").startswith(("container:", "ns:")):
            plan.add(written, DROPPED, f"Components never use the {value} network; they get their own, and reach "
                     "each other by name (Connects to).")
        else:
            plan.add(written, CHANGED, "the team's own network: components of an application reach each other by "
                     "name (Connects to)")
    else:
        plan.add(written, DROPPED, WHY_DROPPED.get(name, "Berth has no counterpart for this option."))


def _env(plan: Plan, written: str, name: str, value: str, env_file: str) -> None:
    if name == "env-file":
        lines = [line.strip() for line in env_file.splitlines() if line.strip() and not line.lstrip().startswith("#")]
        if not lines:
            plan.add(written, DROPPED, "Paste the file's content into 'Environment file' to import it.")
            return
        added = []
        for line in lines:
            key, eq, val = line.partition("=")
            if eq and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
                plan.env = [e for e in plan.env if e[0] != key] + [(key, val)]
                added.append(key)
        plan.add(written, MAPPED, f"environment {', '.join(added)} from the pasted file" if added
                 else "no KEY=value line in the pasted file")
        return
    key, eq, val = value.partition("=")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        plan.add(written, DROPPED, f"{key!r} is not a variable name Berth accepts.")
    elif not eq:
        plan.add(written, DROPPED, f"{key} takes its value from the shell's environment, which Berth cannot "
                 "see; add it with its value after import.")
    else:
        plan.env = [e for e in plan.env if e[0] != key] + [(key, val)]
        plan.add(written, MAPPED, f"environment {key}")


def _split_publish(value: str) -> tuple[str | None, str | None, str, str] | None:
    """[ip:][host:]container[/proto] -> (ip, host, container, proto), or None."""
    spec, _, proto = value.partition("/")
    ip = None
    if spec.startswith("["):
        ip, sep, spec = spec[1:].partition("]:")
        if not sep:
            return None
    parts = spec.split(":")
    if len(parts) == 3 and ip is None:
        ip, host, ctr = parts
    elif len(parts) == 2:
        host, ctr = parts
    elif len(parts) == 1:
        host, ctr = None, parts[0]
    else:
        return None
    if not re.fullmatch(r"\d+(-\d+)?", ctr) or (host and not re.fullmatch(r"\d+(-\d+)?", host)) or \
            proto.lower() not in ("", "tcp", "udp", "sctp"):
        return None
    return ip or None, host or None, ctr, (proto or "tcp").upper()


def _range(text: str) -> list[int] | None:
    low, _, high = text.partition("-")
    first, last = int(low), int(high or low)
    if not (1 <= first <= last <= 65535) or last - first >= MAX_PORTS:
        return None
    return list(range(first, last + 1))


def _add_port(plan: Plan, port: Port) -> bool:
    if any(p.port == port.port and p.protocol == port.protocol for p in plan.ports) or len(plan.ports) >= MAX_PORTS:
        return False
    plan.ports.append(port)
    return True


def publish(plan: Plan, written: str, value: str) -> None:
    parsed = _split_publish(value)
    if parsed is None:
        plan.add(written, DROPPED, "Not a port mapping Berth can read (e.g. 8080:80, 127.0.0.1:8080:80/udp).")
        return
    ip, host_text, ctr_text, proto = parsed
    if proto == "SCTP":
        plan.add(written, DROPPED, "SCTP ports are not supported.")
        return
    containers = _range(ctr_text)
    hosts = _range(host_text) if host_text else None
    if containers is None or (host_text and (hosts is None or len(hosts) != len(containers))):
        plan.add(written, DROPPED, f"Port ranges must be valid, match in length and hold at most {MAX_PORTS} ports.")
        return
    notes = []
    added = [_add_port(plan, Port(ctr, proto, True, hosts[k] if hosts else None)) for k, ctr in enumerate(containers)]
    if not any(added):
        plan.add(written, DROPPED, f"Port {ctr_text}/{proto} is published already; a component publishes each "
                 "container port once.")
        return
    if not all(added):
        notes.append("ports published already were left as they were")
    detail = f"port {ctr_text}/{proto} exposed, " + (f"host port {host_text} on podman" if hosts else
                                                    "a host port from BERTH_HOST_PORTS on podman")
    if ip:
        notes.append(f"published at Berth's publish address, not {ip}")
    plan.add(written, CHANGED if notes else MAPPED, detail + ("; " + "; ".join(notes) if notes else ""))


def _expose(plan: Plan, written: str, value: str) -> None:
    m = re.fullmatch(r"(\d+(?:-\d+)?)(?:/(tcp|udp))?", value)
    ports = _range(m.group(1)) if m else None
    if ports is None:
        plan.add(written, DROPPED, "Not a port Berth can read (e.g. 8080 or 8080/udp).")
        return
    proto = (m.group(2) or "tcp").upper()
    for port in ports:
        _add_port(plan, Port(port, proto, False))
    plan.add(written, MAPPED, f"port {value} (not exposed outside the container's network)")


VOLUME_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def volume(plan: Plan, written: str, kind: str, value: str) -> None:
    if kind == "mount":
        opts = dict((part.split("=", 1) + [""])[:2] for part in value.split(",") if part)
        mtype = opts.get("type", "volume")
        source = opts.get("source") or opts.get("src") or ""
        target = opts.get("target") or opts.get("destination") or opts.get("dst") or ""
        read_only = "readonly" in opts or opts.get("ro") in ("", "true", "1") and "ro" in opts
    else:
        parts = value.split(":")
        if len(parts) == 1:
            mtype, source, target, read_only = "volume", "", parts[0], False
        else:
            source, target = parts[0], parts[1]
            read_only = len(parts) > 2 and "ro" in parts[2].split(",")
            mtype = "bind" if source.startswith(("/", ".", "~", "$")) else "volume"
    if mtype == "bind":
        plan.add(written, DROPPED, f"A bind mount of the host's {source}: Berth never mounts host files. Use a named "
                 "volume (its data is kept) or a config file instead.")
        return
    if mtype != "volume":
        plan.add(written, DROPPED, f"{mtype} mounts are not supported.")
        return
    if not target.startswith("/"):
        plan.add(written, DROPPED, "The mount has no absolute path in the container.")
        return
    changed = []
    if not source:
        source = f"{plan.name or suggest_name(plan.image) or 'data'}-{len(plan.volumes) + 1}"
        changed.append("an anonymous volume becomes a named one, kept like the others")
    name = re.sub(r"[^a-z0-9-]+", "-", source.lower()).strip("-")[:63] or "data"
    if name != source and not changed:
        changed.append(f"named {name} (lowercase letters, digits and dashes)")
    plan.volumes.append(Volume(name, target.rstrip("/") or "/", 1024, read_only))
    detail = f"volume {name} at {target}" + (" read-only" if read_only else "") + " (1024 MiB on Kubernetes)"
    plan.add(written, CHANGED if changed else MAPPED, detail + ("; " + "; ".join(changed) if changed else ""))


DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+)ms)?$")


def seconds(text: str) -> int | None:
    m = DURATION.match(text or "")
    if not m or not any(m.groups()):
        return None
    h, mi, s, ms = (float(g) if g else 0.0 for g in m.groups())
    return round(h * 3600 + mi * 60 + s + ms / 1000)


HTTP_CHECK = re.compile(r"(?:curl|wget)\b.*?https?://(?:localhost|127\.0\.0\.1|0\.0\.0\.0)(?::(\d+))?(/[^\s'\"|;&]*)?")


def _health(plan: Plan, health: dict) -> None:
    if not health:
        return
    if "no-healthcheck" in health:
        for written, _ in health.values():
            plan.add(written, MAPPED, "no health check")
        return
    cmd = health.get("health-cmd")
    m = HTTP_CHECK.search(cmd[1] or "") if cmd else None
    if m is None:
        for key, (written, _) in health.items():
            why = ("Berth checks health by HTTP GET or TCP connect, not by running a command; choose one after "
                   "import.") if key == "health-cmd" else "Without a health command Berth can read, there is no check."
            plan.add(written, DROPPED, why)
        return
    port = int(m.group(1) or 80)
    check = HealthCheck("http", port, m.group(2) or "/")
    notes = {}
    for key, (written, value) in health.items():
        if key == "health-cmd":
            notes[written] = (CHANGED, f"HTTP GET :{port}{check.path} instead of running the command")
        elif key == "health-interval" and seconds(value) is not None:
            check.period = max(1, seconds(value))
            notes[written] = (MAPPED, f"checked every {check.period}s")
        elif key in ("health-start-period", "health-start-interval") and seconds(value) is not None:
            check.initial_delay = min(3600, seconds(value))
            notes[written] = (CHANGED, f"first check after {check.initial_delay}s")
        elif key == "health-retries" and (value or "").isdigit() and int(value) >= 1:
            check.failure_threshold = min(100, int(value))
            notes[written] = (MAPPED, f"unhealthy after {check.failure_threshold} failures")
        elif key == "health-timeout":
            notes[written] = (CHANGED, f"each check times out after {check.timeout}s")
        else:
            notes[written] = (DROPPED, "A value Berth cannot read.")
    plan.health = check
    if not any(p.port == port and p.protocol == "TCP" for p in plan.ports):
        plan.ports.append(Port(port, "TCP", True))  # on podman Berth checks through the published port
    for written, (fate, detail) in notes.items():
        plan.add(written, fate, detail)
