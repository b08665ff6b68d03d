"""Releases: queueing them (one at a time per decision), then running them in the background:
claim, resolve the digest, apply, watch the rollout; stop and delete."""
from __future__ import annotations

import logging
import os
import socket
import time
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm.attributes import set_committed_value

from models import Component, Release, ReleaseStatus, db, utcnow
from services import images, metrics, runtime
from services.deploy.spec import DeployError, DeployStatus
from services.deployers import disabled_reason, get_deployer
from services.errors import ReleaseConflict, ServiceError
from services.jobs import after_commit, unit_of_work
from services.registry.errors import RegistryError, RegistryNotFound

log = logging.getLogger("berth.releases")
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"


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
                      status=ReleaseStatus.PENDING)
    db.session.add(release)
    db.session.flush()
    kick = runtime.of().release_kick
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


def newest(component: Component, *conditions) -> Release | None:
    """The component's newest release that meets the conditions."""
    return db.session.scalars(select(Release).where(Release.component_id == component.id, *conditions)
                              .order_by(Release.id.desc()).limit(1)).first()


def latest_release(component: Component) -> Release | None:
    return newest(component)


def current_release(component: Component) -> Release | None:
    return newest(component, Release.status == ReleaseStatus.RUNNING)


def history(component: Component, limit: int = 50) -> list[Release]:
    """The component's releases, newest first."""
    return list(db.session.scalars(select(Release).where(Release.component_id == component.id)
                                   .order_by(Release.id.desc()).limit(limit)))


def live_status(component: Component) -> DeployStatus | None:
    """What the runtime says of the component's running release now; None when nothing runs."""
    current = current_release(component)
    deployer = get_deployer()
    if deployer is None or current is None or component.stopped:
        return None
    try:
        return deployer.status(images.deploy_spec(component, current))
    except (DeployError, RegistryError) as e:
        return DeployStatus("unknown", "Unavailable", e.message)


def claim(release_id: int) -> bool:
    """Atomically move a pending release to deploying; only one worker anywhere wins."""
    with unit_of_work():
        result = db.session.execute(
            update(Release).where(Release.id == release_id, Release.status == ReleaseStatus.PENDING)
            .values(status=ReleaseStatus.DEPLOYING, started_at=utcnow(), heartbeat_at=utcnow(),
                    claimed_by=WORKER_ID, message="Resolving the image…"))
    return result.rowcount == 1


def _finish(release: Release, status: ReleaseStatus, message: str) -> None:
    release.status, release.message, release.finished_at = status, message[:1000], utcnow()
    metrics.RELEASES.labels(release.trigger, status).inc()
    if status == ReleaseStatus.RUNNING:
        component = release.component
        component.digest, component.tag = release.digest, release.tag
        older = db.session.scalars(select(Release).where(
            Release.component_id == component.id, Release.id != release.id,
            Release.status == ReleaseStatus.RUNNING))
        for other in older:
            other.status = ReleaseStatus.SUPERSEDED
    log.info("release %s of component %s: %s (%s)", release.id, release.component_id, status, message)


def run(release_id: int, rollout_timeout: float = 300, poll: float = 0.5, stop=None) -> None:
    """Deploy one release to the end: running, or failed with the reason in plain words.

    `stop` (a threading.Event) set by a shutting-down process hands the release back to pending,
    so another worker continues it instead of it waiting out a timeout.
    """
    if not claim(release_id):
        return
    try:
        with unit_of_work():
            release = db.session.get(Release, release_id)
            deployer = get_deployer()
            if deployer is None:
                _finish(release, ReleaseStatus.FAILED, disabled_reason())
                return
            component = release.component
            source = images.source_for(component.team_id, component.source_registry, component.image)
            if not release.digest:
                release.digest = source.client.manifest_digest(source.repository, release.tag)
            spec = images.deploy_spec(component, release, source)
            release.image_ref = spec.image
            release.message = "Applying the manifests…"
        deployer.apply(spec)
        deadline = time.monotonic() + rollout_timeout
        while True:
            status = deployer.status(spec)
            if status.done or time.monotonic() > deadline:
                break
            if stop is not None and stop.is_set():
                _requeue(release_id)
                return
            with unit_of_work():
                release = db.session.get(Release, release_id)
                release.message, release.heartbeat_at = f"{status.reason}: {status.message}", utcnow()
            time.sleep(poll)
        with unit_of_work():
            release = db.session.get(Release, release_id)
            if status.state == "running":
                _finish(release, ReleaseStatus.RUNNING, status.message)
            elif status.state == "failed":
                _finish(release, ReleaseStatus.FAILED, f"{status.reason}: {status.message}")
            else:
                _finish(release, ReleaseStatus.FAILED, f"The rollout did not finish within {rollout_timeout:g}s "
                        f"({status.reason}: {status.message}).")
    except RegistryNotFound as e:
        _fail(release_id, e.message, missing_tag=True)
    except (DeployError, RegistryError, ValueError) as e:
        _fail(release_id, getattr(e, "message", str(e)))
    except Exception:  # logged; a release must never stay stuck in "deploying"
        log.exception("release %s crashed", release_id)
        _fail(release_id, "Berth hit an unexpected error while deploying; see the server log.")


def _requeue(release_id: int) -> None:
    with unit_of_work():
        db.session.execute(update(Release).where(Release.id == release_id, Release.status ==
                                                 ReleaseStatus.DEPLOYING)
                           .values(status=ReleaseStatus.PENDING, claimed_by=None,
                                   message="Berth restarted while waiting for the rollout; continuing."))


def _fail(release_id: int, message: str, missing_tag: bool = False) -> None:
    with unit_of_work():
        release = db.session.get(Release, release_id)
        if release is not None and release.status in (ReleaseStatus.PENDING, ReleaseStatus.DEPLOYING):
            if missing_tag:
                message = f"The image tag {release.tag} does not exist in the registry. ({message})"
            _finish(release, ReleaseStatus.FAILED, message)


def recover_stale(stale_after: float = 120) -> int:
    """Releases whose worker stopped heart-beating (killed mid-deploy) go back to pending."""
    cutoff = utcnow() - timedelta(seconds=stale_after)
    with unit_of_work():
        result = db.session.execute(
            update(Release).where(Release.status == ReleaseStatus.DEPLOYING, Release.heartbeat_at < cutoff)
            .values(status=ReleaseStatus.PENDING, claimed_by=None,
                    message="The worker deploying this release stopped; trying again."))
    return result.rowcount


def stop_component(component: Component) -> None:
    deployer = get_deployer()
    if deployer is None:
        raise DeployError(disabled_reason())
    release = current_release(component) or latest_release(component)
    if release is not None:
        deployer.delete(images.deploy_spec(component, release))
        db.session.execute(update(Release).where(Release.component_id == component.id,
                                                 Release.status == ReleaseStatus.RUNNING)
                           .values(status=ReleaseStatus.STOPPED))
    component.stopped = True
    db.session.flush()


def delete_component(component: Component) -> None:
    deployer = get_deployer()
    release = latest_release(component)
    if deployer is not None and release is not None:
        deployer.delete(images.deploy_spec(component, release))
    db.session.delete(component)
    db.session.flush()
