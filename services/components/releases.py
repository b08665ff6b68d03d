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

from models import (
    UNFINISHED_RELEASE_STATUSES,
    Component,
    ComponentStage,
    EnvironmentTarget,
    Release,
    ReleaseStatus,
    db,
    utcnow,
)
from services.components import connections, settings, volumes
from services.deploy.deployers import disabled_reason, get_deployer
from services.deploy.drivers import probe
from services.deploy.drivers.spec import DeployError, DeployStatus
from services.errors import BerthError, ReleaseConflict, ServiceError
from services.oversight import audit, notifications
from services.platform import metrics, runtime
from services.platform.jobs import after_commit, unit_of_work
from services.registries import images
from services.registries.clients.errors import RegistryNotFound
from services.trust import gate

log = logging.getLogger("berth.releases")
WORKER_ID = f"{socket.gethostname()}:{os.getpid()}"


def queue_release(component: Component, trigger: str, triggered_by: str, tag: str | None = None,
                  digest: str | None = None, expected_seq: int | None = None,
                  recorded: dict | None = None, base: dict | None = None) -> Release:
    """Queue the component's next release. It takes the next release number only if the component
    still has the one read (`expected_seq`, read before any decision was made; else now): a compare
    and set, so two writers deciding from the same state cannot both add a release, on any database.
    Raises ReleaseConflict when another release came first.

    The release records the component's settings now (or `recorded`, a rollback's); releases still
    waiting to run are cancelled: this one replaces them. A stage row's release (environments) also
    records the component's own settings it came from (`base`, else the component's now)."""
    if component.base_id is None and db.session.scalar(
            select(ComponentStage.id).where(ComponentStage.component_id == component.id).limit(1)) is not None:
        raise ServiceError(f"{component.name} deploys through environments: deploy it to the first environment "
                           f"and promote it from there.")
    seen = component.release_seq if expected_seq is None else expected_seq
    taken = db.session.execute(
        update(Component).where(Component.id == component.id, Component.release_seq == seen)
        .values(release_seq=seen + 1).execution_options(synchronize_session=False))
    if taken.rowcount != 1:
        raise ReleaseConflict(component.name)
    set_committed_value(component, "release_seq", seen + 1)
    db.session.execute(update(Release).where(Release.component_id == component.id,
                                             Release.status == ReleaseStatus.PENDING)
                       .values(status=ReleaseStatus.CANCELLED, finished_at=utcnow(),
                               message=f"Release #{seen + 1} replaced it before it ran.")
                       .execution_options(synchronize_session=False))
    release = Release(team_id=component.team_id, component=component, seq=seen + 1, tag=tag or component.tag,
                      digest=digest, trigger=trigger, triggered_by=triggered_by[:255],
                      status=ReleaseStatus.PENDING, settings=recorded or settings.snapshot(component))
    if component.base_id is not None:
        release.base_settings = base or {**settings.snapshot(component.base), "tag": tag or component.tag}
    db.session.add(release)
    db.session.flush()
    kick = runtime.of().release_kick
    if kick:
        release_id = release.id
        after_commit(lambda: kick(release_id))
    return release


def redeploy(component: Component, by: str) -> Release:
    """Deploy the component's settings again, resolving its tag anew (a re-pushed tag is pulled)."""
    component.stopped = False
    return queue_release(component, "manual", by)


def deploy_settings(component: Component, by: str, keep_digest: str | None) -> Release:
    """Deploy saved settings: at `keep_digest` (the image running now) when the image did not change."""
    component.stopped = False
    return queue_release(component, "manual", by, digest=keep_digest)


def start(component: Component, by: str) -> Release:
    """Run a stopped component again: the release it last ran, same image and settings."""
    last = newest(component, Release.digest.is_not(None), Release.status.in_(
        [ReleaseStatus.RUNNING, ReleaseStatus.STOPPED, ReleaseStatus.SUPERSEDED]))
    component.stopped = False
    if last is None:
        return queue_release(component, "manual", by)
    return queue_release(component, "start", by, tag=last.tag, digest=last.digest, recorded=last.settings)


class TrustRefused(ServiceError):
    """The trust policy refuses the digest a person asked for; an owner may override with a reason."""


