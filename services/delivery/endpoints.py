"""Webhook endpoints: the URL tokens and optional secrets of components and registries."""
from __future__ import annotations

import hmac
from dataclasses import dataclass

from sqlalchemy import bindparam, select

from models import Component, Registry, db, new_token
from services.errors import FieldErrors
from services.oversight import audit
from services.platform.crypto import secret_box


@dataclass(frozen=True)
class Endpoint:
    """A webhook URL's owner, read with one small query (this path takes every delivery)."""

    kind: str  # component / registry
    id: int
    team_id: int
    secret_encrypted: str | None


# Every delivery runs this: built once, as a plain Core statement (no ORM work per request).
_ENDPOINT_QUERIES = {
    kind: select(t.c.team_id, t.c.webhook_token, t.c.webhook_secret_encrypted).where(t.c.id == bindparam("id"))
    for kind, t in (("component", Component.__table__), ("registry", Registry.__table__))}


def find_endpoint(kind: str, object_id: int, token: str) -> Endpoint | None:
    """The component or registry whose webhook URL this is; None unless the token matches."""
    row = db.session.execute(_ENDPOINT_QUERIES[kind], {"id": object_id}).first()
    # Compare even when the object does not exist, so timing says nothing about ids.
    expected = row.webhook_token if row is not None else new_token()
    if not hmac.compare_digest(expected.encode(), (token or "").encode()) or row is None:
        return None
    return Endpoint(kind, object_id, row.team_id, row.webhook_secret_encrypted)


def webhook_secret(encrypted: str | None) -> str | None:
    return secret_box().decrypt(encrypted) if encrypted else None


def _label(obj: Component | Registry) -> str:
    return f"{'registry' if isinstance(obj, Registry) else 'component'} {obj.name}"


def set_webhook_secret(obj: Component | Registry, secret: str, clear: bool, by: str | None = None) -> None:
    """Set (encrypted), keep (empty) or clear the secret deliveries must carry; recorded when `by`
    is given (a component's build-source save records it with the rest)."""
    if len(secret) > 512:
        raise FieldErrors({"webhook_secret": "A secret has at most 512 characters."})
    if clear:
        obj.webhook_secret_encrypted = None
    elif secret:
        obj.webhook_secret_encrypted = secret_box().encrypt(secret)
    if by is not None:
        audit.record(obj.team_id, by, f"{_label(obj).split()[0]}.webhook_secret", _label(obj),
                     "secret removed" if clear else "secret set" if secret else "unchanged")
    db.session.flush()


def regenerate_token(obj: Component | Registry, by: str) -> None:
    obj.webhook_token = new_token()
    audit.record(obj.team_id, by, f"{_label(obj).split()[0]}.webhook_token_regenerated", _label(obj))
    db.session.flush()


