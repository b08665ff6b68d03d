"""Berth application factory."""
from __future__ import annotations

import logging
from datetime import UTC, datetime

import click
from flask import Flask, g, render_template, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.engine import make_url
from werkzeug.routing import IntegerConverter

import config as berth_config
from blueprints import (
    access,
    api,
    applications,
    clusters,
    components,
    environments,
    main,
    oversight,
    registries,
    tokens,
    trust,
)
from blueprints.accounts import auth, teams
from blueprints.delivery import hooks, replay
from blueprints.scope import is_owner, load_current_team
from extensions import csrf, login_manager, migrate
from models import MAX_ID, User, db
from services.accounts import accounts
from services.components import promotions, settings
from services.delivery import polling
from services.errors import BerthError, ServiceError
from services.platform import retention, runtime, scheduler
from services.platform.background import BackgroundRunner
from services.platform.jobs import run_after_commit
from services.platform.logs import configure_logging
from services.platform.validation import check_email, check_password, check_team_name
from services.registries import pullsecrets


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(berth_config.load())
    if config:
        app.config.update(config)
    register_logging(app)
    register_extensions(app)
    register_blueprints(app)
    register_access(app)
    register_unit_of_work(app)
    register_security_headers(app)
    register_template_helpers(app)
    register_errorhandlers(app)
    register_commands(app)
    register_services(app)
    return app


def register_logging(app: Flask) -> None:
    configure_logging(app.config["BERTH_LOG_FORMAT"])


def register_extensions(app: Flask) -> None:
    db.init_app(app)
    migrate.init_app(app, db, directory=str(app.root_path + "/migrations"))
    csrf.init_app(app)
    login_manager.init_app(app)

    @login_manager.user_loader
    def load_user(session_id: str) -> User | None:
        return accounts.load_user(session_id)


class IdConverter(IntegerConverter):
    """`<int:…>` in every route: 1 to 2^63-1 (a database id), so a larger number is a 404, not a
    database overflow."""

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


def register_blueprints(app: Flask) -> None:
    app.url_map.converters["int"] = IdConverter
    for module in (auth, main, teams, registries, clusters, environments, trust, components, applications, oversight,
                   hooks, replay, api, tokens):
        app.register_blueprint(module.bp)


def register_access(app: Flask) -> None:
    """Signed-cookie sessions (none for webhooks and static files), sign-in required unless a view
    says otherwise (blueprints/access.py), then the signed-in user's current team."""
    access.init_app(app, hooks.bp.url_prefix)
    app.before_request(load_current_team)


# No inline scripts, handlers, styles or eval anywhere (static/berth.js reads data- attributes);
# no framing; forms post only here.
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                           "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
                           "frame-ancestors 'none'")


def register_security_headers(app: Flask) -> None:
    """Headers on every response: CSP, no framing, no sniffing, same-origin referrers, and HSTS when
    Berth is served over https."""
    https = app.config["BERTH_EXTERNAL_URL"].startswith("https://")

    @app.after_request
    def security_headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        if https:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response


def register_unit_of_work(app: Flask) -> None:
    """Commit once per request when it succeeded; roll back otherwise."""
    @app.after_request
    def commit_or_rollback(response):
        if response.status_code < 400:
            db.session.commit()
            run_after_commit(g.pop("berth_after_commit", []))
        else:
            db.session.rollback()
        return response

    @app.teardown_request
    def rollback_on_error(exc):
        if exc is not None:
            db.session.rollback()


NAV_LINKS = [("registries.index", "Registries"), ("clusters.index", "Clusters"), ("environments.index", "Environments"),
             ("trust.index", "Trust"), ("components.index", "Components"),
             ("oversight.approvals_list", "Approvals"), ("oversight.channels", "Notifications"),
             ("oversight.audit_log", "Audit"), ("tokens.index", "API")]


def register_template_helpers(app: Flask) -> None:
    @app.context_processor
    def helpers():
        def nav_links():
            return [(e, label) for e, label in NAV_LINKS if e in app.view_functions]

        def user_teams():
            return accounts.teams_of(current_user) if current_user.is_authenticated else []

        return {"nav_links": nav_links, "user_teams": user_teams, "is_owner": is_owner}

    @app.template_filter("shell")
    def shell(words: list[str] | None) -> str:
        """A recorded command as a shell line (settings.shell_words: "the image's" when unset)."""
        return settings.shell_words(words)

    @app.template_filter("epoch_utc")
    def epoch_utc(seconds: float | None) -> str:
        """An epoch time as "14:20 UTC", with the date when it is not today."""
        if seconds is None:
            return ""
        moment = datetime.fromtimestamp(seconds, UTC)
        same_day = moment.date() == datetime.now(UTC).date()
        return moment.strftime("%H:%M UTC" if same_day else "%Y-%m-%d %H:%M UTC")


