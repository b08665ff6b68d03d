"""A compose file (compose-spec) read as Berth would import it: loaded with a YAML library under
limits (size, anchors that expand without end), `${VAR}` interpolation from a pasted .env, YAML
anchors and merge keys, `extends` within the file and profiles. Pure: no Flask, no database.

`load` gives the normalised model (what `podman-compose config` prints for the same file); the
import maps each service of it to a component with a report of every key."""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

import yaml

from services.components.imports import docker_run
from services.deploy.drivers.spec import ConfigFile, HealthCheck, Port, Volume
from services.errors import BerthError

MAX_BYTES = 1024 * 1024
MAX_VALUES = 100_000  # scalars, lists and mappings once anchors are expanded
MAX_EXTENDS_DEPTH = 10


class ComposeError(BerthError):
    """The file cannot be read at all; the message says where and why."""


def _expanded_size(node, memo: dict, path: set | None = None) -> int:
    """How many values the node stands for once every alias is expanded (an alias is the same node
    object as its anchor, so a node is sized once however often it is referred to)."""
    key = id(node)
    path = path if path is not None else set()
    if key in path:
        raise ComposeError("The file has an anchor that contains itself; Berth reads no such file.")
    if key in memo:
        return memo[key]
    if len(path) > 200:
        raise ComposeError("The file nests deeper than 200 levels.")
    path.add(key)
    if isinstance(node, yaml.MappingNode):
        size = 1 + sum(_expanded_size(k, memo, path) + _expanded_size(v, memo, path) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size = 1 + sum(_expanded_size(v, memo, path) for v in node.value)
    else:
        size = 1
    path.discard(key)
    memo[key] = size
    if size > MAX_VALUES:
        raise ComposeError(f"The file expands to more than {MAX_VALUES:,} values (YAML anchors referring to "
                           "anchors); Berth reads no such file.")
    return size


def parse_yaml(text: str) -> dict:
    """The file's mapping, with anchors and merge keys resolved; refused when too large."""
    if len(text.encode()) > MAX_BYTES:
        raise ComposeError(f"The file has {len(text.encode()):,} bytes; at most {MAX_BYTES:,} (1 MiB).")
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise ComposeError("The file is empty.")
        _expanded_size(node, {})
        data = loader.construct_document(node)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ComposeError(f"The file is not valid YAML{where}: {getattr(e, 'problem', None) or e}.") from None
    except RecursionError:
        raise ComposeError("The file nests too deeply.") from None
    finally:
        loader.dispose()
    if not isinstance(data, dict):
        raise ComposeError("A compose file is a mapping with a 'services' key.")
    return data


def parse_env(text: str) -> dict[str, str]:
    """A .env file: KEY=value lines, # comments, optional quotes, `export` allowed."""
    env = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, eq, value = line.removeprefix("export ").partition("=")
        key = key.strip()
        if not eq or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", key):
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        else:
            value = re.sub(r"\s+#.*$", "", value)
        env[key] = value
    return env


NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
BRACED = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])(.*))?$", re.S)