def rollback(release: Release, by: str, override: str | None = None) -> Release:
    """Deploy an earlier release again, its digest and its settings, and pause auto-deploy: a
    rollback must not be undone by the next push or poll. A digest the component's trust policy
    refuses now is refused (TrustRefused) unless `override` gives an owner's reason."""
    if not release.digest:
        raise ServiceError("This release never resolved a digest, so there is nothing exact to roll back to.")
    component = release.component
    refused = gate.refusal(component, release.digest)
    if refused is not None and not override:
        raise TrustRefused(f"Release #{release.seq} ({release.tag}) cannot be rolled back to: {refused}.")
    component.stopped = False
    if release.settings:
        settings.restore(component, release.settings)
        volumes.record(component)
    component.tag = release.tag
    new = queue_release(component, "rollback", by, tag=release.tag, digest=release.digest,
                        recorded=settings.snapshot(component), base=release.base_settings)
    if refused is not None:
        new.trust_override = override[:300]
    if component.base_id is not None:
        _pause_promotion(component, f"Auto-promotion paused since rollback #{new.seq} to {release.tag} "
                                    f"on {component.name}.")
    if component.auto_deploy:
        pause(component, f"Auto-deploy paused since rollback #{new.seq} to {release.tag} (release #{release.seq}).")
    _tell(new, "release.rollback", f"rolled back by {by} to release #{release.seq} ({release.tag})")
    return new


def _pause_promotion(row: Component, reason: str) -> None:
    """A rollback in an environment pauses auto-promotion into it until a person resumes it (the
    next upstream success must not undo the rollback)."""
    stage = db.session.scalar(select(ComponentStage).where(
        ComponentStage.component_id == row.base_id,
        ComponentStage.environment_id == select(EnvironmentTarget.environment_id)
        .where(EnvironmentTarget.id == row.env_target_id).scalar_subquery()))
    if stage is not None:
        stage.paused_reason, stage.paused_at = reason[:300], utcnow()


def pause(component: Component, reason: str) -> None:
    component.paused_reason, component.paused_at = reason[:300], utcnow()


def resume(component: Component) -> None:
    component.paused_reason, component.paused_at = None, None


def mark_bad(component: Component, release: Release, reason: str) -> None:
    if release.digest and all(b["digest"] != release.digest for b in component.bad_digests or []):
        component.bad_digests = [*(component.bad_digests or []), {
            "digest": release.digest, "tag": release.tag, "release": release.seq, "reason": reason[:300],
            "at": utcnow().isoformat(timespec="seconds")}]


def clear_bad(component: Component, digest: str) -> None:
    component.bad_digests = [b for b in component.bad_digests or [] if b["digest"] != digest]


def is_bad(component: Component, digest: str | None) -> dict | None:
    return next((b for b in component.bad_digests or [] if b["digest"] == digest), None)


def newest(component: Component, *conditions) -> Release | None:
    """The component's newest release that meets the conditions."""
    return db.session.scalars(select(Release).where(Release.component_id == component.id, *conditions)
                              .order_by(Release.id.desc()).limit(1)).first()


def of_component(component: Component, release_id: int) -> Release | None:
    """One of the component's releases (None: not one of its)."""
    release = db.session.get(Release, release_id)
    return release if release is not None and release.component_id == component.id else None


def wait_for_end(release: Release, seconds: float, step: float = 0.5) -> Release | None:
    """The release once it ended, or as it is after `seconds` (an API client's long poll): each read
    in a transaction of its own, so what the workers commit is seen; None if it was deleted."""
    deadline, release_id = time.monotonic() + seconds, release.id
    while release is not None and release.status in UNFINISHED_RELEASE_STATUSES and time.monotonic() < deadline:
        db.session.rollback()
        time.sleep(min(step, max(deadline - time.monotonic(), 0)))
        release = db.session.get(Release, release_id)
    return release


def latest_release(component: Component) -> Release | None:
    return newest(component)


def current_release(component: Component) -> Release | None:
    return newest(component, Release.status == ReleaseStatus.RUNNING)


def history(component: Component, limit: int = 50) -> list[Release]:
    """The component's releases, newest first."""
    return list(db.session.scalars(select(Release).where(Release.component_id == component.id)
                                   .order_by(Release.id.desc()).limit(limit)))


