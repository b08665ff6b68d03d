"""Trust pages: a team's public keys (add, delete) and signature policies (add, edit, delete), with
the components each policy guards."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from blueprints.forms import EmptyForm
from blueprints.scope import current_team, get_team_object_or_404, owner_required
from blueprints.trust.forms import KeyForm, PolicyForm
from models import TrustKey, TrustPolicy
from services.errors import FieldErrors, ServiceError, apply_to_form
from services.trust import gate, policies

bp = Blueprint("trust", __name__, url_prefix="/trust")


def _index(key_form: KeyForm, status: int = 200):
    team = current_team()
    keys, team_policies = policies.keys(team), policies.policies(team)
    names = {k.id: k.name for k in keys}
    return render_template("trust/index.html", keys=keys, policies=team_policies,
                           key_names={p.id: ", ".join(names[i] for i in p.key_ids or [] if i in names)
                                      for p in team_policies},
                           guards=policies.guards(team),
                           key_form=key_form, action_form=EmptyForm()), status


@bp.route("/")
def index():
    return _index(KeyForm())


@bp.route("/keys", methods=["POST"])
@owner_required
def add_key():
    form = KeyForm()
    if form.validate_on_submit():
        try:
            key = policies.add_key(current_team(), form.name.data or "", form.pem.data or "", current_user.email,
                                   kind=form.kind.data or "key")
        except FieldErrors as e:
            apply_to_form(form, e)
        else:
            flash(f"Saved key {key.name} ({key.fingerprint[:23]}…).", "success")
            return redirect(url_for("trust.index"))
    return _index(form, 422)


@bp.route("/keys/<int:key_id>/delete", methods=["POST"])
@owner_required
def delete_key(key_id: int):
    key = get_team_object_or_404(TrustKey, key_id)
    if EmptyForm().validate_on_submit():
        try:
            policies.delete_key(key, current_user.email)
        except ServiceError as e:
            flash(e.message, "error")
        else:
            flash(f"Deleted key {key.name}.", "success")
    return redirect(url_for("trust.index"))


def _policy_form(policy: TrustPolicy | None):
    form = PolicyForm(obj=policy if request.method == "GET" else None)
    if request.method == "GET" and policy is not None:
        form.attestations.data = "\n".join(policy.attestations or [])
    form.key_ids.choices = [(k.id, f"{k.name} ({k.fingerprint[:19]}…)") for k in policies.keys(current_team())]
    if form.validate_on_submit():
        try:
            saved = policies.save_policy(current_team(), policies.PolicyInput(
                form.name.data or "", list(form.key_ids.data or []), form.threshold.data,
                form.attestations.data or "", form.subject_pattern.data or "", form.issuer_pattern.data or "",
                form.scan_below.data or "",
                120 if form.scan_wait_seconds.data is None else form.scan_wait_seconds.data),
                current_user.email, policy)
        except FieldErrors as e:
            apply_to_form(form, e)
        else:
            flash(f"Saved policy {saved.name}.", "success")
            for component, reason in gate.no_longer_passing(saved):
                flash(f"{component.name} runs {component.digest[:19]}, which {saved.name} no longer accepts "
                      f"({reason}); it keeps running, and its next release must pass.", "error")
            return redirect(url_for("trust.index"))
    return render_template("trust/policy.html", form=form, policy=policy,
                           guarded=policies.guarded(policy) if policy else [],
                           environments=policies.environments_guarded(policy) if policy else []
                           ), 422 if form.errors else 200


@bp.route("/policies/new", methods=["GET", "POST"])
@owner_required
def new_policy():
    return _policy_form(None)


@bp.route("/policies/<int:policy_id>", methods=["GET", "POST"])
@owner_required
def edit_policy(policy_id: int):
    return _policy_form(get_team_object_or_404(TrustPolicy, policy_id))


@bp.route("/policies/<int:policy_id>/delete", methods=["POST"])
@owner_required
def delete_policy(policy_id: int):
    policy = get_team_object_or_404(TrustPolicy, policy_id)
    if EmptyForm().validate_on_submit():
        try:
            policies.delete_policy(policy, current_user.email)
        except ServiceError as e:
            flash(e.message, "error")
        else:
            flash(f"Deleted policy {policy.name}.", "success")
    return redirect(url_for("trust.index"))
