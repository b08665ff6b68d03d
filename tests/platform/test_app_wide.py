"""App-wide promises: health, errors, CSRF, config."""
from __future__ import annotations

import pytest
from flask import session
from flask.sessions import NullSession

import config as berth_config


def test_healthz_reports_database(client):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json == {"status": "ok", "database": "ok", "poller": False}


def test_healthz_503_when_database_unreachable(tmp_path):
    from app import create_app

    app = create_app({"TESTING": True, "BERTH_DEPLOYER": "none", "BERTH_SCHEDULER": False,
                      "SQLALCHEMY_DATABASE_URI":
                          "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=1"})
    try:
        r = app.test_client().get("/healthz")
        assert r.status_code == 503 and r.json["status"] == "unavailable"
    finally:
        app.extensions["berth"].shutdown()


def test_404_page_has_no_stack_trace(client, auth):
    auth.signed_in()
    r = client.get("/no/such/page")
    assert r.status_code == 404 and "Traceback" not in r.get_data(as_text=True)


def test_webhooks_and_static_files_neither_read_nor_set_the_session(app, auth, client):
    from blueprints.access import API, WEBHOOK, access_of, sessionless

    auth.signed_in()  # the client now holds a session cookie
    rid, token = _registry_hook(app)
    r = client.post(f"/hooks/registries/{rid}/{token}", json={"repository": "team/demo", "tag": "v1"})
    assert r.status_code == 202 and "Set-Cookie" not in r.headers
    r = client.get("/static/berth.css")
    assert r.status_code == 200 and "Set-Cookie" not in r.headers
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    for path, opened in (("/hooks/registries/1/x", False), ("/static/berth.css", False), ("/api/v1/components", False),
                         ("/", True)):
        with app.test_request_context(path, headers={"Cookie": f"{cookie.key}={cookie.value}"}):
            assert isinstance(session._get_current_object(), NullSession) is not opened, path
            assert ("_user_id" in session) is opened, path
    # The paths decided before routing hold only views that act for no user.
    for rule in app.url_map.iter_rules():
        if sessionless(app, rule.rule):
            view = app.view_functions[rule.endpoint]
            assert rule.endpoint == "static" or access_of(view) in (WEBHOOK, API), rule.rule


@pytest.mark.parametrize("method,path,status", [
    ("POST", "/hooks/no/such/hook", 404),
    ("GET", "/hooks/registries/1/some-token", 405),
    ("GET", "/static/no-such-file.js", 404),
])
def test_errors_on_sessionless_paths_are_json(client, method, path, status):
    r = client.open(path, method=method)
    assert r.status_code == status and r.is_json and r.json["error"]


def _registry_hook(app):
    from models import Registry, db
    from services.accounts import accounts

    with app.app_context():
        reg = Registry(team=accounts.get_or_create_team("alpha"), kind="registry", name="hook", url="http://x")
        db.session.add(reg)
        db.session.commit()
        return reg.id, reg.webhook_token


def test_500_page_has_no_stack_trace(app, auth, client):
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.route("/boom")
    def boom():
        raise RuntimeError("secret internals")

    auth.signed_in()
    r = client.get("/boom")
    html = r.get_data(as_text=True)
    assert r.status_code == 500 and "secret internals" not in html and "Traceback" not in html


@pytest.mark.parametrize("app_config", [{"WTF_CSRF_ENABLED": True}])
def test_post_without_csrf_token_is_rejected(client, make_user, app_config):
    make_user(email="owner@example.com")
    r = client.post("/login", data={"email": "owner@example.com", "password": "correct horse"})
    assert r.status_code == 400
    assert "security token" in r.get_data(as_text=True)
    # With the token from the form it works.
    html = client.get("/login").get_data(as_text=True)
    token = html.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    r = client.post("/login", data={"email": "owner@example.com", "password": "correct horse",
                                    "csrf_token": token})
    assert r.status_code == 302
    # HTMX requests send it as a header; without it, a state change is refused.
    assert client.post("/team/new", data={"name": "beta"}).status_code == 400
    page = client.get("/").get_data(as_text=True)
    assert 'hx-headers=\'{"X-CSRFToken": "' in page
    header_token = page.split('"X-CSRFToken": "')[1].split('"')[0]
    r = client.post("/team/new", data={"name": "beta"}, headers={"X-CSRFToken": header_token})
    assert r.status_code == 302


