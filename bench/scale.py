"""A large organisation on one PostgreSQL (#30), simulated on this machine.

`python -m bench scale` runs the full size: 100 teams x 1,000 components (100,000), 20,000 watched
repositories; `make bench` (every benchmark) a reduced one: 10 teams x 1,000 components over 2,000
repositories. The registry is the real docker-registry (bearer-token auth, as hosted registries do)
behind a proxy adding 20 ms per request and counting each; each repository holds tags latest and
v1 (a folder linked to one pushed repository: the registry serves them as pushed ones).

Replicas: 3 replicas of 2 workers poll, so 6 polling processes (bench/scale_worker.py, each what a
worker's scheduler runs), started at once on one cycle after two (a running replica's cycle: tokens
held, each process asking first for what it polled last time); then the same with 1 process; then one
process of 3 killed with SIGKILL mid-cycle, and the next cycle after its leases ended. Intake:
2 gunicorn replicas of 2 workers receive 50 webhook deliveries a second (5 % of them deploying, to
the deployer double Berth has without a runtime: BERTH_DEPLOYER=none records a release that fails
at once) while a poll cycle runs."""
from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import requests

from bench.harness import report
from tests.fixtures.images import Image, Pusher
from tests.fixtures.latency import SlowProxy
from tests.fixtures.registry import PASSWORD, USER, RegistryServer, TokenServer

ROOT = Path(__file__).resolve().parents[1]
DELAY = 0.020
STALE = 10  # seconds before a dead worker's claimed deliveries are taken up again (the bench's setting)
PER_REPO = 5  # three "same tag" components (one HEAD) and two regex ones (one tag list)


@dataclass(frozen=True)
class Size:
    teams: int
    per_team: int
    repos: int
    load_seconds: int

    @property
    def components(self) -> int:
        return self.teams * self.per_team

    @property
    def keys(self) -> int:
        return self.repos * 2 + self.teams  # per repository: a HEAD of latest, a tag list; a HEAD per hot one

    @property
    def groups(self) -> int:
        return self.repos + self.teams


FULL = Size(teams=100, per_team=1000, repos=20_000, load_seconds=600)
REDUCED = Size(teams=10, per_team=1000, repos=2_000, load_seconds=20)


def _registry(work: Path, size: Size):
    tokens = TokenServer(work, {USER: PASSWORD})
    server = RegistryServer(work / "registry", auth="token", token=tokens)
    pusher = Pusher(server.url, USER, PASSWORD)
    digest = pusher.push("scale/base", "latest", Image(content="scale"))
    pusher.manifest("scale/base", "v1", Image(content="scale").manifest()[0])
    repos = work / "registry/data/docker/registry/v2/repositories/scale"
    for i in range(size.repos):
        (repos / f"r{i}").symlink_to(repos / "base", target_is_directory=True)
    # One repository per team pushed for real: the load pushes them again, and each push deploys.
    hot = [pusher.push(f"scale/hot{t}", "latest", Image(content=f"hot{t}")) for t in range(size.teams)]
    return tokens, server, (digest, hot)


def _seed(app, url: str, digests: tuple[str, list[str]], size: Size) -> dict[int, tuple[int, str]]:
    """Teams, one registry each, and their components, written in bulk; returns each team's
    (registry id, webhook token)."""
    from sqlalchemy import insert

    from models import Application, Component, Registry, db
    from services.accounts import accounts
    from services.platform.crypto import secret_box

    per_team_repos = size.repos // size.teams
    digest, hot = digests
    hooks = {}
    with app.app_context():
        password = secret_box().encrypt(PASSWORD)
        for t in range(size.teams):
            team = accounts.get_or_create_team(f"scale{t}")
            application = Application(team=team, name="scale")
            reg = Registry(team=team, kind="registry", name="reg", url=url, username=USER, password_encrypted=password)
            db.session.add_all([application, reg])
            db.session.flush()
            hooks[t] = (reg.id, reg.webhook_token)
            rows = []
            for j in range(size.per_team):
                repo, kind = t * per_team_repos + j % per_team_repos, j * PER_REPO // size.per_team
                same = kind < 3
                rows.append(dict(team_id=team.id, application_id=application.id, registry_id=reg.id,
                                 name=f"c{j}", image=f"scale/r{repo}", tag="latest" if same else "v1", digest=digest,
                                 env=[], ports=[], bad_digests=[], auto_deploy=True, stopped=False, replicas=1,
                                 memory_mb=64, trigger_kind="same_tag" if same else "regex",
                                 trigger_pattern=None if same else "v.*", include_prereleases=False,
                                 no_downgrade=True, webhook_token=f"scale-{t}-{j}", release_seq=0,
                                 approvals_required=0, approval_hours=24, approvals_owners_only=False))
            rows.append({**rows[0], "name": "hot", "image": f"scale/hot{t}", "tag": "latest", "digest": hot[t],
                         "trigger_kind": "same_tag", "trigger_pattern": None, "webhook_token": f"scale-{t}-hot"})
            db.session.execute(insert(Component), rows)
            db.session.commit()
    return hooks


