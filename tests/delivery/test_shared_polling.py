"""Polling shared by several processes (replicas on one database): each watch key (registry +
repository) is polled by exactly one process per cycle, claimed through leases
(services/delivery/leases.py); a process killed mid-cycle leaves its keys to the others once its
leases end. The registry is the real docker-registry behind a proxy that counts every request."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from models import Component, PollLease, db, utcnow
from services.delivery import leases, polling
from tests.fixtures.images import Image
from tests.fixtures.latency import SlowProxy
from tests.helpers import create_component, create_registry, test_config, wait_for

ROOT = Path(__file__).resolve().parents[2]
REPOS = 8


@pytest.fixture
def watched(app, registries, request):
    """REPOS repositories behind a counting proxy (adding 50 ms a request, or the test's
    `request.param`), each watched by two "same tag" components (one watch key: one HEAD) and one
    regex component (one tag list): 2 requests per repository."""
    pusher = registries.pusher(registries.basic)
    digests = [pusher.push(f"shared/r{i}", "latest", Image(content=f"shared{i}")) for i in range(REPOS)]
    proxy = SlowProxy(registries.basic.url, getattr(request, "param", 0.05))
    rid, _ = create_registry(app, proxy.url)
    for i, digest in enumerate(digests):
        for suffix, rule in (("a", {}), ("b", {}), ("c", {"trigger_kind": "regex", "trigger_pattern": "^latest$"})):
            create_component(app, rid, f"shared/r{i}", "latest", f"s{i}{suffix}", release=False, auto_deploy=True,
                             digest=digest, **rule)
    yield proxy
    proxy.stop()


def polls(calls) -> Counter:
    """Requests per (method, path) that polling makes: manifest HEADs and tag lists."""
    return Counter((m, p.split("?")[0]) for m, p in calls if "/manifests/" in p or "/tags/list" in p)


def warm(instance) -> None:
    """The process's registry client has met the registry's auth challenge (one 401 and its retry),
    so what is counted after is polling alone."""
    from models import Registry
    from services.registries import registries

    with instance.app_context():
        registries.client_for(db.session.scalars(select(Registry)).one()).tag_list("shared/r0")
        db.session.remove()


def expected_keys() -> set[tuple[str, str]]:
    return {("HEAD", f"/v2/shared/r{i}/manifests/latest") for i in range(REPOS)} | \
        {("GET", f"/v2/shared/r{i}/tags/list") for i in range(REPOS)}


def later(hours):
    return utcnow() + timedelta(hours=hours)


def test_two_processes_poll_each_key_once_per_cycle(app, database_url, watched, monkeypatch):
    from app import create_app

    monkeypatch.setattr(polling, "BATCH", 2)  # several batches, so both take some
    other = create_app(test_config(database_url))
    try:
        reports, errors, start = {}, [], threading.Barrier(2)

        def cycle(which, instance, hours):
            try:
                with instance.app_context():
                    start.wait(10)
                    reports[which] = polling.poll_cycle(now=later(hours))
                    db.session.remove()
            except Exception as e:  # noqa: BLE001 - reported by the assertion below
                errors.append(repr(e))

        warm(app)
        warm(other)
        for hours in (1, 2):  # two cycles: in each, every key once
            before = len(watched.calls)
            threads = [threading.Thread(target=cycle, args=(n, a, hours)) for n, a in (("a", app), ("b", other))]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
            assert not errors, errors
            seen = polls(watched.calls[before:])
            assert set(seen) == expected_keys() and set(seen.values()) == {1}, seen
            assert reports["a"].groups + reports["b"].groups == REPOS, reports
            assert reports["a"].groups and reports["b"].groups, reports  # both took a share
            assert not reports["a"].errors and not reports["b"].errors, reports
        with app.app_context():
            assert _live_leases() == 0  # all ended
            # An ended lease says when its key was polled: one per key, each by the second cycle.
            ended = db.session.scalars(select(PollLease)).all()
            assert len(ended) == REPOS and all(lease.polled_at >= lease.until for lease in ended)
            stamps = set(db.session.scalars(select(Component.last_polled_at)))
            assert min(stamps) > utcnow() + timedelta(minutes=90)  # every component, by the second cycle
    finally:
        other.extensions["berth"].shutdown()
        with other.app_context():
            db.engine.dispose()


def test_a_key_leased_by_a_live_process_is_left_to_it(app, watched):
    warm(app)
    before = len(watched.calls)
    with app.app_context():
        db.session.add(PollLease(key=f"r{_registry_id(app)}/shared/r0", holder="another",
                                 until=utcnow() + timedelta(minutes=5)))
        db.session.commit()
        report = polling.poll_cycle(now=later(1))
    seen = polls(watched.calls[before:])
    assert report.groups == REPOS - 1
    assert ("HEAD", "/v2/shared/r0/manifests/latest") not in seen and len(seen) == 2 * (REPOS - 1)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Component)
                                 .where(Component.last_polled_at.is_(None))) == 3  # still due


def _registry_id(app):
    from models import Registry

    with app.app_context():
        return db.session.scalar(select(Registry.id))


KILLED = """
import json, sys
from datetime import timedelta
from app import create_app
from models import utcnow
from services.delivery import polling
polling.BATCH = 3
app = create_app(json.loads(sys.argv[1]))
with app.app_context():
    polling.poll_cycle(now=utcnow() + timedelta(hours=1))
