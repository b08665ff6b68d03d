"""Import a component from what people already run: a `docker run` line, read into the New
component form with a report of every flag; nothing is created until that form is sent."""
from __future__ import annotations

import shlex

from flask import render_template
from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import InputRequired, Length

from blueprints.components.blueprint import bp
from blueprints.components.forms import ComponentForm, component_form, team_applications
from services.components.imports import docker_run
from services.deploy.deployers import disabled_reason


class DockerRunForm(FlaskForm):
    command = TextAreaField("docker run command", validators=[
        InputRequired("Paste a docker run command."),
        Length(max=docker_run.MAX_LINE, message=f"At most {docker_run.MAX_LINE:,} characters.")],
        description="As in a README: line continuations (\\), quotes and comments are read as a shell would")
    env_file = TextAreaField("Environment file (optional)", validators=[Length(max=256 * 1024)],
                             description="The content of the file(s) --env-file names, KEY=value per line")


def fill_from_plan(form: ComponentForm, plan: docker_run.Plan) -> None:
    form.source.data, form.image.data, form.tag.data = "reference", plan.image, ""
    form.name.data = plan.name
    apps = team_applications()
    form.application.data = apps[0].name if apps else "default"
    form.memory_mb.data = plan.memory_mb or 256
    form.cpu_millicores.data = plan.cpu_millicores
    form.command.data = shlex.join(plan.command) if plan.command is not None else ""
    form.args.data = shlex.join(plan.args) if plan.args is not None else ""
    for name, value in plan.env:
        form.env.append_entry({"name": name, "value": value})
    for p in plan.ports:
        form.ports.append_entry({"port": p.port, "protocol": p.protocol, "expose": p.expose, "host_port": p.host_port})
    for v in plan.volumes:
        form.volumes.append_entry({"name": v.name, "path": v.path, "size_mb": v.size_mb, "read_only": v.read_only})
    if plan.health is not None:
        h = plan.health
        form.health_kind.data, form.health_port.data, form.health_path.data = h.kind, h.port, h.path
        form.health_period.data, form.health_initial_delay.data = h.period, h.initial_delay
        form.health_failure_threshold.data = h.failure_threshold


@bp.route("/import", methods=["GET", "POST"])
def import_docker_run():
    """Paste a docker run line; the New component form comes back filled, with the report."""
    form = DockerRunForm()
    if form.validate_on_submit():
        try:
            plan = docker_run.parse(form.command.data, form.env_file.data or "")
        except docker_run.CommandError as e:
            form.command.errors = [e.message]
        else:
            component = component_form(formdata=None)
            fill_from_plan(component, plan)
            return render_template("components/new.html", form=component, preview=None, preview_error=None,
                                   applications=team_applications(), deploy_disabled=disabled_reason(),
                                   report=plan.report, imported_from="docker run")
    return render_template("components/import.html", form=form), 422 if form.errors else 200