class Pollers:
    """Polling processes driven through their stdin (bench/scale_worker.py)."""

    def __init__(self, count: int, config: dict):
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.procs = [subprocess.Popen([sys.executable, "-m", "bench.scale_worker", json.dumps(config)], cwd=ROOT,
                                       env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                      for _ in range(count)]
        for p in self.procs:
            assert json.loads(p.stdout.readline()).get("ready"), "a polling process did not start"

    def cycle(self, now, procs=None, during=None) -> tuple[float, list[dict]]:
        procs = procs or self.procs
        started = time.perf_counter()
        for p in procs:
            p.stdin.write(f"cycle {now.isoformat()}\n")
            p.stdin.flush()
        if during is not None:
            during()
        out = []
        for p in procs:
            line = p.stdout.readline()
            if line:
                out.append(json.loads(line))
        return time.perf_counter() - started, out

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.stdin.close()
                p.wait(30)


def _polled_keys(calls) -> Counter:
    return Counter((m, p.split("?")[0]) for m, p in calls
                   if m == "HEAD" and p.endswith("/manifests/latest") or "/tags/list" in p)


def _steady(pollers: Pollers, now) -> None:
    """Two cycles before the measured one: the first meets the registry (challenges, a token per
    repository, connections); in the second each process asks first for the batches it polled in
    the first, as every cycle after does, so the measured one is a cycle of a running replica."""
    pollers.cycle(now - timedelta(minutes=40))
    pollers.cycle(now - timedelta(minutes=20))


def _cycle_figures(label: str, size: Size, pollers: Pollers, proxy: SlowProxy, tokens, now, goal_s: float) -> None:
    before, fetched = proxy.count(), tokens.requests
    wall, results = pollers.cycle(now)
    calls = proxy.calls[before:]
    keys = _polled_keys(calls)
    groups = sum(r["groups"] for r in results)
    database = sum(r["database"] for r in results)
    errors = [e for r in results for e in r["errors"]]
    print(f"  {label}: {size.components + size.teams:,} components over {size.groups:,} repositories, nothing changed: "
          f"{len(calls)} requests, {wall:.1f} s, groups per process {[r['groups'] for r in results]}, "
          f"database {database:.2f} s, RSS {max(r['rss_mb'] for r in results):.0f} MB, registry tokens fetched "
          f"{tokens.requests - fetched}; errors {errors[:2]}")
    once = len(keys) == size.keys and set(keys.values()) == {1} and len(calls) == size.keys
    report(f"{label}: requests = watch keys, each once", f"{len(calls)}, {len(keys)} keys",
           f"== {size.keys}", once and groups == size.groups)
    report(f"{label}: cycle time", f"{wall:.1f} s", f"<= {goal_s:g} s", wall <= goal_s)
    report(f"{label}: database time", f"{database:.2f} s", "<= 5 s", database <= 5)
    rss = max(r["rss_mb"] for r in results)
    report(f"{label}: memory per polling process", f"{rss:.0f} MB", "<= 200 MB", rss <= 200)


def _killed(size: Size, config: dict, proxy: SlowProxy, app, now) -> None:
    """Three processes; one killed with SIGKILL once a third of the keys were asked; the next
    cycle (after its leases ended) polls what it left."""
    from sqlalchemy import func, select

    from models import Component, PollLease, db, utcnow

    pollers = Pollers(3, config)
    try:
        pollers.cycle(now - timedelta(minutes=30))  # each process meets the token service

        def kill():
            start = proxy.count()
            while proxy.count() - start < size.keys // 3:
                time.sleep(0.05)
            os.kill(pollers.procs[0].pid, signal.SIGKILL)
        before = proxy.count()
        _, results = pollers.cycle(now, during=kill)
        pollers.procs[0].wait(10)
        time.sleep(config["BERTH_POLL_LEASE_SECONDS"])
        _, more = pollers.cycle(now, procs=pollers.procs[1:])
        keys = _polled_keys(proxy.calls[before:])
        with app.app_context():
            stale = db.session.scalar(select(func.count()).select_from(Component).where(
                Component.last_polled_at < now))
            leases = db.session.scalar(select(func.count()).select_from(PollLease))
            # A lease the killed process held ends at its time and blocks nothing after; retention
            # deletes it later (services.platform.retention). None may still be live.
            live = db.session.scalar(select(func.count()).select_from(PollLease).where(PollLease.until >= utcnow()))
            db.session.remove()
    finally:
        pollers.stop()
    print(f"  killed mid-cycle: survivors polled {sum(r['groups'] for r in results)} groups, the next cycle "
          f"{sum(r['groups'] for r in more)}; components not polled in either: {stale}; leases left: {leases}, "
          f"still live: {live}")
    report("one of 3 killed mid-cycle: every key polled then or next", f"{stale} missed, {len(keys)} keys",
           f"0, {size.keys}", stale == 0 and len(keys) == size.keys and live == 0)


def _intake(size: Size, url: str, hooks: dict, pusher: Pusher, pollers: Pollers, now) -> None:
    """50 deliveries a second to the replicas' registry webhooks while a cycle runs; every 20th
    follows a real push of a new image to a team's watched `hot` repository (Berth asks the
    registry for the tag's digest: a payload's word is not taken), which deploys."""
    from sqlalchemy import create_engine, func, select, text
    from sqlalchemy.orm import Session

    from models import DeliveryOutcome, Release, WebhookDelivery
    from tests.fixtures.servers import gunicorn

    latencies: list[float] = []
    steady: list[float] = []  # before the kill
    late = [0, 0]  # most deliveries older than 5 s unprocessed at once: before the kill, after it
    killed = threading.Event()
    engine = create_engine(url)
    # A killed worker's claimed deliveries go back to pending once their claim is this old.
    env = {"BERTH_SCHEDULER": "off", "BERTH_DEPLOYER": "none", "BERTH_STALE_SECONDS": STALE}
    with gunicorn(url, workers=2, **env) as a, gunicorn(url, workers=2, **env) as b:
        servers = [a, b]
        stop = threading.Event()

        def one(i):
            team = i % size.teams
            rid, token = hooks[team]
            if i % 20 == 0:  # 5 %: a push of a watched tag with a new digest
                pusher.push(f"scale/hot{team}", "latest", Image(content=f"hot{team}-{i}"))
                body = {"repository": f"scale/hot{team}", "tag": "latest"}
            else:
                body = {"repository": f"scale/unwatched{i % 1000}", "tag": "v1"}
            started = time.perf_counter()
            try:
                r = requests.post(f"{servers[i % 2].url}/hooks/registries/{rid}/{token}", json=body, timeout=30)
            except requests.ConnectionError:
                return  # the killed worker's connection: not accepted, so not counted
            if r.status_code == 202:
                latencies.append(time.perf_counter() - started)
                if not killed.is_set():
                    steady.append(latencies[-1])

        def watch():
            with Session(engine) as s:
                while not stop.is_set():
                    old = s.scalar(select(func.count()).select_from(WebhookDelivery).where(
                        WebhookDelivery.status.in_(("pending", "processing")),
                        WebhookDelivery.received_at < text("(now() at time zone 'utc') - interval '5 seconds'")))
                    late[killed.is_set()] = max(late[killed.is_set()], old or 0)
                    s.rollback()
                    stop.wait(1)

        def load():
            with ThreadPoolExecutor(32) as pool:
                begin = time.perf_counter()
                for i in range(size.load_seconds * 50):
                    delay = begin + i / 50 - time.perf_counter()
                    if delay > 0:
                        time.sleep(delay)
                    if i == size.load_seconds * 25:  # mid-burst: one worker of one replica dies
                        killed.set()
                        os.kill(a.worker_pids()[0], signal.SIGKILL)
                    pool.submit(one, i)
        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        loader = threading.Thread(target=load)
        loader.start()
        wall, _ = pollers.cycle(now)
        loader.join()
        deadline = time.time() + STALE + 60
        with Session(engine) as s:
            while time.time() < deadline and s.scalar(select(func.count()).select_from(WebhookDelivery).where(
                    WebhookDelivery.status.in_(("pending", "processing")))):
                s.rollback()
                time.sleep(0.5)
            releases = s.execute(select(Release.component_id, Release.digest)).all()
            unfinished = s.scalar(select(func.count()).select_from(WebhookDelivery).where(
                WebhookDelivery.source != "poll", WebhookDelivery.status != "done"))
            stored = s.scalar(select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.source != "poll"))
            twice = s.scalar(select(func.count()).select_from(
                select(DeliveryOutcome.delivery_id).group_by(DeliveryOutcome.delivery_id, DeliveryOutcome.component_id)
                .having(func.count() > 1).subquery()))
        stop.set()
        watcher.join()
    engine.dispose()
    duplicates = sum(n - 1 for n in Counter(releases).values() if n > 1)
    p99 = statistics.quantiles(steady, n=100)[98] * 1000
    p99_all = statistics.quantiles(latencies, n=100)[98] * 1000
    print(f"  intake: {len(latencies)} deliveries accepted at 50/s over {size.load_seconds} s with a {wall:.1f} s "
          f"cycle running and a worker killed half way: p99 {p99:.0f} ms before the kill, {p99_all:.0f} ms over "
          f"all (the killed worker's replacement listens once Berth is loaded); most deliveries older than 5 s "
          f"unprocessed at once: {late[0]} before the kill, {late[1]} after (its claims wait {STALE} s); "
          f"decided twice for a component: {twice}; "
          f"stored {stored}, not done {unfinished}; releases {len(releases)} (pushes {len(latencies) // 20}), "
          f"duplicates {duplicates}")
    report("intake at 50/s during a cycle: p99", f"{p99:.0f} ms", "<= 200 ms", p99 <= 200)
    report("intake: deliveries older than 5 s unprocessed", f"{late[0]}", "0", late[0] == 0)
    report("worker killed mid-burst: accepted deliveries decided once", f"{stored - unfinished}, {twice} twice",
           f"{len(latencies)}, 0 twice", twice == 0 and unfinished == 0)
    report("intake: duplicate releases", f"{duplicates}", "0", duplicates == 0)
    # A request the killed worker stored but could not answer is stored without being counted accepted.
    report("intake: every accepted delivery stored and processed", f"{stored - unfinished} of {len(latencies)}",
           f">= {len(latencies)}", stored >= len(latencies) and unfinished == 0)


