"""A component's deployable settings as one plain value: what a release records (its snapshot),
what a rollback restores, and what an edit is compared against. No Flask, no queries."""
from __future__ import annotations

import hashlib
import shlex
from collections.abc import Callable

from models import Component
from services.deploy.drivers.spec import ConfigFile, HealthCheck, Port, Volume

FIELDS = ("registry_id", "image", "tag", "replicas", "replicas_elsewhere", "memory_mb", "cpu_millicores", "run_as_root",
          "command", "args", "env", "ports", "volumes", "files", "depends_on", "health")


# What a release recorded before these settings existed ran with.
BEFORE_RECORDED = {"replicas_elsewhere": False, "run_as_root": True, "command": None, "args": None, "volumes": [],
                   "files": [], "depends_on": []}


def snapshot(component: Component) -> dict:
    """The component's settings now, as a release records them."""
    return {"registry_id": component.registry_id, "image": component.image, "tag": component.tag,
            "replicas": component.replicas, "memory_mb": component.memory_mb,
            "cpu_millicores": component.cpu_millicores, "run_as_root": component.run_as_root,
            "replicas_elsewhere": component.replicas_elsewhere,
            "command": list(component.command) if component.command is not None else None,
            "args": list(component.args) if component.args is not None else None,
            "env": [list(e) for e in component.env or []],
            "ports": [dict(p) for p in component.ports or []],
            "volumes": [dict(v) for v in component.volumes or []],
            "files": [dict(f) for f in component.files or []],
            "depends_on": list(component.depends_on or []),
            "health": dict(component.health) if component.health else None}


def restore(component: Component, settings: dict) -> None:
    """Put a release's recorded settings back on the component (a rollback). A release recorded
    before a setting existed ran with what that setting's absence meant then."""
    for name in FIELDS:
        if name in settings:
            setattr(component, name, settings[name])
        elif name in BEFORE_RECORDED:
            setattr(component, name, BEFORE_RECORDED[name])


def shell_words(words: list[str] | None) -> str:
    """A command as a shell line, or "the image's" when none is set."""
    return "the image's" if words is None else (shlex.join(words) or '""')


def run_as_root(settings: dict) -> bool:
    """Releases recorded before the setting existed ran as their image said: as root, if it did."""
    return settings.get("run_as_root", True)


def ports_of(settings: dict) -> list[Port]:
    return [Port(p["port"], p.get("protocol", "TCP"), p.get("expose", True), p.get("host_port"),
                 p.get("public_host")) for p in settings.get("ports") or []]


def port_dict(port: Port) -> dict:
    return {"port": port.port, "protocol": port.protocol, "expose": port.expose, "host_port": port.host_port,
            "public_host": port.public_host}


def volumes_of(settings: dict) -> list[Volume]:
    return [Volume(v["name"], v["path"], int(v.get("size_mb", 1024)), bool(v.get("read_only")))
            for v in settings.get("volumes") or []]


def volume_dict(volume: Volume) -> dict:
    return {"name": volume.name, "path": volume.path, "size_mb": volume.size_mb, "read_only": volume.read_only}


def describe_volume(v: dict) -> str:
    return f"{v['name']} at {v['path']}" + (" read-only" if v.get("read_only") else "")


