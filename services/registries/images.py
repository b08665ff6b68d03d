"""Where a component's image comes from: the registry client to ask, and how a runtime pulls it."""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from models import Component, Registry, Release, Team, db
from services.components import connections, settings
from services.deploy.deployers import get_deployer
from services.deploy.drivers.spec import DeploySpec, PullCredentials
from services.platform.crypto import secret_box
from services.registries import clients as registry_clients
from services.registries import registries
from services.registries.clients import reference
from services.registries.clients.dockerhub import DockerHubClient, hub_repository
from services.registries.clients.interface import RegistryClient
from services.registries.clients.v2 import RegistryV2Client


@dataclass
class ImageSource:
    """Where a component's image comes from, and how a runtime pulls it."""

    client: RegistryClient
    repository: str  # the path the client asks for
    pull_name: str  # host/repository as runtimes write it
    credentials: PullCredentials | None
    tls_verify: bool
    ca_bundle: str | None = None  # PEM the runtime trusts for this registry, beside the system store


def namespace_for(team: Team) -> str:
    """The team's Kubernetes namespace: BERTH_KUBERNETES_NAMESPACE_PREFIX (default berth-) and its slug."""
    return current_app.config["BERTH_KUBERNETES_NAMESPACE_PREFIX"] + team.name


def _registry_for_host(team_id: int, host: str) -> Registry | None:
    for registry in db.session.scalars(select(Registry).where(Registry.team_id == team_id)):
        if registry_clients.pull_host(registry.kind, registry.url) == host:
            return registry
    return None


def source_for(team_id: int, registry: Registry | None, image: str, credentials: bool = True) -> ImageSource:
    """The client and pull settings for a component's image (connected registry or plain reference);
    without `credentials` no pull credential is looked up (a cloud registry's token is obtained
    only for what pulls)."""
    if registry is None:
        ref = reference.parse(image)
        registry = _registry_for_host(team_id, ref.host)
        if registry is None:
            settings = registries.http_settings(insecure=False, ca_bundle=None, label="reference")
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
    found = registries.pull_credential(registry) if credentials else None  # a cloud registry's current token
    pull = PullCredentials(host, *found) if found else None
    tls_verify = not registry.insecure and not registry.url.startswith("http://")
    return ImageSource(registries.client_for(registry), repository, f"{host}/{repository}", pull, tls_verify,
                       registry.ca_bundle if tls_verify else None)


def release_source(component: Component, release: Release, credentials: bool = True) -> ImageSource:
    """Where the image of this release comes from (the registry and image it recorded)."""
    recorded = release.settings or settings.snapshot(component)
    registry_id = recorded.get("registry_id")
    registry = component.source_registry if registry_id == component.registry_id else \
        db.session.get(Registry, registry_id) if registry_id else None
    if registry is not None and registry.team_id != component.team_id:
        registry = None
    image = recorded.get("image") or component.image
    return source_for(component.team_id, registry, image if registry else f"{image}:{release.tag}", credentials)


def deploy_spec(component: Component, release: Release, source: ImageSource | None = None) -> DeploySpec:
    """What the runtime runs for this release: its image and the settings it recorded (the
    component's settings for a release from before snapshots). Without a `source` (status, logs,
    events, restart, delete) the spec carries no pull credential: those never pull."""
    recorded = release.settings or settings.snapshot(component)
    source = source or release_source(component, release, credentials=False)
    namespace = component.namespace or namespace_for(component.team)
    env = [(k, v) for k, v in recorded["env"]]
    mine = {k for k, _ in env}  # a variable set by hand wins over a connection's
    env = [e for e in connections.env_for(recorded.get("depends_on"), component, get_deployer(component), namespace)
           if e[0] not in mine] + env
    image = f"{source.pull_name}@{release.digest}" if release.digest else f"{source.pull_name}:{release.tag}"
    return DeploySpec(
        namespace=namespace, name=component.runtime_name or component.name, application=component.application.name,
        image=image, release_id=release.id, replicas=recorded["replicas"], memory_mb=recorded["memory_mb"],
        cpu_millicores=recorded["cpu_millicores"], env=env,
        ports=settings.ports_of(recorded), credentials=source.credentials, tls_verify=source.tls_verify,
        ca_bundle=source.ca_bundle, health=settings.health_of(recorded), run_as_root=settings.run_as_root(recorded),
        replicas_elsewhere=recorded.get("replicas_elsewhere", False), version=release.tag or "",
        command=recorded.get("command"), args=recorded.get("args"), volumes=settings.volumes_of(recorded),
        files=settings.files_of(recorded, secret_box().decrypt))


def component_repository(component: Component) -> str:
    if component.source_registry is None:
        return component.image.split("/", 1)[1] if "/" in component.image else component.image
    if component.source_registry.kind == "dockerhub":
        return hub_repository(component.image)
    return component.image


def candidate_names(repository: str) -> set[str]:
    """Lowered images a component deploying this repository may have (Docker Hub's official
    images may be stored without library/)."""
    lowered = repository.lower()
    return {lowered, lowered.removeprefix("library/")}
