"""Running a component day to day: what its page shows (state, reasons, links), logs, scaling and
resuming auto-deploy. Releases themselves live in services.components.releases."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from flask import current_app

from models import Component, DeliveryOutcome, Release, ReleaseStatus
from services.components import components, connections, releases, settings
from services.delivery import autodeploy
from services.deploy.deployers import get_deployer, replicas_problem
from services.deploy.drivers.spec import DeployStatus, LogStream
from services.errors import BerthError, FieldErrors
from services.oversight import audit
from services.registries import images
from services.registries.clients.errors import RegistryNotFound

log = logging.getLogger("berth.operations")


@dataclass
class Link:
    label: str
    url: str | None = None  # None: an address to copy, not something a browser opens


@dataclass
class DetailView:
    """Everything the component page shows, read once."""

    latest: Release | None
    current: Release | None
    history: list[Release]
    running: dict | None  # the settings of what runs (the running release's snapshot)
    live: DeployStatus | None = None
    links: list[Link] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    events_error: str = ""
    unsaved: list[str] = field(default_factory=list)  # saved settings that differ from what runs
    connects_to: list = field(default_factory=list)  # the components it depends on
    shares_volumes: bool = True  # the runtime lets two components mount a volume (else ReadWriteOnce, Recreate)

    @property
    def in_progress(self) -> bool:
        return self.latest is not None and self.latest.in_progress


def access_host() -> str:
    return current_app.config.get("BERTH_ACCESS_HOST") or \
        urlsplit(current_app.config["BERTH_EXTERNAL_URL"]).hostname or "127.0.0.1"


def links(component: Component, recorded: dict, deployer) -> list[Link]:
    """Where each exposed port answers: a host port link on podman; the Service address (and the
    Ingress host) on Kubernetes."""
    out = []
    ports = [p for p in settings.ports_of(recorded) if p.expose]
    if deployer is None:
        return out
    if deployer.publishes_host_ports:
        host = access_host()
        for p in ports:
            number = p.host_port or p.port
            url = f"http://{host}:{number}/" if p.protocol == "TCP" else None
            out.append(Link(f"{host}:{number}" + (f" ({p.protocol})" if p.protocol != "TCP" else ""), url))
        return out
    namespace = component.namespace or images.namespace_for(component.team)
    scheme = "https" if current_app.config.get("BERTH_INGRESS_TLS_SECRET") else "http"
    for p in ports:
        if p.public_host and p.protocol == "TCP":
            out.append(Link(f"{scheme}://{p.public_host}/", f"{scheme}://{p.public_host}/"))
        out.append(Link(f"{component.runtime_name or component.name}.{namespace}.svc.cluster.local:{p.port}"
                        + (f" ({p.protocol})" if p.protocol != "TCP" else "")))
    return out


def first_link(component: Component) -> Link | None:
    """The components list shows the first link (from the saved settings; no runtime call)."""
    if component.stopped:
        return None
    found = links(component, settings.snapshot(component), get_deployer(component))
    return next((link for link in found if link.url), found[0] if found else None)


def view(component: Component, limit: int = 10) -> DetailView:
    history = releases.history(component, limit)
    latest = history[0] if history else None
    current = next((r for r in history if r.status == ReleaseStatus.RUNNING), None) or \
        releases.current_release(component)
    running = components.running_settings(component, current)
    result = DetailView(latest, current, history, running)
    deployer = get_deployer(component)
    result.shares_volumes = deployer is None or deployer.shares_volumes
    result.connects_to = connections.dependencies(component)
    if current is not None and not component.stopped:
        result.live = releases.live_status(component, current)
        result.links = links(component, running or settings.snapshot(component), deployer)
    if running is not None:
        result.unsaved = settings.diff(running, settings.snapshot(component))
    spec_release = latest if latest is not None and latest.status in (
        ReleaseStatus.FAILED, ReleaseStatus.DEPLOYING) else current
    if deployer is not None and spec_release is not None and not component.stopped:
        try:
            result.events = deployer.events(images.deploy_spec(component, spec_release))
        except BerthError as e:
            result.events_error = e.message
    return result


def logs(component: Component, tail: int) -> tuple[list[LogStream], str | None]:
    """Each replica's last lines, or why they cannot be read."""
    deployer = get_deployer(component)
    release = releases.latest_release(component)
    if deployer is None:
        return [], "Deploying is disabled, so there are no logs to read."
    if release is None:
        return [], "This component was never deployed."
    try:
        streams = deployer.logs(images.deploy_spec(component, release), tail=tail)
    except BerthError as e:
        return [], e.message
    if not streams:
        return [], "No container is running for this component."
    return streams, None