def _lists(url: str, size: Size) -> None:
    """The pages a team member opens most, with the whole organisation in the database: statements
    and median time, in-process (Flask's test client), as bench/lists measures them."""
    from sqlalchemy import event, select, text

    from app import create_app
    from bench.harness import median_ms, timed
    from models import Component, Team, db
    from services.accounts import accounts
    from tests.helpers import test_config

    app = create_app(test_config(url))
    with app.app_context():
        accounts.create_user_in_team("scale@example.com", "scale-password", "scale0", by="bench")
        db.session.execute(text("ANALYZE"))
        db.session.commit()
        team = db.session.scalar(select(Team.id).where(Team.name == "scale0"))
        component = db.session.scalar(select(Component.id).where(Component.team_id == team).order_by(Component.id))
        engine = db.engine
    client = app.test_client()
    assert client.post("/login", data={"email": "scale@example.com", "password": "scale-password"}).status_code == 302
    for name, path in (("components list", "/components/"), ("dashboard", "/"),
                       ("component page", f"/components/{component}")):
        statements = []
        me = threading.get_ident()

        def count(conn, cursor, statement, *args, _s=statements, _me=me):
            if threading.get_ident() == _me:
                _s.append(statement)
        assert client.get(path).status_code == 200
        event.listen(engine, "before_cursor_execute", count)
        assert client.get(path).status_code == 200
        event.remove(engine, "before_cursor_execute", count)
        ms = median_ms(timed(lambda p=path: client.get(p), 20))
        report(f"{name} at {size.components:,} components: statements, median", f"{len(statements)}, {ms:.1f} ms",
               "<= 10, <= 50 ms", len(statements) <= 10 and ms <= 50)
    app.extensions["berth"].shutdown()
    with app.app_context():
        db.engine.dispose()


