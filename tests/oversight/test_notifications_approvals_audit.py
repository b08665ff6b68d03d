"""Notifications, approvals and the audit trail, with a real HTTP receiver (a local server that
records what it is sent), the real registry, podman, and two processes sharing one database."""
from __future__ import annotations

import hashlib
import hmac
import json
import multiprocessing
import threading
import time
import uuid
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import func, select, text, update

from models import (
    Approval,
    AuditEntry,
    Component,
    Notification,
    NotificationChannel,
    Registry,
    Release,
    Team,
    db,
    utcnow,
)
from services.delivery import deliveries, endpoints
from services.oversight import approvals, notifications
from services.platform.crypto import secret_box
from tests.fixtures.images import Image
from tests.fixtures.registry import PASSWORD
from tests.helpers import create_component, create_registry, field_error, test_config, wait_for

SECRET = "channel-signing-secret-7f3a"


class Receiver:
    """An HTTP server that records each POST and answers the next scripted status (then 200)."""

    def __init__(self, statuses=()):
        self.received: list[dict] = []
        self.statuses = list(statuses)
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with outer.lock:
                    outer.received.append({"headers": dict(self.headers), "body": body})
                    status = outer.statuses.pop(0) if outer.statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def events(self) -> list[str]:
        return [r["headers"]["X-Berth-Event"] for r in self.received]

    def close(self):
        self.httpd.shutdown()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def app_config(app_config):
    app_config.update(BERTH_NOTIFY_BACKOFF=0.3, BERTH_DEPLOY_WORKERS=2)
    return app_config


def _team_id(app, name="alpha") -> int:
    from services.accounts import accounts

    with app.app_context():
        team = accounts.get_or_create_team(name)
        db.session.commit()
        return team.id


def _channel(app, url, events=None, secret=SECRET, kind="webhook") -> int:
    team_id = _team_id(app)
    with app.app_context():
        channel = NotificationChannel(team_id=team_id, name=f"ch-{uuid.uuid4().hex[:6]}", kind=kind, url=url,
                                      events=events or list(notifications.DEFAULT_EVENTS),
                                      secret_encrypted=secret_box().encrypt(secret) if secret else None)
        db.session.add(channel)
        db.session.commit()
        return channel.id


def _signature_ok(record) -> bool:
    expected = "sha256=" + hmac.new(SECRET.encode(), record["body"], hashlib.sha256).hexdigest()
    return hmac.compare_digest(record["headers"].get("X-Berth-Signature-256", ""), expected)


def _push(app, registry_id: int, repository: str, tag: str) -> None:
    body = json.dumps({"repository": repository, "tag": tag}).encode()
    with app.app_context(), app.test_request_context():
        token = db.session.get(Registry, registry_id).webhook_token
        delivery_id = deliveries.receive(endpoints.find_endpoint("registry", registry_id, token),
                                         {"Content-Type": "application/json"}, body)
        db.session.commit()
    with app.app_context():
        deliveries.process([delivery_id])


@pytest.mark.podman
def test_a_push_deploys_and_the_receiver_gets_signed_started_and_running(app, client, receiver, registries,
                                                                        podman_deployer):
    client.get("/healthz")  # starts the background workers (deploys, notifications)
    rid, _ = create_registry(app, registries.basic.url)
    pusher = registries.pusher(registries.basic)
    pusher.push("team/notify", "v1.0", Image(content="1.0"))
    cid = create_component(app, rid, "team/notify", "v1.0", "notify", auto_deploy=True, trigger_kind="semver",
                           trigger_pattern="^1")
    wait_for(lambda: _release(app, cid, 1) == "running", 90)
    _channel(app, receiver.url)
    digest = pusher.push("team/notify", "v1.1", Image(content="1.1"))
    _push(app, rid, "team/notify", "v1.1")
    wait_for(lambda: "release.running" in receiver.events(), 90)
    assert receiver.events()[:2] == ["release.started", "release.running"]
    for record in receiver.received:
        assert _signature_ok(record), record["headers"]
        payload = json.loads(record["body"])
        assert payload["component"] == "notify" and payload["tag"] == "v1.1" and payload["digest"] == digest
        assert record["headers"]["X-Berth-Delivery"] == payload["id"]
        assert payload["link"].endswith(f"/components/{cid}")


def _release(app, cid, seq):
    with app.app_context():
        return db.session.scalar(select(Release.status).where(Release.component_id == cid, Release.seq == seq))


