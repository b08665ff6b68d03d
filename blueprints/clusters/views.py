"""A team's Kubernetes clusters: add, edit, test the connection, delete."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from blueprints.clusters.forms import ClusterForm
from blueprints.forms import EmptyForm
from blueprints.scope import current_team, get_team_object_or_404, owner_required
from models import ClusterTarget
from services.deploy import targets
from services.errors import BerthError, FieldErrors, ServiceError, apply_to_form
from services.registries.images import namespace_for

bp = Blueprint("clusters", __name__, url_prefix="/clusters")


def _input(form: ClusterForm) -> targets.TargetInput:
    return targets.TargetInput(name=form.name.data or "", server=form.server.data or "", ca_pem=form.ca_pem.data or "",
                               token=form.token.data or "", kubeconfig=form.kubeconfig.data or "")


@bp.route("/")
def index():
    return render_template("clusters/index.html", clusters=targets.team_targets(current_team().id),
                           namespace=namespace_for(current_team()), action_form=EmptyForm())


@bp.route("/new", methods=["GET", "POST"])
@owner_required
def new():
    form = ClusterForm()
    if form.validate_on_submit():
        try:
            target = targets.save_target(current_team(), _input(form), by=current_user.email)
        except FieldErrors as e:
            apply_to_form(form, e)
        else:
            flash(f"Saved {target.name}. Test the connection to see what Berth may do there.", "success")
            return redirect(url_for("clusters.index"))
    return render_template("clusters/form.html", form=form, cluster=None), 422 if form.errors else 200


@bp.route("/<int:target_id>/edit", methods=["GET", "POST"])
@owner_required
def edit(target_id: int):
    target = get_team_object_or_404(ClusterTarget, target_id)
    form = ClusterForm(obj=target if request.method == "GET" else None)
    if form.validate_on_submit():
        try:
            targets.save_target(current_team(), _input(form), target, by=current_user.email)
        except FieldErrors as e:
            apply_to_form(form, e)
        else:
            flash(f"Saved {target.name}.", "success")
            return redirect(url_for("clusters.index"))
    return render_template("clusters/form.html", form=form, cluster=target), 422 if form.errors else 200


@bp.route("/<int:target_id>/test", methods=["POST"])
@owner_required
def test(target_id: int):
    """Ask the cluster what Berth's token may not do in the team's namespace (an access review per verb)."""
    target = get_team_object_or_404(ClusterTarget, target_id)
    if not EmptyForm().validate_on_submit():
        flash("The form expired; please try again.", "error")
        return redirect(url_for("clusters.index"))
    try:
        missing = targets.test_connection(target, namespace_for(current_team()))
    except BerthError as e:
        flash(f"{target.name}: {e.message}", "error")
    else:
        flash(f"{target.name}: {target.last_check_message}", "success" if not missing else "error")
    return redirect(url_for("clusters.index"))


@bp.route("/<int:target_id>/delete", methods=["POST"])
@owner_required
def delete(target_id: int):
    target = get_team_object_or_404(ClusterTarget, target_id)
    if not EmptyForm().validate_on_submit():
        flash("The form expired; please try again.", "error")
        return redirect(url_for("clusters.index"))
    try:
        targets.delete_target(target, current_user.email)
    except ServiceError as e:
        flash(str(e), "error")
    else:
        flash(f"Deleted {target.name}.", "success")
    return redirect(url_for("clusters.index"))
