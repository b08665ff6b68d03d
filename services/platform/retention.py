"""Retention: deliveries, releases and sent notifications do not pile up forever.

What is pruned (the leader runs it every BERTH_PRUNE_EVERY seconds, in batches of a few thousand
rows, each its own short transaction, so intake and workers never wait long):
- deliveries older than BERTH_DELIVERY_RETENTION_DAYS (30), and beyond the newest
  BERTH_DELIVERIES_KEPT (1,000) per component or registry endpoint;
- deliveries that meant nothing to any component (pulls, repositories no component watches,
  requests without the secret) after BERTH_UNWATCHED_RETENTION_HOURS (24);
- releases beyond the newest BERTH_RELEASES_KEPT (1,000) per component;
- notifications sent or given up older than the delivery retention;
- poll leases expired for an hour (services/delivery/leases.py: keys nobody polls any more).

What is always kept: a delivery still waiting or being processed (an unfinished batch), a delivery
whose outcome is a release that still exists, and a release that is pending, deploying or running.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, delete, exists, func, select, text, update

from models import (
    Approval,
    DeliveryOutcome,
    DeliveryStatus,
    Notification,
    NotificationStatus,
    PollLease,
    Release,
    ReleaseStatus,
    WebhookDelivery,
    db,
    utcnow,
)
from services.platform import queries

log = logging.getLogger("berth.retention")
LEASES_KEPT = timedelta(hours=1)  # a poll lease expired this long ago is for a key nobody polls any more

_D = WebhookDelivery.__table__
_O = DeliveryOutcome.__table__
_R = Release.__table__
FINISHED = (DeliveryStatus.DONE, DeliveryStatus.FAILED)
# Releases retention never prunes: under way, or running now.
KEPT_RELEASE_STATUSES = (ReleaseStatus.PENDING, ReleaseStatus.DEPLOYING, ReleaseStatus.RUNNING)


@dataclass
class Policy:
    max_age: timedelta = timedelta(days=30)
    kept_per_endpoint: int = 1000
    unwatched_age: timedelta = timedelta(hours=24)
    releases_kept: int = 1000
    batch: int = 10_000
    pause: float = 0.25  # after each batch, rest this many times as long as it took (leave room for intake)

    @classmethod
    def from_config(cls) -> Policy:
        c = current_app.config
        return cls(timedelta(days=c["BERTH_DELIVERY_RETENTION_DAYS"]), c["BERTH_DELIVERIES_KEPT"],
                   timedelta(hours=c["BERTH_UNWATCHED_RETENTION_HOURS"]), c["BERTH_RELEASES_KEPT"],
                   c["BERTH_PRUNE_BATCH"], c["BERTH_PRUNE_PAUSE"])


@dataclass
class Report:
    deliveries: int = 0
    outcomes: int = 0
    releases: int = 0
    notifications: int = 0
    leases: int = 0
    seconds: float = 0.0

    def __str__(self) -> str:
        return (f"{self.deliveries} deliveries ({self.outcomes} outcomes), {self.releases} releases, "
                f"{self.notifications} notifications, {self.leases} poll leases in {self.seconds:.2f} s")


def _prunable():
    """A delivery retention may remove: finished, and not the record of a release that exists."""
    return and_(_D.c.status.in_(FINISHED),
                ~exists().where(_O.c.delivery_id == _D.c.id, _O.c.release_id.is_not(None)))


def _relaxed_commit() -> None:
    """On PostgreSQL, a pruning batch's commit does not wait for its WAL to reach the disk: a crash
    may forget the last batches, which the next pass deletes again; intake's commits stay durable."""
    if queries.postgresql():
        db.session.execute(text("SET LOCAL synchronous_commit = off"))


def _rest(started: float, pause: float) -> None:
    if pause > 0:
        time.sleep((time.perf_counter() - started) * pause)


