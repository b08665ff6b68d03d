"""Several gunicorn processes on one database: one poller, each delivery and release handled once,
recovery after a worker is killed."""
from __future__ import annotations

import json
import os
import re
import signal
import time

import pytest
import requests
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from models import Component, DeliveryOutcome, Release, WebhookDelivery
from tests.fixtures.servers import gunicorn, leader_pids, postgres_database
from tests.helpers import create_component, create_registry, wait_for, wait_for_progress


def poke(server, times=12):
    """Send requests until the server answered `times` of them.

    Each worker listens on its own SO_REUSEPORT socket once Berth is loaded (gunicorn.conf.py): a
    single worker being replaced, or a server starting, may refuse a connection, so wait for an answer."""
    def answered():
        try:
            return requests.get(server.url + "/healthz", timeout=5).ok
        except requests.RequestException:  # refused while a worker binds, or slow under load
            return False
    for _ in range(times):
        wait_for(answered, 15, 0.05)


def test_workers_listen_once_loaded_and_again_after_a_kill(database_url):
    """Each worker opens its own socket only once Berth is loaded (gunicorn.conf.py post_fork and
    post_worker_init): after boot every worker listens, and so does a killed worker's replacement."""
    with gunicorn(database_url, workers=2, BERTH_SCHEDULER="off") as server:
        assert server.listening() == set(server.worker_pids())  # started: both workers listen (the fixture)
        victim = server.worker_pids()[0]
        os.kill(victim, signal.SIGKILL)

        loading = set()  # replacements seen running but not listening yet (importing Berth)

        def replaced():
            pids, listeners = server.worker_pids(), server.listening()
            loading.update(set(pids) - listeners - {victim})
            return len(pids) == 2 and victim not in pids and listeners == set(pids)
        wait_for(replaced, 60, 0.02)
        assert loading, "the replacement listened before Berth was loaded"
        assert server.proc.pid not in server.listening()  # the master never listens itself


def test_several_workers_run_one_poller(database_url, app):
    # Two instances of two workers each, started together on the suite's database.
    with gunicorn(database_url, workers=2, BERTH_POLL_INTERVAL=1, BERTH_SCHEDULER="on") as a, \
            gunicorn(database_url, workers=2, BERTH_POLL_INTERVAL=1, BERTH_SCHEDULER="on") as b:
        poke(a)
        poke(b)
        time.sleep(4)
        poke(a)
        poke(b)
        leaders = leader_pids(a, b)
        assert len(leaders) == 1, f"leaders: {leaders}\n" + a.logs()[-2000:] + b.logs()[-2000:]
        cycles = re.findall(r"\[(\d+)\].*poll cycle:|poll cycle:", a.logs() + b.logs())
        assert len(cycles) >= 2
    assert True


def _seed(url, registry_url, components=50):
    """One registry, `components` auto-deploy components (same tag rule), committed."""
    from app import create_app
    from models import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "BERTH_SCHEDULER": False, "BERTH_DEPLOYER": "none"})
    rid, token = create_registry(app, registry_url, name="r")
    for i in range(components):
        create_component(app, rid, "team/many", f"1.0.{i}", name=f"c{i}", release=False, auto_deploy=True)
    with app.app_context():
        db.engine.dispose()
    return rid, token


