"""Poll leases: how the replicas share a poll cycle. Each watch key (registry + repository) is
claimed by one process at a time, in batches, with one statement; a claim ends when its batch is
recorded (the row stays, saying when the key was polled: a process that read the key as due before
then does not claim it again, so a key is polled once per cycle without anyone reading its
components again), or when its lease expires (the process died), after which another process takes
it. Leases left by keys nobody polls any more are pruned by retention (services/platform/retention.py).

The claim is an INSERT … ON CONFLICT DO UPDATE … WHERE the lease has ended and the key was not
polled since, RETURNING the keys won: atomic on PostgreSQL (a key another replica is claiming at
the same moment waits for that short transaction, and both claim in key order, so they never
deadlock) and on SQLite (one writer)."""
from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import String, bindparam, func, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import ARRAY

from models import PollLease, db, utcnow
from services.platform import queries, runtime
from services.platform.jobs import unit_of_work


def holder() -> str:
    return runtime.of().holder


def claim(keys: list[str], read_at) -> list[str]:
    """The keys of `keys` this process now holds, in the order given: those no live lease covers
    and nobody polled since `read_at` (when this process read what is due)."""
    if not keys:
        return []
    now = utcnow()
    until = now + timedelta(seconds=current_app.config["BERTH_POLL_LEASE_SECONDS"])
    me = holder()
    if queries.postgresql():
        # The keys as one array (one compiled statement whatever the batch), and those another
        # process holds or polled since are left out before the insert: a conflict locks its row
        # even when the update's WHERE then declines, and most of a replica's claims meet the keys
        # the others are polling. The WHERE below still decides a race.
        given = func.unnest(bindparam("keys", sorted(keys), type_=ARRAY(String))).table_valued("key").render_derived()
        taken = select(PollLease.key).where(PollLease.key == given.c.key,
                                            or_(PollLease.until >= now, PollLease.polled_at >= read_at))
        rows = select(given.c.key, literal(me), literal(until)).where(~taken.exists())
        statement = postgresql.insert(PollLease).from_select(["key", "holder", "until"], rows)
    else:
        statement = sqlite.insert(PollLease).values([{"key": k, "holder": me, "until": until} for k in sorted(keys)])
    statement = statement.on_conflict_do_update(
        index_elements=[PollLease.key], set_={"holder": statement.excluded.holder, "until": statement.excluded.until},
        where=(PollLease.until < now) & (PollLease.polled_at.is_(None) | (PollLease.polled_at < read_at))
    ).returning(PollLease.key)
    with unit_of_work():
        won = set(db.session.scalars(statement))
    return [k for k in keys if k in won]


def end(keys: list[str], polled: bool = True) -> None:
    """This process is done with its batch: its leases end now, and say its keys were polled now
    (unless the batch failed part way: then another process may take them up at once)."""
    if keys:
        now = utcnow()
        with unit_of_work():
            ended = {"until": now, "polled_at": now} if polled else {"until": now}
            mine = queries.one_of(PollLease.key, keys)
            db.session.execute(update(PollLease).where(PollLease.holder == holder(), mine).values(**ended)
                               .execution_options(synchronize_session=False))
