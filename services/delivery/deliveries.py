"""Webhook deliveries: store first, answer fast (intake), then process them in batches in the
background; what a push means for a component is decided by `services.delivery.autodeploy`."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.exc import OperationalError

from models import Component, DeliveryOutcome, DeliveryStatus, WebhookDelivery, db, utcnow
from services.delivery import autodeploy, webhooks
from services.delivery.endpoints import Endpoint, webhook_secret
from services.errors import ReleaseConflict, ServiceError
from services.oversight import audit
from services.platform import metrics, runtime
from services.platform.jobs import after_commit, unit_of_work
from services.registries import images

log = logging.getLogger("berth.deliveries")
# The one limit on a webhook body: intake refuses a larger one with 413, and what it accepts is
# stored whole (a Distribution notification batching a hundred events is well over 64 KiB).
MAX_WEBHOOK_BODY = 1024 * 1024
KEPT_HEADERS = ("Content-Type", "User-Agent", "X-GitHub-Event", "X-GitHub-Delivery", "X-Request-Id")


# Built once, as plain Core statements (no ORM work per delivery).
_DELIVERIES = WebhookDelivery.__table__
_STORE = insert(_DELIVERIES).returning(_DELIVERIES.c.id)
_CLAIM = (update(_DELIVERIES).where(_DELIVERIES.c.id.in_(bindparam("ids", expanding=True)),
                                    _DELIVERIES.c.status == DeliveryStatus.PENDING)
          .values(status=DeliveryStatus.PROCESSING, claimed_at=bindparam("now"))
          .returning(_DELIVERIES.c.id, _DELIVERIES.c.team_id, _DELIVERIES.c.registry_id, _DELIVERIES.c.component_id,
                     _DELIVERIES.c.headers, _DELIVERIES.c.body))
_RECORD_OUTCOMES = insert(DeliveryOutcome.__table__)
_OUTCOME_FIELDS = [c.key for c in DeliveryOutcome.__table__.columns if c.key not in ("id", "created_at")]
_FINISH = (update(_DELIVERIES).where(_DELIVERIES.c.id == bindparam("delivery_id"))
           .values(status=DeliveryStatus.DONE, processed_at=bindparam("now"), summary=bindparam("summary")))
_FINISH_ALL = (update(_DELIVERIES).where(_DELIVERIES.c.id.in_(bindparam("ids", expanding=True)))
               .values(status=DeliveryStatus.DONE, processed_at=bindparam("now"), summary=bindparam("summary")))


def begin_intake() -> None:
    """Start a webhook request: it writes one row at most (`receive`), so its statements may commit
    on their own, sparing a BEGIN and a COMMIT round trip per delivery (the request's commit point
    then has nothing left to do; on SQLite, the write lock is held for the statement alone).
    Call it before anything else touches the database."""
    if not db.session().in_transaction():
        db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


def receive(endpoint: Endpoint, headers, body: bytes, source: str = "webhook") -> int:
    """Store one delivery (pending) for background processing; returns its id."""
    kept = {k: headers.get(k) for k in KEPT_HEADERS if headers.get(k)}
    if headers.get("Authorization"):
        kept["Authorization"] = "[present]"
    values = dict(team_id=endpoint.team_id, source=source, headers=kept,
                  body=body.decode("utf-8", "replace"), received_at=utcnow(), status=DeliveryStatus.PENDING,
                  registry_id=endpoint.id if endpoint.kind == "registry" else None,
                  component_id=endpoint.id if endpoint.kind == "component" else None)
    secret = webhook_secret(endpoint.secret_encrypted)
    if secret is not None and not webhooks.signature_ok(secret, headers, body):
        values.update(status=DeliveryStatus.DONE, processed_at=utcnow(), authenticated=False,
                      summary="Ignored: signature wrong (the request did not carry the webhook secret).")
        metrics.DELIVERIES.labels(source, "signature_wrong").inc()
    delivery_id = db.session.execute(_STORE, values).scalar()
    if values["status"] == DeliveryStatus.PENDING:
        _kick_after_commit(delivery_id)
    return delivery_id


def replay(delivery: WebhookDelivery, by: str) -> WebhookDelivery:
    """A new pending copy of a delivery, processed like the first (a failed digest may deploy)."""
    if not delivery.authenticated:
        raise ServiceError("This delivery did not carry the webhook secret, so it cannot be replayed.")
    copy = WebhookDelivery(team_id=delivery.team_id, registry_id=delivery.registry_id,
                           component_id=delivery.component_id, source=delivery.source,
                           headers=dict(delivery.headers or {}, **{"X-Berth-Replay-Of": str(delivery.id)}),
                           body=delivery.body)
    db.session.add(copy)
    db.session.flush()
    audit.record(delivery.team_id, by, "delivery.replayed", f"delivery #{delivery.id}", f"as #{copy.id}")
    _kick_after_commit(copy.id)
    return copy


def _kick_after_commit(delivery_id: int) -> None:
    kick = runtime.of().delivery_kick
    if kick:
        after_commit(lambda: kick(delivery_id))


# -- processing -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Claimed:
    """A delivery this process claimed, as the claim returned it (no second read)."""

    id: int
    team_id: int
    registry_id: int | None
    component_id: int | None
    headers: dict | None
    body: str


def claim(delivery_ids: list[int]) -> tuple[list[Claimed], dict[int, set[str]]]:
    """Claim those of these deliveries still pending, in one statement (oldest first), and read
    which repositories the components of their registries deploy, in the same transaction."""
    with unit_of_work():
        rows = db.session.execute(_CLAIM, {"ids": delivery_ids, "now": utcnow()}).all()
        claimed = sorted((Claimed(**row._mapping) for row in rows), key=lambda d: d.id)
        return claimed, _watched_repositories(claimed)


class _Headers(dict):
    def get(self, key, default=None):
        for k, v in self.items():
            if k.lower() == key.lower():
                return v
        return default


def process(delivery_ids: list[int]) -> None:
    """Process deliveries waiting together: one claim for all of them, then each on its own,
    except those that cannot deploy anything (see `_quiet`): their outcomes are written together."""
    claimed, watched = claim(delivery_ids)
    quiet = []
    for delivery in claimed:
        try:
            source, events = _parse(delivery)  # once: the steps below share what it found
        except webhooks.PayloadError as e:
            quiet.append(_Verdict(delivery, [], f"Not understood: {e}", "unknown", "invalid"))
            continue
        except Exception:  # logged; a delivery must end, never stay "processing"
            log.exception("delivery %s could not be parsed", delivery.id)
            _failed(delivery)
            continue
        verdict = _quiet(delivery, source, events, watched)
        if verdict is None:
            _process(delivery, source, events)
        else:
            quiet.append(verdict)
    if quiet:
        _finish_quiet(quiet)


_WATCHED = (select(Component.registry_id, func.lower(Component.image))
            .where(Component.registry_id.in_(bindparam("ids", expanding=True))))


def _watched_repositories(claimed: list[Claimed]) -> dict[int, set[str]]:
    """Registry id -> lowered images of its components, for the registries these deliveries came to."""
    watched: dict[int, set[str]] = {}
    ids = sorted({d.registry_id for d in claimed if d.registry_id is not None})
    if ids:
        for registry_id, image in db.session.execute(_WATCHED, {"ids": ids}):
            watched.setdefault(registry_id, set()).add(image)
    return watched


@dataclass(frozen=True)
class _Verdict:
    """A delivery decided without a transaction of its own: what to write, and its summary."""

    delivery: Claimed
    outcomes: list[DeliveryOutcome]
    summary: str
    source: str
    result: str  # the metrics label


def _quiet(delivery: Claimed, source: str, events: list, watched: dict[int, set[str]]) -> _Verdict | None:
    """The verdict for a delivery that cannot deploy anything (only ignored events, or pushes to
    repositories no component on its registry deploys: most of what a registry-wide notification
    endpoint receives); None when a component may act on it (`_process` decides)."""
    try:
        deployed_here = watched.get(delivery.registry_id, set()) if delivery.component_id is None else None
        for event in events:
            if not isinstance(event, webhooks.Ignored) and (
                    deployed_here is None or images.candidate_names(event.repository) & deployed_here):
                return None
        outcomes = [outcome for event in events for outcome in autodeploy.outcomes(delivery, source, event, targets=[])]
        return _Verdict(delivery, outcomes, _summary(source, events, outcomes), source, "ignored")
    except Exception:  # noqa: BLE001 - `_process` records what went wrong
        return None


def _finish_quiet(verdicts: list[_Verdict]) -> None:
    """Write the outcomes and finish of deliveries that deploy nothing, in one transaction."""
    try:
        with unit_of_work():
            rows = [{f: getattr(o, f) for f in _OUTCOME_FIELDS} for v in verdicts for o in v.outcomes]
            if rows:
                db.session.execute(_RECORD_OUTCOMES, rows)
            by_summary: dict[str, list[int]] = {}  # most share one summary: a statement per summary
            for v in verdicts:
                by_summary.setdefault(v.summary[:1000], []).append(v.delivery.id)
            now = utcnow()
            for summary, ids in by_summary.items():
                db.session.execute(_FINISH_ALL, {"ids": ids, "now": now, "summary": summary})
    except OperationalError:
        log.warning("%d deliveries hit a database conflict; they go back to pending for the sweep", len(verdicts))
        _back_to_pending([v.delivery.id for v in verdicts])
        return
    for v in verdicts:
        metrics.DELIVERIES.labels(v.source, v.result).inc()


def _parse(delivery: Claimed):
    return webhooks.parse(_Headers(delivery.headers or {}), (delivery.body or "").encode())


def _summary(source: str, events: list, outcomes: list[DeliveryOutcome]) -> str:
    deployed = sum(o.outcome == "deployed" for o in outcomes)
    ignored = sum(o.outcome == "ignored" for o in outcomes)
    return f"{source}: {len(events)} event(s); {deployed} deploy(s), {ignored} ignored."


def _back_to_pending(delivery_ids: list[int]) -> None:
    with unit_of_work():
        db.session.execute(update(WebhookDelivery).where(WebhookDelivery.id.in_(delivery_ids))
                           .values(status=DeliveryStatus.PENDING))


def _process(delivery: Claimed, source: str, events: list) -> None:
    """Record an outcome per component for a claimed delivery's events (deploying where the rule says).

    When another writer queued a release of one of its components meanwhile (ReleaseConflict),
    nothing was written and the delivery is decided again from the new state."""
    for _ in range(autodeploy.CONFLICT_ATTEMPTS):
        try:
            _decide_and_record(delivery, source, events)
            return
        except ReleaseConflict:
            log.info("delivery %s: a component's release changed while deciding; deciding again", delivery.id)
        except OperationalError:
            break  # a deadlock or lock timeout between processes: nothing was written
        except Exception:  # logged; a delivery must end, never stay "processing"
            log.exception("delivery %s failed", delivery.id)
            _failed(delivery)
            return
    log.warning("delivery %s hit a database conflict; it goes back to pending for the sweep", delivery.id)
    _back_to_pending([delivery.id])


def _failed(delivery: Claimed) -> None:
    with unit_of_work():
        row = db.session.get(WebhookDelivery, delivery.id)
        row.status, row.processed_at = DeliveryStatus.FAILED, utcnow()
        row.summary = "Berth hit an unexpected error processing this delivery; replay it to retry."


def _decide_and_record(delivery: Claimed, source: str, events: list) -> None:
    with unit_of_work():
        outcomes = [outcome for event in events for outcome in autodeploy.outcomes(delivery, source, event)]
        deployed = any(o.outcome == "deployed" for o in outcomes)
        metrics.DELIVERIES.labels(source, "deployed" if deployed else "ignored").inc()
        # The writes come last and together: on SQLite the write lock is held from here to commit.
        if outcomes:
            db.session.execute(_RECORD_OUTCOMES, [{f: getattr(o, f) for f in _OUTCOME_FIELDS} for o in outcomes])
            autodeploy.announce(outcomes)
        _done(delivery, _summary(source, events, outcomes))


def _done(delivery: Claimed, summary: str) -> None:
    db.session.execute(_FINISH, {"delivery_id": delivery.id, "now": utcnow(), "summary": summary[:1000]})


def recover_stale(stale_after: float = 120) -> int:
    """Deliveries whose processor died go back to pending; nothing accepted is lost."""
    cutoff = utcnow() - timedelta(seconds=stale_after)
    with unit_of_work():
        result = db.session.execute(
            update(WebhookDelivery).where(WebhookDelivery.status == DeliveryStatus.PROCESSING,
                                          WebhookDelivery.claimed_at < cutoff)
            .values(status=DeliveryStatus.PENDING))
    return result.rowcount


def pending_ids(limit: int = 100) -> list[int]:
    return list(db.session.scalars(select(WebhookDelivery.id).where(WebhookDelivery.status == DeliveryStatus.PENDING)
                                   .order_by(WebhookDelivery.id).limit(limit)))

