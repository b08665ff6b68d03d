"""Helpers the tests share: the test configuration, object factories, waiting, and reading pages.

The factories take the app they write to (a test may build its own); conftest binds them to the
test's `app` as the `make_registry` and `make_component` fixtures."""
from __future__ import annotations

import re
import time
from itertools import count

from sqlalchemy import select

from models import Application, Component, Registry, Team, db
from services.accounts import accounts
from services.platform.crypto import secret_box
from tests.fixtures import slots

_names = count(1)


def test_config(url: str, **extra) -> dict:
    """The configuration every test app starts from (deploying off, no poller, no CSRF)."""
    config = {
        "TESTING": True,
        "BERTH_ENV": "testing",
        "SQLALCHEMY_DATABASE_URI": url,
        "WTF_CSRF_ENABLED": False,
        "BERTH_SCHEDULER": False,
        "BERTH_DEPLOYER": "none",
        "BERTH_TAG_CACHE_SECONDS": 30,
        "BERTH_EXTERNAL_URL": "http://127.0.0.1:5000",
        # This process's own pods and host ports (tests.fixtures.slots): workers never meet.
        "BERTH_PODMAN_POD_PREFIX": slots.pod_prefix(),
        "BERTH_HOST_PORTS": slots.host_ports(),
    }
    config.update(extra)
    return config


test_config.__test__ = False  # a helper, not a test


def truncate(app) -> None:
    """Empty every table (the session's database is shared by the tests)."""
    with app.app_context():
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())


def create_registry(app, url: str = "http://127.0.0.1:9", name: str | None = None, team: str = "alpha",
                    credentials: bool = True, **fields) -> tuple[int, str]:
    """A registry of the team (created when missing), with the test registries' credentials unless
    `credentials=False`; returns (id, webhook token)."""
    from tests.fixtures.registry import PASSWORD, USER  # a pytest plugin: not imported before pytest loads it

    with app.app_context():
        reg = Registry(team=accounts.get_or_create_team(team), kind=fields.pop("kind", "registry"),
                       name=name or f"registry-{next(_names)}", url=url, **fields)
        if credentials:
            reg.username, reg.password_encrypted = USER, secret_box().encrypt(PASSWORD)
        db.session.add(reg)
        db.session.commit()
        return reg.id, reg.webhook_token


def create_component(app, registry_id: int | None, image: str = "team/demo", tag: str = "v1",
                     name: str | None = None, host_port: int | None = None, release: bool = True,
                     team: str = "alpha", expose: bool = False, health: dict | None = None, **fields) -> int:
    """A component of the team in application "shop". With `release` it is created as the form
    creates it (its first release queued; container port 8080 published on `host_port`, or on one
    from the range with `expose`; `health` its health check); without, only the row is written.
    Other keyword arguments set its fields (build source, digest…)."""
    from services.components import components, settings
    from services.deploy.drivers.spec import Port

    name = name or f"c{next(_names)}"
    with app.app_context():
        if release:
            t = db.session.scalar(select(Team).where(Team.name == team)) or accounts.get_or_create_team(team)
            ports = [Port(8080, "TCP", True, host_port)] if host_port or expose else []
            c = components.create_component(t, components.ComponentInput(
                name=name, application="shop", registry_id=registry_id, image=image, tag=tag, memory_mb=32,
                ports=ports, health=settings.health_of({"health": health}), create_anyway=True), "test")
        else:
            t = accounts.get_or_create_team(team)
            application = db.session.scalar(select(Application).where(Application.team_id == t.id,
                                                                      Application.name == "shop"))
            c = Component(team=t, application=application or Application(team=t, name="shop"),
                          registry_id=registry_id, name=name, image=image, tag=tag, env=[], ports=[])
            db.session.add(c)
        for key, value in fields.items():
            setattr(c, key, value)
        db.session.commit()
        return c.id


def state(app, component_id: int) -> tuple:
    """(tag, digest) the component runs, and the status and tag of its newest release."""
    from services.components import releases

    with app.app_context():
        c = db.session.get(Component, component_id)
        latest = releases.latest_release(c)
        return c.tag, c.digest, latest.status if latest else None, latest.tag if latest else None


def wait_running(app, component_id: int, tag: str, timeout=60):
    """Wait until the component runs this tag (its newest release running); on a timeout, say what
    the component, its releases and the deliveries show."""
    try:
        return wait_for(lambda: state(app, component_id)[2] == "running" and state(app, component_id)[0] == tag,
                        timeout)
    except AssertionError:
        raise AssertionError(f"component {component_id} never ran {tag}: {why_not(app, component_id)}") from None


def why_not(app, component_id: int) -> str:
    """The component's state, newest releases and the deliveries' summaries and outcomes, for a failure."""
    from models import DeliveryOutcome, Release, WebhookDelivery

    with app.app_context():
        releases = db.session.execute(select(Release.seq, Release.tag, Release.status, Release.message).where(
            Release.component_id == component_id).order_by(Release.seq.desc()).limit(5)).all()
        deliveries = db.session.execute(select(WebhookDelivery.id, WebhookDelivery.status, WebhookDelivery.summary)
                                        .order_by(WebhookDelivery.id.desc()).limit(8)).all()
        outcomes = db.session.execute(select(DeliveryOutcome.tag, DeliveryOutcome.outcome, DeliveryOutcome.reason)
                                      .where(DeliveryOutcome.component_id == component_id)
                                      .order_by(DeliveryOutcome.id.desc()).limit(8)).all()
    return (f"state {state(app, component_id)}; releases {[tuple(r) for r in releases]}; "
            f"deliveries {[tuple(d) for d in deliveries]}; outcomes {[tuple(o) for o in outcomes]}")


def wait_for(predicate, timeout=60.0, interval=0.2):
    """Poll until predicate() is true (returning its value); fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("timed out waiting")


def wait_for_progress(progress, done, stall=60.0, interval=0.5):
    """Poll until done(value) for value = progress(); fail when the value has not changed for `stall`
    seconds (work that keeps moving on a loaded machine is waited for; work that stops is not)."""
    last, since = progress(), time.monotonic()
    while not done(last):
        time.sleep(interval)
        value = progress()
        if value != last:
            last, since = value, time.monotonic()
        elif time.monotonic() - since > stall:
            raise AssertionError(f"no progress for {stall:.0f} s; stuck at {last!r}")
    return last


def field_error(html: str, field_id: str) -> str:
    """The error text shown under one form field."""
    m = re.search(rf'<ul class="errors" id="{re.escape(field_id)}-errors">(.*?)</ul>', html, re.S)
    return re.sub(r"<[^>]+>", " ", m.group(1)).strip() if m else ""


def sign_in(page, make_user, email="owner@example.com", password="correct horse"):
    """In the browser: create an admin and sign in through the login form."""
    make_user(email=email, password=password, admin=True)
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")
