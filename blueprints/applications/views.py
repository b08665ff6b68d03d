"""An application's page and what a person does to it as a whole."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import InputRequired, Length

from blueprints.forms import EmptyForm
from blueprints.scope import current_team, get_team_object_or_404
from models import Application, Volume
from services.components import applications, importer, volumes
from services.components.imports import compose
from services.errors import BerthError, FieldErrors

bp = Blueprint("applications", __name__, url_prefix="/applications")


def _target(application_id: int) -> Application:
    application = get_team_object_or_404(Application, application_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    return application


@bp.route("/<int:application_id>")
def detail(application_id: int):
    application = get_team_object_or_404(Application, application_id)
    return render_template("applications/detail.html", view=applications.view(application))


@bp.route("/<int:application_id>/deploy-all", methods=["POST"])
def deploy_all(application_id: int):
    application = _target(application_id)
    try:
        started = applications.deploy_all(application, current_user.email)
    except BerthError as e:
        flash(f"Could not deploy {application.name}: {e.message}", "error")
    else:
        flash(f"Deploying {len(started)} components of {application.name}, dependencies first.", "info")
    return redirect(url_for("applications.detail", application_id=application.id))


@bp.route("/<int:application_id>/stop-all", methods=["POST"])
def stop_all(application_id: int):
    application = _target(application_id)
    problems = applications.stop_all(application, current_user.email)
    if problems:
        flash("Some components could not be stopped: " + "; ".join(problems), "error")
    else:
        flash(f"Stopped the components of {application.name}.", "success")
    return redirect(url_for("applications.detail", application_id=application.id))


@bp.route("/<int:application_id>/volumes/<int:volume_id>/delete", methods=["POST"])
def delete_volume(application_id: int, volume_id: int):
    application = _target(application_id)
    volume = get_team_object_or_404(Volume, volume_id)
    if volume.application_id != application.id:
        abort(404)
    name = volume.name
    try:
        volumes.delete(volume, current_user.email)
    except BerthError as e:
        flash(f"Could not delete volume {name}: {e.message}", "error")
    else:
        flash(f"Deleted volume {name} and its data.", "success")
    return redirect(url_for("applications.detail", application_id=application.id))


class ComposeForm(FlaskForm):
    compose = TextAreaField("Compose file", validators=[InputRequired("Paste a compose file.")],
                            description="compose.yaml as you run it; one file (extends within it, anchors, profiles)")
    env_file = TextAreaField(".env (optional)", validators=[Length(max=256 * 1024)],
                             description="KEY=value lines for ${VAR} in the file, and secrets' environment")
    profiles = StringField("Profiles (optional)", description="Comma-separated; services without profiles always come")
    application = StringField("Application", validators=[InputRequired("Name the application.")],
                              description="An existing application or a new one's name")


@bp.route("/import", methods=["GET", "POST"])
def import_compose():
    """Paste a compose file: "Read" shows what each key becomes; "Import" creates every component, or
    none (one transaction) with the problems on their lines."""
    form = ComposeForm()
    plan, problems, status = None, {}, 200
    if form.validate_on_submit():
        profiles = [p.strip() for p in (form.profiles.data or "").split(",") if p.strip()]
        try:
            plan = compose.plan(compose.load(form.compose.data, form.env_file.data or "", profiles),
                                form.env_file.data or "")
            problems = dict(plan.problems)
            if request.form.get("action") == "import" and not problems:
                created = importer.create_all(current_team(), plan, form.application.data.strip(),
                                              current_user.email)
                flash(f"Imported {len(created)} components; deploying them dependencies first.", "success")
                return redirect(url_for("applications.detail", application_id=created[0].application_id))
        except compose.ComposeError as e:
            form.compose.errors = [e.message]
        except FieldErrors as e:
            problems = e.errors
    if form.errors or problems:
        status = 422
    return render_template("applications/import.html", form=form, plan=plan, problems=problems), status


@bp.errorhandler(413)
def too_large(e):
    """A pasted file larger than the whole body may be: the import form again, saying so."""
    if request.endpoint != "applications.import_compose":
        return render_template("error.html", code=413, title="Too large",
                               message="The request body is larger than Berth accepts."), 413
    form = ComposeForm(formdata=None)
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    form.compose.errors = [f"What was sent is larger than {limit:,} bytes; a compose file has at most "
                           f"{compose.MAX_BYTES:,} (1 MiB)."]
    return render_template("applications/import.html", form=form, plan=None, problems={}), 413
