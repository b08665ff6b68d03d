"""Where a component's image comes from: the registry client to ask, and how a runtime pulls it."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from models import Component, Registry, Release, Team, db
from services import registries
from services import registry as registry_clients
from services.deploy.spec import DeploySpec, Port, PullCredentials
from services.registry import reference
from services.registry.dockerhub import DockerHubClient, hub_repository
from services.registry.v2 import RegistryV2Client


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
    credentials = None
    if registry.username and registry.password_encrypted:
        credentials = PullCredentials(host, registry.username, registries.password_of(registry))
    tls_verify = not registry.insecure and not registry.url.startswith("http://")
    return ImageSource(registries.client_for(registry), repository, f"{host}/{repository}", credentials, tls_verify,
                       registry.ca_bundle if tls_verify else None)


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