def scale(component: Component, replicas: int, by: str) -> Release:
    """Run this many replicas of what runs now (a release at the running digest)."""
    problem = replicas_problem(replicas, get_deployer(component))
    if component.replicas_elsewhere:
        problem = ("This component's replicas are managed elsewhere (an autoscaler or kubectl scale); "
                   "change them there, or untick \"Replicas managed elsewhere\" in its settings.")
    if problem:
        raise FieldErrors({"replicas": problem})
    current = releases.current_release(component)
    component.replicas = replicas
    if current is None or not current.digest:
        release = releases.deploy_settings(component, by, None)
    else:
        recorded = {**(current.settings or settings.snapshot(component)), "replicas": replicas}
        component.stopped = False
        release = releases.queue_release(component, "scale", by, tag=current.tag, digest=current.digest,
                                         recorded=recorded)
    _audit(component, by, "component.scaled", f"{replicas} replicas, release #{release.seq}")
    return release


def resume(component: Component, by: str) -> DeliveryOutcome | None:
    """Resume auto-deploy and decide once for the newest matching tag."""
    _audit(component, by, "component.resumed", "auto-deploy resumed")
    releases.resume(component)
    if not component.auto_deploy:
        return None
    return autodeploy.reevaluate(component, by)


# -- day-two actions a person takes, each recorded in the audit trail ------------------------------
def _audit(component: Component, by: str, action: str, summary: str = "") -> None:
    audit.record(component.team_id, by, action, f"component {component.name}", summary)


def redeploy(component: Component, by: str) -> Release:
    release = releases.redeploy(component, by)
    _audit(component, by, "component.redeployed", f"release #{release.seq} of {release.tag}")
    return release


def deploy_digest(component: Component, digest: str, by: str) -> Release:
    """Deploy exactly `digest` of the component's repository (a pipeline's build), under its tag;
    the registry must hold it. The trust gate decides when the release runs."""
    source = images.source_for(component.team_id, component.source_registry, component.image
                               if component.source_registry else f"{component.image}:{component.tag}")
    try:
        source.client.manifest_digest(source.repository, digest)
    except RegistryNotFound:
        raise FieldErrors({"digest": f"{source.repository} has no image {digest[:19]}…"}) from None
    component.stopped = False
    release = releases.queue_release(component, "manual", by, tag=component.tag, digest=digest)
    _audit(component, by, "component.deployed", f"release #{release.seq} of {release.tag} at {digest[:19]}")
    return release


def start(component: Component, by: str) -> Release:
    release = releases.start(component, by)
    _audit(component, by, "component.started", f"release #{release.seq} of {release.tag}")
    return release


def rollback(release: Release, by: str, override: str | None = None) -> Release:
    """Roll back; `override` (an owner's reason) deploys a digest the trust policy refuses, audited."""
    new = releases.rollback(release, by, override=override)
    _audit(release.component, by, "component.rolled_back", f"release #{new.seq} of {new.tag}")
    if new.trust_override:
        _audit(release.component, by, "trust.override", f"release #{new.seq} at {(new.digest or '')[:19]}: "
                                                           f"{new.trust_override}")
    return new


def restart(component: Component, by: str) -> None:
    releases.restart(component)
    _audit(component, by, "component.restarted")


def stop(component: Component, by: str) -> None:
    releases.stop_component(component)
    _audit(component, by, "component.stopped")


def delete(component: Component, by: str, keep_data: bool = True) -> list[str]:
    name, team_id = component.name, component.team_id
    kept = releases.delete_component(component, keep_data=keep_data)
    audit.record(team_id, by, "component.deleted", f"component {name}" + ("" if keep_data else ", with its data"))
    return kept


def clear_bad(component: Component, digest: str, by: str) -> None:
    releases.clear_bad(component, digest)
    _audit(component, by, "component.cleared_bad_digest", digest[:100])