@pytest.mark.own_postgres
def test_deliveries_spread_over_two_instances_are_processed_once(registries, many_tags):
    with postgres_database() as url:
        rid, token = _seed(url, registries.basic.url)
        # Releases fail fast with BERTH_DEPLOYER=none; they are counted all the same. The poller runs too,
        # finding the same tags: it must neither double a release nor run in more than one process.
        env = dict(BERTH_SCHEDULER="on", BERTH_POLL_INTERVAL=1)
        with gunicorn(url, workers=2, **env) as a, gunicorn(url, workers=2, **env) as b:
            session = requests.Session()
            for i in range(1000):
                server = (a, b)[i % 2]
                body = json.dumps({"repository": "team/many", "tag": f"1.0.{i % 50}"})
                r = session.post(f"{server.url}/hooks/registries/{rid}/{token}", data=body,
                                 headers={"Content-Type": "application/json"}, timeout=10)
                assert r.status_code == 202
            poke(a)
            poke(b)
            engine = create_engine(url)

            def by_status():
                with Session(engine) as s:
                    return dict(s.execute(select(WebhookDelivery.status, func.count()).group_by(
                        WebhookDelivery.status)).all())
            try:  # as long as deliveries keep finishing: the machine's load sets the pace, not a bug
                wait_for_progress(by_status, lambda counts: set(counts) == {"done"}, stall=60)
            except AssertionError as e:
                raise AssertionError(f"{e}\n{a.logs()[-3000:]}") from None
            with Session(engine) as s:
                assert s.scalar(select(func.count()).select_from(WebhookDelivery).where(
                    WebhookDelivery.source != "poll")) == 1000  # the poller records its own findings too
                per_component = s.execute(select(Release.component_id, func.count()).group_by(
                    Release.component_id)).all()
                assert len(per_component) == 50 and all(n == 1 for _, n in per_component)
                deployed = s.scalar(select(func.count()).select_from(DeliveryOutcome).where(
                    DeliveryOutcome.outcome == "deployed"))
                assert deployed == 50
            assert len(leader_pids(a, b)) == 1
            engine.dispose()


@pytest.mark.registry
@pytest.mark.own_postgres
def test_release_killed_mid_deploy_ends_after_restart(registries, many_tags, cluster, berth_token, tmp_path):
    """On the real control plane, as Berth's ServiceAccount; the image's pods never become ready (KWOK),
    so the rollout waits until the worker is killed."""
    kubeconfig = str(cluster.kubeconfig(f"berth-{tmp_path.name}", token=berth_token))
    registries.pusher(registries.basic).push("team/never-ready", "v1.0")
    with postgres_database() as url:
        _seed(url, registries.basic.url, components=1)
        engine = create_engine(url)
        with Session(engine) as s:
            comp = s.scalar(select(Component))
            comp.tag = "v1.0"
            comp.image = "team/never-ready"
            comp.release_seq = 1
            s.add(Release(team_id=comp.team_id, component_id=comp.id, seq=1, tag="v1.0", trigger="manual",
                          triggered_by="test", status="pending"))
            s.commit()
        env = dict(BERTH_SCHEDULER="off", BERTH_DEPLOYER="kubernetes", KUBECONFIG=kubeconfig,
                   BERTH_KUBERNETES_NAMESPACE_PREFIX=cluster.namespace() + "-",
                   BERTH_ROLLOUT_TIMEOUT=600, BERTH_STALE_SECONDS=3)
        with gunicorn(url, workers=1, **env) as server:
            poke(server, 2)

            def status():
                with Session(engine) as s:
                    return s.scalar(select(Release.status))
            wait_for(lambda: status() == "deploying", 30)  # applied; waiting for a rollout that never comes
            (worker,) = server.worker_pids()
            os.kill(worker, signal.SIGKILL)
            wait_for(lambda: server.worker_pids() and server.worker_pids() != [worker], 30)
            poke(server, 2)
            # The new worker finds the stale claim, retries, and this time the rollout times out fast.
            wait_for(lambda: status() == "pending" or status() == "deploying", 30)
        env["BERTH_ROLLOUT_TIMEOUT"] = 2
        with gunicorn(url, workers=1, **env) as server:
            poke(server, 2)
            try:
                wait_for(lambda: status() in ("running", "failed"), 60)
            except AssertionError:
                raise AssertionError(f"release is {status()}: " + server.logs()[-3000:]) from None
            with Session(engine) as s:
                r = s.scalar(select(Release))
                assert r.status == "failed" and "did not finish" in r.message
        engine.dispose()