def _delete_deliveries(where, report: Report, batch: int, pause: float = 0.0) -> None:
    """Delete the prunable deliveries matching `where`, oldest first, about `batch` at a time, each
    batch committed on its own. A batch is an id range (no list of ids to send and plan), and its
    statements test every condition again, so a delivery a replay took back meanwhile stays."""
    low = 0
    while True:
        started = time.perf_counter()
        _relaxed_commit()
        window = (select(_D.c.id).where(_D.c.id > low, where, _prunable()).order_by(_D.c.id).limit(batch)
                  .subquery())
        first, last, found = db.session.execute(select(func.min(window.c.id), func.max(window.c.id),
                                                       func.count())).one()
        if not found:
            db.session.rollback()
            return
        doomed = and_(_D.c.id >= first, _D.c.id <= last, where, _prunable())
        # Outcomes first: SQLite does not cascade (and on PostgreSQL one set-wise delete is cheaper
        # than the cascade's row-by-row one).
        report.outcomes += db.session.execute(delete(_O).where(
            _O.c.delivery_id >= first, _O.c.delivery_id <= last,
            _O.c.delivery_id.in_(select(_D.c.id).where(doomed)))).rowcount
        report.deliveries += db.session.execute(delete(_D).where(doomed)).rowcount
        db.session.commit()
        if found < batch:
            return
        low = last
        _rest(started, pause)


def _over_cap(column, cap: int) -> list[tuple[int, int]]:
    """(owner, id of the newest row past the cap) for every owner holding more than `cap` rows."""
    table = column.table
    owners = db.session.scalars(select(column).where(column.is_not(None)).group_by(column)
                                .having(func.count() > cap)).all()
    out = []
    for owner in owners:
        edge = db.session.scalar(select(table.c.id).where(column == owner).order_by(table.c.id.desc())
                                 .offset(cap).limit(1))
        if edge is not None:
            out.append((owner, edge))
    return out


def prune_deliveries(policy: Policy, now: datetime, report: Report) -> None:
    _delete_deliveries(_D.c.received_at < now - policy.max_age, report, policy.batch, policy.pause)
    _delete_deliveries(and_(_D.c.received_at < now - policy.unwatched_age,
                            ~exists().where(_O.c.delivery_id == _D.c.id)), report, policy.batch, policy.pause)
    for column in (_D.c.component_id, _D.c.registry_id):
        for owner, edge in _over_cap(column, policy.kept_per_endpoint):
            _delete_deliveries(and_(column == owner, _D.c.id <= edge), report, policy.batch, policy.pause)


def prune_releases(policy: Policy, report: Report) -> None:
    for component_id, edge in _over_cap(_R.c.component_id, policy.releases_kept):
        while True:
            ids = db.session.scalars(
                select(_R.c.id).where(_R.c.component_id == component_id, _R.c.id <= edge,
                                      _R.c.status.not_in(KEPT_RELEASE_STATUSES)).order_by(_R.c.id).limit(policy.batch)).all()
            if not ids:
                break
            # What pointed at them forgets them (SQLite does not apply ON DELETE SET NULL).
            db.session.execute(update(_O).where(_O.c.release_id.in_(ids)).values(release_id=None))
            db.session.execute(update(Approval.__table__).where(Approval.__table__.c.release_id.in_(ids))
                               .values(release_id=None))
            report.releases += db.session.execute(delete(_R).where(_R.c.id.in_(ids))).rowcount
            db.session.commit()
            if len(ids) < policy.batch:
                break


def prune_notifications(policy: Policy, now: datetime, report: Report) -> None:
    n = Notification.__table__
    while True:
        ids = db.session.scalars(select(n.c.id).where(
            n.c.status.in_((NotificationStatus.SENT, NotificationStatus.FAILED)),
            n.c.created_at < now - policy.max_age).order_by(n.c.id).limit(policy.batch)).all()
        if not ids:
            return
        report.notifications += db.session.execute(delete(n).where(n.c.id.in_(ids))).rowcount
        db.session.commit()


def prune_poll_leases(now: datetime, report: Report) -> None:
    """A lease ends when its batch is recorded (its row stays, saying when the key was polled) or
    when its process died; one ended this long ago is for a key nobody polls any more (one row per
    watched repository)."""
    report.leases += db.session.execute(delete(PollLease).where(PollLease.until < now - LEASES_KEPT)).rowcount
    db.session.commit()


def prune(policy: Policy | None = None, now: datetime | None = None) -> Report:
    """One pass over everything retention covers. Releases go first, so the deliveries that only
    their releases kept can go in the same pass."""
    policy = policy or Policy.from_config()
    now = now or utcnow()
    report = Report()
    started = time.perf_counter()
    db.session.commit()  # nothing of the caller's rides in a pruning batch
    prune_releases(policy, report)
    prune_deliveries(policy, now, report)
    prune_notifications(policy, now, report)
    prune_poll_leases(now, report)
    report.seconds = time.perf_counter() - started
    if report.deliveries or report.releases or report.notifications or report.leases:
        log.info("retention: pruned %s", report)
    return report
