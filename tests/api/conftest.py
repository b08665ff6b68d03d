"""The API tests' setup: tokens made through the service (as the Tokens page makes them), and a
client that sends them."""
from __future__ import annotations

import pytest

from models import Membership, User, db
from services.accounts import accounts
from services.api import tokens


class Api:
    def __init__(self, app, client, make_user):
        self.app, self.client, self.make_user = app, client, make_user

    def token(self, scopes=("read",), email: str = "owner@example.com", team: str = "alpha", role: str | None = None,
              days: int = 30, kind: str = "personal") -> str:
        """A token of `email` (made, in `team`, when missing) with these scopes."""
        with self.app.app_context():
            user = db.session.scalar(db.select(User).where(User.email == email))
            if user is None:
                self.make_user(email=email, team=team, role=role)
                user = db.session.scalar(db.select(User).where(User.email == email))
            t = accounts.get_or_create_team(team)
            membership = db.session.scalar(db.select(Membership).where(Membership.user_id == user.id,
                                                                       Membership.team_id == t.id))
            _row, secret = tokens.create(t, user, membership, f"t-{len(scopes)}-{days}", list(scopes), days, kind)
            db.session.commit()
            return secret

    def call(self, method: str, path: str, token: str | None, **kw):
        headers = dict(kw.pop("headers", {}))
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.client.open("/api/v1" + path, method=method, headers=headers, **kw)


@pytest.fixture
def api(app, client, make_user):
    client.get("/healthz")  # the app's background workers started (they run the releases)
    return Api(app, client, make_user)