def live_status(component: Component, current: Release | None = None) -> DeployStatus | None:
    """What the runtime says of the component's running release now (`current` when the caller has
    read it); None when nothing runs."""
    current = current or current_release(component)
    deployer = get_deployer(component)
    if deployer is None or current is None or component.stopped:
        return None
    try:
        return deployer.status(images.deploy_spec(component, current))
    except BerthError as e:
        return DeployStatus("unknown", "Unavailable", e.message)


def claim(release_id: int) -> bool:
    """Move a pending release to deploying, if no other release of its component is deploying: only
    one worker anywhere wins, and releases of one component run one after another. The component's
    row is written first, which locks it (PostgreSQL) or the database (SQLite) until the commit, so
    two claims for one component are decided one after the other."""
    with unit_of_work():
        component_id = db.session.scalar(select(Release.component_id).where(Release.id == release_id))
        if component_id is None:
            return False
        db.session.execute(update(Component).where(Component.id == component_id)
                           .values(release_seq=Component.release_seq))
        busy = db.session.scalar(select(Release.id).where(
            Release.component_id == component_id, Release.status == ReleaseStatus.DEPLOYING).limit(1))
        if busy is not None:
            return False
        release = db.session.get(Release, release_id)
        newer = _newer(release) if release is not None and release.status == ReleaseStatus.PENDING else None
        if newer is not None:  # e.g. taken back from a worker that died: the newer one replaces it
            _finish(release, ReleaseStatus.CANCELLED, f"Release #{newer.seq} replaced it before it ran.")
            return False
        result = db.session.execute(
            update(Release).where(Release.id == release_id, Release.status == ReleaseStatus.PENDING)
            .values(status=ReleaseStatus.DEPLOYING, started_at=utcnow(), heartbeat_at=utcnow(),
                    claimed_by=WORKER_ID, message="Resolving the image…"))
    return result.rowcount == 1


def _tell(release: Release, event: str, subject: str, **extra) -> None:
    """Store the notification for this release's channels (sent after the commit)."""
    component = release.component
    notifications.notify(release.team_id, event, f"{component.name}: {subject}", {
        "component": component.name, "release": release.seq, "tag": release.tag, "digest": release.digest,
        "trigger": release.trigger, "triggered_by": release.triggered_by, **extra},
        notifications.external_link("components.detail", component_id=component.id))


def _finish(release: Release, status: ReleaseStatus, message: str) -> None:
    release.status, release.message, release.finished_at = status, message[:1000], utcnow()
    metrics.RELEASES.labels(release.trigger, status).inc()
    if status in (ReleaseStatus.RUNNING, ReleaseStatus.FAILED):
        _tell(release, f"release.{status}", f"release #{release.seq} of {release.tag} {status}",
              outcome=str(status), reason=message[:500])
    if status == ReleaseStatus.RUNNING:
        component = release.component
        component.digest, component.tag = release.digest, release.tag
        older = db.session.scalars(select(Release).where(
            Release.component_id == component.id, Release.id != release.id,
            Release.status == ReleaseStatus.RUNNING))
        for other in older:
            other.status = ReleaseStatus.SUPERSEDED
    log.info("release %s of component %s: %s (%s)", release.id, release.component_id, status, message)


def _newer(release: Release) -> Release | None:
    """A release of the same component queued after this one (it replaces this one)."""
    return db.session.scalars(select(Release).where(
        Release.component_id == release.component_id, Release.seq > release.seq,
        Release.status == ReleaseStatus.PENDING).order_by(Release.seq.desc()).limit(1)).first()


def _watch(release_id: int, deployer, spec, rollout_timeout: float, poll: float, stop) -> DeployStatus | None:
    """Follow the rollout until the runtime says it ended, then until the health check passes (where
    Berth checks it itself); None when a newer release or a shutdown took over.

    The status is read again only when the runtime reports a change (Kubernetes: a watch) or, for a
    runtime that cannot (podman), after each pause; every `poll` seconds in between the release's
    heartbeat is written and a newer release or a shutdown is noticed."""
    deadline = time.monotonic() + rollout_timeout
    checker = probe.Checker(spec.health) if spec.health and not deployer.probes_itself else None
    with deployer.follow(spec) as changes:
        changed = True
        while True:
            if changed:
                status = deployer.status(spec)
                if status.state == "running" and checker is not None:
                    status = checker.step(deployer.probe_address(spec))
            if status.done or time.monotonic() > deadline:
                return status
            if stop is not None and stop.is_set():
                _requeue(release_id)
                return None
            with unit_of_work():
                release = db.session.get(Release, release_id)
                newer = _newer(release)
                if newer is not None:
                    _finish(release, ReleaseStatus.CANCELLED, f"Release #{newer.seq} replaced it during its rollout.")
                    return None
                release.message, release.heartbeat_at = f"{status.reason}: {status.message}", utcnow()
            changed = changes.wait(poll)


