"""A poll cycle at scale: 10,000 auto-deploy components over 2,000 repositories (4 registry
connections of 500 repositories each) on the real docker-registry behind a proxy that adds 20 ms
per request, with the database on PostgreSQL. Nothing changed since the last cycle: what does
the cycle cost in registry requests, time and database time?

The registry uses bearer-token auth (as Docker Hub, Harbor, GHCR and most registries do; tokens
are cached per repository until they expire): with htpasswd Basic auth, docker-registry checks a
bcrypt hash on every request, which on this 2-core machine costs more CPU than the whole cycle."""
from __future__ import annotations

import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

from sqlalchemy import event

from bench.harness import report
from tests.fixtures.images import Image, Pusher
from tests.fixtures.latency import SlowProxy
from tests.fixtures.registry import PASSWORD, USER, RegistryServer, TokenServer

REPOS = 2000
PER_REPO = 5  # three "same tag" components and two regex ones
REGISTRIES = 4
DELAY = 0.020


def _push(server: RegistryServer) -> str:
    pusher = Pusher(server.url, USER, PASSWORD)
    body, blobs = Image(content="poll").manifest()

    def one(i):
        for blob in blobs:
            pusher.blob(f"poll/r{i}", blob)
        digest = pusher.manifest(f"poll/r{i}", "latest", body)
        pusher.manifest(f"poll/r{i}", "v1", body)
        return digest
    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(REPOS)))[0]


def _seed(app, url: str, digest: str) -> None:
    from sqlalchemy import insert

    from models import Application, Component, Registry, db
    from services.accounts import accounts
    from services.platform.crypto import secret_box

    with app.app_context():
        team = accounts.get_or_create_team("bench")
        application = Application(team=team, name="bench")
        regs = [Registry(team=team, kind="registry", name=f"poll{i}", url=url, username=USER,
                         password_encrypted=secret_box().encrypt(PASSWORD)) for i in range(REGISTRIES)]
        db.session.add_all([application, *regs])
        db.session.flush()
        rows = []
        for i in range(REPOS * PER_REPO):
            repo, kind = i % REPOS, i // REPOS
            same = kind < 3
            rows.append(dict(team_id=team.id, application_id=application.id, registry_id=regs[repo % REGISTRIES].id,
                             name=f"p{i}", image=f"poll/r{repo}", tag="latest" if same else "v1", digest=digest,
                             env=[], ports=[], bad_digests=[], auto_deploy=True, stopped=False, replicas=1,
                             memory_mb=64, trigger_kind="same_tag" if same else "regex",
                             trigger_pattern=None if same else "v.*", include_prereleases=False, no_downgrade=True,
                             webhook_token=f"poll-{i}", release_seq=0, approvals_required=0, approval_hours=24,
                             approvals_owners_only=False))
        db.session.execute(insert(Component), rows)
        db.session.commit()


def run() -> None:
    from flask_migrate import upgrade

    from app import create_app
    from models import db
    from services.delivery import polling
    from tests.fixtures.servers import postgres_database

    work = Path(tempfile.mkdtemp(prefix="berth-bench-reg-"))
    tokens = TokenServer(work, {USER: PASSWORD})
    server = RegistryServer(work / "registry", auth="token", token=tokens)
    proxy = None
    try:
        digest = _push(server)
        proxy = SlowProxy(server.url, DELAY)
        with postgres_database() as url:
            app = create_app({"SQLALCHEMY_DATABASE_URI": url, "BERTH_SCHEDULER": False, "BERTH_DEPLOYER": "none"})
            with app.app_context():
                upgrade()
            _seed(app, proxy.url, digest)
            with app.app_context():
                first = polling.poll_cycle()  # first contact: auth challenges, connections
                db.session.remove()
                assert first.events == 0 and not first.errors, first

                engine, spent, lock = db.engine, [0.0], threading.Lock()

                def before(conn, cursor, statement, params, context, many):
                    context.berth_started = time.perf_counter()

                def after(conn, cursor, statement, params, context, many):
                    with lock:
                        spent[0] += time.perf_counter() - context.berth_started
                event.listen(engine, "before_cursor_execute", before)
                event.listen(engine, "after_cursor_execute", after)
                calls_before = proxy.count()
                started = time.perf_counter()
                result = polling.poll_cycle(now=polling.utcnow() + timedelta(hours=1))  # all due again
                cycle = time.perf_counter() - started
                event.remove(engine, "before_cursor_execute", before)
                event.remove(engine, "after_cursor_execute", after)
                db.session.remove()
            app.extensions["berth"].shutdown()
        calls = proxy.calls[calls_before:]
    finally:
        if proxy is not None:
            proxy.stop()
        server.stop()
        tokens.stop()
    assert result.events == 0 and not result.errors, result
    keys = REPOS * 2  # per repository: one HEAD for "latest", one tag list for the regex rules
    gets = sum(1 for method, path in calls if method == "GET" and "/manifests/" in path)
    concurrency = min(16, polling.PER_REGISTRY * REGISTRIES)
    bound = 2 * len(calls) * DELAY / concurrency
    print(f"  poll cycle: {REPOS * PER_REPO:,} components over {result.groups:,} repositories, nothing changed: "
          f"{len(calls)} requests, {cycle:.1f} s, database {spent[0]:.2f} s (PostgreSQL); "
          f"{concurrency} requests at a time, {DELAY * 1000:.0f} ms each")
    report("poll cycle at 10x: registry requests = distinct watch keys", f"{len(calls)}", f"== {keys}",
           len(calls) == keys)
    report("poll cycle at 10x: manifest GETs (nothing changed)", f"{gets}", "0", gets == 0)
    report("poll cycle at 10x: time", f"{cycle:.1f} s", f"<= {bound:.1f} s", cycle <= bound)
    report("poll cycle at 10x: database time (PostgreSQL)", f"{spent[0]:.2f} s", "<= 1 s", spent[0] <= 1)
