"""At most one release per (component, digest): however many copies of a push are decided at once,
by threads of one process, by a poll racing webhooks, or by two gunicorn processes; on SQLite and
on PostgreSQL alike (the suite runs this file on both)."""
from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import func, select

from models import Application, Component, DeliveryOutcome, Registry, Release, WebhookDelivery, db
from services.accounts import accounts
from services.delivery import deliveries, endpoints
from tests.fixtures.images import Image
from tests.fixtures.servers import gunicorn
from tests.helpers import create_component, create_registry, wait_for

COPIES = 20


def _component_on(app, registry_url: str, tag="v1.0", image="team/demo", **build) -> tuple[int, int, str]:
    """A registry (the real Basic-auth one) and an auto-deploy component on `image`, no release yet."""
    rid, token = create_registry(app, registry_url)
    return rid, create_component(app, rid, image, tag, name="demo", release=False, auto_deploy=True, **build), token


def _store_copies(app, registry_id: int, tag: str, copies: int = COPIES, image="team/demo") -> list[int]:
    body = json.dumps({"repository": image, "tag": tag}).encode()
    ids = []
    with app.app_context(), app.test_request_context():
        token = db.session.get(Registry, registry_id).webhook_token
        endpoint = endpoints.find_endpoint("registry", registry_id, token)
        for _ in range(copies):
            ids.append(deliveries.receive(endpoint, {"Content-Type": "application/json"}, body))
        db.session.commit()
    return ids


def _releases(app, component_id: int) -> list[tuple[str, str]]:
    with app.app_context():
        return [(r.tag, r.digest) for r in db.session.scalars(
            select(Release).where(Release.component_id == component_id))]


def _all_at_once(app, jobs) -> None:
    """Run each job in its own thread (with an app context), all released together."""
    barrier = threading.Barrier(len(jobs))

    def run(job):
        with app.app_context():
            barrier.wait()
            try:
                job()
            finally:
                db.session.remove()
    with ThreadPoolExecutor(len(jobs)) as pool:
        for future in [pool.submit(run, job) for job in jobs]:
            future.result()


@pytest.mark.registry
def test_copies_of_one_push_decided_by_threads_make_one_release(app, registries):
    rid, cid, _ = _component_on(app, registries.basic.url)
    ids = _store_copies(app, rid, "v1.0")
    _all_at_once(app, [lambda i=i: deliveries.process([i]) for i in ids])
    assert _releases(app, cid) == [("v1.0", registries.digests[f"{registries.basic.port}/team/demo:v1.0"])]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(WebhookDelivery).where(
            WebhookDelivery.status != "done")) == 0
        outcomes = db.session.execute(select(DeliveryOutcome.outcome, DeliveryOutcome.reason)).all()
    assert len(outcomes) == COPIES
    assert sum(o == "deployed" for o, _ in outcomes) == 1
    assert all("duplicate" in reason for o, reason in outcomes if o == "ignored"), outcomes


@pytest.mark.registry
def test_a_poll_racing_webhooks_makes_one_release(app, registries):
    from services.delivery.polling import poll_cycle

    rid, cid, _ = _component_on(app, registries.basic.url)
    ids = _store_copies(app, rid, "v1.0", copies=6)
    jobs = [lambda i=i: deliveries.process([i]) for i in ids] + [poll_cycle, poll_cycle]
    _all_at_once(app, jobs)
    assert len(_releases(app, cid)) == 1


def test_manual_releases_conflicting_with_a_decision_are_refused(app):
    """Two writers that read the component at the same point: the second one's release is refused,
    not written beside the first (the schema's per-component release number is unique)."""
    from services.components import releases
    from services.errors import ReleaseConflict

    with app.app_context():
        team = accounts.get_or_create_team("alpha")
        application = Application(team=team, name="shop")
        component = Component(team=team, application=application, name="plain", image="docker.io/library/nginx",
                              tag="1.27", env=[], ports=[])
        db.session.add_all([application, component])
        db.session.commit()
        cid = component.id
    with app.app_context():
        seen = db.session.get(Component, cid)
        assert seen.release_seq == 0
        with app.app_context():  # another writer, committed first
            releases.redeploy(db.session.get(Component, cid), "other")
            db.session.commit()
            db.session.remove()
        with pytest.raises(ReleaseConflict):
            releases.queue_release(seen, "manual", "late", expected_seq=0)
        db.session.rollback()
    with app.app_context():
        assert [r.seq for r in db.session.scalars(select(Release).where(Release.component_id == cid))] == [1]


@pytest.mark.registry
def test_two_gunicorn_processes_make_one_release_per_push(database_url, app, registries):
    """Copies of each push sent to two worker processes at once (each processes deliveries in its
    own thread): one release per pushed digest, on the suite's database (SQLite or PostgreSQL)."""
    pusher = registries.pusher(registries.basic)
    rid, cid, token = _component_on(app, registries.basic.url, tag="r0", image="team/race", trigger_kind="regex",
                                     trigger_pattern="r[0-9]+", no_downgrade=False)
    digests = {f"r{n}": pusher.push("team/race", f"r{n}", Image(content=f"round {n}")) for n in range(1, 4)}
    with gunicorn(database_url, workers=2) as server:
        url = f"{server.url}/hooks/registries/{rid}/{token}"
        for tag in digests:  # one round per tag; all copies of it in flight together
            body = json.dumps({"repository": "team/race", "tag": tag})
            with ThreadPoolExecutor(8) as pool:
                codes = list(pool.map(lambda body: requests.post(
                    url, data=body, headers={"Content-Type": "application/json"}, timeout=10).status_code,
                    [body] * COPIES))
            assert codes == [202] * COPIES

            def settled():
                with app.app_context():
                    return db.session.scalar(select(func.count()).select_from(WebhookDelivery).where(
                        WebhookDelivery.status.in_(["pending", "processing"]))) == 0
            wait_for(settled, 60, 0.2)
    got = sorted(_releases(app, cid))
    assert got == sorted(digests.items()), server.logs()[-3000:]
