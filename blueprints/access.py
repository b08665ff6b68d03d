"""Who may reach a view, decided in one place.

Every view needs a signed-in user unless it is marked:
- `@public`: reachable without signing in (login, setup); before the first user exists, every
  other page sends to /setup;
- `@open_endpoint`: also reachable before setup (health, readiness, metrics);
- `@webhook`: acts for no user at all: no session cookie is read or set, no CSRF token, no
  current team; the secret token in its URL is the credential;
- `@api_endpoint`: the same for the JSON API under /api/: its bearer token is the credential, and
  the token's team is the current team (blueprints.api.core). Webhooks live under the hooks
  blueprint's prefix, and that prefix (with static files) is what `sessionless` decides by, since
  the session opens before the URL is matched."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, current_app, redirect, request, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_login import current_user

from extensions import csrf
from services.accounts import accounts
from services.platform import runtime

PUBLIC, OPEN, WEBHOOK, API = "public", "open", "webhook", "api"
API_PREFIX = "/api/"


def public(view):
    """Reachable without signing in."""
    view.berth_access = PUBLIC
    return view


def open_endpoint(view):
    """Reachable without signing in, even before Berth is set up (probes and scrapers)."""
    view.berth_access = OPEN
    return view


def webhook(view):
    """Reachable without a session or CSRF token: the URL's secret token is the credential."""
    view.berth_access = WEBHOOK
    return csrf.exempt(view)


def api_endpoint(view):
    """Reachable without a session or CSRF token: the request's bearer token is the credential."""
    view.berth_access = API
    return csrf.exempt(view)


def access_of(view) -> str | None:
    """PUBLIC, OPEN, WEBHOOK, API, or None for views that need a signed-in user."""
    return getattr(view, "berth_access", None)


def for_no_user() -> bool:
    """Static files and webhooks: requests that act for no signed-in user, so neither login nor the
    current team applies."""
    view = current_app.view_functions.get(request.endpoint or "")
    return request.endpoint == "static" or access_of(view) in (WEBHOOK, API) or request.path.startswith(API_PREFIX)


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie session, not opened under `prefixes` (a null session there)."""

    def __init__(self, prefixes: tuple[str, ...]):
        self.prefixes = prefixes

    def open_session(self, app, request):
        return None if request.path.startswith(self.prefixes) else super().open_session(app, request)


def sessionless(app: Flask, path: str) -> bool:
    """Webhooks, the API and static files: no session cookie is read for them, and none is set."""
    return isinstance(app.session_interface, CookieSessions) and path.startswith(app.session_interface.prefixes)


def require_sign_in():
    """Before every request: send to /setup until a first user exists, then to login unless the
    view is marked as reachable without one."""
    if request.endpoint is None or for_no_user():
        return None
    level = access_of(current_app.view_functions.get(request.endpoint))
    if level == OPEN:
        return None
    state = runtime.of()
    if not state.set_up:
        if not accounts.has_users():
            return None if request.endpoint == "auth.setup" else redirect(url_for("auth.setup"))
        state.set_up = True
    if level == PUBLIC or current_user.is_authenticated:
        return None
    return current_app.login_manager.unauthorized()


def init_app(app: Flask, webhook_prefix: str) -> None:
    app.session_interface = CookieSessions((webhook_prefix + "/", app.static_url_path + "/", API_PREFIX))
    app.before_request(require_sign_in)


def safe_next(default: str) -> str:
    """A `next` target only when it is a local path (no scheme, no host): never an open redirect."""
    target = request.values.get("next", "")
    parts = urlsplit(target)
    if target.startswith("/") and not target.startswith("//") and not parts.scheme \
            and not parts.netloc and "\\" not in target:
        return target
    return default
