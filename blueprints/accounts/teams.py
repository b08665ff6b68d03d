"""Team switching, members, new teams and (for admins) users."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, session, url_for
from flask_login import current_user

from blueprints.accounts.forms import (
    MemberForm,
    PasswordResetForm,
    RoleForm,
    TeamForm,
    TeamSettingsForm,
    UserForm,
)
from blueprints.forms import EmptyForm
from blueprints.scope import (
    admin_required,
    current_team,
    get_team_object_or_404,
    get_user_or_404,
    is_owner,
    owner_required,
)
from models import Membership, Role
from services.accounts import accounts
from services.errors import FieldErrors, ServiceError, apply_to_form
from services.registries import images

bp = Blueprint("teams", __name__, url_prefix="/team")


@bp.route("/switch/<int:team_id>", methods=["POST"])
def switch(team_id: int):
    if not EmptyForm().validate_on_submit():
        abort(400)
    m = accounts.membership(current_user, team_id)
    if m is None:
        abort(404)
    session["team_id"] = m.team_id
    flash(f"Now working in team {m.team.label}.", "info")
    return redirect(url_for("main.index"))


@bp.route("/", methods=["GET"])
def members():
    team = current_team()
    return render_template("teams/members.html", team=team, form=MemberForm(),
                           settings_form=TeamSettingsForm(display_name=team.label, slug=team.name),
                           can_manage=is_owner())


@bp.route("/members", methods=["POST"])
@owner_required
def add_member():
    team = current_team()
    form = MemberForm()
    if form.validate_on_submit():
        try:
            m = accounts.add_member_by_email(team, form.email.data, Role(form.role.data), by=current_user.email)
        except FieldErrors as e:
            apply_to_form(form, e)
        else:
            flash(f"Added {m.user.email} to {team.label}.", "success")
            return redirect(url_for("teams.members"))
    return render_template("teams/members.html", team=team, form=form,
                           settings_form=TeamSettingsForm(display_name=team.label, slug=team.name),
                           can_manage=True), 422


@bp.route("/members/<int:membership_id>/remove", methods=["POST"])
@owner_required
def remove_member(membership_id: int):
    if not EmptyForm().validate_on_submit():
        abort(400)
    member = get_team_object_or_404(Membership, membership_id)
    try:
        accounts.remove_member(member, by=current_user.email)
    except ServiceError as e:
        flash(str(e), "error")
    else:
        flash("Member removed.", "success")
    return redirect(url_for("teams.members"))


@bp.route("/new", methods=["GET", "POST"])
def new_team():
    form = TeamForm()
    if form.validate_on_submit():
        try:
            team = accounts.create_team(form.name.data, current_user)
        except FieldErrors as e:
            e.errors = {"name": e.errors.get("team", str(e))}
            apply_to_form(form, e)
        else:
            session["team_id"] = team.id
            flash(f"Created team {team.label} (slug {team.name}, namespace {images.namespace_for(team)}).", "success")
            return redirect(url_for("teams.members"))
    return render_template("teams/new.html", form=form), 422 if form.errors else 200


@bp.route("/users", methods=["GET", "POST"])
@admin_required
def users():
    form = UserForm()
    if form.validate_on_submit():
        try:
            user, team, _ = accounts.create_user_in_team(
                form.email.data, form.password.data, form.team.data, is_admin=form.is_admin.data,
                by=current_user.email)
        except FieldErrors as e:
            apply_to_form(form, e)
        else:
            flash(f"Created {user.email} in team {team.label}.", "success")
            return redirect(url_for("teams.users"))
    all_users = accounts.all_users()
    return render_template("teams/users.html", form=form, users=all_users, reset_form=PasswordResetForm()), \
        422 if form.errors else 200


@bp.route("/members/<int:membership_id>/role", methods=["POST"])
@owner_required
def change_role(membership_id: int):
    member = get_team_object_or_404(Membership, membership_id)
    form = RoleForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        accounts.change_role(member, Role(form.role.data), by=current_user.email)
    except ServiceError as e:
        flash(str(e), "error")
    else:
        flash(f"{member.user.email} is now {member.role}.", "success")
    return redirect(url_for("teams.members"))


@bp.route("/settings", methods=["POST"])
@owner_required
def settings():
    team = current_team()
    form = TeamSettingsForm()
    if form.validate_on_submit():
        try:
            accounts.rename_team(team, form.display_name.data or "", (form.slug.data or "").strip(),
                                 by=current_user.email)
        except FieldErrors as e:
            apply_to_form(form, e)
        else:
            flash(f"Saved: {team.label} ({team.name}).", "success")
            return redirect(url_for("teams.members"))
    return render_template("teams/members.html", team=team, form=MemberForm(), settings_form=form,
                           can_manage=True), 422


@bp.route("/users/<int:user_id>/password", methods=["POST"])
@admin_required
def reset_password(user_id: int):
    user = get_user_or_404(user_id)
    form = PasswordResetForm()
    if form.validate_on_submit():
        try:
            accounts.set_password(user, form.new_password.data or "", by=current_user.email)
        except FieldErrors as e:
            flash(f"Password not changed: {' '.join(e.errors.values())}", "error")
        else:
            flash(f"New password set for {user.email}; their sessions ended.", "success")
    return redirect(url_for("teams.users"))


@bp.route("/users/<int:user_id>/active", methods=["POST"])
@admin_required
def set_active(user_id: int):
    user = get_user_or_404(user_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        accounts.set_active(user, not user.active, current_user)
    except ServiceError as e:
        flash(str(e), "error")
    else:
        flash(f"{user.email} is {'active' if user.active else 'deactivated'}.", "success")
    return redirect(url_for("teams.users"))


@bp.route("/users/<int:user_id>/delete", methods=["POST"])
@admin_required
def delete_user(user_id: int):
    user = get_user_or_404(user_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    email = user.email
    try:
        accounts.delete_user(user, current_user)
    except ServiceError as e:
        flash(str(e), "error")
    else:
        flash(f"Deleted {email}.", "success")
    return redirect(url_for("teams.users"))