def test_retries_until_the_receiver_answers_2xx(app, client):
    receiver = Receiver(statuses=[500, 500, 200])
    try:
        channel_id = _channel(app, receiver.url)
        client.get("/healthz")
        with app.app_context(), app.test_request_context():
            notifications.send_test(db.session.get(NotificationChannel, channel_id), "tester")
            db.session.commit()
            notifications._kick()
        message = wait_for(lambda: _message(app, "sent"), 30)
        assert message.attempts == 3 and message.last_status_code == 200
        assert len(receiver.received) == 3
        assert len({r["headers"]["X-Berth-Delivery"] for r in receiver.received}) == 1  # one message, three tries
    finally:
        receiver.close()


def _message(app, status):
    with app.app_context():
        return db.session.scalars(select(Notification).where(Notification.status == status)).first()


def test_a_restart_between_tries_still_delivers(app, database_url, app_config):
    from app import create_app

    receiver = Receiver(statuses=[503])
    try:
        channel_id = _channel(app, receiver.url)
        with app.app_context(), app.test_request_context():
            notifications.send_test(db.session.get(NotificationChannel, channel_id), "tester")
            db.session.commit()
            assert notifications.send_due() == 1  # first try: 503, a retry is scheduled
        assert _message(app, "pending").attempts == 1
        app.extensions["berth"].shutdown()  # the process stops before the retry

        second = create_app(test_config(database_url, **app_config))
        try:
            second.test_client().get("/healthz")  # the new process's sender picks the message up
            message = wait_for(lambda: _message(second, "sent"), 30)
            assert message.attempts == 2 and len(receiver.received) == 2
        finally:
            second.extensions["berth"].shutdown()
    finally:
        receiver.close()


def _send_in_process(url: str, backoff: float, start, done) -> None:
    from app import create_app

    app = create_app(test_config(url, BERTH_NOTIFY_BACKOFF=backoff))
    with app.app_context():
        start.wait(30)
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline:
            notifications.send_due()
            time.sleep(0.05)
        db.session.remove()
        db.engine.dispose()
    done.set()


def test_two_processes_send_each_message_once(app, database_url):
    receiver = Receiver()
    try:
        channel_id = _channel(app, receiver.url)
        with app.app_context(), app.test_request_context():
            channel = db.session.get(NotificationChannel, channel_id)
            for _ in range(20):
                notifications.send_test(channel, "tester")
            db.session.commit()
        ctx = multiprocessing.get_context("spawn")
        start = ctx.Event()
        procs = [(ctx.Process(target=_send_in_process, args=(database_url, 0.3, start, done)), done)
                 for done in (ctx.Event(), ctx.Event())]
        for p, _ in procs:
            p.start()
        start.set()
        for p, done in procs:
            assert done.wait(60)
            p.join(30)
        ids = [r["headers"]["X-Berth-Delivery"] for r in receiver.received]
        assert len(ids) == 20 and len(set(ids)) == 20
        with app.app_context():
            assert db.session.scalar(select(func.count()).select_from(Notification)
                                     .where(Notification.status == "sent")) == 20
    finally:
        receiver.close()


# --- approvals ------------------------------------------------------------------------------------

@pytest.fixture
def gated(app, registries):
    rid, _ = create_registry(app, registries.basic.url)
    pusher = registries.pusher(registries.basic)
    repo = f"team/gated-{uuid.uuid4().hex[:6]}"
    first = pusher.push(repo, "v1.0", Image(content="1.0"))
    cid = create_component(app, rid, repo, "v1.0", "gated", release=False, auto_deploy=True, trigger_kind="semver",
                           trigger_pattern="^1", digest=first, approvals_required=1)
    return rid, cid, repo, pusher


def _approvals(app, cid):
    with app.app_context():
        return [(a.tag, a.status) for a in db.session.scalars(select(Approval).where(Approval.component_id == cid)
                                                              .order_by(Approval.id))]


def _releases(app, cid):
    with app.app_context():
        return [(r.tag, r.digest, r.trigger) for r in db.session.scalars(
            select(Release).where(Release.component_id == cid).order_by(Release.seq))]