def run(release_id: int, rollout_timeout: float = 300, poll: float = 0.5, stop=None) -> None:
    """Deploy one release to the end: running, or failed with the reason in plain words (and the
    failed container's last lines; a release that fails is rolled back to the last running one).

    `stop` (a threading.Event) set by a shutting-down process hands the release back to pending,
    so another worker continues it instead of it waiting out a timeout.
    """
    if not claim(release_id):
        return
    try:
        if not _wait_for_dependencies(release_id, rollout_timeout, poll, stop):
            return
        gate.wait_for_scans(release_id)
        with unit_of_work():
            release = db.session.get(Release, release_id)
            deployer = get_deployer(release.component)
            if deployer is None:
                _finish(release, ReleaseStatus.FAILED, disabled_reason())
                return
            component = release.component
            source = images.release_source(component, release)
            if not release.digest:
                release.digest = source.client.manifest_digest(source.repository, release.tag)
            # The trust gate every path passes (push, poll, manual, rollback, start, promotion).
            refused = None if release.trust_override else gate.refusal(component, release.digest, source)
            if refused is not None:
                raise ServiceError(f"{release.digest[:19]} was not deployed: {refused}")
            spec = images.deploy_spec(component, release, source)
            release.image_ref = spec.image
            release.message = "Applying the manifests…"
            _tell(release, "release.started", f"release #{release.seq} of {release.tag} started")
        deployer.apply(spec)
        status = _watch(release_id, deployer, spec, rollout_timeout, poll, stop)
        if status is None:
            return
        if status.state == "running":
            with unit_of_work():
                _finish(db.session.get(Release, release_id), ReleaseStatus.RUNNING, status.message)
            return
        message = f"{status.reason}: {status.message}" if status.state == "failed" else \
            f"The rollout did not finish within {rollout_timeout:g}s ({status.reason}: {status.message})."
        _fail(release_id, message, log_tail=_log_tail(deployer, spec), undo=True)
    except RegistryNotFound as e:
        _fail(release_id, e.message, missing_tag=True)
    except BerthError as e:
        _fail(release_id, e.message)
    except Exception:  # logged; a release must never stay stuck in "deploying"
        log.exception("release %s crashed", release_id)
        _fail(release_id, "Berth hit an unexpected error while deploying; see the server log.")
    finally:
        _kick_next(release_id)


def _wait_for_dependencies(release_id: int, timeout: float, poll: float, stop) -> bool:
    """A component's first release starts once the components it depends on run (deploy all
    starts them together). False when the release ended or was handed back instead."""
    deadline = time.monotonic() + timeout
    while True:
        with unit_of_work():
            release = db.session.get(Release, release_id)
            waiting, problem = connections.waiting_for(release.component)
            if problem:
                _finish(release, ReleaseStatus.FAILED, problem)
                return False
            if not waiting:
                return True
            if time.monotonic() > deadline:
                _finish(release, ReleaseStatus.FAILED, f"{', '.join(waiting)} did not run within {timeout:g}s, "
                        f"so {release.component.name} was not started.")
                return False
            newer = _newer(release)
            if newer is not None:
                _finish(release, ReleaseStatus.CANCELLED, f"Release #{newer.seq} replaced it before it ran.")
                return False
            release.message, release.heartbeat_at = f"Waiting for {', '.join(waiting)} to run…", utcnow()
        if stop is None:
            time.sleep(poll)
        elif stop.wait(poll):  # shutting down: another worker continues it
            _requeue(release_id)
            return False


def _log_tail(deployer, spec, lines: int = 20) -> str | None:
    try:
        streams = deployer.logs(spec, tail=lines, previous=True)
    except DeployError as e:
        return f"(the container's log could not be read: {e.message})"
    text = "\n".join(line for s in streams for line in s.lines[-lines:])
    return text[-8000:] or None


