"""Promotion: a release that ran in one environment (its exact digest and the component's settings it
ran with) goes to the next environment on all its targets, with that environment's overrides, once
its gates pass — the upstream healthy for the soak time, approvals (never the requester's own), no
freeze window open (or an owner's override with a reason), the image never marked bad anywhere.
A person asks ("Promote to staging") or the leader does by itself for environments with
auto-promotion, which a rollback there pauses until resumed. Every step is audited and notified."""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm.attributes import set_committed_value

from models import (
    Component,
    ComponentStage,
    Environment,
    Membership,
    Promotion,
    PromotionStatus,
    Release,
    ReleaseStatus,
    Role,
    Team,
    User,
    db,
    utcnow,
)
from services.components import environments, releases, settings, stages
from services.errors import NotAllowed, ServiceError
from services.oversight import audit, notifications
from services.platform.jobs import unit_of_work

log = logging.getLogger("berth.promotions")
PROMOTION_HOURS = 72  # a promotion nobody let through in this time expires
RETRY_SECONDS = 60  # a failed target of a promotion is tried again at most this often
OPEN = (PromotionStatus.WAITING, PromotionStatus.DEPLOYING, PromotionStatus.PARTIAL)


@dataclass
class Gate:
    gate: str  # image / upstream / approvals / freeze / paused
    ok: bool
    reason: str


@dataclass
class TargetState:
    row: Component
    release: Release | None  # running now
    healthy: bool
    since: datetime | None


def _link(component: Component) -> str:
    return notifications.external_link("components.detail", component_id=component.id)


def _fields(promotion: Promotion) -> dict:
    return {"component": promotion.component.name, "environment": promotion.environment.name,
            "from": promotion.from_environment.name if promotion.from_environment else None,
            "tag": promotion.tag, "digest": promotion.digest, "promotion": promotion.id,
            "settings": promotion.settings_hash[:12], "status": promotion.status,
            "approvals": f"{promotion.approved_count} of {promotion.required}"}


def _tell(promotion: Promotion, event: str, subject: str) -> None:
    notifications.notify(promotion.team_id, event, subject, _fields(promotion), _link(promotion.component))


def _is_owner(team_id: int, user: User) -> bool:
    return db.session.scalar(select(Membership.role).where(Membership.team_id == team_id,
                                                           Membership.user_id == user.id)) == Role.OWNER


# -- what runs where ----------------------------------------------------------------------------------
def targets_state(component: Component, environment: Environment, live: bool = True) -> list[TargetState]:
    """Each of the environment's rows: what runs there now and whether the runtime calls it healthy."""
    out = []
    for row in stages.rows_of(component, environment):
        current = releases.current_release(row)
        healthy = current is not None and not row.stopped
        if healthy and live:
            status = releases.live_status(row, current)
            healthy = status is not None and status.state == "running"
        out.append(TargetState(row, current, healthy, current.finished_at if current else None))
    return out


