"""Components: creating them from an image, their settings and build source."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import func, select

from models import MAX_ID, Application, Component, Registry, Team, db
from services import endpoints, images, registries, releases, triggers
from services.deploy.spec import Port
from services.errors import FieldErrors
from services.registry import reference
from services.registry.types import ImageDetails

DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass
class ComponentInput:
    name: str
    application: str  # an existing application's name, or a new one to create
    registry_id: int | None
    image: str  # repository in the registry, or a plain image reference
    tag: str
    replicas: int = 1
    memory_mb: int = 256
    cpu_millicores: int | None = None
    env: list[tuple[str, str]] = field(default_factory=list)
    ports: list[Port] = field(default_factory=list)


def team_registry(team: Team, registry_id: int | None) -> Registry | None:
    if registry_id is None:
        return None
    registry = db.session.get(Registry, registry_id) if 0 < registry_id <= MAX_ID else None
    if registry is None or registry.team_id != team.id:
        raise FieldErrors({"registry_id": "Choose one of your team's registries."})
    return registry


def image_preview(team: Team, registry_id: int | None, image: str, tag: str) -> ImageDetails:
    """Details of an image to prefill the form (ports, env); raises RegistryError or FieldErrors."""
    registry = team_registry(team, registry_id)
    if registry is None:
        try:
            ref = reference.parse(_with_tag(image, tag))
        except ValueError as e:
            raise FieldErrors({"image": str(e)}) from e
        source = images.source_for(team.id, None, str(ref))
        return source.client.image_details(source.repository, ref.digest or ref.tag)
    source = images.source_for(team.id, registry, image)
    return source.client.image_details(source.repository, tag)


def _with_tag(image: str, tag: str) -> str:
    """A plain reference that names its own tag or digest wins over the tag field."""
    if not tag or "@" in image or ":" in image.rsplit("/", 1)[-1]:
        return image
    return f"{image}:{tag}"


def _check(team: Team, data: ComponentInput, existing: Component | None = None) -> dict[str, str]:
    problems: dict[str, str] = {}
    if not DNS_LABEL.match(data.name or ""):
        problems["name"] = ("Use 1–63 lowercase letters, digits and dashes, starting with a letter "
                            "(it names the Deployment and Service).")
    clash = db.session.scalar(select(Component).where(Component.team_id == team.id, Component.name == data.name))
    if clash is not None and clash is not existing:
        problems["name"] = "This team already has a component with this name."
    app_name = (data.application or "").strip()
    if not app_name:
        problems["application"] = "Choose an application or type a new one's name."
    elif len(app_name) > 63:
        problems["application"] = "An application name has at most 63 characters."
    try:
        team_registry(team, data.registry_id)
    except FieldErrors as e:
        problems.update(e.errors)
    if data.registry_id is None:
        try:
            reference.parse(_with_tag(data.image, data.tag))  # the reference carries its own tag
        except ValueError as e:
            problems["image"] = str(e)
    else:
        problem = reference.check_repository(data.image)
        if problem:
            problems["image"] = problem
        problem = reference.check_tag(data.tag)
        if problem:
            problems["tag"] = problem
    seen = set()
    for i, (name, value) in enumerate(data.env):
        if not ENV_NAME.match(name):
            problems[f"env-{i}-name"] = "Use letters, digits and _, not starting with a digit."
        elif name in seen:
            problems[f"env-{i}-name"] = f"{name} is set twice."
        seen.add(name)
        if len(value) > 32768:
            problems[f"env-{i}-value"] = "A value has at most 32,768 characters."
    seen_ports = set()
    for i, p in enumerate(data.ports):
        if (p.port, p.protocol) in seen_ports:
            problems[f"ports-{i}-port"] = f"Port {p.port}/{p.protocol} is listed twice."
        seen_ports.add((p.port, p.protocol))
    return problems


def _application(team: Team, name: str) -> Application:
    name = name.strip()
    app = db.session.scalar(select(Application).where(Application.team_id == team.id,
                                                      func.lower(Application.name) == name.lower()))
    if app is None:
        app = Application(team=team, name=name)
        db.session.add(app)
        db.session.flush()
    return app


def create_component(team: Team, data: ComponentInput, triggered_by: str) -> Component:
    """Create the component and its first (pending) release; the release runs in the background."""
    problems = _check(team, data)
    if problems:
        raise FieldErrors(problems)
    registry = team_registry(team, data.registry_id)
    image, tag = data.image.strip(), data.tag.strip()
    digest = None
    if registry is None:
        ref = reference.parse(_with_tag(image, tag))
        image, tag, digest = ref.name, ref.tag or tag, ref.digest
    component = Component(team=team, application=_application(team, data.application), source_registry=registry,
                          name=data.name, image=image, tag=tag, replicas=data.replicas, memory_mb=data.memory_mb,
                          cpu_millicores=data.cpu_millicores, env=[list(e) for e in data.env],
                          ports=[{"port": p.port, "protocol": p.protocol, "expose": p.expose,
                                  "host_port": p.host_port} for p in data.ports])
    db.session.add(component)
    db.session.flush()
    releases.queue_release(component, "manual", triggered_by, tag=tag, digest=digest)
    return component


@dataclass
class BuildSourceInput:
    auto_deploy: bool
    trigger_kind: str
    trigger_pattern: str
    include_prereleases: bool
    no_downgrade: bool
    poll_interval: int | None
    webhook_secret: str  # empty keeps the stored one
    clear_secret: bool


def _check_rule(kind: str, pattern: str) -> None:
    if kind not in triggers.KINDS:
        raise FieldErrors({"trigger_kind": "Choose a rule."})
    problem = triggers.check_pattern(kind, pattern)
    if problem:
        raise FieldErrors({"trigger_pattern": problem})


def update_build_source(component: Component, data: BuildSourceInput) -> None:
    _check_rule(data.trigger_kind, data.trigger_pattern)
    component.auto_deploy = data.auto_deploy
    component.trigger_kind = data.trigger_kind
    component.trigger_pattern = data.trigger_pattern.strip() if data.trigger_kind != "same_tag" else None
    component.include_prereleases = data.include_prereleases
    component.no_downgrade = data.no_downgrade
    component.poll_interval = data.poll_interval
    endpoints.set_webhook_secret(component, data.webhook_secret, data.clear_secret)


def repository_tags(component: Component) -> list[str]:
    """The names of the tags in the component's repository now (briefly cached for registries)."""
    if component.source_registry is not None:
        return registries.cached_tags(component.source_registry, component.image).names
    source = images.source_for(component.team_id, None, f"{component.image}:{component.tag}")
    return source.client.tag_list(source.repository).names


def preview_rule(component: Component, kind: str, pattern: str, include_prereleases: bool) -> tuple[list[str], int]:
    """The repository's current tags this rule would deploy (newest first) and how many there are.
    Raises FieldErrors for a rule that cannot be used, RegistryError when the tags cannot be read."""
    _check_rule(kind, pattern)
    rule = triggers.Rule(kind, pattern, include_prereleases)
    return triggers.preview(rule, repository_tags(component), component.tag)
