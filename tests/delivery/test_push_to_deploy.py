"""Auto-deploy on push, end to end: a real docker-registry sends its notifications to a running
Berth, which deploys on podman. Plus polling, rate limits and webhook endpoint hygiene."""
from __future__ import annotations

import json
import logging
import time
from datetime import timedelta

import pytest
import requests
from sqlalchemy import func, select

from models import Component, DeliveryOutcome, Registry, Release, WebhookDelivery, db, utcnow
from services.components import releases
from tests.fixtures.images import Image, Pusher
from tests.fixtures.registry import PASSWORD, USER, free_port
from tests.helpers import create_component, create_registry, state, test_config, truncate, wait_for, wait_running


def outcomes(app, cid=None, tag=None):
    with app.app_context():
        q = select(DeliveryOutcome)
        if cid is not None:
            q = q.where(DeliveryOutcome.component_id == cid)
        if tag is not None:
            q = q.where(DeliveryOutcome.tag == tag)
        return [(o.tag, o.outcome, o.reason) for o in db.session.scalars(q.order_by(DeliveryOutcome.id))]


def release_count(app, cid):
    with app.app_context():
        return db.session.scalar(select(func.count(Release.id)).where(Release.component_id == cid))


@pytest.mark.podman
@pytest.mark.registry
def test_regex_rule_end_to_end(app, live_server, notifying, podman_deployer):
    rid, server = notifying
    requests.get(live_server.url + "/healthz", timeout=5)  # starts the background workers
    pusher = Pusher(server.url, USER, PASSWORD)
    pusher.push("team/demo", "v5.0", Image(content="v5.0"))
    port = free_port()
    cid = create_component(app, rid, "team/demo", "v5.0", "demo", port)
    wait_running(app, cid, "v5.0")
    with app.app_context():
        c = db.session.get(Component, cid)
        c.auto_deploy, c.trigger_kind, c.trigger_pattern = True, "regex", "v5.*"
        db.session.commit()

    pusher.push("team/demo", "v5.1", Image(content="v5.1"))
    wait_running(app, cid, "v5.1")
    assert requests.get(f"http://127.0.0.1:{port}/", timeout=5).text == "v5.1"

    pusher.push("team/demo", "v6.0", Image(content="v6.0"))
    wait_for(lambda: outcomes(app, cid, "v6.0"))
    assert outcomes(app, cid, "v6.0") == [("v6.0", "ignored", "tag v6.0 does not match /v5.*/")]

    pusher.push("team/demo", "v5.9", Image(content="v5.9"))
    wait_running(app, cid, "v5.9")
    pusher.push("team/demo", "v5.10", Image(content="v5.10"))
    wait_running(app, cid, "v5.10")  # version order, not text order
    assert requests.get(f"http://127.0.0.1:{port}/", timeout=5).text == "v5.10"

    pusher.push("team/demo", "v5.2", Image(content="v5.2 late"))
    wait_for(lambda: outcomes(app, cid, "v5.2"))
    ((_, outcome, reason),) = outcomes(app, cid, "v5.2")
    assert outcome == "ignored" and "older than v5.10" in reason

    # The same delivery twice makes one release.
    with app.app_context():
        first = db.session.scalar(select(WebhookDelivery).join(DeliveryOutcome).where(
            DeliveryOutcome.tag == "v5.10", DeliveryOutcome.outcome == "deployed"))
        body, path = first.body, f"/hooks/registries/{rid}/{db.session.get(Registry, rid).webhook_token}"
    before = release_count(app, cid)
    r = requests.post(live_server.url + path, data=body, timeout=5,
                      headers={"Content-Type": "application/vnd.docker.distribution.events.v1+json"})
    assert r.status_code == 202
    wait_for(lambda: len(outcomes(app, cid, "v5.10")) == 2)
    assert outcomes(app, cid, "v5.10")[1][1] == "ignored" and "duplicate" in outcomes(app, cid, "v5.10")[1][2]
    assert release_count(app, cid) == before

    # Pulls, deletes and the untagged child manifests of an index push change nothing.
    digest = requests.head(f"{server.url}/v2/team/demo/manifests/v5.1", auth=(USER, PASSWORD), timeout=5,
                           headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}).headers[
        "Docker-Content-Digest"]
    pusher.push_index("team/multi", "v2.0")
    pusher.delete("team/demo", digest)
    wait_for(lambda: any("delete" in r for _, _, r in outcomes(app)), 20)
    wait_for(lambda: any("untagged" in r for _, _, r in outcomes(app)), 20)
    assert any("pull event" in r for _, _, r in outcomes(app))
    assert release_count(app, cid) == before
    assert state(app, cid)[0] == "v5.10"


