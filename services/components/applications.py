"""An application: its components, how they connect, deploying or stopping them all in dependency
order, and the volumes it keeps."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from models import Application, Component, Environment, Release, Volume, db
from services.components import connections, environments, operations, releases, settings, stages, volumes
from services.deploy.deployers import get_deployer
from services.errors import BerthError
from services.oversight import audit


@dataclass
class Row:
    component: Component
    latest: Release | None
    links: list = field(default_factory=list)
    connects_to: list[Component] = field(default_factory=list)


@dataclass
class ApplicationView:
    application: Application
    rows: list[Row]  # dependencies first
    volumes: list[tuple[Volume, list[Component]]]  # each with the components mounting it (none: kept)
    environments: list[Environment] = field(default_factory=list)
    # components deployed through environments: {component id: {environment id: [(row, running release)]}}
    pipeline: dict = field(default_factory=dict)

    @property
    def in_progress(self) -> bool:
        return any(r.latest is not None and r.latest.in_progress for r in self.rows)


def members(application: Application) -> list[Component]:
    """The application's components, dependencies before those that need them."""
    found = list(db.session.scalars(select(Component).where(Component.application_id == application.id,
                                                            Component.base_id.is_(None))))
    return connections.in_order(found)


def view(application: Application) -> ApplicationView:
    rows = []
    for component in members(application):
        latest = releases.latest_release(component)
        current = releases.current_release(component)
        links = []
        if current is not None and not component.stopped:
            links = operations.links(component, current.settings or settings.snapshot(component),
                                     get_deployer(component))
        rows.append(Row(component, latest, links, connections.dependencies(component)))
    pipeline = {}
    for row in rows:
        if stages.in_environments(row.component):
            pipeline[row.component.id] = {}
            for stage_row in stages.rows_of(row.component):
                current = releases.current_release(stage_row)
                pipeline[row.component.id].setdefault(stage_row.env_target.environment_id, []).append(
                    (stage_row, current))
    return ApplicationView(application, rows, volumes.of_application(application),
                           environments.team_environments(application.team_id) if pipeline else [], pipeline)


def deploy_all(application: Application, by: str) -> list[Release]:
    """A release of every component, queued dependencies first: each waits for those it depends on."""
    out = []
    audit.record(application.team_id, by, "application.deployed", f"application {application.name}")
    for c in members(application):
        if stages.in_environments(c):
            out += stages.deploy_first(c, by)
        else:
            out.append(releases.start(c, by) if c.stopped else releases.redeploy(c, by))
    return out


def stop_all(application: Application, by: str) -> list[str]:
    """Stop every running component, those that depend on others first; the problems met."""
    audit.record(application.team_id, by, "application.stopped", f"application {application.name}")
    problems = []
    for component in reversed(members(application)):
        if component.stopped:
            continue
        try:
            releases.stop_component(component)
        except BerthError as e:
            problems.append(f"{component.name}: {e.message}")
    return problems
