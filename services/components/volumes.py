"""A team's persistent volumes: checked when a component mounts them, recorded as Volume rows that
outlive the components, and deleted with their data only when a person asks."""
from __future__ import annotations

import posixpath
import re

from sqlalchemy import select

from models import Application, ClusterTarget, Component, Team, Volume, db
from services.deploy import targets
from services.deploy.deployers import get_deployer
from services.deploy.drivers.spec import Volume as Mount
from services.errors import ServiceError
from services.oversight import audit
from services.registries.images import namespace_for

NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
MAX_VOLUMES = 20
MAX_SIZE_MB = 1024 * 1024  # 1 TiB
# Paths the container's runtime owns; a volume over them would hide or break them.
RESERVED = ("/", "/proc", "/sys", "/dev", "/etc/hosts", "/etc/resolv.conf", "/etc/hostname")
BIND = ("Host bind mounts are refused: a component may not reach into this machine's files (they would "
        "outlive Berth's control and differ between machines). Name a volume instead, e.g. data, and Berth "
        "keeps its data.")


def path_problem(path: str) -> str | None:
    """Why a mount path cannot be used (None: it can)."""
    if not path.startswith("/"):
        return "Use an absolute path in the container, e.g. /data."
    if len(path) > 255 or not path.isprintable():
        return "Use a path of at most 255 printable characters."
    if posixpath.normpath(path) != path or "//" in path:
        return f"Write the path plainly, e.g. {posixpath.normpath(path)} (no '..', '.' or trailing '/')."
    if path in RESERVED or path.startswith(("/proc/", "/sys/", "/dev/")):
        return f"{path} belongs to the container's runtime; mount the volume elsewhere."
    return None


def problems(team: Team, mounts: list[Mount], application: str, existing: Component | None,
             target: ClusterTarget | None, deployer) -> dict[str, str]:
    """Every problem with these mounts for this component, keyed volumes-<i>-<field>."""
    found: dict[str, str] = {}
    if len(mounts) > MAX_VOLUMES:
        found["volumes"] = f"A component mounts at most {MAX_VOLUMES} volumes."
    names, paths = set(), set()
    rows = {v.name: v for v in db.session.scalars(select(Volume).where(
        Volume.team_id == team.id, Volume.name.in_([m.name for m in mounts])))} if mounts else {}
    others = mounted_by(team.id, exclude=existing)
    for i, m in enumerate(mounts):
        if m.name.startswith(("/", ".", "~")) or "/" in m.name:
            found[f"volumes-{i}-name"] = BIND
        elif not NAME.match(m.name):
            found[f"volumes-{i}-name"] = ("Use 1–63 lowercase letters, digits and dashes, starting and ending with "
                                          "a letter or digit.")
        elif m.name in names:
            found[f"volumes-{i}-name"] = f"Volume {m.name} is mounted twice."
        else:
            problem = _sharing_problem(m, rows.get(m.name), others.get(m.name), application, target, deployer)
            if problem:
                found[f"volumes-{i}-name"] = problem
        names.add(m.name)
        problem = path_problem(m.path)
        if problem is None and m.path in paths:
            problem = f"Two volumes are mounted at {m.path}."
        if problem:
            found[f"volumes-{i}-path"] = problem
        paths.add(m.path)
        if not 1 <= m.size_mb <= MAX_SIZE_MB:
            found[f"volumes-{i}-size_mb"] = f"Use 1 to {MAX_SIZE_MB} MiB (1 TiB)."
    return found


def _sharing_problem(mount: Mount, row: Volume | None, users: list[Component] | None, application: str,
                     target: ClusterTarget | None, deployer) -> str | None:
    if row is not None:
        if row.application.name.lower() != application.strip().lower():
            return (f"Volume {mount.name} holds data of application {row.application.name}; a volume is shared "
                    "only within its application. Choose another name.")
        if row.target_id != (target.id if target else None):
            where = f"cluster {row.target.name}" if row.target else "this Berth's own runtime"
            return f"Volume {mount.name} keeps its data on {where}, not where this component runs."
        if row.size_mb != mount.size_mb:
            return f"Volume {mount.name} is {row.size_mb} MiB; the size of a volume cannot be changed here."
    if users and deployer is not None and not deployer.shares_volumes:
        return (f"Volume {mount.name} is mounted by component {users[0].name}; on Kubernetes a volume "
                "(ReadWriteOnce) serves one component.")
    return None


def mounted_by(team_id: int, exclude: Component | None = None) -> dict[str, list[Component]]:
    """Volume name -> the team's components that mount it."""
    query = select(Component).where(Component.team_id == team_id, Component.volumes.is_not(None))
    if exclude is not None:
        query = query.where(Component.id != exclude.id)
    users: dict[str, list[Component]] = {}
    for component in db.session.scalars(query.order_by(Component.name)):
        for v in component.volumes or []:
            users.setdefault(v["name"], []).append(component)
    return users


def record(component: Component) -> None:
    """A Volume row for each volume the component mounts that has none yet (checked by `problems`
    under the team's lock, so two saves never create one twice)."""
    names = [v["name"] for v in component.volumes or []]
    if not names:
        return
    have = set(db.session.scalars(select(Volume.name).where(Volume.team_id == component.team_id,
                                                            Volume.name.in_(names))))
    for v in component.volumes:
        if v["name"] not in have:
            db.session.add(Volume(team_id=component.team_id, application=component.application,
                                  target=component.target, name=v["name"], size_mb=v["size_mb"]))
            have.add(v["name"])
    db.session.flush()


def of_application(application: Application) -> list[tuple[Volume, list[Component]]]:
    """The application's volumes, each with the components mounting it (none: kept data)."""
    users = mounted_by(application.team_id)
    rows = db.session.scalars(select(Volume).where(Volume.application_id == application.id).order_by(Volume.name))
    return [(v, users.get(v.name, [])) for v in rows]


def _deployer(volume: Volume):
    return targets.deployer_for(volume.target) if volume.target is not None else get_deployer()


def delete(volume: Volume, by: str) -> None:
    """Delete a volume no component mounts, and its data."""
    users = mounted_by(volume.team_id).get(volume.name)
    if users:
        raise ServiceError(f"Volume {volume.name} is mounted by component {users[0].name}; remove it there first.")
    deployer = _deployer(volume)
    if deployer is None:
        raise ServiceError("No runtime is configured, so the volume's data cannot be reached.")
    deployer.delete_volume(namespace_for(db.session.get(Team, volume.team_id)), volume.name)
    audit.record(volume.team_id, by, "volume.deleted", f"volume {volume.name}",
                 f"application {volume.application.name}")
    db.session.delete(volume)
    db.session.flush()


def delete_unshared(component: Component) -> list[str]:
    """With a component being deleted with its data: delete its volumes no other component mounts;
    the names of those left because another one does."""
    users = mounted_by(component.team_id, exclude=component)
    kept = []
    for v in component.volumes or []:
        if users.get(v["name"]):
            kept.append(v["name"])
            continue
        row = db.session.scalar(select(Volume).where(Volume.team_id == component.team_id, Volume.name == v["name"]))
        if row is not None:
            _deployer(row).delete_volume(namespace_for(component.team), row.name)
            db.session.delete(row)
    db.session.flush()
    return kept