"""


@pytest.mark.parametrize("watched", [1.0], indirect=True)  # a slow registry: killed while it waits
def test_a_process_killed_mid_cycle_leaves_its_keys_to_the_others_after_its_lease(app, database_url, watched):
    """A real process claims a batch and is killed with SIGKILL while it asks the registry: its
    keys are not polled by anyone until its lease ends, then by the next cycle, each once."""
    config = test_config(database_url, BERTH_POLL_LEASE_SECONDS=4)
    warm(app)
    before = len(watched.calls)
    child = subprocess.Popen([sys.executable, "-c", KILLED, json.dumps(config)], cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        wait_for(lambda: polls(watched.calls[before:]) or child.poll() is not None, 60, 0.01)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(10)
    with app.app_context():
        held = set(db.session.scalars(select(PollLease.key)))
    assert held, "the killed process held no lease"
    assert 1 <= len(held) <= 3
    by_dead = polls(watched.calls)
    app.config["BERTH_POLL_LEASE_SECONDS"] = 4
    with app.app_context():
        first = polling.poll_cycle(now=later(1))
        db.session.remove()
    assert first.groups == REPOS - len(held) and not first.errors  # the dead process's keys wait
    wait_for(lambda: _leases_ended(app), 30, 0.1)
    with app.app_context():
        second = polling.poll_cycle(now=later(1))  # the same cycle's "now": only what is still due
        db.session.remove()
    assert second.groups == len(held) and not second.errors
    survivor = polls(watched.calls) - by_dead
    assert set(survivor) == expected_keys() and set(survivor.values()) == {1}, survivor
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Component)
                                 .where(Component.last_polled_at.is_(None))) == 0
        assert _live_leases() == 0


def _live_leases() -> int:
    return db.session.scalar(select(func.count()).select_from(PollLease).where(PollLease.until >= utcnow()))


def _leases_ended(app) -> bool:
    with app.app_context():
        try:
            return _live_leases() == 0
        finally:
            db.session.remove()


def test_claims_are_atomic_between_threads(app, database_url):
    """Many claims of the same keys at once, from separate engines: each key is won by one claim."""
    from app import create_app

    instances = [app] + [create_app(test_config(database_url)) for _ in range(3)]
    keys = [f"rX/atomic/{i}" for i in range(60)]
    won: list[list[str]] = []
    start = threading.Barrier(len(instances))

    def claim(instance):
        with instance.app_context():
            start.wait(10)
            won.append(leases.claim(keys, utcnow()))
            db.session.remove()

    threads = [threading.Thread(target=claim, args=(a,)) for a in instances]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    try:
        assert sorted(k for w in won for k in w) == sorted(keys)
    finally:
        for other in instances[1:]:
            with other.app_context():
                db.engine.dispose()


def test_a_key_polled_after_a_process_read_it_is_not_claimed_again_that_cycle(app):
    """Two processes read the same keys as due; one polls them and ends its leases. The other, which
    read them before that, does not claim them again (it would poll them twice in one cycle); a
    process that reads after that may, in its next cycle."""
    keys = [f"rX/polled/{i}" for i in range(5)]
    with app.app_context():
        read_before = utcnow()
        mine = leases.claim(keys, read_before)
        assert mine == keys
        leases.end(mine)
        assert _live_leases() == 0
        assert leases.claim(keys, read_before) == []  # read before they were polled: not again
        assert leases.claim(keys, utcnow()) == keys  # read after: its next cycle
        failed = [f"rX/failed/{i}" for i in range(3)]
        assert leases.claim(failed, read_before) == failed
        leases.end(failed, polled=False)  # a batch that failed part way: the others may take it at once
        assert leases.claim(failed, read_before) == failed