def _closing(value: str, start: int) -> int:
    """The index of the } closing the ${ that opens at `start` (nested ${…} allowed), or -1."""
    depth, i = 0, start
    while i < len(value):
        if value.startswith("${", i):
            depth, i = depth + 1, i + 2
            continue
        if value[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def interpolate(value: str, env: dict[str, str], where: str, depth: int = 0) -> str:
    """compose-spec interpolation: $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error},
    ${VAR?error}, ${VAR:+alt}, ${VAR+alt}; $$ is a literal $. Defaults may hold variables too."""
    if depth > 10:
        raise ComposeError(f"{where}: variables nest deeper than 10 levels.")
    out, i = [], 0
    while i < len(value):
        if value[i] != "$":
            out.append(value[i])
            i += 1
        elif value.startswith("$$", i):
            out.append("$")
            i += 2
        elif value.startswith("${", i):
            end = _closing(value, i)
            if end < 0:
                raise ComposeError(f"{where}: a '${{' is never closed.")
            out.append(_braced(value[i + 2:end], env, where, depth))
            i = end + 1
        elif (m := NAME.match(value, i + 1)) is not None:
            out.append(env.get(m.group(0), ""))
            i = m.end()
        else:
            out.append("$")
            i += 1
    return "".join(out)


def _braced(inner: str, env: dict[str, str], where: str, depth: int) -> str:
    braced = BRACED.match(inner)
    if braced is None:
        raise ComposeError(f"{where}: '${{{inner}}}' is not a variable Berth can read.")
    name, op, arg = braced.groups()
    present, value = name in env, env.get(name, "")
    if op is None:
        return value
    nonempty = present and (value != "" or not op.startswith(":"))
    kind = op[-1]
    if kind == "-":
        return value if nonempty else interpolate(arg, env, where, depth + 1)
    if kind == "?":
        if not nonempty:
            raise ComposeError(f"{where}: {name} is required: {arg or 'it is not set'}.")
        return value
    return interpolate(arg, env, where, depth + 1) if nonempty else ""


def _interpolate_all(value, env: dict[str, str], where: str):
    if isinstance(value, str):
        return interpolate(value, env, where)
    if isinstance(value, list):
        return [_interpolate_all(v, env, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: _interpolate_all(v, env, f"{where}.{k}") for k, v in value.items()}
    return value


# compose-spec's merge rules for `extends`: these sequences are appended (and de-duplicated),
# these mappings merged key by key; everything else the extending service sets replaces.
APPENDED = {"ports", "expose", "dns", "dns_search", "tmpfs", "cap_add", "cap_drop", "devices", "security_opt",
            "volumes_from", "external_links", "links", "profiles"}
MERGED = {"environment", "labels", "healthcheck", "deploy", "logging", "extra_hosts", "sysctls", "ulimits",
          "depends_on", "build", "annotations", "networks"}


def _as_mapping(key: str, value):
    """environment/labels as lists (KEY=value) or mappings, as a mapping."""
    if isinstance(value, list) and key in ("environment", "labels", "annotations", "extra_hosts", "sysctls"):
        out = {}
        for item in value:
            k, eq, v = str(item).partition("=" if key != "extra_hosts" else ":")
            out[k] = v if eq else None
        return out
    if isinstance(value, list) and key == "depends_on":
        return {str(v): {"condition": "service_started"} for v in value}
    return value


def _merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        if key in APPENDED and isinstance(out.get(key), list) and isinstance(value, list):
            out[key] = out[key] + [v for v in value if v not in out[key]]
        elif key in MERGED and isinstance(_as_mapping(key, out.get(key)), dict) and \
                isinstance(_as_mapping(key, value), dict):
            out[key] = {**_as_mapping(key, out[key]), **_as_mapping(key, value)}
        elif key == "volumes" and isinstance(out.get(key), list) and isinstance(value, list):
            targets = {_target(v): v for v in out[key]}
            targets.update({_target(v): v for v in value})
            out[key] = list(targets.values())
        else:
            out[key] = value
    return out


def _target(volume) -> str:
    if isinstance(volume, dict):
        return str(volume.get("target"))
    parts = str(volume).split(":")
    return parts[1] if len(parts) > 1 else parts[0]


def _extend(name: str, services: dict, done: dict, trail: tuple = ()) -> dict:
    if name in done:
        return done[name]
    if name in trail or len(trail) > MAX_EXTENDS_DEPTH:
        raise ComposeError(f"services.{name}.extends: a cycle ({' → '.join(trail + (name,))}).")
    service = services[name]
    extends = service.get("extends")
    if extends is None:
        done[name] = service
        return service
    base_name = extends if isinstance(extends, str) else extends.get("service") if isinstance(extends, dict) else None
    if isinstance(extends, dict) and extends.get("file"):
        raise ComposeError(f"services.{name}.extends: another file ({extends['file']}) cannot be read here; "
                           "paste one file.")
    if base_name not in services:
        raise ComposeError(f"services.{name}.extends: no service '{base_name}' in this file.")
    base = {k: v for k, v in _extend(base_name, services, done, trail + (name,)).items() if k != "depends_on"}
    merged = _merge(base, {k: v for k, v in service.items() if k != "extends"})
    done[name] = merged
    return merged


def load(text: str, env_text: str = "", profiles: list[str] | None = None) -> dict:
    """The normalised model: interpolated, anchors and merge keys resolved, services extended, only
    the services active under `profiles` (those without profiles always are)."""
    data = parse_yaml(text)
    services = data.get("services")
    if not isinstance(services, dict) or not services:
        raise ComposeError("The file has no services.")
    if not all(isinstance(s, dict) for s in services.values()):
        bad = next(k for k, s in services.items() if not isinstance(s, dict))
        raise ComposeError(f"services.{bad} is not a mapping.")
    env = parse_env(env_text)
    data = {k: _interpolate_all(v, env, k) for k, v in data.items()}
    services = data["services"]
    done: dict = {}
    extended = {name: _extend(name, services, done) for name in services}
    chosen = set(profiles or [])
    active = {name: s for name, s in extended.items() if not s.get("profiles") or chosen & set(s["profiles"])}
    return {**data, "services": active}


# --- From the model to components ------------------------------------------------------------------

MAPPED, CHANGED, DROPPED = "mapped", "changed", "dropped"


@dataclass
class Row:
    key: str  # services.web.ports[0], volumes.db-data…
    fate: str
    detail: str


@dataclass
class ServicePlan:
    service: str
    name: str
    image: str
    command: list[str] | None = None
    args: list[str] | None = None
    env: list[tuple[str, str]] = field(default_factory=list)
    ports: list[Port] = field(default_factory=list)
    volumes: list[Volume] = field(default_factory=list)
    files: list[ConfigFile] = field(default_factory=list)
    health: HealthCheck | None = None
    depends_on: list[str] = field(default_factory=list)
    replicas: int = 1
    memory_mb: int | None = None
    cpu_millicores: int | None = None


@dataclass
class Plan:
    services: list[ServicePlan]  # dependencies first
    report: list[Row]
    problems: dict[str, str]  # key -> why the import cannot go ahead


SERVICE_DROPPED = {
    "build": "Berth deploys images from registries; build it and push it, then name the image.",
    "cap_add": docker_run.WHY_DROPPED["cap-add"], "cap_drop": docker_run.WHY_DROPPED["cap-drop"],
    "privileged": docker_run.WHY_DROPPED["privileged"], "devices": docker_run.WHY_DROPPED["device"],
    "network_mode": "Components use the team's own network.", "pid": docker_run.WHY_DROPPED["pid"],
    "ipc": docker_run.WHY_DROPPED["ipc"], "hostname": docker_run.WHY_DROPPED["hostname"],
    "domainname": docker_run.WHY_DROPPED["domainname"], "dns": docker_run.WHY_DROPPED["dns"],
    "dns_search": docker_run.WHY_DROPPED["dns"], "extra_hosts": docker_run.WHY_DROPPED["add-host"],
    "labels": docker_run.WHY_DROPPED["label"], "logging": docker_run.WHY_DROPPED["log-driver"],
    "user": docker_run.WHY_DROPPED["user"], "working_dir": docker_run.WHY_DROPPED["workdir"],
    "read_only": docker_run.WHY_DROPPED["read-only"], "tmpfs": docker_run.WHY_DROPPED["tmpfs"],
    "security_opt": docker_run.WHY_DROPPED["security-opt"], "sysctls": docker_run.WHY_DROPPED["sysctl"],
    "ulimits": docker_run.WHY_DROPPED["ulimit"], "shm_size": docker_run.WHY_DROPPED["shm-size"],
    "stop_signal": docker_run.WHY_DROPPED["stop-signal"], "stop_grace_period": docker_run.WHY_DROPPED["stop-timeout"],
    "init": docker_run.WHY_DROPPED["init"], "stdin_open": docker_run.WHY_DROPPED["interactive"],
    "tty": docker_run.WHY_DROPPED["tty"], "links": docker_run.WHY_DROPPED["link"],
    "external_links": docker_run.WHY_DROPPED["link"], "volumes_from": docker_run.WHY_DROPPED["volumes-from"],
    "platform": docker_run.WHY_DROPPED["platform"], "pull_policy": docker_run.WHY_DROPPED["pull"],
    "mem_reservation": docker_run.WHY_DROPPED["memory-reservation"],
    "memswap_limit": docker_run.WHY_DROPPED["memory-swap"],
    "cpu_shares": docker_run.WHY_DROPPED["cpu-shares"], "cpuset": docker_run.WHY_DROPPED["cpuset-cpus"],
    "oom_score_adj": docker_run.WHY_DROPPED["oom-score-adj"], "pids_limit": docker_run.WHY_DROPPED["pids-limit"],
    "runtime": docker_run.WHY_DROPPED["runtime"], "group_add": docker_run.WHY_DROPPED["group-add"],
    "annotations": docker_run.WHY_DROPPED["annotation"], "userns_mode": docker_run.WHY_DROPPED["userns"],
    "cgroup_parent": docker_run.WHY_DROPPED["cgroup-parent"], "mac_address": docker_run.WHY_DROPPED["mac-address"],
    "env_file": "Its file is not pasted here: paste its KEY=value lines into the .env box and refer to them in "
                "'environment'.",
}


def _row(report: list[Row], key: str, fate: str, detail: str) -> None:
    report.append(Row(key, fate, detail))


def plan(model: dict, env_text: str = "") -> Plan:
    """Each active service as a component, with a report row for every key of the model."""
    report: list[Row] = []
    problems: dict[str, str] = {}
    env = parse_env(env_text)
    services = model["services"]
    for key in model:
        if key == "services":
            continue
        fate, detail = {
            "version": (DROPPED, "Obsolete in the compose-spec; nothing to import."),
            "name": (MAPPED, "the project name; the components join the application you choose"),
            "volumes": (MAPPED, "named volumes, created for the services that mount them"),
            "configs": (MAPPED, "config files of the services that use them"),
            "secrets": (MAPPED, "secret files of the services that use them"),
            "networks": (CHANGED, "components of an application share the team's network"),
        }.get(key, (DROPPED, "An extension field (x-…), for the file's own use." if key.startswith("x-")
                    else "Not a top-level key of the compose-spec."))
        _row(report, key, fate, detail)
    plans = []
    for name, service in services.items():
        plans.append(_service(name, service, model, env, report, problems))
    order = _in_order(plans, problems)
    return Plan(order, report, problems)


def _in_order(plans: list[ServicePlan], problems: dict) -> list[ServicePlan]:
    by_name = {p.service: p for p in plans}
    done, placed, visiting = [], set(), []

    def place(p: ServicePlan) -> None:
        if p.service in placed:
            return
        if p.service in visiting:
            cycle = visiting[visiting.index(p.service):] + [p.service]
            problems[f"services.{p.service}.depends_on"] = "A cycle: " + " → ".join(cycle) + "."
            return
        visiting.append(p.service)
        for dep in p.depends_on:
            if dep in by_name:
                place(by_name[dep])
        visiting.pop()
        placed.add(p.service)
        done.append(p)
    for p in plans:
        place(p)
    return done


def _command(value) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, list):
        return [str(v) for v in value]
    return shlex.split(str(value))


def _service(name: str, service: dict, model: dict, env: dict, report: list[Row], problems: dict) -> ServicePlan:
    key = f"services.{name}"
    component = docker_run.suggest_name(service.get("container_name") or name)
    out = ServicePlan(name, component, str(service.get("image") or ""))
    if not out.image:
        problems[f"{key}.image"] = ("A service without an image cannot be imported (Berth deploys from registries): "
                                    "build and push it, then name the image.")
    for k, value in service.items():
        where = f"{key}.{k}"
        if k == "image":
            _row(report, where, MAPPED, f"image {value}")
        elif k == "container_name":
            _row(report, where, MAPPED if component == value else CHANGED, f"component name {component}")
        elif k == "command":
            out.args = _command(value)
            _row(report, where, MAPPED, f"arguments {shlex.join(out.args)}")
        elif k == "entrypoint":
            out.command = _command(value)
            _row(report, where, MAPPED, f"command {shlex.join(out.command)}")
        elif k == "environment":
            for var, val in _as_mapping("environment", value).items():
                if val is None:
                    _row(report, f"{where}.{var}", DROPPED, f"{var} takes its value from the shell, which Berth cannot "
                         "see; add it with its value after import.")
                else:
                    out.env.append((str(var), str(val)))
                    _row(report, f"{where}.{var}", MAPPED, f"environment {var}")
        elif k == "ports":
            _ports(out, value, where, report)
        elif k == "expose":
            for i, port in enumerate(value or []):
                number = int(str(port).split("/")[0].split("-")[0])
                if not any(p.port == number for p in out.ports):
                    out.ports.append(Port(number, "TCP", True))
                _row(report, f"{where}[{i}]", CHANGED, f"port {number}, reachable by the application's other "
                     "components (on podman also given a host port)")
        elif k == "volumes":
            _volumes(out, value, where, report)
        elif k in ("configs", "secrets"):
            _files(out, k, value, model, env, where, report, problems)
        elif k == "healthcheck":
            _healthcheck(out, value, where, report)
        elif k == "depends_on":
            for dep, spec in _as_mapping("depends_on", value).items():
                condition = (spec or {}).get("condition", "service_started")
                out.depends_on.append(str(dep))
                if condition == "service_completed_successfully":
                    _row(report, f"{where}.{dep}", CHANGED, f"connects to {dep}; Berth waits for it to run, not to "
                         "finish")
                else:
                    prefix = _env_prefix(dep)
                    _row(report, f"{where}.{dep}", MAPPED, f"connects to {dep} ({prefix}_HOST, "
                         f"{prefix}_PORT); its first release waits until {dep} runs"
                         + (" and passes its health check" if condition == "service_healthy" else ""))
                if dep not in model["services"]:
                    problems[f"{where}.{dep}"] = f"No service {dep} is imported (another profile?)."
        elif k == "deploy":
            _deploy(out, value or {}, where, report)
        elif k == "restart":
            _row(report, where, MAPPED if value in ("always", "unless-stopped") else CHANGED,
                 "restarted whenever it stops" if value in ("always", "unless-stopped")
                 else f"'{value}' becomes 'always': a component is restarted whenever it stops")
        elif k == "profiles":
            _row(report, where, MAPPED, f"imported with profile {', '.join(value)}")
        elif k == "networks":
            _row(report, where, CHANGED, "the team's own network")
        elif k == "mem_limit":
            _memory(out, str(value), where, report)
        elif k == "cpus":
            _cpus(out, value, where, report)
        elif k.startswith("x-"):
            _row(report, where, DROPPED, "An extension field, for the file's own use.")
        else:
            _row(report, where, DROPPED, SERVICE_DROPPED.get(k, "Not a compose-spec service key Berth knows."))
    _dependency_hosts(out, report)
    return out


def _dependency_hosts(out: ServicePlan, report: list[Row]) -> None:
    """`DB_HOST: db` is how compose files say where a dependency answers; Berth gives that variable
    itself, with the address the runtime reaches db at (on podman not the bare name), so it wins."""
    given = {f"{_env_prefix(dep)}_HOST": dep for dep in out.depends_on}
    for name, value in list(out.env):
        if given.get(name) == value:
            out.env.remove((name, value))
            _row(report, f"services.{out.service}.environment.{name}", CHANGED,
                 f"{name} is given by Berth: the address {value} answers at on this runtime")


def _env_prefix(name: str) -> str:
    """As services.components.connections.env_prefix names a component's variables (kept here: this
    module stays free of the database)."""
    return re.sub(r"[^A-Z0-9]", "_", docker_run.suggest_name(name).upper())


def _ports(out: ServicePlan, value, where: str, report: list[Row]) -> None:
    for i, port in enumerate(value or []):
        here = f"{where}[{i}]"
        if isinstance(port, dict):
            text = f"{port.get('host_ip', '') + ':' if port.get('host_ip') else ''}" \
                   f"{str(port['published']) + ':' if port.get('published') else ''}{port.get('target')}" \
                   f"/{port.get('protocol', 'tcp')}"
        else:
            text = str(port)
        sub = docker_run.Plan(ports=out.ports)
        docker_run.publish(sub, text, text)
        row = sub.report[-1]
        _row(report, here, row.fate, row.detail)


def _volumes(out: ServicePlan, value, where: str, report: list[Row]) -> None:
    for i, volume in enumerate(value or []):
        here = f"{where}[{i}]"
        if isinstance(volume, dict):
            if volume.get("type", "volume") != "volume":
                _row(report, here, DROPPED, f"{volume.get('type')} mounts are not supported"
                     + ("; Berth never mounts host files." if volume.get("type") == "bind" else "."))
                continue
            text = f"type=volume,src={volume.get('source', '')},dst={volume.get('target', '')}" + (
                ",readonly" if volume.get("read_only") else "")
            kind = "mount"
        else:
            text, kind = str(volume), "volume"
        sub = docker_run.Plan(name=out.name, image=out.image, volumes=out.volumes)
        docker_run.volume(sub, text, kind, text)
        row = sub.report[-1]
        _row(report, here, row.fate, row.detail)


def _files(out: ServicePlan, kind: str, value, model: dict, env: dict, where: str, report: list[Row],
           problems: dict) -> None:
    top = model.get(kind) or {}
    for i, ref in enumerate(value or []):
        here = f"{where}[{i}]"
        source = ref if isinstance(ref, str) else ref.get("source")
        target = (ref.get("target") if isinstance(ref, dict) else None) or (
            f"/run/secrets/{source}" if kind == "secrets" else f"/{source}")
        if kind == "secrets" and not target.startswith("/"):
            target = f"/run/secrets/{target}"
        mode = ref.get("mode", 0o444) if isinstance(ref, dict) else 0o444
        definition = top.get(source) if isinstance(top, dict) else None
        content = None
        if isinstance(definition, dict) and "content" in definition:
            content = str(definition["content"])
        elif isinstance(definition, dict) and "environment" in definition:
            content = env.get(str(definition["environment"]))
        if definition is None:
            problems[here] = f"No top-level {kind} entry named {source}."
            _row(report, here, DROPPED, f"{source} is not defined under '{kind}'.")
        elif content is None:
            _row(report, here, DROPPED, f"{source} comes from a file (or a variable) not pasted here; add it as a "
                 f"{'secret ' if kind == 'secrets' else ''}config file after import.")
        else:
            out.files.append(ConfigFile(target, content, int(mode) if isinstance(mode, int) else int(str(mode), 8),
                                        kind == "secrets"))
            _row(report, here, MAPPED, f"{'secret ' if kind == 'secrets' else ''}config file {target}")


def _healthcheck(out: ServicePlan, value: dict, where: str, report: list[Row]) -> None:
    if value.get("disable"):
        _row(report, where, MAPPED, "no health check")
        return
    test = value.get("test")
    text = " ".join(test[1:]) if isinstance(test, list) else str(test or "")
    m = docker_run.HTTP_CHECK.search(text)
    if m is None:
        _row(report, where, DROPPED, "Berth checks health by HTTP GET or TCP connect, not by running a command; "
             "choose one after import.")
        return
    check = HealthCheck("http", int(m.group(1) or 80), m.group(2) or "/")
    if docker_run.seconds(str(value.get("interval", ""))):
        check.period = max(1, docker_run.seconds(str(value["interval"])))
    if str(value.get("retries", "")).isdigit():
        check.failure_threshold = max(1, min(100, int(value["retries"])))
    if docker_run.seconds(str(value.get("start_period", ""))) is not None:
        check.initial_delay = min(3600, docker_run.seconds(str(value["start_period"])))
    out.health = check
    if not any(p.port == check.port for p in out.ports):
        out.ports.append(Port(check.port, "TCP", True))
    _row(report, where, CHANGED, f"HTTP GET :{check.port}{check.path} every {check.period}s, unhealthy after "
         f"{check.failure_threshold} failures (instead of running the command)")


def _memory(out: ServicePlan, value: str, where: str, report: list[Row]) -> None:
    mb = docker_run.size_mb(value)
    if mb is None or mb < 4:
        _row(report, where, DROPPED, "Not a memory size Berth can read (e.g. 512M, 1G; at least 4 MiB).")
    else:
        out.memory_mb = mb
        _row(report, where, MAPPED, f"memory limit {mb} MiB")


def _cpus(out: ServicePlan, value, where: str, report: list[Row]) -> None:
    try:
        millicores = round(float(value) * 1000)
    except (TypeError, ValueError):
        millicores = 0
    if millicores < 10:
        _row(report, where, DROPPED, "Not a CPU count Berth can read (e.g. 0.5, 2).")
    else:
        out.cpu_millicores = millicores
        _row(report, where, MAPPED, f"CPU limit {millicores} millicores")


def _deploy(out: ServicePlan, value: dict, where: str, report: list[Row]) -> None:
    for k, v in value.items():
        here = f"{where}.{k}"
        if k == "replicas":
            out.replicas = max(1, min(50, int(v)))
            _row(report, here, MAPPED, f"{out.replicas} replicas (podman runs one)")
        elif k == "resources":
            for kind, limits in (v or {}).items():
                for limit, amount in (limits or {}).items():
                    spot = f"{here}.{kind}.{limit}"
                    if kind == "limits" and limit == "memory":
                        _memory(out, str(amount), spot, report)
                    elif kind == "limits" and limit == "cpus":
                        _cpus(out, amount, spot, report)
                    else:
                        _row(report, spot, DROPPED, "Berth sets one memory and CPU limit (also the request).")
        elif k == "restart_policy":
            _row(report, here, CHANGED, "a component is restarted whenever it stops")
        else:
            _row(report, here, DROPPED, "Not something Berth sets per component.")