def run(size: Size | None = None) -> None:
    from flask_migrate import upgrade

    from app import create_app
    from models import utcnow
    from tests.fixtures.servers import postgres_database

    size = size or (FULL if "scale" in sys.argv[1:] else REDUCED)
    work = Path(tempfile.mkdtemp(prefix="berth-bench-scale-"))
    tokens, server, digests = _registry(work, size)
    proxy = SlowProxy(server.url, DELAY)
    try:
        with postgres_database() as url:
            config = {"SQLALCHEMY_DATABASE_URI": url, "BERTH_SCHEDULER": False, "BERTH_DEPLOYER": "none",
                      "BERTH_POLL_LEASE_SECONDS": 10}
            app = create_app(config)
            with app.app_context():
                upgrade()
            hooks = _seed(app, proxy.url, digests, size)
            _lists(url, size)
            now = utcnow()
            pollers = Pollers(6, config)
            try:
                _steady(pollers, now + timedelta(hours=2))
                _cycle_figures("poll cycle, 3 replicas x 2 workers", size, pollers, proxy, tokens,
                               now + timedelta(hours=2), 60 if size == FULL else 5)
                _intake(size, url, hooks, Pusher(server.url, USER, PASSWORD), pollers, now + timedelta(hours=3))
            finally:
                pollers.stop()
            if size != FULL:
                single = Pollers(1, config)
                try:
                    _steady(single, now + timedelta(hours=5))
                    _cycle_figures("poll cycle, 1 process", size, single, proxy, tokens, now + timedelta(hours=5), 10)
                finally:
                    single.stop()
            _killed(size, config, proxy, app, now + timedelta(hours=6))
            app.extensions["berth"].shutdown()
    finally:
        proxy.stop()
        server.stop()
        tokens.stop()
