"""What a person does to a running component: start, restart, scale, resume, redeploy, roll back, stop, delete."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from blueprints.components.blueprint import (
    RECENT,
    action_target,
    bp,
    detail_context,
    may_act,
    queue_release,
)
from blueprints.components.forms import OverrideForm, ScaleForm
from blueprints.scope import get_team_object_or_404, is_owner
from models import Component, Release
from services.components import listing, operations
from services.components.releases import TrustRefused
from services.deploy.deployers import disabled_reason
from services.deploy.drivers.spec import DeployError
from services.errors import BerthError, FieldErrors, ServiceError, apply_to_form
from services.registries.clients.errors import RegistryError


@bp.route("/<int:component_id>/start", methods=["POST"])
def start(component_id: int):
    component = action_target(component_id)
    return queue_release(component, lambda: operations.start(component, current_user.email),
                         f"Starting {component.name}.")


@bp.route("/<int:component_id>/restart", methods=["POST"])
def restart(component_id: int):
    component = action_target(component_id)
    try:
        operations.restart(component, current_user.email)
    except BerthError as e:
        flash(f"Could not restart {component.name}: {e.message}", "error")
    else:
        flash(f"Restarting {component.name}.", "success")
    return redirect(url_for("components.detail", component_id=component.id))


@bp.route("/<int:component_id>/scale", methods=["POST"])
def scale(component_id: int):
    component = get_team_object_or_404(Component, component_id)
    may_act(component)
    form = ScaleForm()
    if form.validate_on_submit():
        try:
            release = operations.scale(component, form.replicas.data, current_user.email)
        except FieldErrors as e:
            apply_to_form(form, e)
        else:
            flash(f"Scaling {component.name} to {form.replicas.data}: release #{release.seq}.", "info")
            return redirect(url_for("components.detail", component_id=component.id))
    context = detail_context(component)
    context["scale_form"] = form
    return render_template("components/detail.html", **context, deploy_disabled=disabled_reason(component),
                           outcomes=listing.outcomes(component_id=component.id, per_page=RECENT)), 422


@bp.route("/<int:component_id>/resume", methods=["POST"])
def resume(component_id: int):
    component = action_target(component_id)
    try:
        outcome = operations.resume(component, current_user.email)
    except RegistryError as e:
        flash(f"Auto-deploy resumed; the registry could not be asked for the newest tag: {e.message}", "warning")
    else:
        flash("Auto-deploy resumed. " + (f"Newest matching tag {outcome.tag}: {outcome.reason}." if outcome
                                         else "Nothing newer to deploy."), "success")
    return redirect(url_for("components.detail", component_id=component.id))


@bp.route("/<int:component_id>/bad-digests/clear", methods=["POST"])
def clear_bad(component_id: int):
    component = action_target(component_id)
    digest = request.form.get("digest", "")[:100]
    operations.clear_bad(component, digest, current_user.email)
    flash(f"{digest[:19]} may be auto-deployed again.", "success")
    return redirect(url_for("components.detail", component_id=component.id))


@bp.route("/<int:component_id>/redeploy", methods=["POST"])
def redeploy(component_id: int):
    component = action_target(component_id)
    return queue_release(component, lambda: operations.redeploy(component, current_user.email),
                  f"Redeploying {component.name} from {component.image}:{component.tag}.")


@bp.route("/<int:component_id>/releases/<int:release_id>/rollback", methods=["POST"])
def rollback(component_id: int, release_id: int):
    component = action_target(component_id)
    release = get_team_object_or_404(Release, release_id)
    if release.component_id != component.id:
        abort(404)
    try:
        operations.rollback(release, current_user.email)
    except TrustRefused as e:
        if not is_owner():
            flash(e.message + " Only an owner may roll back to it anyway.", "error")
            return redirect(url_for("components.detail", component_id=component.id))
        return render_template("components/rollback_override.html", component=component, release=release,
                               reason=e.message, form=OverrideForm()), 409
    except ServiceError as e:
        flash(e.message, "error")
    else:
        flash(f"Rolling back to release #{release.seq} ({release.tag}, {(release.digest or '')[:19]}) "
              "with its settings.", "info")
    return redirect(url_for("components.detail", component_id=component.id))


@bp.route("/<int:component_id>/releases/<int:release_id>/rollback-anyway", methods=["POST"])
def rollback_anyway(component_id: int, release_id: int):
    """An owner rolls back to a digest the trust policy refuses, saying why (audited)."""
    component = get_team_object_or_404(Component, component_id)
    release = get_team_object_or_404(Release, release_id)
    if release.component_id != component.id:
        abort(404)
    if not is_owner():
        abort(403)
    may_act(component)
    form = OverrideForm()
    if form.validate_on_submit():
        return queue_release(component, lambda: operations.rollback(release, current_user.email,
                                                                    override=form.reason.data.strip()),
                             f"Rolling back to release #{release.seq} ({release.tag}) although the trust "
                             "policy refuses it; the override is in the audit trail.")
    return render_template("components/rollback_override.html", component=component, release=release,
                           reason="", form=form), 422


@bp.route("/<int:component_id>/stop", methods=["POST"])
def stop(component_id: int):
    component = action_target(component_id)
    try:
        operations.stop(component, current_user.email)
    except DeployError as e:
        flash(f"Could not stop {component.name}: {e.message}", "error")
        return redirect(url_for("components.detail", component_id=component.id))
    flash(f"Stopped {component.name}.", "success")
    return redirect(url_for("components.detail", component_id=component.id))


@bp.route("/<int:component_id>/delete", methods=["POST"])
def delete(component_id: int):
    component = action_target(component_id)
    name = component.name
    delete_data = request.form.get("delete_data") == "y"
    try:
        kept = operations.delete(component, current_user.email, keep_data=not delete_data)
    except DeployError as e:
        flash(f"Could not remove {name} from the runtime, so it was kept: {e.message}", "error")
        return redirect(url_for("components.detail", component_id=component.id))
    flash(f"Deleted {name} and what it ran." + (f" Kept the data of volumes {', '.join(kept)}." if kept else ""),
          "success")
    return redirect(url_for("components.index"))
