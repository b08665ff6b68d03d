"""API tokens: made (shown once), listed, revoked, and turned back into who acts.

A token is `berth_` and 43 URL-safe random characters (256 bits); only its SHA-256 is stored and a
presented token is found by that hash and compared in constant time. A token acts in its team as
its user (a team service token: as the owner who made it) with that user's role *now*: a member's
token never approves where owners must, and a token of someone who left the team, or was
deactivated, no longer works."""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update

from models import ApiToken, Membership, Role, Team, User, db, utcnow
from services.errors import FieldErrors, ServiceError
from services.oversight import audit

SCOPES = ("read", "deploy", "approve", "admin")
SCOPE_TEXT = {"read": "read everything of the team", "deploy": "deploy, roll back, start, stop, scale and edit",
              "approve": "approve and reject", "admin": "create components"}
PREFIX = "berth_"
MAX_DAYS = 366
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,62}$")
LAST_USE_EVERY = timedelta(minutes=1)  # last use is written at most this often per token


def digest_of(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class Caller:
    """Who an API request acts as: the token, its user, the team and the user's role there now."""
    token: ApiToken
    user: User
    membership: Membership

    @property
    def team(self) -> Team:
        return self.membership.team

    @property
    def is_owner(self) -> bool:
        return self.membership.role == Role.OWNER

    @property
    def actor(self) -> str:
        """How the audit trail names what the token did."""
        kind = "service token" if self.token.kind == "service" else "token"
        return f"{self.user.email} ({kind} {self.token.name})"


def create(team: Team, user: User, membership: Membership, name: str, scopes: list[str], days: int | None,
           kind: str = "personal") -> tuple[ApiToken, str]:
    """A new token: (its row, the token itself, which is never shown again)."""
    name = (name or "").strip()
    errors = {}
    if not NAME.match(name):
        errors["name"] = "Use 1 to 63 letters, digits, spaces, dots, dashes or underscores."
    chosen = [s for s in SCOPES if s in set(scopes or [])]
    if not chosen or len(chosen) != len(set(scopes or [])):
        errors["scopes"] = f"Choose one or more of {', '.join(SCOPES)}."
    if days is None or not 1 <= days <= MAX_DAYS:
        errors["days"] = f"A token expires after 1 to {MAX_DAYS} days."
    if kind not in ("personal", "service"):
        errors["kind"] = "A personal token or a team service token."
    elif kind == "service" and membership.role != Role.OWNER:
        errors["kind"] = "Only the team's owners make service tokens."
    if errors:
        raise FieldErrors(errors)
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(team_id=team.id, user_id=user.id, kind=kind, name=name, scopes=chosen,
                     token_hash=digest_of(secret), prefix=secret[:12], expires_at=utcnow() + timedelta(days=days))
    db.session.add(token)
    db.session.flush()
    audit.record(team.id, user.email, "api.token_created", f"{kind} token {name}",
                 f"scopes {', '.join(chosen)}; expires {token.expires_at:%Y-%m-%d}")
    return token, secret


def visible(team: Team, user: User, is_owner: bool) -> list[ApiToken]:
    """The tokens a person sees: their own, and an owner also the team's service tokens."""
    query = select(ApiToken).where(ApiToken.team_id == team.id)
    query = query.where((ApiToken.user_id == user.id) | (ApiToken.kind == "service")) if is_owner else \
        query.where(ApiToken.user_id == user.id, ApiToken.kind == "personal")
    return list(db.session.scalars(query.order_by(ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc())))


def revoke(token: ApiToken, by: str) -> None:
    if token.revoked_at is not None:
        raise ServiceError(f"Token {token.name} is revoked already.")
    token.revoked_at = utcnow()
    audit.record(token.team_id, by, "api.token_revoked", f"{token.kind} token {token.name}")


def caller(presented: str) -> Caller | None:
    """Who the presented token acts as, or None (unknown, revoked, expired, its user gone)."""
    if not presented.startswith(PREFIX) or len(presented) > 100:
        return None
    wanted = digest_of(presented)
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == wanted))
    if token is None or not hmac.compare_digest(token.token_hash, wanted):
        return None
    now = utcnow()
    if token.revoked_at is not None or token.expires_at <= now or not token.user.active:
        return None
    membership = db.session.scalar(select(Membership).where(Membership.user_id == token.user_id,
                                                            Membership.team_id == token.team_id))
    if membership is None or (token.kind == "service" and membership.role != Role.OWNER):
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USE_EVERY:
        db.session.execute(update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now)
                           .execution_options(synchronize_session=False))
    return Caller(token, token.user, membership)