def _minutes(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h {minutes % 60} min"


def upstream_gate(component: Component, environment: Environment, upstream: Environment, digest: str,
                  now: datetime) -> Gate:
    """The upstream ran `digest` healthy on all (or any one, per `environment`'s rule) of its targets
    for its soak time."""
    states = targets_state(component, upstream)
    soak = timedelta(minutes=environment.soak_minutes)
    good = [s for s in states if s.healthy and s.release.digest == digest]
    rule = environment.health_rule
    count = f"{len(good)} of {len(states)} targets"
    if not states or (rule == "all" and len(good) < len(states)) or not good:
        return Gate("upstream", False, f"{upstream.name} runs it healthy on {count}"
                                       f"{'' if rule == 'any' else ' (all needed)'}.")
    since = max(s.since for s in good) if rule == "all" else min(s.since for s in good)
    ran = now - since
    if ran < soak:
        return Gate("upstream", False, f"{upstream.name} has run it healthy on {count} for {_minutes(ran)}; "
                                       f"soak time {_minutes(soak)}: {_minutes(soak - ran)} to go.")
    return Gate("upstream", True, f"{upstream.name} has run it healthy on {count} for {_minutes(ran)}"
                                  f"{f' (soak time {_minutes(soak)})' if soak else ''}.")


def bad_mark(component: Component, digest: str) -> str | None:
    """Where the digest was marked bad (on the component or any of its rows), or None."""
    for row in [component, *stages.rows_of(component)]:
        mark = releases.is_bad(row, digest)
        if mark:
            return f"{digest[:19]} was marked bad on {row.name}: {mark['reason']}"
    return None


def evaluate(promotion: Promotion, now: datetime | None = None) -> list[Gate]:
    now = now or utcnow()
    component, environment = promotion.component, promotion.environment
    team = db.session.get(Team, promotion.team_id)
    gates = []
    bad = bad_mark(component, promotion.digest)
    gates.append(Gate("image", bad is None, bad or "Not marked bad in any environment."))
    if promotion.from_environment is not None:
        gates.append(upstream_gate(component, environment, promotion.from_environment, promotion.digest, now))
    if promotion.required:
        gates.append(Gate("approvals", promotion.approved_count >= promotion.required,
                          f"{promotion.approved_count} of {promotion.required} approvals"
                          + (f" ({', '.join(promotion.approvers)})" if promotion.approvers else "") + "."))
    window = environments.open_freeze(environment, team, now)
    if window is None:
        gates.append(Gate("freeze", True, "No freeze window is open."))
    elif promotion.freeze_override:
        o = promotion.freeze_override
        gates.append(Gate("freeze", True, f"Frozen until {_until(team, window)}, released by {o['by']}: {o['reason']}"))
    else:
        gates.append(Gate("freeze", False, f"{environment.name} is frozen until {_until(team, window)} "
                                           f"({window.rule} for {window.hours:g}h)."))
    if promotion.automatic:
        stage = _stage(component, environment)
        paused = stage is not None and stage.paused_reason
        gates.append(Gate("paused", not paused, paused or "Auto-promotion is on."))
    return gates


def _until(team: Team, window: environments.FreezeWindow) -> str:
    zone = environments.team_zone(team)
    return f"{window.until:%a %d %b %H:%M} ({zone.key})"


def _stage(component: Component, environment: Environment) -> ComponentStage | None:
    return db.session.scalar(select(ComponentStage).where(ComponentStage.component_id == component.id,
                                                          ComponentStage.environment_id == environment.id))


# -- asking, deciding ----------------------------------------------------------------------------------
def promotable(release: Release) -> tuple[Component, Environment, list[Environment]]:
    """(the component, the environment the release ran in, where it may go next) for a stage
    row's release; ServiceError otherwise."""
    row = release.component
    if row.base_id is None or row.env_target is None:
        raise ServiceError("Only a release in an environment can be promoted.")
    if not release.digest:
        raise ServiceError(f"Release #{release.seq} never resolved a digest: nothing exact to promote.")
    here = row.env_target.environment
    return row.base, here, environments.downstream(here)


def request(release: Release, environment: Environment, by: str, *, user: User | None = None,
            automatic: bool = False, now: datetime | None = None) -> Promotion:
    """Ask for `release` to go to `environment` (the next after the one it ran in); goes at once when
    every gate is open. An older waiting promotion of the component into it is superseded."""
    now = now or utcnow()
    component, here, nexts = promotable(release)
    if environment.id not in {e.id for e in nexts}:
        raise ServiceError(f"{environment.name} does not follow {here.name}: promote to "
                           f"{', '.join(e.name for e in nexts) or 'nothing (it is the last)'}.")
    if user is not None and environment.owners_only and not _is_owner(component.team_id, user):
        raise NotAllowed(f"Only the team's owners may promote into {environment.name}.")
    base = release.base_settings or {**settings.snapshot(component), "tag": release.tag}
    for older in db.session.scalars(select(Promotion).where(Promotion.component_id == component.id,
                                                            Promotion.environment_id == environment.id,
                                                            Promotion.status == PromotionStatus.WAITING)):
        older.status, older.decided_at, older.message = PromotionStatus.SUPERSEDED, now, \
            f"Superseded by the promotion of {release.tag}."
        audit.record(component.team_id, by, "promotion.superseded", f"component {component.name}",
                     f"promotion #{older.id} of {older.tag} to {environment.name} superseded")
    promotion = Promotion(team_id=component.team_id, component=component, environment=environment,
                          from_environment=here, source_release_id=release.id, tag=release.tag,
                          digest=release.digest, base_settings=base, settings_hash=stages.settings_hash(base),
                          status=PromotionStatus.WAITING, automatic=automatic, requested_by=by[:255],
                          required=environment.approvals_required, approvers=[], approved_count=0, gates=[],
                          release_ids=[], created_at=now, expires_at=now + timedelta(hours=PROMOTION_HOURS))
    db.session.add(promotion)
    db.session.flush()
    audit.record(component.team_id, by, "promotion.requested", f"component {component.name}",
                 f"promotion #{promotion.id}: {release.tag} ({release.digest[:19]}, settings "
                 f"{promotion.settings_hash[:12]}) from {here.name} to {environment.name}")
    _tell(promotion, "promotion.requested", f"{component.name}: {release.tag} promotion from {here.name} to "
                                            f"{environment.name} requested by {by}")
    advance(promotion, now)
    return promotion


def _may_decide(promotion: Promotion, now: datetime) -> None:
    if promotion.status != PromotionStatus.WAITING:
        raise ServiceError(f"Promotion #{promotion.id} is {promotion.status}: nothing to decide.")
    if promotion.expires_at <= now:
        raise ServiceError(f"Promotion #{promotion.id} has expired.")


def approve(promotion: Promotion, user: User, now: datetime | None = None, actor: str | None = None) -> Promotion:
    """Count `user`'s approval (`actor`: who the audit trail names, when an API token acted)."""
    now = now or utcnow()
    _may_decide(promotion, now)
    if not promotion.required:
        raise ServiceError(f"{promotion.environment.name} needs no approvals.")
    if user.email == promotion.requested_by:
        raise ServiceError("You requested this promotion: someone else must approve it.")
    if user.email in promotion.approvers:
        raise ServiceError("You have already approved this promotion.")
    if promotion.environment.owners_only and not _is_owner(promotion.team_id, user):
        raise NotAllowed(f"Only the team's owners may approve promotions into {promotion.environment.name}.")
    seen = promotion.approved_count
    taken = db.session.execute(update(Promotion).where(Promotion.id == promotion.id,
                                                       Promotion.status == PromotionStatus.WAITING,
                                                       Promotion.approved_count == seen)
                               .values(approved_count=seen + 1).execution_options(synchronize_session=False))
    if taken.rowcount != 1:
        raise ServiceError("Someone decided on this promotion just now; look again.")
    set_committed_value(promotion, "approved_count", seen + 1)
    promotion.approvers = [*promotion.approvers, user.email]
    audit.record(promotion.team_id, actor or user.email, "promotion.approved", f"component {promotion.component.name}",
                 f"promotion #{promotion.id} of {promotion.tag} to {promotion.environment.name}: "
                 f"{promotion.approved_count} of {promotion.required}")
    _tell(promotion, "promotion.approved", f"{promotion.component.name}: {user.email} approved {promotion.tag} for "
                                           f"{promotion.environment.name} ({promotion.approved_count} of "
                                           f"{promotion.required})")
    advance(promotion, now)
    return promotion


def reject(promotion: Promotion, user: User, now: datetime | None = None, actor: str | None = None) -> Promotion:
    now = now or utcnow()
    _may_decide(promotion, now)
    promotion.status, promotion.decided_at, promotion.message = PromotionStatus.REJECTED, now, \
        f"Rejected by {user.email}."
    audit.record(promotion.team_id, actor or user.email, "promotion.rejected", f"component {promotion.component.name}",
                 f"promotion #{promotion.id} of {promotion.tag} to {promotion.environment.name}")
    _tell(promotion, "promotion.failed", f"{promotion.component.name}: promotion of {promotion.tag} to "
                                         f"{promotion.environment.name} rejected by {user.email}")
    db.session.flush()
    return promotion


def override_freeze(promotion: Promotion, user: User, reason: str, now: datetime | None = None) -> Promotion:
    """An owner lets a promotion through an open freeze window, saying why (audited)."""
    now = now or utcnow()
    _may_decide(promotion, now)
    reason = " ".join(reason.split())
    if not _is_owner(promotion.team_id, user):
        raise NotAllowed("Only the team's owners may override a freeze window.")
    if len(reason) < 5:
        raise ServiceError("Say why this promotion may go during the freeze (at least a few words).")
    team = db.session.get(Team, promotion.team_id)
    window = environments.open_freeze(promotion.environment, team, now)
    if window is None:
        raise ServiceError(f"No freeze window holds {promotion.environment.name} now.")
    promotion.freeze_override = {"by": user.email, "reason": reason[:300], "at": now.isoformat(timespec="seconds")}
    audit.record(promotion.team_id, user.email, "promotion.freeze_override", f"component {promotion.component.name}",
                 f"promotion #{promotion.id} of {promotion.tag} to {promotion.environment.name} released from the "
                 f"freeze until {_until(team, window)}: {reason[:300]}")
    advance(promotion, now)
    return promotion


def advance(promotion: Promotion, now: datetime | None = None) -> Promotion:
    """Look at a waiting promotion's gates (recorded for the page) and start it when all are open."""
    now = now or utcnow()
    if promotion.status != PromotionStatus.WAITING:
        return promotion
    gates = evaluate(promotion, now)
    promotion.gates = [asdict(g) for g in gates]
    if all(g.ok for g in gates):
        _start(promotion, now)
    db.session.flush()
    return promotion


def _start(promotion: Promotion, now: datetime) -> None:
    """Deploy on every target of the environment: once (a compare-and-set on the status)."""
    won = db.session.execute(update(Promotion).where(Promotion.id == promotion.id,
                                                     Promotion.status == PromotionStatus.WAITING)
                             .values(status=PromotionStatus.DEPLOYING, decided_at=now)
                             .execution_options(synchronize_session=False)).rowcount == 1
    if not won:
        return
    set_committed_value(promotion, "status", PromotionStatus.DEPLOYING)
    component, environment = promotion.component, promotion.environment
    by = f"promotion #{promotion.id} ({promotion.requested_by})"
    rows = stages.rows_of(component, environment)
    promotion.release_ids = [stages.deploy_to(row, promotion.base_settings, "promotion", by, tag=promotion.tag,
                                              digest=promotion.digest, promotion_id=promotion.id).id for row in rows]
    promotion.message = f"Deploying {promotion.tag} to {len(rows)} target{'s' if len(rows) != 1 else ''}."
    audit.record(promotion.team_id, "Berth", "promotion.started", f"component {component.name}",
                 f"promotion #{promotion.id}: {promotion.tag} to {environment.name} on "
                 f"{', '.join(r.name for r in rows)}")


# -- the leader's rounds -----------------------------------------------------------------------------
def _newest_of(row: Component, promotion: Promotion) -> Release | None:
    return releases.newest(row, Release.promotion_id == promotion.id)


def progress(promotion: Promotion, now: datetime | None = None) -> None:
    """A deploying (or partly failed) promotion: done when every target runs it; a failed target is
    retried (or left rolled back) as the environment says, and the next gate stays closed."""
    now = now or utcnow()
    component, environment = promotion.component, promotion.environment
    rows = stages.rows_of(component, environment)
    latest = {row.id: _newest_of(row, promotion) for row in rows}
    running = [r for r in rows if latest[r.id] is not None and latest[r.id].status == ReleaseStatus.RUNNING]
    busy = [r for r in rows if latest[r.id] is not None and latest[r.id].in_progress]
    if len(running) == len(rows):
        promotion.status, promotion.finished_at = PromotionStatus.DONE, now
        promotion.message = f"Running on {len(rows)} of {len(rows)} targets."
        audit.record(promotion.team_id, "Berth", "promotion.done", f"component {component.name}",
                     f"promotion #{promotion.id}: {promotion.tag} runs in {environment.name} on all "
                     f"{len(rows)} targets")
        _tell(promotion, "promotion.done", f"{component.name}: {promotion.tag} runs in {environment.name}")
        return
    if busy:
        return
    failed = [r for r in rows if r not in running]
    status = PromotionStatus.PARTIAL if running else PromotionStatus.FAILED
    first = promotion.status == PromotionStatus.DEPLOYING
    reasons = "; ".join(f"{r.name}: {(latest[r.id].message if latest[r.id] else 'not deployed') or ''}"[:200]
                        for r in failed)
    promotion.status = status
    promotion.message = f"{len(running)} of {len(rows)} targets. {reasons}"[:500]
    if first:
        audit.record(promotion.team_id, "Berth", f"promotion.{status}", f"component {component.name}",
                     f"promotion #{promotion.id}: {promotion.tag} runs in {environment.name} on {len(running)} of "
                     f"{len(rows)} targets")
        _tell(promotion, "promotion.failed", f"{component.name}: {promotion.tag} runs in {environment.name} on "
                                             f"{len(running)} of {len(rows)} targets")
    if environment.on_failure == "retry" and (promotion.last_retry_at is None or
                                              now - promotion.last_retry_at >= timedelta(seconds=RETRY_SECONDS)):
        # a target someone deployed by hand since is theirs now
        again = [r for r in failed if latest[r.id] is None or releases.latest_release(r).id == latest[r.id].id]
        if not again:
            return
        promotion.last_retry_at = now
        by = f"promotion #{promotion.id} (retry)"
        promotion.release_ids = [*promotion.release_ids, *[
            stages.deploy_to(r, promotion.base_settings, "promotion", by, tag=promotion.tag, digest=promotion.digest,
                             promotion_id=promotion.id).id for r in again]]
        promotion.status = PromotionStatus.DEPLOYING if not running else PromotionStatus.PARTIAL


def candidates(now: datetime) -> list[tuple[Release, Environment]]:
    """(the release to promote, the environment) for each stage with auto-promotion whose upstream
    runs a digest it has not had and was not asked for yet."""
    out = []
    stages_on = db.session.scalars(select(ComponentStage).join(Environment, Environment.id ==
                                                               ComponentStage.environment_id)
                                   .where(Environment.auto_promote, Environment.upstream_id.is_not(None),
                                          ComponentStage.paused_reason.is_(None)))
    for stage in stages_on:
        component, environment = stage.component, stage.environment
        upstream = environment.upstream
        states = [s for s in targets_state(component, upstream, live=False) if s.release is not None]
        if not states:
            continue
        newest = max(states, key=lambda s: s.release.id).release
        if not newest.digest:
            continue
        asked = db.session.scalar(select(Promotion.id).where(
            Promotion.component_id == component.id, Promotion.environment_id == environment.id,
            Promotion.digest == newest.digest, Promotion.status.in_((*OPEN, PromotionStatus.DONE))).limit(1))
        here = targets_state(component, environment, live=False)
        if asked is None and not (here and all(s.release and s.release.digest == newest.digest for s in here)):
            out.append((newest, environment))
    return out


def tick(now: datetime | None = None) -> None:
    """The leader's round: expire, ask for auto-promotions, look at waiting gates, follow deploys."""
    now = now or utcnow()
    with unit_of_work():
        for promotion in db.session.scalars(select(Promotion).where(Promotion.status == PromotionStatus.WAITING,
                                                                    Promotion.expires_at <= now)):
            promotion.status, promotion.decided_at = PromotionStatus.EXPIRED, now
            promotion.message = "Expired: its gates did not open in time; nothing was deployed."
            audit.record(promotion.team_id, "Berth", "promotion.expired", f"component {promotion.component.name}",
                         f"promotion #{promotion.id} of {promotion.tag} to {promotion.environment.name}")
            _tell(promotion, "promotion.failed", f"{promotion.component.name}: promotion of {promotion.tag} to "
                                                 f"{promotion.environment.name} expired")
    with unit_of_work():
        found = candidates(now)
    for release, environment in found:
        with unit_of_work():
            release, environment = db.session.get(Release, release.id), db.session.get(Environment, environment.id)
            if bad_mark(release.component.base, release.digest):
                continue  # never promoted; the page says why
            request(release, environment, "Berth (auto-promotion)", automatic=True, now=now)
    with unit_of_work():
        ids = db.session.scalars(select(Promotion.id).where(Promotion.status.in_(OPEN))).all()
    for promotion_id in ids:
        try:
            with unit_of_work():
                promotion = db.session.get(Promotion, promotion_id)
                if promotion.status == PromotionStatus.WAITING:
                    advance(promotion, now)
                else:
                    progress(promotion, now)
        except Exception:  # logged; one promotion must not stop the others
            log.exception("promotion %s", promotion_id)


def waiting_into(component: Component, environment: Environment) -> Promotion | None:
    return db.session.scalar(select(Promotion).where(Promotion.component_id == component.id,
                                                     Promotion.environment_id == environment.id,
                                                     Promotion.status.in_(OPEN)).order_by(Promotion.id.desc()).limit(1))


@dataclass
class StageView:
    """One environment of a component's pipeline, as its page shows it."""

    environment: Environment
    stage: ComponentStage
    targets: list[TargetState]
    promotion: Promotion | None  # waiting or under way into it
    gates: list[Gate]
    frozen_until: str | None
    downstream: list[Environment]

    @property
    def healthy(self) -> str:
        return f"{sum(1 for t in self.targets if t.healthy)} of {len(self.targets)} targets"


def pipeline(component: Component, now: datetime | None = None) -> list[StageView]:
    """Each environment in order: what runs on each target (tag, digest, since, health), what waits
    to come in and which gate holds it (looked at now)."""
    now = now or utcnow()
    team = db.session.get(Team, component.team_id)
    out = []
    for stage in stages.stages_of(component):
        environment = stage.environment
        waiting = waiting_into(component, environment)
        gates = []
        if waiting is not None and waiting.status == PromotionStatus.WAITING:
            gates = evaluate(waiting, now)
        window = environments.open_freeze(environment, team, now)
        out.append(StageView(environment, stage, targets_state(component, environment), waiting, gates,
                             _until(team, window) if window else None, environments.downstream(environment)))
    return out