def content_sha(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest()


def file_dict(file: ConfigFile, encrypt: Callable[[str], str]) -> dict:
    """A config file as the settings keep it: a secret file's content only encrypted; both with the
    content's SHA-256, which tells a change without reading it."""
    stored = {"path": file.path, "mode": file.mode, "secret": file.secret, "sha256": content_sha(file.content)}
    if file.secret:
        stored["content_encrypted"] = encrypt(file.content)
    else:
        stored["content"] = file.content
    return stored


def files_of(settings: dict, decrypt: Callable[[str], str]) -> list[ConfigFile]:
    return [ConfigFile(f["path"], decrypt(f["content_encrypted"]) if f.get("secret") else f.get("content", ""),
                       int(f.get("mode", 0o644)), bool(f.get("secret"))) for f in settings.get("files") or []]


def _file_text(f: dict) -> str:
    return f"{'secret file' if f.get('secret') else 'file'} {f['path']} ({int(f.get('mode', 0o644)):04o})"


def health_of(settings: dict) -> HealthCheck | None:
    health = settings.get("health")
    if not health:
        return None
    return HealthCheck(health["kind"], int(health["port"]), health.get("path") or "/",
                       int(health.get("initial_delay", 0)), int(health.get("period", 10)),
                       int(health.get("failure_threshold", 3)))


def health_dict(check: HealthCheck | None) -> dict | None:
    if check is None:
        return None
    return {"kind": check.kind, "port": check.port, "path": check.path if check.kind == "http" else None,
            "initial_delay": check.initial_delay, "period": check.period,
            "failure_threshold": check.failure_threshold}


def describe_health(health: dict | None) -> str:
    if not health:
        return "none"
    where = f"HTTP GET :{health['port']}{health.get('path') or '/'}" if health["kind"] == "http" \
        else f"TCP :{health['port']}"
    return (f"{where} every {health.get('period', 10)}s after {health.get('initial_delay', 0)}s, "
            f"{health.get('failure_threshold', 3)} failures")


def _port_text(p: dict) -> str:
    text = f"{p['port']}/{p.get('protocol', 'TCP')}"
    if p.get("expose", True):
        text += " exposed"
        if p.get("host_port"):
            text += f" on host {p['host_port']}"
        if p.get("public_host"):
            text += f" at {p['public_host']}"
    return text


def diff(old: dict | None, new: dict, registry_names: dict | None = None,
         component_names: dict | None = None) -> list[str]:
    """What changes from `old` (the running release's settings) to `new`, in short lines:
    "memory 128 → 256 MiB", "+ env LOG_LEVEL", "tag v5.1 → v5.2". Env values are never shown."""
    if old is None:
        return ["first release: everything is new"]
    names = registry_names or {}
    lines = []
    if old.get("registry_id") != new.get("registry_id"):
        lines.append(f"registry {names.get(old.get('registry_id'), 'none')} → "
                     f"{names.get(new.get('registry_id'), 'none')}")
    if old.get("image") != new.get("image"):
        lines.append(f"image {old.get('image')} → {new.get('image')}")
    if old.get("tag") != new.get("tag"):
        lines.append(f"tag {old.get('tag')} → {new.get('tag')}")
    if old.get("replicas") != new.get("replicas"):
        lines.append(f"replicas {old.get('replicas')} → {new.get('replicas')}")
    if old.get("memory_mb") != new.get("memory_mb"):
        lines.append(f"memory {old.get('memory_mb')} → {new.get('memory_mb')} MiB")
    if old.get("cpu_millicores") != new.get("cpu_millicores"):
        lines.append(f"CPU {old.get('cpu_millicores') or 'no limit'} → {new.get('cpu_millicores') or 'no limit'}"
                     " millicores")
    if old.get("replicas_elsewhere", False) != new.get("replicas_elsewhere", False):
        lines.append("replicas set by Berth → managed elsewhere" if new.get("replicas_elsewhere")
                     else "replicas managed elsewhere → set by Berth")
    for key, what in (("command", "command"), ("args", "arguments")):
        if old.get(key) != new.get(key):
            lines.append(f"{what} {shell_words(old.get(key))} → {shell_words(new.get(key))}")
    if run_as_root(old) != run_as_root(new):
        user = {True: "root", False: "non-root"}
        lines.append(f"runs as {user[run_as_root(old)]} → {user[run_as_root(new)]}")
    old_env, new_env = dict(map(tuple, old.get("env") or [])), dict(map(tuple, new.get("env") or []))
    lines += [f"+ env {k}" for k in new_env if k not in old_env]
    lines += [f"- env {k}" for k in old_env if k not in new_env]
    lines += [f"~ env {k} (new value)" for k in new_env if k in old_env and old_env[k] != new_env[k]]
    old_ports = {(p["port"], p.get("protocol", "TCP")): p for p in old.get("ports") or []}
    new_ports = {(p["port"], p.get("protocol", "TCP")): p for p in new.get("ports") or []}
    lines += [f"+ port {_port_text(p)}" for k, p in new_ports.items() if k not in old_ports]
    lines += [f"- port {_port_text(p)}" for k, p in old_ports.items() if k not in new_ports]
    lines += [f"~ port {_port_text(old_ports[k])} → {_port_text(p)}" for k, p in new_ports.items()
              if k in old_ports and _port_text(old_ports[k]) != _port_text(p)]
    old_volumes = {v["name"]: v for v in old.get("volumes") or []}
    new_volumes = {v["name"]: v for v in new.get("volumes") or []}
    lines += [f"+ volume {describe_volume(v)}" for k, v in new_volumes.items() if k not in old_volumes]
    lines += [f"- volume {describe_volume(v)} (its data is kept)" for k, v in old_volumes.items()
              if k not in new_volumes]
    lines += [f"~ volume {describe_volume(old_volumes[k])} → {describe_volume(v)}" for k, v in new_volumes.items()
              if k in old_volumes and describe_volume(old_volumes[k]) != describe_volume(v)]
    old_files = {f["path"]: f for f in old.get("files") or []}
    new_files = {f["path"]: f for f in new.get("files") or []}
    lines += [f"+ {_file_text(f)}" for k, f in new_files.items() if k not in old_files]
    lines += [f"- {_file_text(f)}" for k, f in old_files.items() if k not in new_files]
    for k, f in new_files.items():
        before = old_files.get(k)
        if before is not None and before.get("sha256") != f.get("sha256"):
            lines.append(f"~ {_file_text(f)}: new content")
        elif before is not None and _file_text(before) != _file_text(f):
            lines.append(f"~ {_file_text(before)} → {_file_text(f)}")
    named = component_names or {}
    old_deps, new_deps = old.get("depends_on") or [], new.get("depends_on") or []
    lines += [f"+ connects to {named.get(i, f'component #{i}')}" for i in new_deps if i not in old_deps]
    lines += [f"- connects to {named.get(i, f'component #{i}')}" for i in old_deps if i not in new_deps]
    if (old.get("health") or None) != (new.get("health") or None):
        lines.append(f"health check {describe_health(old.get('health'))} → {describe_health(new.get('health'))}")
    return lines
