"""Telling a team what Berth did: notification channels (a signed generic webhook, a Slack-compatible
incoming webhook, email over SMTP) and the messages sent to them.

A message is stored first (in the same unit of work as what it reports, so it exists exactly when
that did), then sent by the background runner of whichever process claims it: the claim is a
compare-and-set on the row, so one process sends each try, on SQLite and PostgreSQL alike. A try
that fails is retried with exponential backoff, at most MAX_TRIES times, across restarts."""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import smtplib
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from urllib.parse import urlsplit

import requests
from flask import current_app
from sqlalchemy import select, update

from models import Notification, NotificationChannel, NotificationStatus, Team, db, utcnow
from services.errors import FieldErrors
from services.oversight import audit
from services.platform.crypto import secret_box
from services.platform.jobs import after_commit, unit_of_work
from services.registries.clients.errors import RegistryError
from services.registries.clients.http import HttpSettings, check_address, guarded_request

log = logging.getLogger("berth.notifications")
SENDER_ID = f"{socket.gethostname()}:{os.getpid()}"
MAX_TRIES = 5
TIMEOUT = 10
MAX_ANSWER = 64 * 1024

EVENTS = {
    "release.started": "Release started",
    "release.running": "Release running",
    "release.failed": "Release failed",
    "release.rollback": "Rollback (by a person or automatic)",
    "autodeploy.ignored": "Auto-deploy ignored a push (noisy; off by default)",
    "autodeploy.refused": "The trust policy refused a pushed image",
    "approval.requested": "Approval requested",
    "approval.granted": "Approval granted",
    "approval.rejected": "Approval rejected",
    "approval.expired": "Approval expired",
    "registry.poll_failing": "Registry poll failing",
    "promotion.requested": "Promotion requested",
    "promotion.approved": "Promotion approved",
    "promotion.done": "Promotion done",
    "promotion.failed": "Promotion failed, rejected or expired",
}
DEFAULT_EVENTS = [e for e in EVENTS if e != "autodeploy.ignored"]
KINDS = {"webhook": "Generic webhook (signed JSON)", "slack": "Slack-compatible incoming webhook "
         "(Slack, Mattermost, Discord's /slack endpoint)", "email": "Email (SMTP)"}


@dataclass
class ChannelInput:
    name: str
    kind: str
    url: str
    email_to: str
    secret: str  # empty keeps the stored one
    events: list[str]
    enabled: bool = True


def _check(team: Team, data: ChannelInput, existing: NotificationChannel | None) -> dict[str, str]:
    problems = {}
    name = data.name.strip()
    if not name or len(name) > 63:
        problems["name"] = "Give the channel a name of 1 to 63 characters."
    else:
        clash = db.session.scalar(select(NotificationChannel).where(NotificationChannel.team_id == team.id,
                                                                    NotificationChannel.name == name))
        if clash is not None and clash is not existing:
            problems["name"] = "This team already has a channel with this name."
    if data.kind not in KINDS:
        problems["kind"] = "Choose a kind of channel."
    elif data.kind in ("webhook", "slack"):
        problem = check_url(data.url)
        if problem:
            problems["url"] = problem
    else:
        addresses = [a.strip() for a in data.email_to.split(",") if a.strip()]
        if not addresses or len(data.email_to) > 500 or any("@" not in a or " " in a for a in addresses):
            problems["email_to"] = "Enter one or more email addresses, separated by commas."
        elif not smtp_settings():
            problems["kind"] = "Email is off: set BERTH_SMTP_HOST (and BERTH_SMTP_FROM) to send mail."
    unknown = [e for e in data.events if e not in EVENTS]
    if unknown or not data.events:
        problems["events"] = "Choose at least one event."
    if len(data.secret) > 256:
        problems["secret"] = "A secret has at most 256 characters."
    return problems