def test_production_refuses_to_start_without_secret_key():
    with pytest.raises(berth_config.ConfigError, match="BERTH_SECRET_KEY"):
        berth_config.load({"BERTH_ENV": "production", "BERTH_DATABASE_URL": "sqlite://"})
    cfg = berth_config.load({"BERTH_ENV": "production", "BERTH_SECRET_KEY": "k" * 40,
                             "BERTH_DATABASE_URL": "sqlite://"})
    assert cfg["SECRET_KEY"] == "k" * 40


def test_bad_numeric_setting_is_reported():
    with pytest.raises(berth_config.ConfigError, match="BERTH_POLL_INTERVAL"):
        berth_config.load({"BERTH_SECRET_KEY": "x", "BERTH_POLL_INTERVAL": "soon"})


def test_password_hashes_default_to_werkzeugs_scrypt_cost_and_refuse_a_weak_one():
    assert berth_config.load({"BERTH_SECRET_KEY": "x"})["BERTH_PASSWORD_HASH"] == "scrypt:32768:8:1"
    for weak in ("scrypt:512:8:1", "scrypt:3000:8:1", "pbkdf2:sha256:1", "md5"):
        with pytest.raises(berth_config.ConfigError, match="BERTH_PASSWORD_HASH"):
            berth_config.load({"BERTH_SECRET_KEY": "x", "BERTH_PASSWORD_HASH": weak})


def test_the_namespace_prefix_is_checked_and_names_team_namespaces(app):
    for bad in ("", "-berth", "Berth-", "x" * 24, "berth_"):
        with pytest.raises(berth_config.ConfigError, match="BERTH_KUBERNETES_NAMESPACE_PREFIX"):
            berth_config.load({"BERTH_SECRET_KEY": "x", "BERTH_KUBERNETES_NAMESPACE_PREFIX": bad})
    from models import Team
    from services.registries import images

    with app.app_context():
        assert images.namespace_for(Team(name="shop")) == "berth-shop"
        app.config["BERTH_KUBERNETES_NAMESPACE_PREFIX"] = "prod-"
        assert images.namespace_for(Team(name="shop")) == "prod-shop"


def test_security_headers_on_every_kind_of_response(client, auth, app):
    auth.signed_in()
    for path in ("/", "/registries/", "/components/", "/static/berth.css", "/healthz", "/no-such-page"):
        r = client.get(path)
        csp = r.headers.get("Content-Security-Policy", "")
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp, path
        assert "frame-ancestors 'none'" in csp and r.headers["X-Frame-Options"] == "DENY", path
        assert r.headers["X-Content-Type-Options"] == "nosniff" and r.headers["Referrer-Policy"] == "same-origin"
        assert "Strict-Transport-Security" not in r.headers  # served over http here
    r = client.post("/hooks/registries/1/x", json={})
    assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_https_deployments_send_hsts(app_config, database_url):
    from app import create_app
    from tests.helpers import test_config

    app = create_app(test_config(database_url, BERTH_EXTERNAL_URL="https://berth.example.com",
                                  BERTH_DEPLOY_WORKERS=0))
    try:
        assert "max-age=" in app.test_client().get("/healthz").headers["Strict-Transport-Security"]
    finally:
        app.extensions["berth"].shutdown()


def test_templates_carry_no_inline_script():
    """The CSP forbids inline scripts: no <script> body, on* handler, hx-on or js: value in a template."""
    import re
    from pathlib import Path

    inline = re.compile(r"<script(?![^>]*\bsrc=)|\son[a-z]+=|hx-on[:-]|js:|style=\"", re.I)
    templates = Path(__file__).resolve().parents[2] / "templates"
    found = [f"{p.name}: {m.group(0)}" for p in templates.rglob("*.html") for m in inline.finditer(p.read_text())]
    assert not found, found