def _kick_next(release_id: int) -> None:
    """The next release of the component waits while this one runs; start it now."""
    kick = runtime.of().release_kick
    if kick is None:
        return
    with unit_of_work():
        release = db.session.get(Release, release_id)
        nxt = _newer(release) if release is not None else None
        next_id = nxt.id if nxt is not None else None
    if next_id is not None:
        kick(next_id)


def _requeue(release_id: int) -> None:
    with unit_of_work():
        db.session.execute(update(Release).where(Release.id == release_id, Release.status ==
                                                 ReleaseStatus.DEPLOYING)
                           .values(status=ReleaseStatus.PENDING, claimed_by=None,
                                   message="Berth restarted while waiting for the rollout; continuing."))


def _fail(release_id: int, message: str, missing_tag: bool = False, log_tail: str | None = None,
          undo: bool = False) -> None:
    with unit_of_work():
        release = db.session.get(Release, release_id)
        if release is not None and release.status in (ReleaseStatus.PENDING, ReleaseStatus.DEPLOYING):
            if missing_tag:
                message = f"The image tag {release.tag} does not exist in the registry. ({message})"
            release.log_tail = log_tail
            _finish(release, ReleaseStatus.FAILED, message)
            if undo:
                _roll_back_automatically(release, message)


# A release made to undo another is never undone automatically itself (no loops).
_NOT_UNDONE = ("rollback", "auto-rollback", "start")


def _roll_back_automatically(release: Release, why: str) -> None:
    """The safety loop: a failed release goes back to the last running release (its digest and
    settings), auto-deploy is paused, and an image that failed is marked bad so no push deploys it
    again until a person clears the mark."""
    component = release.component
    if release.trigger in _NOT_UNDONE or component.stopped or _newer(release) is not None:
        return
    previous = newest(component, Release.status == ReleaseStatus.RUNNING, Release.id != release.id)
    if previous is None or not previous.digest:
        return
    if release.digest and release.digest != previous.digest:
        mark_bad(component, release, why)
    if previous.settings:
        settings.restore(component, previous.settings)
        volumes.record(component)
    component.tag = previous.tag
    back = queue_release(component, "auto-rollback", f"Berth (release #{release.seq} failed)",
                         tag=previous.tag, digest=previous.digest, recorded=settings.snapshot(component),
                         base=previous.base_settings)
    if component.base_id is not None:
        _pause_promotion(component, f"Auto-promotion paused: {release.tag} failed on {component.name} and was "
                                    f"rolled back automatically.")
    summary = f"{release.tag} failed ({why[:120]}); rolled back to {previous.tag}"
    release.message = f"{why} — rolled back automatically to release #{previous.seq} ({previous.tag}) " \
                      f"as release #{back.seq}."[:1000]
    if component.auto_deploy:
        pause(component, f"{summary}; auto-deploy paused.")
    _tell(back, "release.rollback", f"{summary} automatically", reason=why[:500])
    audit.record(component.team_id, "Berth", "release.auto_rollback", f"component {component.name}",
                 f"release #{release.seq} ({release.tag}) failed; rolled back to #{previous.seq} ({previous.tag})")


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
    deployer = get_deployer(component)
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


def restart(component: Component) -> None:
    """A rolling restart of what runs now (same image, same settings)."""
    deployer = get_deployer(component)
    if deployer is None:
        raise DeployError(disabled_reason())
    release = current_release(component)
    if release is None or component.stopped:
        raise ServiceError(f"{component.name} is not running, so there is nothing to restart.")
    deployer.restart(images.deploy_spec(component, release))


def delete_component(component: Component, keep_data: bool = True) -> list[str]:
    """Remove what runs and the component. Its volumes are kept (listed on the application's page)
    unless `keep_data` is off: then those no other component mounts are deleted with their data.
    Returns the names of the volumes kept. A component deployed through environments goes from
    every environment first."""
    for row in db.session.scalars(select(Component).where(Component.base_id == component.id)).all():
        deployer, release = get_deployer(row), latest_release(row)
        if deployer is not None and release is not None:
            deployer.delete(images.deploy_spec(row, release))
        db.session.delete(row)
    deployer = get_deployer(component)
    release = latest_release(component)
    if deployer is not None and release is not None:
        deployer.delete(images.deploy_spec(component, release))
    kept = [v["name"] for v in component.volumes or []]
    if not keep_data:
        kept = volumes.delete_unshared(component)
    connections.drop(component)
    db.session.delete(component)
    db.session.flush()
    return kept