@pytest.mark.podman
@pytest.mark.registry
def test_same_tag_repush_redeploys_by_new_digest(app, live_server, notifying, podman_deployer):
    rid, server = notifying
    requests.get(live_server.url + "/healthz", timeout=5)
    pusher = Pusher(server.url, USER, PASSWORD)
    first = pusher.push("team/web", "latest", Image(content="build 1"))
    port = free_port()
    cid = create_component(app, rid, "team/web", "latest", "web", port)
    wait_running(app, cid, "latest")
    with app.app_context():
        db.session.get(Component, cid).auto_deploy = True
        db.session.commit()
    second = pusher.push("team/web", "latest", Image(content="build 2"))
    assert second != first
    wait_for(lambda: state(app, cid)[1] == second and state(app, cid)[2] == "running", 60)
    assert requests.get(f"http://127.0.0.1:{port}/", timeout=5).text == "build 2"
    pusher.push("team/web", "other", Image(content="other"))
    wait_for(lambda: outcomes(app, cid, "other"))
    assert "not the component's tag latest" in outcomes(app, cid, "other")[0][2]


@pytest.mark.registry
def test_polling_alone_picks_up_a_push(app, registries):
    from services.delivery.polling import poll_cycle

    rid, _ = create_registry(app, registries.basic.url)
    pusher = registries.pusher(registries.basic)
    first = pusher.push("team/polled", "latest", Image(content="poll 1"))
    cid = create_component(app, rid, "team/polled", "latest", "polled", free_port(),
                         auto_deploy=True, digest=first)
    with app.app_context():
        assert poll_cycle().events == 0  # nothing changed: no deploy
    second = pusher.push("team/polled", "latest", Image(content="poll 2"))
    with app.app_context():
        db.session.get(Component, cid).last_polled_at = None
        db.session.commit()
        report = poll_cycle()
    assert report.deployed == 1
    with app.app_context():
        release = releases.latest_release(db.session.get(Component, cid))
        assert release.digest == second and release.trigger == "poll"


@pytest.mark.registry
def test_polling_on_schedule_within_one_interval(app_config, registries, database_url, caplog):
    """A push is found by the first poll cycle that starts after it: at most the cycle already
    running when it landed (which may have read the tag before) ends before the one that deploys.
    Counted in cycles, not seconds, so a loaded machine cannot make it flaky."""
    from app import create_app

    caplog.set_level(logging.INFO, logger="berth.polling")
    app = create_app(test_config(database_url, BERTH_SCHEDULER=True, BERTH_POLL_INTERVAL=1))
    truncate(app)
    try:
        rid, _ = create_registry(app, registries.basic.url)
        pusher = registries.pusher(registries.basic)
        first = pusher.push("team/sched", "latest", Image(content="s1"))
        cid = create_component(app, rid, "team/sched", "latest", "sched", free_port(), auto_deploy=True, digest=first)
        app.extensions["berth"].start()
        wait_for(lambda: app.extensions["berth"].leadership.held, 10)
        second = pusher.push("team/sched", "latest", Image(content="s2"))
        pushed_at = time.time()

        def cycles_since_push():
            return [r.getMessage() for r in caplog.records
                    if r.name == "berth.polling" and r.getMessage().startswith("poll cycle:")
                    and r.created >= pushed_at]
        wait_for(lambda: any(" 1 deploy(s)" in m for m in cycles_since_push()), 30)
        ended = cycles_since_push()
        deploying = next(i for i, m in enumerate(ended) if " 1 deploy(s)" in m)
        assert deploying <= 1, ended  # the cycle running at the push, then the next one finds it
        with app.app_context():
            assert releases.latest_release(db.session.get(Component, cid)).digest == second
    finally:
        app.extensions["berth"].shutdown()


