"""The build source: auto-deploy, the trigger rule and its preview, and the webhook."""
from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from blueprints.components.blueprint import (
    RECENT,
    action_target,
    bp,
)
from blueprints.components.forms import BuildSourceForm
from blueprints.scope import current_team, get_team_object_or_404
from models import Component
from services.components import components, listing
from services.delivery import endpoints
from services.errors import FieldErrors, apply_to_form
from services.registries.clients.errors import RegistryError
from services.trust import policies


def webhook_url(endpoint: str, **values) -> str:
    """Absolute URL registries should call, built from BERTH_EXTERNAL_URL."""
    return current_app.config["BERTH_EXTERNAL_URL"] + url_for(endpoint, **values)


@bp.route("/<int:component_id>/build-source", methods=["GET", "POST"])
def build_source(component_id: int):
    component = get_team_object_or_404(Component, component_id)
    form = BuildSourceForm(obj=component if request.method == "GET" else None)
    form.trust_policy_id.choices = [SelectChoice("", "None: any image")] + [
        SelectChoice(p.id, p.name) for p in policies.policies(current_team())]
    if request.method == "GET":
        form.trigger_pattern.data = component.trigger_pattern or ""
        form.platform_only.data = bool(component.require_platform)
        form.platform.data = component.require_platform or "linux/amd64"
        form.require_approval.data = component.approvals_required > 0
        form.approvals_required.data = component.approvals_required or 1
    if form.validate_on_submit():
        try:
            components.update_build_source(component, components.BuildSourceInput(
                auto_deploy=bool(form.auto_deploy.data), trigger_kind=form.trigger_kind.data,
                trigger_pattern=form.trigger_pattern.data or "",
                include_prereleases=bool(form.include_prereleases.data), no_downgrade=bool(form.no_downgrade.data),
                poll_interval=form.poll_interval.data,
                webhook_secret=form.webhook_secret.data or "", clear_secret=bool(form.clear_secret.data),
                require_platform=(form.platform.data or "").strip().lower() if form.platform_only.data else None,
                cooldown_minutes=form.cooldown_minutes.data,
                approvals_required=(form.approvals_required.data or 1) if form.require_approval.data else 0,
                approval_hours=form.approval_hours.data or component.approval_hours or 24,
                approvals_owners_only=bool(form.approvals_owners_only.data),
                trust_policy_id=form.trust_policy_id.data), current_user.email)
        except FieldErrors as e:
            apply_to_form(form, e)
        else:
            flash("Saved the build source.", "success")
            return redirect(url_for("components.build_source", component_id=component.id))
    return render_template("components/build_source.html", component=component, form=form,
                           hook_url=webhook_url("hooks.component_hook", component_id=component.id,
                                                token=component.webhook_token),
                           outcomes=listing.outcomes(component_id=component.id, per_page=RECENT),
                           default_interval=current_app.config["BERTH_POLL_INTERVAL"]), 422 if form.errors else 200


@bp.route("/<int:component_id>/build-source/preview")
def trigger_preview(component_id: int):
    """HTMX: every current tag with what the rule in the form would make of it (paged). The
    pattern's field error is replaced out of band, so an old error never sits beside a new preview."""
    component = get_team_object_or_404(Component, component_id)
    preview, error, pattern_error = None, None, ""
    platform = (request.args.get("platform") or "").strip().lower()[:64] if request.args.get("platform_only") else None
    cooldown = request.args.get("cooldown_minutes", type=int)
    try:
        preview = components.preview_rule(component, request.args.get("trigger_kind", "same_tag"),
                                          request.args.get("trigger_pattern", ""),
                                          bool(request.args.get("include_prereleases")), platform,
                                          cooldown if cooldown and 0 < cooldown <= 10080 else None,
                                          page=max(1, min(request.args.get("page", 1, type=int), 10_000)))
    except FieldErrors as e:
        error = pattern_error = next(iter(e.errors.values()))
    except RegistryError as e:
        error = e.message
    return render_template("components/_trigger_preview.html", preview=preview, error=error,
                           pattern_error=pattern_error, component=component)


@bp.route("/<int:component_id>/webhook-token", methods=["POST"])
def regenerate_token(component_id: int):
    component = action_target(component_id)
    endpoints.regenerate_token(component, current_user.email)
    flash("New webhook URL generated; the old one no longer works. Update it in your registry.", "success")
    return redirect(url_for("components.build_source", component_id=component.id))
