"""A compose file (compose-spec) read as Berth would import it: loaded with a YAML library under
limits (size, anchors that expand without end), `${VAR}` interpolation from a pasted .env, YAML
anchors and merge keys, `extends` within the file and profiles. Pure: no Flask, no database.

`load` gives the normalised model (what `podman-compose config` prints for the same file); the
import maps each service of it to a component with a report of every key."""
from __future__ import annotations

import re

import yaml

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
