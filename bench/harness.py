"""Shared setup for benchmarks: a Berth app on a temp database, served over real HTTP."""
from __future__ import annotations

import os
import statistics
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import requests

os.environ.setdefault("BERTH_SECRET_KEY", "bench-secret-key-" + "x" * 32)


@contextmanager
def berth_app(**config):
    from flask_migrate import upgrade

    from app import create_app
    from tests.fixtures.servers import LiveServer

    tmp = Path(tempfile.mkdtemp(prefix="berth-bench-"))
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp / 'berth.db'}", "BERTH_SCHEDULER": False,
                      "WTF_CSRF_ENABLED": False, "BERTH_DEPLOYER": "none", **config})
    with app.app_context():
        upgrade()
    with LiveServer(app) as server:
        app.config["BERTH_EXTERNAL_URL"] = server.url
        yield app, server
    app.extensions["berth"].shutdown()


@contextmanager
def berth_gunicorn(workers: int = 1, threads: int = 4, database_url: str | None = None, **env):
    """Berth as deployed (gunicorn, production entry point) on a fresh migrated database."""
    from flask_migrate import upgrade

    from app import create_app
    from tests.fixtures.servers import gunicorn

    url = database_url or f"sqlite:///{Path(tempfile.mkdtemp(prefix='berth-bench-')) / 'berth.db'}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "BERTH_SCHEDULER": False, "BERTH_DEPLOYER": "none"})
    with app.app_context():
        upgrade()
    env = {"BERTH_SCHEDULER": "off", "BERTH_THREADS": threads, **env}
    with gunicorn(url, workers=workers, **env) as server:
        yield app, server


def signed_in_session(app, server, email="bench@example.com", password="bench-password") -> requests.Session:
    from models import db
    from services.accounts import accounts

    with app.app_context():
        accounts.create_user_in_team(email, password, "bench", is_admin=True, by="bench")
        db.session.commit()
    s = requests.Session()
    page = s.get(server.url + "/login").text
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    r = s.post(server.url + "/login", data={"email": email, "password": password, "csrf_token": token},
               allow_redirects=False)
    assert r.status_code == 302, r.text
    # Every later form post and HTMX request sends the token in a header, as the pages do.
    home = s.get(server.url + "/").text
    s.headers["X-CSRFToken"] = home.split('"X-CSRFToken": "')[1].split('"')[0]
    return s


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def report(name: str, value: str, goal: str, ok: bool) -> None:
    print(f"{name:<58} {value:>22}   goal {goal:<12} {'OK' if ok else 'MISSED'}")
