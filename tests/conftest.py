"""Shared fixtures: app per test on a session-wide database (SQLite or PostgreSQL)."""
from __future__ import annotations

import json
import os
import secrets
import uuid

import pytest
from sqlalchemy import create_engine, text

os.environ.setdefault("BERTH_SECRET_KEY", "test-secret-key-" + "x" * 32)
os.environ.setdefault("BERTH_SCHEDULER", "off")
# Password hashes at a lower scrypt cost (the same code path): Werkzeug's default costs 0.2 s of CPU
# per hash, and most tests sign a user in. tests/accounts checks the production default.
os.environ.setdefault("BERTH_PASSWORD_HASH", "scrypt:1024:8:1")
# Only 127.0.0.1 is contacted: boto3 and google-auth never look for cloud metadata services.
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
os.environ["NO_GCE_CHECK"] = "True"
for _name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
              "GOOGLE_APPLICATION_CREDENTIALS"):
    os.environ.pop(_name, None)

from tests.helpers import create_component, create_registry, test_config, truncate  # noqa: E402

pytest_plugins = ["tests.fixtures.registry", "tests.fixtures.browser", "tests.fixtures.kube", "tests.fixtures.podman",
                  "tests.fixtures.cloud", "tests.fixtures.cluster", "tests.fixtures.cosign"]

PG_ADMIN_URL = os.environ.get("BERTH_TEST_PG_ADMIN_URL",
                              "postgresql+psycopg://root@127.0.0.1:5432/postgres")


def pytest_collection_modifyitems(config, items):
    """Tests marked `own_postgres` make their own PostgreSQL database whatever the pass: they are the
    same test in the SQLite pass, so only the PostgreSQL pass runs them (deselected, not skipped).

    With BERTH_TEST_SPLIT_RUNTIME (make test's two passes side by side), a test that is the same in
    either pass runs once, in one pass or the other: a test that never touches the database (parsers,
    clients, policies), and an end-to-end test on podman or in Chromium (a minute each: they prove the
    runtime's and the pages' behaviour, the same on either database). The two passes get about the
    same time of them: each goes, longest first, to the pass with less so far, by the durations the
    last run recorded (BERTH_TEST_DURATIONS), else by kind (Chromium, podman, the rest). Both passes
    compute the same split. The database's own rules are proven in both passes by the rest. A pass
    run alone (make test-sqlite) runs them all.

    Slow tests go first, so no worker is left with a long one at the end of its pass."""
    database = os.environ.get("BERTH_TEST_DATABASE", "sqlite")
    dropped = []
    if database != "postgresql":
        dropped += [item for item in items if item.get_closest_marker("own_postgres")]
    if os.environ.get("BERTH_TEST_SPLIT_RUNTIME"):
        once = [item for item in items if _same_in_either_pass(item)]
        mine = 0 if database == "sqlite" else 1
        dropped += [item for item, side in _balanced(once) if side != mine]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        gone = {id(item) for item in dropped}
        items[:] = [item for item in items if id(item) not in gone]
    items.sort(key=lambda item: not _end_to_end(item))  # stable: the rest keep their order


def _recorded_durations() -> dict[str, float]:
    path = os.environ.get("BERTH_TEST_DURATIONS")
    try:
        with open(path) as f:
            data = json.load(f)
        return {k: float(v) for k, v in data.items()} if isinstance(data, dict) else {}
    except (TypeError, OSError, ValueError):
        return {}


def _balanced(items) -> list[tuple]:
    """(item, 0 or 1): longest first, each to the side with the less time so far."""
    recorded = _recorded_durations()

    def weight(item) -> float:
        if item.nodeid in recorded:
            return recorded[item.nodeid]
        if recorded:  # a test the last run did not record is new, or was quick
            return 5.0 if _end_to_end(item) else 0.2
        return 60.0 if item.get_closest_marker("browser") else 30.0 if item.get_closest_marker("podman") else 0.2
    load, out = [0.0, 0.0], []
    for item in sorted(items, key=lambda i: (-weight(i), i.nodeid)):
        side = 0 if load[0] <= load[1] else 1
        load[side] += weight(item)
        out.append((item, side))
    return out


@pytest.hookimpl(trylast=True)
def pytest_runtest_logreport(report):
    """With BERTH_TEST_DURATIONS_OUT (a folder), each worker records how long its tests took (setup,
    call and teardown), for the next run's split."""
    folder = os.environ.get("BERTH_TEST_DURATIONS_OUT")
    if folder:
        _durations[report.nodeid] = _durations.get(report.nodeid, 0.0) + report.duration