def test_a_push_waits_for_approval_and_approving_releases_exactly_that_digest(app, client, auth, gated):
    rid, cid, repo, pusher = gated
    digest = pusher.push(repo, "v1.1", Image(content="1.1"))
    _push(app, rid, repo, "v1.1")
    assert _approvals(app, cid) == [("v1.1", "pending")] and _releases(app, cid) == []
    auth.signed_in()
    page = client.get(f"/components/{cid}").get_data(as_text=True)
    assert "waits for approval (0 of 1" in page
    pusher.push(repo, "v1.1", Image(content="1.1 rebuilt"))  # the tag moves after the request
    with app.app_context():
        approval_id = db.session.scalar(select(Approval.id).where(Approval.component_id == cid))
    assert client.post(f"/approvals/{approval_id}/approve").status_code == 302
    assert _approvals(app, cid) == [("v1.1", "approved")]
    assert _releases(app, cid) == [("v1.1", digest, "approval")]  # the approved digest, not the moved tag


def test_a_newer_push_supersedes_and_expiry_deploys_nothing(app, gated):
    rid, cid, repo, pusher = gated
    pusher.push(repo, "v1.1", Image(content="1.1"))
    _push(app, rid, repo, "v1.1")
    pusher.push(repo, "v1.2", Image(content="1.2"))
    _push(app, rid, repo, "v1.2")
    assert _approvals(app, cid) == [("v1.1", "superseded"), ("v1.2", "pending")]
    with app.app_context():
        db.session.execute(update(Approval).where(Approval.status == "pending")
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        assert approvals.expire_due() == 1
        assert approvals.expire_due() == 0
    assert _approvals(app, cid) == [("v1.1", "superseded"), ("v1.2", "expired")]
    assert _releases(app, cid) == []
    with app.app_context():
        actions = db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions == ["approval.requested", "approval.superseded", "approval.requested", "approval.expired"]


def test_owners_only_approvals_and_double_approval(app, client, auth, make_user, gated):
    rid, cid, repo, pusher = gated
    with app.app_context():
        c = db.session.get(Component, cid)
        c.approvals_required, c.approvals_owners_only = 2, True
        db.session.commit()
    pusher.push(repo, "v1.3", Image(content="1.3"))
    _push(app, rid, repo, "v1.3")
    with app.app_context():
        approval_id = db.session.scalar(select(Approval.id).where(Approval.component_id == cid))
    auth.signed_in(email="member@example.com", admin=False, role="member")
    r = client.post(f"/approvals/{approval_id}/approve", follow_redirects=True)
    assert "Only the team&#39;s owners may approve" in r.get_data(as_text=True)
    auth.logout()
    auth.signed_in(email="owner@example.com", role="owner")
    client.post(f"/approvals/{approval_id}/approve")
    r = client.post(f"/approvals/{approval_id}/approve", follow_redirects=True)
    assert "You have already approved" in r.get_data(as_text=True)
    assert _approvals(app, cid) == [("v1.3", "pending")] and _releases(app, cid) == []


# --- audit and bad input --------------------------------------------------------------------------

def test_the_audit_trail_names_the_actor_and_holds_no_secret(app, client, auth, registries):
    auth.signed_in()
    r = client.post("/registries/new", data={"kind": "registry", "name": "audited", "url": registries.basic.url,
                                             "username": "alice", "password": PASSWORD})
    assert r.status_code == 302
    with app.app_context():
        registry = db.session.scalar(select(Registry).where(Registry.name == "audited"))
        rid, registry_token = registry.id, registry.webhook_token
    client.post(f"/registries/{rid}/webhook", data={"webhook_secret": "registry-hook-secret-91"})
    client.post(f"/registries/{rid}/webhook-token")
    r = client.post("/team/notifications/new", data={"name": "ops", "kind": "webhook", "url": "https://example.com/x",
                                                      "secret": SECRET, "events": ["release.running"],
                                                      "enabled": "y"})
    assert r.status_code == 302
    cid = create_component(app, rid, "team/demo", "v1", "audited-c", release=False)
    client.post(f"/components/{cid}/build-source", data={"auto_deploy": "y", "trigger_kind": "same_tag",
                                                         "webhook_secret": "component-hook-secret-55",
                                                         "approvals_required": "1", "approval_hours": "24"})
    with app.app_context():
        entries = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        component_token = db.session.get(Component, cid).webhook_token
        new_registry_token = db.session.get(Registry, rid).webhook_token
        dump = db.session.execute(text("SELECT actor, action, target, summary FROM audit_entries")).all()
    assert [(e.actor, e.action) for e in entries] == [
        ("owner@example.com", "registry.created"), ("owner@example.com", "registry.webhook_secret"),
        ("owner@example.com", "registry.webhook_token_regenerated"), ("owner@example.com", "channel.created"),
        ("owner@example.com", "component.build_source")]
    flat = " ".join(" ".join(map(str, row)) for row in dump)
    for secret in (PASSWORD, "registry-hook-secret-91", "component-hook-secret-55", SECRET, registry_token,
                   new_registry_token, component_token):
        assert secret not in flat


@pytest.mark.parametrize("data,field,message", [
    ({"url": "ftp://example.com/x"}, "url", "http:// or https://"),
    ({"url": "https://127.0.0.1:9/x"}, "url", "a private or local address"),
    ({"kind": "email", "email_to": "ops@example.com"}, "kind", "BERTH_SMTP_HOST"),
    ({"kind": "email", "email_to": "not an address"}, "email_to", "email addresses"),
    ({"events": []}, "events", "at least one event"),
    ({"name": ""}, "name", "name of 1 to 63"),
])
def test_bad_channel_input_is_a_field_error_and_saves_nothing(app, client, auth, data, field, message):
    app.config["BERTH_ALLOW_PRIVATE_REGISTRIES"] = False
    auth.signed_in()
    form = {"name": "ops", "kind": "webhook", "url": "https://example.com/hook", "events": ["release.running"],
            "enabled": "y", **data}
    r = client.post("/team/notifications/new", data=form)
    assert r.status_code == 422
    assert message in field_error(r.get_data(as_text=True), field)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(NotificationChannel)) == 0


