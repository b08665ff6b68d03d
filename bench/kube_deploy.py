"""Deploying to Kubernetes on the test control plane (etcd, kube-apiserver, controllers, scheduler,
KWOK's simulated node; tests/fixtures/cluster.py), as Berth's own ServiceAccount from the shipped
manifest: create -> available one at a time (median, p99), then 200 components created at once
(all available; p50/p99 from create to running; API requests per release by verb)."""
from __future__ import annotations

import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.harness import berth_app, report, signed_in_session
from tests.fixtures.cluster import Cluster, shipped_rbac
from tests.fixtures.images import Image, Pusher
from tests.fixtures.registry import PASSWORD, USER, RegistryServer

SINGLE_RUNS = 10
AT_ONCE = 200
WORKERS = 32  # BERTH_DEPLOY_WORKERS: releases followed at the same time by the one process
WRITES = ("POST", "PUT", "PATCH", "DELETE")


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _create(s, live, rid: str, name: str) -> None:
    r = s.post(live.url + "/components/new", allow_redirects=False, data={
        "source": "registry", "registry_id": rid, "image": "bench/web", "tag": "v1", "name": name,
        "application": "bench", "replicas": "1", "memory_mb": "32", "ports-0-port": "8080",
        "ports-0-protocol": "TCP", "ports-0-expose": "y"})
    assert r.status_code == 302, r.text[-500:]


def _releases(app, names: list[str]) -> list:
    from sqlalchemy import select

    from models import Component, Release, db

    with app.app_context():
        return db.session.execute(select(Release.status, Release.created_at, Release.finished_at, Release.message)
                                  .join(Component).where(Component.name.in_(names))).all()


def _wait_all(app, names: list[str], timeout: float) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = _releases(app, names)
        if len(rows) == len(names) and all(r.status in ("running", "failed") for r in rows):
            return rows
        time.sleep(0.2)
    raise RuntimeError(f"releases not done after {timeout:g}s: {Counter(r.status for r in _releases(app, names))}")


def run() -> None:
    from services.deploy.drivers.kubernetes import KubernetesDeployer

    cluster = Cluster(Path(tempfile.mkdtemp(prefix="berth-bench-kube-")), name="berth-bench")
    server = RegistryServer(Path(tempfile.mkdtemp(prefix="berth-bench-reg-")))
    try:
        cluster.kubectl("apply", "--server-side", "-f", "-", stdin=shipped_rbac())
        token = cluster.token("berth", "berth-system")
        Pusher(server.url, USER, PASSWORD).push("bench/web", "v1", Image(content="bench"))
        sent: Counter = Counter()
        with berth_app(BERTH_DEPLOY_WORKERS=WORKERS, BERTH_KUBERNETES_NAMESPACE_PREFIX="bench-",
                       WTF_CSRF_ENABLED=True) as (app, live):
            app.extensions["berth"].deployer = KubernetesDeployer(cluster.api_client(token),
                                                                  observe=lambda verb: sent.update([verb]))
            s = signed_in_session(app, live)
            r = s.post(live.url + "/registries/new", data={"kind": "registry", "name": "bench", "url": server.url,
                                                           "username": USER, "password": PASSWORD},
                       allow_redirects=False)
            rid = r.headers["Location"].rstrip("/").split("/")[-1]

            single = []
            for i in range(SINGLE_RUNS):
                start = time.perf_counter()
                _create(s, live, rid, f"one-{i}")
                (row,) = _wait_all(app, [f"one-{i}"], 60)
                assert row.status == "running", row.message
                single.append(time.perf_counter() - start)
            med, p99 = statistics.median(single), _percentile(single, 0.99)
            print(f"  one at a time: {', '.join(f'{t:.2f}s' for t in single)}")
            report("create -> available (Kubernetes, KWOK), median", f"{med:.2f} s", "<= 3 s", med <= 3)
            report("create -> available (Kubernetes, KWOK), p99", f"{p99:.2f} s", "<= 6 s", p99 <= 6)

            sent.clear()
            names = [f"many-{i}" for i in range(AT_ONCE)]
            start = time.perf_counter()
            for name in names:
                _create(s, live, rid, name)
            created = time.perf_counter() - start
            rows = _wait_all(app, names, 600)
            total = time.perf_counter() - start
            running = sum(r.status == "running" for r in rows)
            waits = [(r.finished_at - r.created_at).total_seconds() for r in rows]
            per = {verb: n / AT_ONCE for verb, n in sent.items()}
            writes = sum(per.get(v, 0) for v in WRITES)
            print(f"  {AT_ONCE} created in {created:.1f} s, all ended in {total:.1f} s ({WORKERS} deploy workers); "
                  f"requests per release: " + ", ".join(f"{v} {n:.2f}" for v, n in sorted(per.items())))
            for message, n in Counter(r.message for r in rows if r.status != "running").most_common(3):
                print(f"  not running ({n}): {message[:300]}")
            report(f"{AT_ONCE} at once: running", f"{running}/{AT_ONCE}", f"{AT_ONCE}/{AT_ONCE}", running == AT_ONCE)
            report(f"{AT_ONCE} at once: create -> running p50", f"{_percentile(waits, 0.5):.1f} s", "<= 60 s",
                   _percentile(waits, 0.5) <= 60)
            report(f"{AT_ONCE} at once: create -> running p99", f"{_percentile(waits, 0.99):.1f} s", "<= 120 s",
                   _percentile(waits, 0.99) <= 120)
            report("API writes per release", f"{writes:.2f}", "<= 8", writes <= 8)
            report("API reads (GET) per release while waiting on watches", f"{per.get('GET', 0):.2f}", "<= 12",
                   per.get("GET", 0) <= 12)
    finally:
        server.stop()
        cluster.stop()
