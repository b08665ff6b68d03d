"""Config files: checked when saved, stored with a secret file's content encrypted (and never shown
back: an empty content on edit keeps the stored one)."""
from __future__ import annotations

from models import Component
from services.components import settings
from services.components.volumes import path_problem
from services.deploy.drivers.spec import ConfigFile, Volume
from services.platform.crypto import secret_box

MAX_FILES = 20
MAX_FILE_BYTES = 256 * 1024
# A ConfigMap or Secret holds at most 1 MiB; the files of a component stay well within it.
MAX_TOTAL_BYTES = 512 * 1024


def problems(files: list[ConfigFile], mounts: list[Volume], existing: Component | None) -> dict[str, str]:
    """Every problem with these files, keyed files-<i>-<field>."""
    found: dict[str, str] = {}
    if len(files) > MAX_FILES:
        found["files"] = f"A component has at most {MAX_FILES} config files."
    kept = _stored_secrets(existing)
    volume_paths = {m.path for m in mounts}
    seen, total = set(), 0
    for i, f in enumerate(files):
        problem = path_problem(f.path)
        if problem is None and f.path in seen:
            problem = f"{f.path} is listed twice."
        elif problem is None and f.path in volume_paths:
            problem = f"A volume is mounted at {f.path}."
        if problem:
            found[f"files-{i}-path"] = problem
        seen.add(f.path)
        if not 0 <= f.mode <= 0o777:
            found[f"files-{i}-mode"] = "Write the mode in octal, from 0000 to 0777, e.g. 0644."
        size = len(f.content.encode())
        total += size
        if size > MAX_FILE_BYTES:
            found[f"files-{i}-content"] = (f"This file has {size:,} bytes; a config file has at most "
                                           f"{MAX_FILE_BYTES:,} (256 KiB).")
        elif "\0" in f.content:
            found[f"files-{i}-content"] = "A config file is text; it cannot contain NUL characters."
        elif f.secret and not f.content and f.path not in kept:
            found[f"files-{i}-content"] = "Write the secret file's content."
    if total > MAX_TOTAL_BYTES and not any(k.endswith("-content") for k in found):
        found["files"] = f"The config files have {total:,} bytes together; at most {MAX_TOTAL_BYTES:,} (512 KiB)."
    return found


def _stored_secrets(component: Component | None) -> dict[str, dict]:
    return {f["path"]: f for f in (component.files or []) if f.get("secret")} if component is not None else {}


def stored(files: list[ConfigFile], existing: Component | None) -> list[dict]:
    """The files as the component keeps them; a secret file left empty keeps the content it has."""
    kept = _stored_secrets(existing)
    out = []
    for f in files:
        if f.secret and not f.content and f.path in kept:
            out.append({**kept[f.path], "mode": f.mode})
        else:
            out.append(settings.file_dict(f, secret_box().encrypt))
    return out