@pytest.mark.registry
def test_a_cycle_polls_what_is_due_and_says_how_late(app, registries):
    """Due: never polled, or polled at least its interval ago (its own, or BERTH_POLL_INTERVAL);
    the lag gauge says how far past its interval the most overdue one waited."""
    from services.delivery.polling import poll_cycle
    from services.platform import metrics

    rid, _ = create_registry(app, registries.basic.url)
    digest = registries.pusher(registries.basic).push("team/due", "latest", Image(content="due"))
    interval = app.config["BERTH_POLL_INTERVAL"]
    now = utcnow()
    ago = {  # name: (seconds since its last poll, its own interval)
        "never": (None, None), "just-now": (1, None), "overdue": (interval + 30, None),
        "own-not-yet": (300, 600), "own-overdue": (160, 60)}
    ids = {name: create_component(app, rid, "team/due", "latest", name, release=False, auto_deploy=True,
                                  digest=digest, poll_interval=own,
                                  last_polled_at=None if seconds is None else now - timedelta(seconds=seconds))
           for name, (seconds, own) in ago.items()}
    with app.app_context():
        assert poll_cycle(now=now).errors == []
        polled = {name for name, cid in ids.items() if db.session.get(Component, cid).last_polled_at == now}
    assert polled == {"never", "overdue", "own-overdue"}
    assert metrics.POLL_LAG._value.get() == 100  # own-overdue: 160 s since, 60 s its interval


def test_polling_honours_retry_after(app, misbehaving):
    from services.delivery.polling import poll_cycle

    rid, _ = create_registry(app, misbehaving.url + "/limited")
    cid = create_component(app, rid, "team/x", "latest", "limited", free_port(), auto_deploy=True,
                         digest="sha256:" + "0" * 64)
    calls = len(misbehaving.server.calls)
    with app.app_context():
        report = poll_cycle()
        reg = db.session.get(Registry, rid)
        assert report.deployed == 0 and "429" in reg.last_poll_error
        wait = (reg.poll_backoff_until - reg.last_poll_at).total_seconds()
        assert 119 <= wait <= 121
    assert len(misbehaving.server.calls) == calls + 1  # told to wait 120 s: no retry inside the cycle
    with app.app_context():
        db.session.get(Component, cid).last_polled_at = None
        db.session.commit()
        poll_cycle()
    assert len(misbehaving.server.calls) == calls + 1  # still backing off: no request at all
    assert release_count(app, cid) == 1  # only the component's first release


def test_wrong_token_is_404_and_stores_nothing(client, app):
    rid, token = create_registry(app)
    body = json.dumps({"repository": "team/demo", "tag": "v1"})
    for path in (f"/hooks/registries/{rid}/wrong-token", f"/hooks/registries/{rid + 99}/{token}",
                 f"/hooks/components/{rid}/{token}"):
        assert client.post(path, data=body, content_type="application/json").status_code == 404
    with app.app_context():
        assert db.session.scalar(select(func.count(WebhookDelivery.id))) == 0
    assert client.post(f"/hooks/registries/{rid}/{token}", data=body,
                       content_type="application/json").status_code == 202


