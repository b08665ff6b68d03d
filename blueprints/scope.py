"""The current team, and fetch helpers that answer 404 for anything outside it."""
from __future__ import annotations

from functools import wraps

from flask import abort, g, session
from flask_login import current_user

from blueprints.access import for_no_user
from models import MAX_ID, Role, User, db
from services.accounts import accounts


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
    return g.get("membership") is not None and g.membership.role == Role.OWNER


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


def get_team_object_or_404(model, object_id: int, options=()):
    """Load a team-scoped row by id (with the loader `options` given, e.g. the relationships a page
    shows, in the same statement); 404 unless it belongs to the current team."""
    if not isinstance(object_id, int) or not 0 < object_id <= MAX_ID:
        abort(404)
    obj = db.session.get(model, object_id, options=options)
    if obj is None or obj.team_id != current_team().id:
        abort(404)
    return obj


def get_user_or_404(user_id: int) -> User:
    """Load any user by id (for administrators' views, behind admin_required); 404 when absent."""
    if not isinstance(user_id, int) or not 0 < user_id <= MAX_ID:
        abort(404)
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    return user
