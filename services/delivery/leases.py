"""Poll leases: how the replicas share a poll cycle. Each watch key (registry + repository) is
claimed by one process at a time, in batches, with one statement; a claim ends when its batch is
recorded, or when its lease expires (the process died), after which another process takes it.
Leases left by keys nobody polls any more are pruned by retention (services/platform/retention.py).

The claim is an INSERT … ON CONFLICT DO UPDATE … WHERE the lease has expired, RETURNING the keys
won: atomic on PostgreSQL (a key another replica is claiming at the same moment waits for that
short transaction, and both claim in key order, so they never deadlock) and on SQLite (one writer)."""
from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import delete
from sqlalchemy.dialects import postgresql, sqlite

from models import PollLease, db, utcnow
from services.platform import runtime
from services.platform.jobs import unit_of_work


def holder() -> str:
    return runtime.of().holder


def claim(keys: list[str]) -> list[str]:
    """The keys of `keys` this process now holds (those no live lease covers), in the order given."""
    if not keys:
        return []
    now = utcnow()
    until = now + timedelta(seconds=current_app.config["BERTH_POLL_LEASE_SECONDS"])
    me = holder()
    insert = (postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert)(PollLease)
    statement = insert.values([{"key": k, "holder": me, "until": until} for k in sorted(keys)])
    statement = statement.on_conflict_do_update(
        index_elements=[PollLease.key], set_={"holder": statement.excluded.holder, "until": statement.excluded.until},
        where=PollLease.until < now).returning(PollLease.key)
    with unit_of_work():
        won = set(db.session.scalars(statement))
    return [k for k in keys if k in won]


def release(keys: list[str]) -> None:
    """Give back what this process claimed (its batch is recorded)."""
    if keys:
        with unit_of_work():
            db.session.execute(delete(PollLease).where(PollLease.holder == holder(), PollLease.key.in_(keys))
                               .execution_options(synchronize_session=False))