@pytest.mark.parametrize("data,field", [
    ({"require_approval": "y", "approvals_required": "0"}, "approvals_required"),
    ({"require_approval": "y", "approvals_required": "1", "approval_hours": "0"}, "approval_hours"),
    ({"require_approval": "y", "approvals_required": "1", "approval_hours": "1000"}, "approval_hours"),
])
def test_bad_approval_settings_are_field_errors(app, client, auth, data, field):
    auth.signed_in()
    rid, _ = create_registry(app)
    cid = create_component(app, rid, "team/demo", "v1", "approval-bad", release=False)
    form = {"auto_deploy": "y", "trigger_kind": "same_tag", "approvals_required": "1", "approval_hours": "24", **data}
    r = client.post(f"/components/{cid}/build-source", data=form)
    assert r.status_code == 422 and field_error(r.get_data(as_text=True), field)
    with app.app_context():
        c = db.session.get(Component, cid)
        assert (c.approvals_required, c.approval_hours, c.auto_deploy) == (0, 24, False)
        assert db.session.scalar(select(func.count()).select_from(Team)) >= 1


class SmtpReceiver:
    """A minimal SMTP server (EHLO, MAIL, RCPT, DATA, QUIT) that keeps each message it is given."""

    def __init__(self):
        import socketserver

        self.messages: list[str] = []
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                self.wfile.write(b"220 test ESMTP\r\n")
                while line := self.rfile.readline():
                    verb = line[:4].upper()
                    if verb in (b"EHLO", b"HELO"):
                        self.wfile.write(b"250 test\r\n")
                    elif verb == b"DATA":
                        self.wfile.write(b"354 go ahead\r\n")
                        body = []
                        while (data := self.rfile.readline()) not in (b".\r\n", b""):
                            body.append(data.decode())
                        outer.messages.append("".join(body))
                        self.wfile.write(b"250 queued\r\n")
                    elif verb == b"QUIT":
                        self.wfile.write(b"221 bye\r\n")
                        return
                    else:
                        self.wfile.write(b"250 ok\r\n")

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_email_channel_sends_over_smtp(app, client, auth):
    smtp = SmtpReceiver()
    try:
        app.config.update(BERTH_SMTP_HOST="127.0.0.1", BERTH_SMTP_PORT=smtp.port, BERTH_SMTP_STARTTLS=False,
                          BERTH_SMTP_FROM="berth@example.com")
        auth.signed_in()
        r = client.post("/team/notifications/new", data={"name": "mail", "kind": "email",
                                                          "email_to": "ops@example.com, dev@example.com",
                                                          "events": ["release.failed"], "enabled": "y"})
        assert r.status_code == 302
        with app.app_context():
            channel_id = db.session.scalar(select(NotificationChannel.id))
        client.post(f"/team/notifications/{channel_id}/test")
        message = wait_for(lambda: _message(app, "sent"), 30)
        assert message.event == "test" and len(smtp.messages) == 1
        assert "Subject: [Berth] Test message from Berth, sent by owner@example.com" in smtp.messages[0]
        assert "To: ops@example.com, dev@example.com" in smtp.messages[0]
        page = client.get(f"/team/notifications/{channel_id}").get_data(as_text=True)
        assert ">sent<" in page
    finally:
        smtp.close()