@pytest.mark.parametrize("content_type,body,status", [
    ("application/json", b"{not json", 400),
    ("application/json", b'{"events": [{"action": 5, "target": []}]}', 400),
    ("application/json", b'{"repository": ["x"], "tag": {"a": 1}}', 400),
    ("text/plain", b"\x00\x01\x02", 400),
    ("application/json", b'{"a": "' + b"x" * (3 * 1024 * 1024) + b'"}', 413),
    ("application/json", b'{"events": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", 400),  # deeper than the parser
    ("application/x-www-form-urlencoded", b"repository=team/demo&tag=v1\x00", 400),  # NUL: PostgreSQL stores none
    ("application/x-www-form-urlencoded", b"repository=team%00demo&tag=v1", 400),
    ("application/json", b'{"repository": "team/demo", "tag": "v1\\u0000"}', 400),
    ("application/json", b'{"repository": "team/\\u0001demo", "tag": "v1"}', 400),
])
def test_garbage_bodies_get_4xx(client, app, content_type, body, status):
    rid, token = create_registry(app)
    r = client.post(f"/hooks/registries/{rid}/{token}", data=body, content_type=content_type)
    assert r.status_code == status and r.is_json


def test_webhook_secret_required_when_set(client, app):
    from services.delivery.endpoints import set_webhook_secret

    rid, token = create_registry(app)
    with app.app_context():
        set_webhook_secret(db.session.get(Registry, rid), "hook-secret", False)
        db.session.commit()
    body = json.dumps({"repository": "team/demo", "tag": "v1"})
    r = client.post(f"/hooks/registries/{rid}/{token}", data=body, content_type="application/json",
                    headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 202
    with app.app_context():
        d = db.session.scalar(select(WebhookDelivery))
        assert d.status == "done" and "signature wrong" in d.summary
        assert "hook-secret" not in json.dumps(d.headers)


def test_regenerated_token_stops_the_old_one(client, auth, app, registries):
    auth.signed_in()
    rid, token = create_registry(app)
    assert client.post(f"/registries/{rid}/webhook-token").status_code == 302
    body = json.dumps({"repository": "team/demo", "tag": "v1"})
    assert client.post(f"/hooks/registries/{rid}/{token}", data=body,
                       content_type="application/json").status_code == 404
    html = client.get(f"/registries/{rid}/webhook").get_data(as_text=True)
    with app.app_context():
        new = db.session.get(Registry, rid).webhook_token
    assert new != token and new in html and "notifications:" in html


def test_build_source_form_and_preview(client, auth, app, registries):
    auth.signed_in()
    rid, _ = create_registry(app, registries.basic.url)
    pusher = registries.pusher(registries.basic)
    for tag in ("v5.1", "v5.2", "v5.10", "v6.0"):
        pusher.push("team/preview", tag, Image(content=tag))
    cid = create_component(app, rid, "team/preview", "v5.1", "preview", free_port())
    r = client.get(f"/components/{cid}/build-source/preview?trigger_kind=regex&trigger_pattern=v5.*")
    html = r.get_data(as_text=True)
    assert "3 of 4 current tags match" in html and '<strong class="mono">v5.10</strong> would deploy' in html
    assert html.index("v5.10") < html.index("v5.2")
    assert "matches, but the newer v5.10 comes first" in html and "tag v6.0 does not match /v5.*/" in html
    r = client.get(f"/components/{cid}/build-source/preview?trigger_kind=semver&trigger_pattern=%5E6")
    assert '1 of 4 current tags match; <strong class="mono">v6.0</strong> would deploy' in r.get_data(as_text=True)
    r = client.post(f"/components/{cid}/build-source", data={"auto_deploy": "y", "trigger_kind": "regex",
                                                             "trigger_pattern": "(?<=v)5", "no_downgrade": "y"})
    assert r.status_code == 422 and "RE2" in r.get_data(as_text=True)
    r = client.post(f"/components/{cid}/build-source", data={"auto_deploy": "y", "trigger_kind": "semver",
                                                             "trigger_pattern": ">=banana"})
    assert r.status_code == 422 and "Expected a version number, x or * at position 3" in r.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Component, cid).auto_deploy is False
    r = client.post(f"/components/{cid}/build-source", data={"auto_deploy": "y", "trigger_kind": "regex",
                                                             "trigger_pattern": "v5.*", "no_downgrade": "y"})
    assert r.status_code == 302
    with app.app_context():
        c = db.session.get(Component, cid)
        assert (c.auto_deploy, c.trigger_kind, c.trigger_pattern, c.no_downgrade) == (True, "regex", "v5.*", True)


@pytest.mark.registry
def test_one_registrys_odd_answers_never_stop_the_poll_of_the_others(app, misbehaving, registries):
    """Each registry/repository group is polled and applied on its own: a registry answering
    `Retry-After: soon` or JSON nested too deep gets its error recorded (with the time), one listing a
    10,000-digit "tag" is read without it (no tag is that long), and the healthy registry's
    component is still deployed, in the same cycle."""
    from services.delivery.polling import poll_cycle

    hostile = {}
    for kind in ("soon", "deep", "longtag"):
        rid, _ = create_registry(app, f"{misbehaving.url}/{kind}", name=kind)
        create_component(app, rid, "team/x", "1.0.0", f"odd-{kind}", free_port(), auto_deploy=True,
                       trigger_kind="semver", trigger_pattern=">=1.0.0", digest="sha256:" + "0" * 64)
        hostile[kind] = rid
    good, _ = create_registry(app, registries.basic.url, name="good")
    pusher = registries.pusher(registries.basic)
    first = pusher.push("team/isolated", "latest", Image(content="isolated 1"))
    cid = create_component(app, good, "team/isolated", "latest", "isolated", free_port(), auto_deploy=True,
                         digest=first)
    second = pusher.push("team/isolated", "latest", Image(content="isolated 2"))
    with app.app_context():
        report = poll_cycle()
    assert report.deployed == 1
    with app.app_context():
        assert releases.latest_release(db.session.get(Component, cid)).digest == second
        polled = {kind: db.session.get(Registry, rid) for kind, rid in hostile.items()}
        assert all(reg.last_poll_at is not None for reg in polled.values())
        assert "429" in polled["soon"].last_poll_error
        assert "nested deeper" in polled["deep"].last_poll_error
        assert polled["longtag"].last_poll_error is None
    assert len(report.errors) == 2, report.errors


@pytest.mark.registry
def test_a_quiet_poll_costs_a_fixed_number_of_statements(app, registries):
    """Nothing changed: the cycle's statements do not grow with the components (a bulk record of
    the quiet groups), and every component's and registry's poll time moves on."""
    import threading
    from datetime import timedelta

    from sqlalchemy import event

    from services.delivery.polling import poll_cycle
    from services.registries.clients.v2 import RegistryV2Client
    from tests.fixtures.bulk import seed_components

    rid, _ = create_registry(app, registries.basic.url)
    repos = ["other/app0", "other/app1", "other/app2"]
    client = RegistryV2Client(registries.basic.url, USER, PASSWORD)
    digests = {repo: client.manifest_digest(repo, "1.0") for repo in repos}

    def add(count, start):
        with app.app_context():
            for i in range(start, start + count):
                repo = repos[i % 3]
                db.session.add(Component(team_id=db.session.get(Registry, rid).team_id, application_id=app_id,
                                         registry_id=rid, name=f"q{i}", image=repo, tag="1.0", digest=digests[repo],
                                         env=[], ports=[], auto_deploy=True,
                                         trigger_kind="same_tag" if i % 2 else "regex",
                                         trigger_pattern=None if i % 2 else "^1\\.0$"))
            db.session.commit()

    seed_components(app, count=0, applications=1, registries=0)
    with app.app_context():
        from models import Application
        app_id = db.session.scalar(select(Application.id))

    def statements(at):
        seen, me = [], threading.get_ident()

        def count(conn, cursor, statement, *a):
            if threading.get_ident() == me:
                seen.append(statement)
        with app.app_context():
            engine = db.engine
            event.listen(engine, "before_cursor_execute", count)
            try:
                report = poll_cycle(now=at)
            finally:
                event.remove(engine, "before_cursor_execute", count)
        assert report.events == 0 and not report.errors, report
        return len(seen)

    from models import utcnow
    add(6, 0)
    statements(utcnow() + timedelta(hours=1))
    few = statements(utcnow() + timedelta(hours=2))
    add(60, 6)
    statements(utcnow() + timedelta(hours=3))
    with app.app_context():
        edited = dict(db.session.execute(select(Component.id, Component.updated_at)).all())
    at = utcnow() + timedelta(hours=4)
    many = statements(at)
    assert many == few and many <= 12, (few, many)
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(Component.last_polled_at != at)) == 0
        # A poll is not an edit: the components' updated_at stays what their last edit made it.
        assert dict(db.session.execute(select(Component.id, Component.updated_at)).all()) == edited
        assert db.session.get(Registry, rid).last_poll_at == at


def test_a_registry_client_outlives_what_a_poll_records(app):
    """Tokens and connections stay across poll cycles: recording a poll on the registry's row does
    not make a new client; changing how Berth connects does."""
    from models import utcnow
    from services.platform.crypto import secret_box
    from services.registries import registries

    rid, _ = create_registry(app)
    with app.app_context():
        reg = db.session.get(Registry, rid)
        first = registries.client_for(reg)
        reg.last_poll_at, reg.last_poll_error = utcnow(), "HTTP 503"
        db.session.commit()
        assert registries.client_for(db.session.get(Registry, rid)) is first
        reg = db.session.get(Registry, rid)
        reg.password_encrypted = secret_box().encrypt("another password")
        db.session.commit()
        assert registries.client_for(db.session.get(Registry, rid)) is not first
