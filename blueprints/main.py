"""Dashboard and health endpoints."""
from __future__ import annotations

import hmac

from flask import Blueprint, Response, abort, current_app, g, jsonify, render_template, request
from flask_login import current_user

from blueprints.access import open_endpoint
from services.components import listing
from services.platform import health, runtime
from services.platform import metrics as berth_metrics

bp = Blueprint("main", __name__)


@bp.route("/")
def index():
    """Counts by state, the last releases, what failed: a fixed number of statements at any size."""
    team = g.get("team")
    return render_template("index.html", board=listing.dashboard(team.id) if team is not None else None)


@bp.route("/whoami")
def whoami():
    """The signed-in user and their current team (for scripts checking a session)."""
    team = g.get("team")
    return jsonify(email=current_user.email, team=team.name if team is not None else None)


@bp.route("/healthz")
@open_endpoint
def healthz():
    ok, detail = health.database_ok()
    leadership = runtime.of().leadership
    return jsonify(status="ok" if ok else "unavailable", database=detail,
                   poller=bool(leadership and leadership.held)), 200 if ok else 503


@bp.route("/readyz")
@open_endpoint
def readyz():
    return healthz()


@bp.route("/metrics")
@open_endpoint
def metrics():
    """Prometheus text format, for a scraper holding BERTH_METRICS_TOKEN (open outside production
    when no token is set)."""
    token = current_app.config["BERTH_METRICS_TOKEN"]
    if token is None and current_app.config["BERTH_ENV"] == "production":
        abort(404)
    if token is not None:
        sent = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(sent.encode(), token.encode()):
            return Response("A Bearer token (BERTH_METRICS_TOKEN) is required.\n", 401,
                            {"WWW-Authenticate": 'Bearer realm="berth-metrics"'}, content_type="text/plain")
    body, content_type = berth_metrics.render()
    return Response(body, content_type=content_type)
