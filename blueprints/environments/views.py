"""Environments (the team's chain and rules), a component's stages (overrides, resume), and
promotions (promote a release, approve, reject, release a freeze)."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from blueprints.environments.forms import (
    EnvironmentForm,
    FreezeOverrideForm,
    OverridesForm,
    PromoteForm,
    TimezoneForm,
)
from blueprints.forms import EmptyForm
from blueprints.scope import current_team, get_team_object_or_404, owner_required
from models import Component, ComponentStage, Environment, Promotion, Release
from services.components import environments, promotions, stages
from services.deploy import targets
from services.errors import BerthError, FieldErrors, ServiceError, apply_to_form
from services.trust import policies

bp = Blueprint("environments", __name__)


def _choices(form: EnvironmentForm, environment: Environment | None) -> None:
    team_id = current_team().id
    form.upstream_id.choices = [SelectChoice("", "none (the first environment)")] + [
        SelectChoice(str(e.id), e.name) for e in environments.team_environments(team_id)
        if environment is None or e.id != environment.id]
    form.targets.choices = [SelectChoice("local", "local (this Berth's own runtime)")] + [
        SelectChoice(str(c.id), f"cluster {c.name}") for c in targets.team_targets(team_id)]
    form.trust_policy_id.choices = [SelectChoice("", "none (the component's own policy only)")] + [
        SelectChoice(str(p.id), p.name) for p in policies.policies(current_team())]


def _input(form: EnvironmentForm) -> environments.EnvironmentInput:
    namespace = (form.namespace.data or "").strip()
    return environments.EnvironmentInput(
        name=form.name.data or "", upstream_id=int(form.upstream_id.data) if form.upstream_id.data else None,
        targets=[t + (f":{namespace}" if namespace else "") for t in form.targets.data or []],
        auto_deploy=form.auto_deploy.data, auto_promote=form.auto_promote.data,
        approvals_required=form.approvals_required.data or 0, owners_only=form.owners_only.data,
        soak_minutes=form.soak_minutes.data or 0, health_rule=form.health_rule.data, on_failure=form.on_failure.data,
        freeze_windows=form.freeze_windows.data or "",
        trust_policy_id=int(form.trust_policy_id.data) if (form.trust_policy_id.data or "").isdigit() else None)


def _fill(form: EnvironmentForm, environment: Environment) -> None:
    form.upstream_id.data = str(environment.upstream_id or "")
    form.targets.data = [str(t.cluster_id) if t.cluster_id else "local" for t in environment.targets]
    form.namespace.data = next((t.namespace for t in environment.targets if t.namespace), "")
    form.freeze_windows.data = environments.freeze_text(environment)
    form.trust_policy_id.data = str(environment.trust_policy_id or "")


@bp.route("/environments/")
def index():
    team = current_team()
    rows = environments.team_environments(team.id)
    return render_template("environments/index.html", environments=rows, team=team,
                           timezone_form=TimezoneForm(timezone=team.timezone), action_form=EmptyForm(),
                           namespaces={e.id: stages.default_namespace(team, e) for e in rows})


def _save(environment: Environment | None):
    form = EnvironmentForm(obj=environment if request.method == "GET" else None)
    _choices(form, environment)
    if request.method == "GET" and environment is not None:
        _fill(form, environment)
    if form.validate_on_submit():
        try:
            saved = environments.save(current_team(), _input(form), environment)
            stages.sync_team(current_team().id)
        except FieldErrors as e:
            apply_to_form(form, e)
        else:
            flash(f"Saved environment {saved.name}.", "success")
            return redirect(url_for("environments.index"))
    return render_template("environments/form.html", form=form, environment=environment), \
        422 if form.errors else 200


@bp.route("/environments/new", methods=["GET", "POST"])
@owner_required
def new():
    return _save(None)


@bp.route("/environments/<int:environment_id>/edit", methods=["GET", "POST"])
@owner_required
def edit(environment_id: int):
    return _save(get_team_object_or_404(Environment, environment_id))


@bp.route("/environments/<int:environment_id>/delete", methods=["POST"])
@owner_required
def delete(environment_id: int):
    environment = get_team_object_or_404(Environment, environment_id)
    if EmptyForm().validate_on_submit():
        try:
            environments.delete(environment)
        except ServiceError as e:
            flash(e.message, "error")
        else:
            flash(f"Deleted environment {environment.name}.", "success")
    return redirect(url_for("environments.index"))


@bp.route("/environments/timezone", methods=["POST"])
@owner_required
def timezone():
    form = TimezoneForm()
    if form.validate_on_submit():
        try:
            environments.set_timezone(current_team(), form.timezone.data)
        except FieldErrors as e:
            apply_to_form(form, e)
        else:
            flash(f"Freeze windows are read in {form.timezone.data}.", "success")
            return redirect(url_for("environments.index"))
    team = current_team()
    return render_template("environments/index.html", environments=environments.team_environments(team.id),
                           team=team, timezone_form=form, action_form=EmptyForm(), namespaces={}), 422


# -- a component's stages ------------------------------------------------------------------------
def _base(component_id: int) -> Component:
    component = get_team_object_or_404(Component, component_id)
    if component.base_id is not None:
        abort(404)
    return component


@bp.route("/components/<int:component_id>/environments", methods=["POST"])
def join(component_id: int):
    component = _base(component_id)
    if EmptyForm().validate_on_submit():
        try:
            made = stages.join(component, current_user.email)
        except BerthError as e:
            flash(e.message, "error")
        else:
            flash(f"{component.name} now deploys through environments ({len(made)} targets). Deploy it to send "
                  f"its settings to the first.", "success")
    return redirect(url_for("components.detail", component_id=component.id))


@bp.route("/components/<int:component_id>/pipeline")
def pipeline(component_id: int):
    component = _base(component_id)
    return render_template("environments/_pipeline.html", component=component,
                           views=promotions.pipeline(component), action_form=EmptyForm())


@bp.route("/components/<int:component_id>/deploy-first", methods=["POST"])
def deploy_first(component_id: int):
    component = _base(component_id)
    if EmptyForm().validate_on_submit():
        made = stages.deploy_first(component, current_user.email)
        flash(f"Deploying {component.tag} to {', '.join(r.component.name for r in made)}.", "success")
    return redirect(url_for("components.detail", component_id=component.id))


@bp.route("/stages/<int:stage_id>", methods=["GET", "POST"])
def overrides(stage_id: int):
    stage = get_team_object_or_404(ComponentStage, stage_id)
    form = OverridesForm(overrides=stages.overrides_text(stage.overrides or {}) if request.method == "GET" else None)
    if form.validate_on_submit():
        try:
            stages.set_overrides(stage, form.overrides.data or "", current_user.email)
        except FieldErrors as e:
            apply_to_form(form, e)
        else:
            flash(f"Saved {stage.environment.name}'s overrides; they apply with the next release there.", "success")
            return redirect(url_for("components.detail", component_id=stage.component_id))
    return render_template("environments/overrides.html", form=form, stage=stage, effect=stages.effect(stage),
                           overridable=stages.OVERRIDABLE), 422 if form.errors else 200


@bp.route("/stages/<int:stage_id>/resume", methods=["POST"])
def resume(stage_id: int):
    stage = get_team_object_or_404(ComponentStage, stage_id)
    if EmptyForm().validate_on_submit():
        stages.resume(stage, current_user.email)
        flash(f"Auto-promotion into {stage.environment.name} resumed.", "success")
    return redirect(url_for("components.detail", component_id=stage.component_id))


# -- promotions --------------------------------------------------------------------------------------
def _done(promotion_or_component_id: int, message: str | None = None, error: str | None = None):
    if error:
        flash(error, "error")
    elif message:
        flash(message, "success")
    return redirect(url_for("components.detail", component_id=promotion_or_component_id))


@bp.route("/releases/<int:release_id>/promote", methods=["POST"])
def promote(release_id: int):
    release = get_team_object_or_404(Release, release_id)
    form = PromoteForm()
    try:
        component, _here, nexts = promotions.promotable(release)
    except ServiceError as e:
        return _done(release.component_id, error=e.message)
    form.environment_id.choices = [SelectChoice(str(e.id), e.name) for e in nexts]
    if not form.validate_on_submit():
        return _done(component.id, error="Choose the environment to promote to (the form may have expired).")
    environment = get_team_object_or_404(Environment, int(form.environment_id.data))
    try:
        promotion = promotions.request(release, environment, current_user.email, user=current_user)
    except ServiceError as e:
        return _done(component.id, error=e.message)
    return _done(component.id, f"Promotion #{promotion.id} of {release.tag} to {environment.name}: {promotion.status}.")


def _decide(promotion_id: int, act, said: str):
    promotion = get_team_object_or_404(Promotion, promotion_id)
    if not EmptyForm().validate_on_submit():
        return _done(promotion.component_id, error="The form expired; please try again.")
    try:
        act(promotion)
    except ServiceError as e:
        return _done(promotion.component_id, error=e.message)
    return _done(promotion.component_id, said.format(p=promotion))


@bp.route("/promotions/<int:promotion_id>/approve", methods=["POST"])
def approve(promotion_id: int):
    return _decide(promotion_id, lambda p: promotions.approve(p, current_user),
                   "Approved promotion #{p.id} ({p.approved_count} of {p.required}); it is {p.status}.")


@bp.route("/promotions/<int:promotion_id>/reject", methods=["POST"])
def reject(promotion_id: int):
    return _decide(promotion_id, lambda p: promotions.reject(p, current_user), "Rejected promotion #{p.id}.")


@bp.route("/promotions/<int:promotion_id>/override", methods=["POST"])
def override(promotion_id: int):
    promotion = get_team_object_or_404(Promotion, promotion_id)
    form = FreezeOverrideForm()
    if not form.validate_on_submit():
        return _done(promotion.component_id, error="; ".join(e for errs in form.errors.values() for e in errs))
    try:
        promotions.override_freeze(promotion, current_user, form.reason.data)
    except ServiceError as e:
        return _done(promotion.component_id, error=e.message)
    return _done(promotion.component_id, f"Released promotion #{promotion.id} from the freeze; it is "
                                         f"{promotion.status}.")
