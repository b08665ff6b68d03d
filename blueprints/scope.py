"""The current team, and fetch helpers that answer 404 for anything outside it."""
from __future__ import annotations

from functools import wraps
from urllib.parse import urlsplit

from flask import abort, current_app, g, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_login import current_user

from models import Role, db
from services import accounts


def for_no_user() -> bool:
    """Static files and webhooks: requests that act for no signed-in user (a webhook's URL token is
    its credential), so neither login nor the current team applies."""
    view = current_app.view_functions.get(request.endpoint or "")
    return request.endpoint == "static" or getattr(view, "berth_webhook", False)


def sessionless(app, path: str) -> bool:
    """Webhooks and static files: no session cookie is read for them, and none is set. Decided by
    path because the session opens before the URL is matched; a view under these paths would
    find no signed-in user (a webhook's URL token is its credential)."""
    return path.startswith(app.extensions["berth_sessionless_paths"])


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie session, not opened for `sessionless` paths (it is a null session there)."""

    def open_session(self, app, request):
        return None if sessionless(app, request.path) else super().open_session(app, request)


def load_current_team() -> None:
    """Pick the signed-in user's current team from the session (or their first team)."""
    g.team = None
    g.membership = None
    if for_no_user() or not current_user.is_authenticated:
        return
    team_id = session.get("team_id")
    m = accounts.working_membership(current_user, team_id)
    if m is not None:
        g.team, g.membership = m.team, m
        if team_id != m.team_id:  # writing the session re-signs and re-sends the cookie
            session["team_id"] = m.team_id


def current_team():
    """The team the request acts in; 404 when the user has none."""
    if g.get("team") is None:
        abort(404)
    return g.team


def is_owner() -> bool:
    return g.get("membership") is not None and g.membership.role == Role.OWNER.value


def owner_required(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        if not is_owner():
            abort(404)
        return view(*args, **kwargs)
    return wrapped


def admin_required(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        if not (current_user.is_authenticated and current_user.is_admin):
            abort(404)
        return view(*args, **kwargs)
    return wrapped


def get_team_object_or_404(model, object_id: int):
    """Load a team-scoped row by id; 404 unless it belongs to the current team."""
    obj = db.session.get(model, object_id)
    if obj is None or obj.team_id != current_team().id:
        abort(404)
    return obj


def safe_next(default: str) -> str:
    """A `next` target only when it is a local path (no scheme, no host)."""
    target = request.values.get("next", "")
    parts = urlsplit(target)
    if target.startswith("/") and not target.startswith("//") and not parts.scheme \
            and not parts.netloc and "\\" not in target:
        return target
    return default


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"
