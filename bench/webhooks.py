"""Webhook intake under gunicorn and push-to-deploy-request latency (a poll cycle's cost: bench.polling)."""
from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

import requests

from bench.harness import berth_gunicorn, report
from tests.fixtures.images import Image, Pusher
from tests.fixtures.registry import PASSWORD, USER, RegistryServer

DELIVERIES = 3000
CLIENTS = 16


def seed(app, registry_url: str, components: list[dict]):
    """A registry and components written straight to the database; returns (registry id, token)."""
    from models import Application, Component, Registry, db
    from services.accounts import accounts
    from services.platform.crypto import secret_box

    with app.app_context():
        team = accounts.get_or_create_team("bench")
        application = Application(team=team, name="bench")
        reg = Registry(team=team, kind="registry", name="bench", url=registry_url, username=USER,
                       password_encrypted=secret_box().encrypt(PASSWORD))
        db.session.add_all([application, reg])
        for spec in components:
            db.session.add(Component(team=team, application=application, source_registry=reg, env=[], ports=[],
                                     auto_deploy=True, **spec))
        db.session.commit()
        return reg.id, reg.webhook_token


def intake(database_url=None, workers=2, instances=1, label="SQLite", seconds=8) -> float:
    """Deliveries per second accepted (202) by `instances` gunicorn instances, loaded by wrk."""
    import re
    import subprocess
    from contextlib import ExitStack

    with ExitStack() as stack:
        app, first = stack.enter_context(berth_gunicorn(workers=workers, database_url=database_url))
        servers = [first] + [stack.enter_context(berth_gunicorn(workers=workers, database_url=database_url))[1]
                             for _ in range(instances - 1)]
        rid, token = seed(app, "http://127.0.0.1:9", [])
        script = Path(tempfile.mkdtemp()) / "post.lua"
        script.write_text('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                          'wrk.body = \'{"repository": "team/none", "tag": "v1"}\'\n'
                          'done = function(summary, latency, requests)\n'
                          '  io.write(string.format("NON2XX %d\\n", summary.errors.status)) end\n')
        procs = [subprocess.Popen(["wrk", "-t", "1", "-c", str(CLIENTS // instances), "-d", f"{seconds}s",
                                   "-s", str(script), f"{s.url}/hooks/registries/{rid}/{token}"],
                                  stdout=subprocess.PIPE, text=True) for s in servers]
        outputs = [p.communicate()[0] for p in procs]
        drained, stored = _drain(app)
    total = 0.0
    for out in outputs:
        rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        bad = int(re.search(r"NON2XX (\d+)", out).group(1))
        assert bad == 0, f"{bad} deliveries were not accepted:\n{out}"
        total += rate
    print(f"  wrk, {CLIENTS} connections for {seconds}s to {instances} instance(s) x {workers} workers ({label}): "
          f"{total:.0f} deliveries/s accepted, all answered 202; the {stored} stored were all processed "
          f"{drained:.1f}s after the burst ended")
    return total


def _drain(app, timeout: float = 120) -> tuple[float, int]:
    """Seconds until every stored delivery has been processed (the background catches up after a burst)."""
    from sqlalchemy import func, select

    from models import WebhookDelivery, db

    start = time.monotonic()
    while True:
        with app.app_context():
            waiting, stored = db.session.execute(select(
                func.count().filter(WebhookDelivery.status.in_(["pending", "processing"])), func.count())).one()
            db.session.remove()
        if not waiting:
            return time.monotonic() - start, stored
        assert time.monotonic() - start < timeout, f"{waiting} deliveries still unprocessed after {timeout}s"
        time.sleep(0.2)


def latency(server_reg: RegistryServer) -> tuple[float, float]:
    """Push event -> release row (deploy requested), p50 and p99 in ms."""
    from models import Release, db

    pusher = Pusher(server_reg.url, USER, PASSWORD)
    tags = [f"v5.{i}" for i in range(1, 201)]
    body, blobs = Image(content="lat").manifest()
    for blob in blobs:
        pusher.blob("team/lat", blob)
    for tag in ["v5.0"] + tags:
        pusher.manifest("team/lat", tag, body)
    with berth_gunicorn(workers=2) as (app, server):
        rid, token = seed(app, server_reg.url, [dict(name="lat", image="team/lat", tag="v5.0", trigger_kind="regex",
                                                     trigger_pattern="v5.*", no_downgrade=False)])
        requests.get(server.url + "/healthz", timeout=5)
        sent = {}
        s = requests.Session()
        for tag in tags:
            sent[tag] = time.time()
            r = s.post(f"{server.url}/hooks/registries/{rid}/{token}",
                       data=json.dumps({"repository": "team/lat", "tag": tag}),
                       headers={"Content-Type": "application/json"}, timeout=10)
            assert r.status_code == 202
            time.sleep(0.01)
        deadline = time.time() + 60
        while time.time() < deadline:
            with app.app_context():
                rows = db.session.execute(db.select(Release.tag, Release.created_at)).all()
                db.session.remove()
            if len(rows) >= len(tags):
                break
            time.sleep(0.2)
        import calendar
        lat = sorted((calendar.timegm(created.timetuple()) + created.microsecond / 1e6 - sent[tag]) * 1000
                     for tag, created in rows if tag in sent)
    assert len(lat) == len(tags), f"only {len(lat)} of {len(tags)} releases"
    return statistics.median(lat), lat[int(len(lat) * 0.99) - 1]


def run() -> None:
    from tests.fixtures.servers import postgres_database

    sqlite_rate = intake()
    report("webhook deliveries accepted per second (gunicorn, SQLite)", f"{sqlite_rate:.0f}/s", ">= 500/s",
           sqlite_rate >= 500)
    with postgres_database() as url:
        one = intake(url, label="PostgreSQL")
    with postgres_database() as url:
        two = intake(url, instances=2, label="PostgreSQL")
    report("webhook deliveries/s on PostgreSQL, 1 instance", f"{one:.0f}/s", ">= 500/s", one >= 500)
    report("webhook deliveries/s on PostgreSQL, 2 instances", f"{two:.0f}/s (x{two / one:.2f})", "", True)
    server = RegistryServer(Path(tempfile.mkdtemp(prefix="berth-bench-reg-")))
    try:
        p50, p99 = latency(server)
        report("push event -> deploy request latency p50", f"{p50:.0f} ms", "", True)
        report("push event -> deploy request latency p99", f"{p99:.0f} ms", "<= 200 ms", p99 <= 200)
    finally:
        server.stop()
