"""The components blueprint and what its page groups share: the component page's context, and how
an action finds and queues (services record what was done)."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, url_for

from blueprints.components.forms import ScaleForm
from blueprints.forms import EmptyForm
from blueprints.scope import get_team_object_or_404, is_owner
from models import Component
from services.components import environments, operations, promotions, stages
from services.errors import NotAllowed, ServiceError
from services.oversight import approvals

bp = Blueprint("components", __name__, url_prefix="/components")
RECENT = 10  # releases and deliveries on the component page; the rest on their own pages


def detail_context(component: Component) -> dict:
    staged = component.base_id is None and stages.in_environments(component)
    return {"component": component, "view": operations.view(component, RECENT),
            "scale_form": ScaleForm(replicas=component.replicas), "approvals": approvals.pending(component),
            "pipeline_views": promotions.pipeline(component) if staged else None,
            "may_join": component.base_id is None and not staged and bool(environments.team_environments(
                component.team_id))}


def may_act(component: Component) -> None:
    """An environment whose promotions only owners may make takes no hand-made deploys from members
    either (its rows' redeploy, rollback, start, stop, scale)."""
    target = component.env_target
    if target is not None and target.environment.owners_only and not is_owner():
        raise NotAllowed(f"Only the team's owners may deploy to {target.environment.name}.")


def action_target(component_id: int):
    component = get_team_object_or_404(Component, component_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    may_act(component)
    return component


def queue_release(component: Component, start, done: str):
    """Queue a release (redeploy, rollback; the service records it) and say so, or say why not;
    back to the component."""
    try:
        start()
    except ServiceError as e:
        flash(e.message, "error")
    else:
        flash(done, "info")
    return redirect(url_for("components.detail", component_id=component.id))
