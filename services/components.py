"""Components: creating them from an image, and the releases that deploy them."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import func, select, update
from sqlalchemy.orm.attributes import set_committed_value

from models import Application, Component, Registry, Release, ReleaseStatus, Team, db
from services import registries
from services import registry as registry_clients
from services.deploy.spec import DeploySpec, Port, PullCredentials
from services.errors import FieldErrors, ReleaseConflict, ServiceError
from services.jobs import after_commit
from services.registry import reference
from services.registry.dockerhub import DockerHubClient, hub_repository
from services.registry.types import ImageDetails
from services.registry.v2 import RegistryV2Client

DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_MEMORY_MB = 131072


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


@dataclass
class ImageSource:
    """Where a component's image comes from, and how a runtime pulls it."""

    client: object
    repository: str  # the path the client asks for
    pull_name: str  # host/repository as runtimes write it
    credentials: PullCredentials | None
    tls_verify: bool
    ca_bundle: str | None = None  # PEM the runtime trusts for this registry, beside the system store


def namespace_for(team: Team) -> str:
    return f"berth-{team.name}"


def team_registry(team: Team, registry_id: int | None) -> Registry | None:
    if registry_id is None:
        return None
    registry = db.session.get(Registry, registry_id)
    if registry is None or registry.team_id != team.id:
        raise FieldErrors({"registry_id": "Choose one of your team's registries."})
    return registry


def _registry_for_host(team_id: int, host: str) -> Registry | None:
    for registry in db.session.scalars(select(Registry).where(Registry.team_id == team_id)):
        if registry_clients.pull_host(registry.kind, registry.url) == host:
            return registry
    return None


def source_for(team_id: int, registry: Registry | None, image: str) -> ImageSource:
    """The client and pull settings for a component's image (connected registry or plain reference)."""
    if registry is None:
        ref = reference.parse(image)
        registry = _registry_for_host(team_id, ref.host)
        if registry is None:
            settings = registries.http_settings(insecure=False, ca_bundle=None)
            if ref.host == reference.DOCKER_HUB:
                client = DockerHubClient(settings=settings)
                return ImageSource(client, ref.repository, ref.name, None, True)
            loopback = reference.is_loopback(ref.host)
            # Like Docker, treat registries on the loopback address as plain-HTTP registries.
            url = ("http://" if loopback else "https://") + ref.host
            return ImageSource(RegistryV2Client(url, settings=settings), ref.repository, ref.name, None, not loopback)
        image = ref.repository
    host = registry_clients.pull_host(registry.kind, registry.url)
    repository = hub_repository(image) if registry.kind == "dockerhub" else image
    credentials = None
    if registry.username and registry.password_encrypted:
        credentials = PullCredentials(host, registry.username, registries.password_of(registry))
    tls_verify = not registry.insecure and not registry.url.startswith("http://")
    return ImageSource(registries.client_for(registry), repository, f"{host}/{repository}", credentials, tls_verify,
                       registry.ca_bundle if tls_verify else None)


def image_preview(team: Team, registry_id: int | None, image: str, tag: str) -> ImageDetails:
    """Details of an image to prefill the form (ports, env); raises RegistryError or FieldErrors."""
    registry = team_registry(team, registry_id)
    if registry is None:
        try:
            ref = reference.parse(_with_tag(image, tag))
        except ValueError as e:
            raise FieldErrors({"image": str(e)}) from e
        source = source_for(team.id, None, str(ref))
        return source.client.image_details(source.repository, ref.digest or ref.tag)
    source = source_for(team.id, registry, image)
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
    queue_release(component, "manual", triggered_by, tag=tag, digest=digest)
    return component


def queue_release(component: Component, trigger: str, triggered_by: str, tag: str | None = None,
                  digest: str | None = None, expected_seq: int | None = None) -> Release:
    """Queue the component's next release. It takes the next release number only if the component
    still has the one read (`expected_seq`, read before any decision was made; else now): a compare
    and set, so two writers deciding from the same state cannot both add a release, on any database.
    Raises ReleaseConflict when another release came first."""
    seen = component.release_seq if expected_seq is None else expected_seq
    taken = db.session.execute(
        update(Component).where(Component.id == component.id, Component.release_seq == seen)
        .values(release_seq=seen + 1).execution_options(synchronize_session=False))
    if taken.rowcount != 1:
        raise ReleaseConflict(component.name)
    set_committed_value(component, "release_seq", seen + 1)
    release = Release(team_id=component.team_id, component=component, seq=seen + 1, tag=tag or component.tag,
                      digest=digest, trigger=trigger, triggered_by=triggered_by[:255],
                      status=ReleaseStatus.PENDING.value)
    db.session.add(release)
    db.session.flush()
    kick = current_app.extensions.get("berth_release_kick")
    if kick:
        release_id = release.id
        after_commit(lambda: kick(release_id))
    return release


def redeploy(component: Component, by: str) -> Release:
    component.stopped = False
    return queue_release(component, "manual", by)


def rollback(release: Release, by: str) -> Release:
    if not release.digest:
        raise ServiceError("This release never resolved a digest, so there is nothing exact to roll back to.")
    release.component.stopped = False
    return queue_release(release.component, "rollback", by, tag=release.tag, digest=release.digest)


def deploy_spec(component: Component, release: Release, source: ImageSource | None = None) -> DeploySpec:
    source = source or source_for(component.team_id, component.source_registry, component.image)
    image = f"{source.pull_name}@{release.digest}" if release.digest else f"{source.pull_name}:{release.tag}"
    return DeploySpec(
        namespace=namespace_for(component.team), name=component.name, application=component.application.name,
        image=image, release_id=release.id, replicas=component.replicas, memory_mb=component.memory_mb,
        cpu_millicores=component.cpu_millicores, env=[(k, v) for k, v in component.env],
        ports=[Port(p["port"], p.get("protocol", "TCP"), p.get("expose", True), p.get("host_port"))
               for p in component.ports],
        credentials=source.credentials, tls_verify=source.tls_verify, ca_bundle=source.ca_bundle)


def latest_release(component: Component) -> Release | None:
    return component.releases.first()


def current_release(component: Component) -> Release | None:
    return component.releases.filter(Release.status == ReleaseStatus.RUNNING.value).first()


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


def update_build_source(component: Component, data: BuildSourceInput) -> None:
    from services import triggers

    if data.trigger_kind not in triggers.KINDS:
        raise FieldErrors({"trigger_kind": "Choose a rule."})
    problem = triggers.check_pattern(data.trigger_kind, data.trigger_pattern)
    if problem:
        raise FieldErrors({"trigger_pattern": problem})
    component.auto_deploy = data.auto_deploy
    component.trigger_kind = data.trigger_kind
    component.trigger_pattern = data.trigger_pattern.strip() if data.trigger_kind != "same_tag" else None
    component.include_prereleases = data.include_prereleases
    component.no_downgrade = data.no_downgrade
    component.poll_interval = data.poll_interval
    from services.deliveries import set_webhook_secret

    set_webhook_secret(component, data.webhook_secret, data.clear_secret)


def repository_tags(component: Component) -> list[str]:
    """The names of the tags in the component's repository now (briefly cached for registries)."""
    if component.source_registry is not None:
        return registries.cached_tags(component.source_registry, component.image).names
    source = source_for(component.team_id, None, f"{component.image}:{component.tag}")
    return source.client.tag_list(source.repository).names
