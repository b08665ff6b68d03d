"""Releases of one component run one after another: at most one is deploying at any time, whoever
claims them (threads of one process, or separate processes), on SQLite and PostgreSQL alike (the
suite runs this file on both). A release queued while another waits cancels the waiting one."""
from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from models import Component, Release, ReleaseStatus, db
from services.components import releases
from tests.helpers import create_component, create_registry, test_config

ROUNDS = 8
CLAIMERS = 6


def _pending(app, component_id: int, count: int) -> list[int]:
    """`count` pending releases of the component, written directly (as if queued by several writers)."""
    with app.app_context():
        c = db.session.get(Component, component_id)
        ids = []
        for _ in range(count):
            c.release_seq += 1
            r = Release(team_id=c.team_id, component_id=c.id, seq=c.release_seq, tag="v1", trigger="manual",
                        triggered_by="test", status=ReleaseStatus.PENDING)
            db.session.add(r)
            db.session.flush()
            ids.append(r.id)
        db.session.commit()
        return ids


def _deploying(app, component_id: int) -> int:
    with app.app_context():
        return len(db.session.scalars(select(Release.id).where(
            Release.component_id == component_id, Release.status == ReleaseStatus.DEPLOYING)).all())


def _reset(app, component_id: int) -> None:
    with app.app_context():
        for r in db.session.scalars(select(Release).where(Release.component_id == component_id)):
            r.status = ReleaseStatus.SUPERSEDED
        db.session.commit()


def test_threads_claim_at_most_one_release_of_a_component(app):
    rid, _ = create_registry(app)
    cid = create_component(app, rid, name="ordered", release=False)
    for _ in range(ROUNDS):
        ids = _pending(app, cid, CLAIMERS)
        barrier = threading.Barrier(CLAIMERS)

        def claim(release_id, barrier=barrier):
            with app.app_context():
                barrier.wait()
                try:
                    return releases.claim(release_id)
                finally:
                    db.session.remove()
        with ThreadPoolExecutor(CLAIMERS) as pool:
            won = list(pool.map(claim, ids))
        assert sum(won) == 1 and _deploying(app, cid) == 1
        _reset(app, cid)


def _claim_in_process(url: str, release_id: int, start, results) -> None:
    from app import create_app

    app = create_app(test_config(url))
    with app.app_context():
        start.wait(30)
        results.put(releases.claim(release_id))
        db.session.remove()
        db.engine.dispose()


def test_processes_claim_at_most_one_release_of_a_component(app, database_url):
    rid, _ = create_registry(app)
    cid = create_component(app, rid, name="ordered", release=False)
    ctx = multiprocessing.get_context("spawn")
    for _ in range(3):
        ids = _pending(app, cid, 3)
        start, results = ctx.Event(), ctx.Queue()
        procs = [ctx.Process(target=_claim_in_process, args=(database_url, i, start, results)) for i in ids]
        for p in procs:
            p.start()
        start.set()
        won = [results.get(timeout=60) for _ in procs]
        for p in procs:
            p.join(30)
        assert sum(won) == 1 and _deploying(app, cid) == 1
        _reset(app, cid)


def test_a_newer_release_cancels_the_one_still_waiting(app):
    rid, _ = create_registry(app)
    cid = create_component(app, rid, name="ordered", release=False)
    with app.app_context():
        c = db.session.get(Component, cid)
        first = releases.queue_release(c, "manual", "test")
        second = releases.queue_release(c, "manual", "test")
        db.session.commit()
        first, second = db.session.get(Release, first.id), db.session.get(Release, second.id)
        assert first.status == ReleaseStatus.CANCELLED and first.message == "Release #2 replaced it before it ran."
        assert second.status == ReleaseStatus.PENDING and second.settings["tag"] == "v1"