def register_errorhandlers(app: Flask) -> None:
    def render_error(code: int, title: str, message: str):
        if request.path.startswith(access.API_PREFIX):
            return {"error": {"code": api.core.STATUS_CODES.get(code, "error"), "message": message, "fields": {}}}, code
        if access.sessionless(app, request.path):  # webhooks and static files: no page, no session
            return {"error": message}, code
        if request.headers.get("HX-Request"):
            return render_template("error.html", code=code, title=title, message=message,
                                   fragment=True), code
        return render_template("error.html", code=code, title=title, message=message), code

    @app.errorhandler(404)
    def not_found(e):
        return render_error(404, "Not found", "There is nothing here, or it is not yours to see.")

    @app.errorhandler(405)
    def method_not_allowed(e):
        return render_error(405, "Method not allowed", "This address does not accept that request.")

    @app.errorhandler(413)
    def too_large(e):
        return render_error(413, "Too large", "The request body is larger than Berth accepts.")

    @app.errorhandler(CSRFError)
    def csrf_error(e):
        return render_error(400, "Form expired", "The form's security token was missing or "
                            "invalid. Reload the page and try again.")

    @app.errorhandler(BerthError)
    def refused(e: BerthError):
        """What a service refused and the view did not show itself: its message, nothing saved."""
        db.session.rollback()
        return render_error(422, "Not done", e.message)

    @app.errorhandler(500)
    def server_error(e):
        db.session.rollback()
        return render_error(500, "Something went wrong",
                            "Berth could not finish this request. Nothing was saved.")


def register_commands(app: Flask) -> None:
    @app.cli.command("create-user")
    @click.argument("email")
    @click.option("--team", "team_name", required=True, help="Team to add the user to.")
    @click.option("--admin", is_flag=True, help="Make the user an administrator.")
    @click.password_option(prompt="Password", confirmation_prompt=False)
    def create_user_command(email, team_name, admin, password):
        """Create a user and add them to TEAM (created if missing)."""
        for check, value in ((check_email, email), (check_password, password),
                             (check_team_name, team_name)):
            problem = check(value)
            if problem:
                raise click.ClickException(problem)
        try:
            user, team, role = accounts.create_user_in_team(email, password, team_name,
                                                            is_admin=admin, by="flask create-user")
            db.session.commit()
        except ServiceError as e:
            db.session.rollback()
            raise click.ClickException(str(e)) from e
        click.echo(f"Created {user.email} in team {team.name} ({role}).")

    @app.cli.command("prune")
    def prune_command():
        """Apply the retention settings now (the leader also does it every BERTH_PRUNE_EVERY seconds)."""
        click.echo(f"Pruned {retention.prune()}.")


def leader_jobs(app: Flask) -> list[scheduler.Job]:
    """The scheduled jobs: polling (each component at its own interval; every process shares it on
    PostgreSQL, claiming watch keys through leases; on SQLite the leader does it all), and what
    exactly one process runs: retention every BERTH_PRUNE_EVERY seconds, the pull-Secret refresh
    every BERTH_PULL_SECRET_REFRESH_EVERY, and promotions (gates, auto-promotion, following their
    deploys) every BERTH_PROMOTE_EVERY."""
    cfg = app.config
    shared = make_url(cfg["SQLALCHEMY_DATABASE_URI"]).get_backend_name() == "postgresql"
    return [scheduler.Job("poll cycle", polling.run_cycle, lambda: 0, everywhere=shared),
            scheduler.Job("retention", retention.prune, lambda: cfg["BERTH_PRUNE_EVERY"]),
            scheduler.Job("pull secret refresh", pullsecrets.refresh, lambda: cfg["BERTH_PULL_SECRET_REFRESH_EVERY"]),
            scheduler.Job("promotions", promotions.tick, lambda: cfg["BERTH_PROMOTE_EVERY"])]


def register_services(app: Flask) -> None:
    """Background work (deploy and delivery workers, the poller), started by the first request so
    CLI commands never run it; `runtime.of(app).shutdown()` stops it."""
    state = runtime.install(app)

    def start() -> None:
        if app.config["BERTH_DEPLOY_WORKERS"] > 0:
            runner = BackgroundRunner(app, app.config["BERTH_DEPLOY_WORKERS"])
            state.release_kick, state.delivery_kick = runner.releases.submit, runner.deliveries.submit
            state.notify_kick = runner.notifier.kick
            state.shutdowns.append(runner.shutdown)
        if app.config["BERTH_SCHEDULER"]:
            tick = max(1, min(app.config["BERTH_POLL_INTERVAL"], 15))
            state.shutdowns.append(scheduler.start(app, leader_jobs(app), tick))

    state.starter = start
    app.before_request(state.start)
    logging.getLogger("berth").debug("Berth started in %s mode", app.config["BERTH_ENV"])