_durations: dict[str, float] = {}


def pytest_sessionfinish(session):
    folder = os.environ.get("BERTH_TEST_DURATIONS_OUT")
    if folder and _durations:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        name = f"{os.environ.get('BERTH_TEST_DATABASE', 'sqlite')}-{worker}.json"
        with open(os.path.join(folder, name), "w") as f:
            json.dump(_durations, f)


def _end_to_end(item) -> bool:
    return bool(item.get_closest_marker("podman") or item.get_closest_marker("browser"))


def _same_in_either_pass(item) -> bool:
    if item.get_closest_marker("own_postgres"):
        return False  # the PostgreSQL pass's own
    return _end_to_end(item) or "database_url" not in getattr(item, "fixturenames", ())


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    """A fresh database for the session, migrated by Flask-Migrate like production."""
    if os.environ.get("BERTH_TEST_DATABASE") == "postgresql":
        name = f"berth_test_{uuid.uuid4().hex[:10]}"
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
        _migrate(url)
        yield url
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    else:
        url = "sqlite:///" + str(tmp_path_factory.mktemp("db") / "berth.db")
        _migrate(url)
        yield url


def _migrate(url: str) -> None:
    from flask_migrate import upgrade

    from app import create_app

    app = create_app(test_config(url))
    with app.app_context():
        upgrade()
        from models import db
        db.engine.dispose()


@pytest.fixture
def app_config():
    """Per-test overrides; a test or fixture may update it before `app` is built."""
    return {}


@pytest.fixture
def app(database_url, app_config):
    from app import create_app
    from models import db

    app = create_app(test_config(database_url, **app_config))
    truncate(app)
    yield app
    app.extensions["berth"].shutdown()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def registry_id(client, auth, registries, app):
    """Signed in as a team owner who connected the real registry (Basic auth) as "local": its id."""
    from models import Registry, db
    from tests.fixtures.registry import PASSWORD, USER

    auth.signed_in()
    r = client.post("/registries/new", data={"kind": "registry", "name": "local", "url": registries.basic.url,
                                             "username": USER, "password": PASSWORD})
    assert r.status_code == 302
    with app.app_context():
        return db.session.scalar(db.select(Registry.id))


@pytest.fixture
def make_registry(app):
    """tests.helpers.create_registry on this test's app: make_registry(url=…, **fields) -> (id, token)."""
    return lambda *args, **kwargs: create_registry(app, *args, **kwargs)


@pytest.fixture
def make_component(app):
    """tests.helpers.create_component on this test's app: make_component(registry_id, …) -> id."""
    return lambda *args, **kwargs: create_component(app, *args, **kwargs)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def make_user(app):
    """Create a user in a team (the team is created when missing); returns the user id."""
    def make(email=None, password="correct horse", team="alpha", admin=False, role=None):
        from models import Role, db
        from services.accounts import accounts

        email = email or f"user-{secrets.token_hex(4)}@example.com"
        with app.app_context():
            user = accounts.create_user(email, password, is_admin=admin)
            t = accounts.get_or_create_team(team)
            accounts.add_member(t, user, Role(role) if role else
                                (Role.MEMBER if t.memberships else Role.OWNER))
            db.session.commit()
            return user.id
    return make


class AuthActions:
    def __init__(self, client, make_user):
        self.client = client
        self.make_user = make_user

    def login(self, email="owner@example.com", password="correct horse"):
        return self.client.post("/login", data={"email": email, "password": password})

    def logout(self):
        return self.client.post("/logout")

    def signed_in(self, email="owner@example.com", team="alpha", admin=True, role=None):
        """Create a user (if needed) and sign in as them."""
        from models import User, db
        with self.client.application.app_context():
            exists = db.session.scalar(db.select(User).where(User.email == email))
        if not exists:
            self.make_user(email=email, team=team, admin=admin, role=role)
        response = self.login(email)
        assert response.status_code == 302, response.get_data(as_text=True)
        return response


@pytest.fixture
def auth(client, make_user):
    return AuthActions(client, make_user)


@pytest.fixture
def live_server(app):
    """The test's app served over real HTTP on a free loopback port."""
    from tests.fixtures.servers import LiveServer
    with LiveServer(app) as server:
        app.config["BERTH_EXTERNAL_URL"] = server.url
        yield server
