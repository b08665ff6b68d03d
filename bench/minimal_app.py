"""The yardstick for Berth's per-request overhead: a minimal Flask + Flask-Login app doing the same
user lookup (Berth's one query for the user with their memberships and teams), served by gunicorn
with the same worker settings. `gunicorn bench.minimal_app:app`; BERTH_DATABASE_URL and
BERTH_SECRET_KEY as for Berth. With BENCH_TAGS_URL (and BENCH_TAGS_USER, BENCH_TAGS_PASSWORD),
GET /tags is the floor of a signed-in Refresh: the same sign-in check, then one tags/list fetch
(Basic auth, a kept-alive connection) parsed, and nothing else."""
from __future__ import annotations

import os

import requests
from flask import Flask, abort, jsonify, request
from flask_login import LoginManager, current_user, login_required, login_user

from models import User, db
from services.accounts import accounts

app = Flask(__name__)
app.config.update(SECRET_KEY=os.environ["BERTH_SECRET_KEY"], SQLALCHEMY_DATABASE_URI=os.environ["BERTH_DATABASE_URL"])
db.init_app(app)
login = LoginManager(app)


@login.user_loader
def load_user(session_id: str):
    return accounts.load_user(session_id)


@app.post("/login")
def sign_in():
    user = db.session.scalar(db.select(User).where(User.email == request.form["email"]))
    if user is None:
        abort(403)
    login_user(user)
    return "", 204


@app.get("/whoami")
@login_required
def whoami():
    return jsonify(email=current_user.email)


registry = requests.Session()
registry.auth = (os.environ.get("BENCH_TAGS_USER", ""), os.environ.get("BENCH_TAGS_PASSWORD", ""))


@app.get("/tags")
@login_required
def tags():
    names = registry.get(os.environ["BENCH_TAGS_URL"], timeout=30).json()["tags"]
    return f"{len(names)} tags"


@app.teardown_appcontext
def close(exc):
    db.session.remove()
