"""Connections: a component depends on others of its application. Berth tells it where each answers
(<NAME>_HOST, <NAME>_PORT and <NAME>_PORT_<port> for each exposed port) and its first release waits
until they run."""
from __future__ import annotations

import re

from sqlalchemy import select

from models import MAX_ID, UNFINISHED_RELEASE_STATUSES, ClusterTarget, Component, Release, ReleaseStatus, Team, db

MAX_CONNECTIONS = 20


def env_prefix(name: str) -> str:
    """The variables' prefix for a component name: db -> DB, cache-1 -> CACHE_1."""
    return re.sub(r"[^A-Z0-9]", "_", name.upper())


def _team_components(team_id: int) -> dict[int, Component]:
    return {c.id: c for c in db.session.scalars(select(Component).where(Component.team_id == team_id))}


def problems(team: Team, depends_on: list[int], application: str, existing: Component | None,
             target: ClusterTarget | None) -> dict[str, str]:
    """What is wrong with these connections (key depends_on), or nothing."""
    if not depends_on:
        return {}
    if len(depends_on) > MAX_CONNECTIONS:
        return {"depends_on": f"A component connects to at most {MAX_CONNECTIONS} others."}
    everyone = _team_components(team.id)
    for cid in depends_on:
        other = everyone.get(cid) if 0 < cid <= MAX_ID else None
        if other is None:
            return {"depends_on": "Choose components of your team."}
        if existing is not None and other.id == existing.id:
            return {"depends_on": "A component cannot depend on itself."}
        if other.application.name.lower() != application.strip().lower():
            return {"depends_on": f"{other.name} belongs to application {other.application.name}; connect "
                                  "components of one application."}
        if other.target_id != (target.id if target else None):
            where = f"cluster {other.target.name}" if other.target else "this Berth's own runtime"
            return {"depends_on": f"{other.name} runs on {where}; connected components run on the same runtime."}
        if not any(p.get("expose", True) for p in other.ports or []):
            return {"depends_on": f"{other.name} exposes no port, so nothing can connect to it: tick Expose on one "
                                  "of its ports."}
    if existing is not None:
        cycle = _cycle(existing.id, depends_on, everyone)
        if cycle:
            return {"depends_on": "That makes a cycle: " + " → ".join(everyone[c].name for c in cycle)
                                  + ". Components must start one after another."}
    return {}


def _cycle(start: int, depends_on: list[int], everyone: dict[int, Component]) -> list[int] | None:
    """A path start -> ... -> start through the new connections of `start`, if there is one."""
    edges = {cid: list(c.depends_on or []) for cid, c in everyone.items()}
    edges[start] = list(depends_on)
    trail: list[int] = [start]
    seen: set[int] = set()

    def visit(node: int) -> list[int] | None:
        for nxt in edges.get(node, []):
            if nxt == start:
                return trail + [start]
            if nxt in seen or nxt not in edges:
                continue
            seen.add(nxt)
            trail.append(nxt)
            found = visit(nxt)
            if found:
                return found
            trail.pop()
        return None
    return visit(start)


def dependencies(component: Component) -> list[Component]:
    """The components it depends on; for a stage's row (environments), their rows on its target."""
    ids = [i for i in component.depends_on or [] if 0 < i <= MAX_ID]
    if not ids:
        return []
    if component.env_target_id is not None:
        found = db.session.scalars(select(Component).where(Component.base_id.in_(ids),
                                                           Component.env_target_id == component.env_target_id))
    else:
        found = db.session.scalars(select(Component).where(Component.id.in_(ids),
                                                           Component.team_id == component.team_id))
    return sorted(found, key=lambda c: c.name)


def env_for(depends_on: list[int] | None, component: Component, deployer, namespace: str) -> list[tuple[str, str]]:
    """Where each dependency answers, as environment variables."""
    if deployer is None or not depends_on:
        return []
    env = []
    for other in dependencies(component):
        if (other.base_id or other.id) not in depends_on:
            continue
        name = other.runtime_name or other.name
        prefix = env_prefix(name)
        env.append((f"{prefix}_HOST", deployer.address_of(namespace, name)))
        exposed = [p for p in other.ports or [] if p.get("expose", True)]
        if exposed:
            env.append((f"{prefix}_PORT", str(exposed[0]["port"])))
        env += [(f"{prefix}_PORT_{p['port']}", str(p["port"])) for p in exposed]
    return env


def waiting_for(component: Component) -> tuple[list[str], str | None]:
    """(the dependencies a release of the component waits for, why it cannot start at all). Every
    release waits while a dependency's release is under way (deploy all queues them in order); a
    first release also needs each dependency to have run: stopped, never deployed or failed, it
    cannot start."""
    first = db.session.scalar(select(Release.id).where(
        Release.component_id == component.id,
        Release.status.in_((ReleaseStatus.RUNNING, ReleaseStatus.SUPERSEDED, ReleaseStatus.STOPPED))).limit(1)) is None
    waiting = []
    for other in dependencies(component):
        latest = db.session.scalar(select(Release).where(Release.component_id == other.id)
                                   .order_by(Release.id.desc()).limit(1))
        if latest is not None and latest.status in UNFINISHED_RELEASE_STATUSES:
            waiting.append(other.name)
        elif not first:
            continue
        elif other.stopped:
            return [], f"{other.name}, which {component.name} depends on, is stopped; start it first."
        elif latest is None:
            return [], f"{other.name}, which {component.name} depends on, was never deployed."
        elif latest.status != ReleaseStatus.RUNNING and db.session.scalar(select(Release.id).where(
                Release.component_id == other.id, Release.status == ReleaseStatus.RUNNING).limit(1)) is None:
            return [], f"{other.name}, which {component.name} depends on, is not running: {latest.message}"
    return waiting, None


def drop(component: Component) -> list[str]:
    """With `component` being deleted: the team's components that depended on it no longer do;
    their names."""
    changed = []
    for other in db.session.scalars(select(Component).where(Component.team_id == component.team_id,
                                                            Component.id != component.id)):
        if component.id in (other.depends_on or []):
            other.depends_on = [i for i in other.depends_on if i != component.id]
            changed.append(other.name)
    return changed


def in_order(components: list[Component]) -> list[Component]:
    """Dependencies first (the order to start them in); stop in the reverse."""
    by_id = {c.id: c for c in components}
    done: list[Component] = []
    placed: set[int] = set()

    def place(c: Component, depth: int = 0) -> None:
        if c.id in placed or depth > len(by_id):
            return
        for dep in c.depends_on or []:
            if dep in by_id:
                place(by_id[dep], depth + 1)
        placed.add(c.id)
        done.append(c)
    for c in sorted(components, key=lambda c: c.name):
        place(c)
    return done