def check_url(url: str) -> str | None:
    """Why this URL cannot receive notifications (scheme, shape, the private-address policy), or None."""
    url = (url or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 500:
        return "Enter an http:// or https:// URL of at most 500 characters."
    try:
        check_address(url, _http_settings())
    except RegistryError as e:
        return e.message
    return None


def _http_settings() -> HttpSettings:
    return HttpSettings(timeout=TIMEOUT, allow_private=current_app.config["BERTH_ALLOW_PRIVATE_REGISTRIES"])


def save_channel(team: Team, data: ChannelInput, existing: NotificationChannel | None = None, *,
                 by: str) -> NotificationChannel:
    problems = _check(team, data, existing)
    if problems:
        raise FieldErrors(problems)
    channel = existing or NotificationChannel(team_id=team.id)
    channel.name, channel.kind = data.name.strip(), data.kind
    channel.url = data.url.strip() if data.kind != "email" else None
    channel.email_to = data.email_to.strip() if data.kind == "email" else None
    channel.events, channel.enabled = [e for e in EVENTS if e in data.events], data.enabled
    if data.secret:
        channel.secret_encrypted = secret_box().encrypt(data.secret)
    if existing is None:
        db.session.add(channel)
    audit.record(team.id, by, "channel.saved" if existing else "channel.created", f"channel {channel.name}",
                 f"{channel.kind}; events: {', '.join(channel.events)}")
    db.session.flush()
    return channel


def notify(team_id: int, event: str, subject: str, fields: dict, link: str | None = None) -> int:
    """Store one message per enabled channel of the team that wants this event; sent after commit."""
    wanted = channels_wanting(team_id, event)
    for channel in wanted:
        db.session.add(_message(channel, event, subject, fields, link))
    if wanted:
        after_commit(_kick)
    return len(wanted)


def channels_wanting(team_id: int, event: str) -> list[NotificationChannel]:
    """The team's enabled channels that want this event (callers announcing many things at once ask
    once, and skip building messages nobody wants)."""
    channels = db.session.scalars(select(NotificationChannel).where(
        NotificationChannel.team_id == team_id, NotificationChannel.enabled.is_(True))).all()
    return [c for c in channels if event in (c.events or [])]


def _message(channel: NotificationChannel, event: str, subject: str, fields: dict, link: str | None) -> Notification:
    uid = str(uuid.uuid4())
    payload = {"id": uid, "event": event, "subject": subject, "at": utcnow().isoformat(timespec="seconds") + "Z",
               "link": link, **fields}
    return Notification(team_id=channel.team_id, channel_id=channel.id, uid=uid, event=event, payload=payload,
                        status=NotificationStatus.PENDING, next_attempt_at=utcnow())


def send_test(channel: NotificationChannel, by: str) -> Notification:
    message = _message(channel, "test", f"Test message from Berth, sent by {by}", {}, None)
    db.session.add(message)
    audit.record(channel.team_id, by, "channel.tested", f"channel {channel.name}")
    after_commit(_kick)
    return message


def _kick() -> None:
    from services.platform import runtime  # noqa: PLC0415 - the runtime imports the workers, which import us

    kick = runtime.of().notify_kick
    if kick:
        kick()


def external_link(endpoint: str, **values) -> str:
    """The address of a Berth page as people reach it (BERTH_EXTERNAL_URL), from the route's name,
    built outside any request (background workers send notifications)."""
    path = current_app.url_map.bind("berth.invalid").build(endpoint, values)
    return current_app.config["BERTH_EXTERNAL_URL"].rstrip("/") + path


# --- sending -------------------------------------------------------------------------------------

def due_ids(limit: int = 50) -> list[int]:
    now = utcnow()
    return list(db.session.scalars(select(Notification.id).where(
        Notification.status == NotificationStatus.PENDING, Notification.next_attempt_at <= now)
        .order_by(Notification.id).limit(limit)))


def claim(message_id: int) -> bool:
    """Take one due message for this process: only one process anywhere wins it."""
    with unit_of_work():
        result = db.session.execute(update(Notification).where(
            Notification.id == message_id, Notification.status == NotificationStatus.PENDING,
            Notification.next_attempt_at <= utcnow())
            .values(status=NotificationStatus.SENDING, claimed_by=SENDER_ID, claimed_at=utcnow()))
    return result.rowcount == 1


def recover_stale(stale_after: float) -> int:
    """A message whose sender died mid-try goes back to pending (it may then arrive twice; receivers
    can tell by its id)."""
    cutoff = utcnow() - timedelta(seconds=stale_after)
    with unit_of_work():
        result = db.session.execute(update(Notification).where(
            Notification.status == NotificationStatus.SENDING, Notification.claimed_at < cutoff)
            .values(status=NotificationStatus.PENDING, claimed_by=None))
    return result.rowcount


def backoff(attempts: int) -> float:
    """Seconds before try number attempts+1: base, 2×base, 4×base… (30 s base: 5 tries in ~7.5 min)."""
    return current_app.config["BERTH_NOTIFY_BACKOFF"] * 2 ** (attempts - 1)


def send_due(limit: int = 50) -> int:
    """Send every message that is due (called by the background runner); returns how many it tried."""
    tried = 0
    for message_id in due_ids(limit):
        if claim(message_id):
            deliver(message_id)
            tried += 1
    return tried


def deliver(message_id: int) -> None:
    """One try of one claimed message; its outcome recorded, a retry scheduled when it failed."""
    with unit_of_work():
        message = db.session.get(Notification, message_id)
        channel = message.channel
        secret = secret_box().decrypt(channel.secret_encrypted) if channel.secret_encrypted else None
        kind, url, email_to = channel.kind, channel.url, channel.email_to
        event, uid, payload = message.event, message.uid, dict(message.payload)
    started = time.monotonic()
    status_code, error = None, None
    try:
        if kind == "email":
            _send_mail(email_to, payload)
        else:
            status_code = _post(url, kind, event, uid, payload, secret)
            if not 200 <= status_code < 300:
                error = f"The receiver answered HTTP {status_code}."
    except RegistryError as e:
        error = e.message
    except (OSError, requests.RequestException, smtplib.SMTPException) as e:
        error = f"{type(e).__name__}: {str(e)[:300]}"
    latency = int((time.monotonic() - started) * 1000)
    with unit_of_work():
        message = db.session.get(Notification, message_id)
        message.attempts += 1
        message.last_status_code, message.last_latency_ms, message.last_error = status_code, latency, error
        message.claimed_by = None
        if error is None:
            message.status, message.sent_at = NotificationStatus.SENT, utcnow()
        elif message.attempts >= MAX_TRIES:
            message.status = NotificationStatus.FAILED
        else:
            message.status = NotificationStatus.PENDING
            message.next_attempt_at = utcnow() + timedelta(seconds=backoff(message.attempts))
    log.info("notification %s (%s) try %s: %s", uid, event, message.attempts, error or "sent")


def _post(url: str, kind: str, event: str, uid: str, payload: dict, secret: str | None) -> int:
    """The one way Berth calls a receiver: the address policy, a timeout, no redirects, a capped read."""
    body = json.dumps(slack_body(payload) if kind == "slack" else payload, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "Berth/1.0", "X-Berth-Event": event,
               "X-Berth-Delivery": uid}
    if secret:
        headers["X-Berth-Signature-256"] = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    with guarded_request("POST", url, _http_settings(), data=body, headers=headers, timeout=TIMEOUT,
                         allow_redirects=False, stream=True) as answer:
        answer.raw.read(MAX_ANSWER, decode_content=False)
        return answer.status_code


def slack_body(payload: dict) -> dict:
    """A Slack-compatible message (Mattermost and Discord's /slack endpoint take the same)."""
    facts = [f"*{k.replace('_', ' ').capitalize()}:* {v}" for k, v in payload.items()
             if k in ("component", "tag", "digest", "outcome", "reason", "release") and v]
    text = payload["subject"] + (f" — <{payload['link']}|open in Berth>" if payload.get("link") else "")
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    if facts:
        blocks.append({"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in facts[:10]]})
    return {"text": text, "blocks": blocks}


def smtp_settings() -> dict | None:
    cfg = current_app.config
    if not cfg["BERTH_SMTP_HOST"]:
        return None
    return {"host": cfg["BERTH_SMTP_HOST"], "port": cfg["BERTH_SMTP_PORT"],
            "user": cfg["BERTH_SMTP_USER"], "password": cfg["BERTH_SMTP_PASSWORD"],
            "sender": cfg["BERTH_SMTP_FROM"] or "berth@localhost", "starttls": cfg["BERTH_SMTP_STARTTLS"]}


def _send_mail(to: str, payload: dict) -> None:
    smtp = smtp_settings()
    if smtp is None:
        raise OSError("Email is off (BERTH_SMTP_HOST is not set).")
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = smtp["sender"], to, f"[Berth] {payload['subject']}"
    lines = [f"{k}: {v}" for k, v in payload.items() if k not in ("subject",) and v]
    mail.set_content(payload["subject"] + "\n\n" + "\n".join(lines))
    with smtplib.SMTP(smtp["host"], smtp["port"], timeout=TIMEOUT) as client:
        if smtp["starttls"]:
            client.starttls()
        if smtp["user"]:
            client.login(smtp["user"], smtp["password"] or "")
        client.send_message(mail)


def recent(channel: NotificationChannel, limit: int = 50) -> list[Notification]:
    return list(db.session.scalars(select(Notification).where(Notification.channel_id == channel.id)
                                   .order_by(Notification.id.desc()).limit(limit)))


def channels_of(team_id: int) -> list[NotificationChannel]:
    """The team's notification channels by name."""
    return list(db.session.scalars(select(NotificationChannel).where(NotificationChannel.team_id == team_id)
                                   .order_by(NotificationChannel.name)))


def delete_channel(channel: NotificationChannel, by: str) -> None:
    """Remove a channel (its stored messages go with it)."""
    audit.record(channel.team_id, by, "channel.deleted", f"channel {channel.name}")
    db.session.delete(channel)
