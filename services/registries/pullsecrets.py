"""Pull credentials that expire (Amazon ECR's 12-hour token, Azure and Google tokens) are written
into each component's Kubernetes pull Secret at every release; this keeps them fresh in between,
so a pod rescheduled at hour 13 can still pull. Run by the poll leader every
BERTH_PULL_SECRET_REFRESH_EVERY seconds: the credential providers renew a quarter of a lifetime
ahead, so a Secret is always rewritten well before the token in it expires."""
from __future__ import annotations

import hashlib
import logging

from sqlalchemy import select

from models import Component, Registry, db
from services.components import releases
from services.deploy.deployers import get_deployer
from services.deploy.drivers.spec import DeployError
from services.registries import images, registries
from services.registries.clients.errors import RegistryError

log = logging.getLogger("berth.pullsecrets")
RENEWING_KINDS = ("ecr", "gar", "acr")
_written: dict[int, str] = {}  # component id -> fingerprint of the credential last written (this process)


def _fingerprint(credential: tuple[str, str]) -> str:
    return hashlib.sha256("\0".join(credential).encode()).hexdigest()


def refresh() -> tuple[int, list[str]]:
    """Rewrite the pull Secret of every running component whose registry renews its credential,
    when the credential changed since this process last wrote it; (rewritten, problems)."""
    components = db.session.scalars(select(Component).join(Registry, Component.registry_id == Registry.id).where(
        Registry.kind.in_(RENEWING_KINDS), Component.stopped.is_(False)).order_by(Component.id)).all()
    rewritten, problems = 0, []
    for component in components:
        release = releases.current_release(component)
        if release is None:
            continue
        try:
            credential = registries.pull_credential(component.source_registry)
            if credential is None or _written.get(component.id) == _fingerprint(credential):
                continue
            deployer = get_deployer(component)  # its cluster target's, or this Berth's own
            if deployer is None:
                continue
            spec = images.deploy_spec(component, release, images.release_source(component, release))
            if deployer.refresh_pull_secret(spec):
                rewritten += 1
            _written[component.id] = _fingerprint(credential)
        except (RegistryError, DeployError) as e:
            problems.append(f"{component.name}: {e.message}")
            log.warning("refreshing the pull secret of %s failed: %s", component.name, e.message)
    return rewritten, problems
