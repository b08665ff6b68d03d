"""List pages and the dashboard at 1,000 components (3 releases each) and a component with 1,000
releases and 10,000 deliveries: SQL statements and median time per page, in-process (Flask's test
client, no HTTP), on SQLite and on PostgreSQL; the API's reads of the same (bearer token), the
components list at its default page (50) and its largest (200)."""
from __future__ import annotations

import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event, select, text

from bench.harness import median_ms, report, timed

REPEAT = 30
PAGES = [("components list", "/components/"), ("components list, filtered", "/components/?state=failed&name=c0"),
         ("dashboard", "/"), ("component page", "/components/{c}"), ("component releases", "/components/{c}/releases"),
         ("component deliveries", "/components/{c}/deliveries"), ("registries list", "/registries/"),
         ("API components list", "/api/v1/components"), ("API components list, 200", "/api/v1/components?limit=200"),
         ("API component", "/api/v1/components/{c}"), ("API component releases", "/api/v1/components/{c}/releases"),
         ("API deliveries", "/api/v1/deliveries")]


@contextmanager
def _app(url: str):
    from flask_migrate import upgrade

    from app import create_app
    from tests.helpers import test_config

    app = create_app(test_config(url))
    with app.app_context():
        upgrade()
    yield app
    app.extensions["berth"].shutdown()


def measure(url: str, label: str) -> None:
    from models import Component, Membership, User, db
    from services.accounts import accounts
    from services.api import tokens
    from tests.fixtures.bulk import seed_components, seed_history

    with _app(url) as app:
        with app.app_context():
            accounts.create_user_in_team("bench@example.com", "bench-password", "bench", is_admin=True, by="bench")
            db.session.commit()
        seed_components(app, team="bench", count=1000)
        with app.app_context():
            c = db.session.scalar(select(Component.id).order_by(Component.id))
        seed_history(app, c, releases=1000, deliveries=10_000)
        if url.startswith("postgresql"):
            with app.app_context():  # as autovacuum would after a bulk load
                db.session.execute(text("ANALYZE"))
                db.session.commit()
        with app.app_context():
            user = db.session.scalar(select(User).where(User.email == "bench@example.com"))
            membership = db.session.scalar(select(Membership).where(Membership.user_id == user.id))
            _row, token = tokens.create(membership.team, user, membership, "bench", ["read"], 1)
            db.session.commit()
        client = app.test_client()
        r = client.post("/login", data={"email": "bench@example.com", "password": "bench-password"})
        assert r.status_code == 302, r.text
        headers = {"Authorization": f"Bearer {token}"}
        with app.app_context():
            engine = db.engine
        for name, page in PAGES:
            path = page.format(c=c)
            statements = []
            me = threading.get_ident()

            def count(conn, cursor, statement, *args, _s=statements, _me=me):
                if threading.get_ident() == _me:
                    _s.append(statement)

            assert client.get(path, headers=headers).status_code == 200  # warm
            event.listen(engine, "before_cursor_execute", count)
            assert client.get(path, headers=headers).status_code == 200
            event.remove(engine, "before_cursor_execute", count)
            ms = median_ms(timed(lambda p=path: client.get(p, headers=headers), REPEAT))
            report(f"{name} ({label}): statements, median", f"{len(statements)}, {ms:.1f} ms", "<= 10, <= 50 ms",
                   len(statements) <= 10 and ms <= 50)


def run() -> None:
    from tests.fixtures.servers import postgres_database

    measure(f"sqlite:///{Path(tempfile.mkdtemp(prefix='berth-bench-')) / 'lists.db'}", "SQLite")
    with postgres_database() as url:
        measure(url, "PostgreSQL")
