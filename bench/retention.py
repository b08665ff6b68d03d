"""Retention on PostgreSQL: 1,000,000 stored deliveries (half of them with an outcome) older than the
retention, pruned by services.platform.retention; webhook intake latency measured before and while it runs."""
from __future__ import annotations

import statistics
import threading
import time

import requests
from sqlalchemy import text

from bench.harness import berth_gunicorn, report
from bench.webhooks import seed

ROWS = 1_000_000


def _fill(app, team_id: int, registry_id: int) -> None:
    """The rows, written by the database itself (generate_series): 40 days old, done."""
    from models import db

    with app.app_context():
        db.session.execute(text(
            "INSERT INTO webhook_deliveries (team_id, registry_id, source, headers, body, received_at, status, "
            "authenticated, processed_at, summary) "
            "SELECT :team, :registry, 'distribution', '{}', '{}', now() - interval '40 days', 'done', true, "
            "now() - interval '40 days', 'seeded' FROM generate_series(1, :rows)"),
            {"team": team_id, "registry": registry_id, "rows": ROWS})
        db.session.execute(text(
            "INSERT INTO delivery_outcomes (team_id, delivery_id, repository, tag, outcome, reason, created_at) "
            "SELECT team_id, id, 'team/none', 'v1', 'ignored', 'no component watches team/none', received_at "
            "FROM webhook_deliveries WHERE id % 2 = 0"))
        db.session.commit()
        db.session.execute(text("ANALYZE"))
        db.session.commit()


def _intake_latencies(url: str, stop: threading.Event, out: list[float], limit: int) -> None:
    s = requests.Session()
    while not stop.is_set() and len(out) < limit:
        started = time.perf_counter()
        r = s.post(url, data='{"repository": "team/none", "tag": "v1"}',
                   headers={"Content-Type": "application/json"}, timeout=10)
        out.append(time.perf_counter() - started)
        assert r.status_code == 202, r.text
        time.sleep(0.005)


def p99_ms(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(0, int(len(ordered) * 0.99) - 1)] * 1000


def run() -> None:
    from models import Registry, db
    from services.platform import retention
    from tests.fixtures.servers import postgres_database

    with postgres_database() as url, berth_gunicorn(workers=2, database_url=url) as (app, server):
        rid, token = seed(app, "http://127.0.0.1:9", [])
        with app.app_context():
            team_id = db.session.get(Registry, rid).team_id
        _fill(app, team_id, rid)
        hook = f"{server.url}/hooks/registries/{rid}/{token}"
        requests.post(hook, data="{}", timeout=10)

        before: list[float] = []
        _intake_latencies(hook, threading.Event(), before, 1500)
        again: list[float] = []  # a second idle window: how much p99 moves with nothing else running
        _intake_latencies(hook, threading.Event(), again, 1500)

        during: list[float] = []
        stop = threading.Event()
        sender = threading.Thread(target=_intake_latencies, args=(hook, stop, during, 10**9))
        sender.start()
        with app.app_context():
            result = retention.prune(retention.Policy.from_config())
        stop.set()
        sender.join()
        with app.app_context():
            left = db.session.scalar(text("SELECT count(*) FROM webhook_deliveries WHERE received_at < "
                                          "now() - interval '30 days'"))
    rate = result.deliveries / result.seconds
    base, while_pruning = p99_ms(before), p99_ms(during)
    print(f"  intake p99 of two idle windows: {base:.1f} and {p99_ms(again):.1f} ms (the noise)")
    print(f"  pruned {result} ({left} old rows left); intake p50 before {statistics.median(before) * 1000:.1f} ms, "
          f"during {statistics.median(during) * 1000:.1f} ms over {len(during)} deliveries")
    report("retention: deliveries pruned per second (PostgreSQL, 1M)", f"{rate:,.0f}/s", ">= 50,000/s",
           rate >= 50_000 and left == 0)
    # "Unchanged within noise": the p99 while pruning within 1.5x (or 5 ms) of the first idle window's.
    report("retention: intake p99 before -> while pruning", f"{base:.1f} -> {while_pruning:.1f} ms",
           "<= 1.5x or +5 ms", while_pruning <= max(base * 1.5, base + 5))
