"""First-run setup, login and logout."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from blueprints.access import public, safe_next
from blueprints.accounts.forms import LoginForm, PasswordChangeForm, SetupForm
from blueprints.forms import EmptyForm
from services.accounts import accounts
from services.errors import FieldErrors, apply_to_form

bp = Blueprint("auth", __name__)


@bp.route("/setup", methods=["GET", "POST"])
@public
def setup():
    if accounts.has_users():
        return redirect(url_for("auth.login"))
    form = SetupForm()
    if form.validate_on_submit():
        try:
            user = accounts.first_setup(form.email.data, form.password.data, form.team.data)
        except FieldErrors as e:
            apply_to_form(form, e)
        else:
            login_user(user)
            flash("Welcome to Berth. Connect an image registry to get started.", "success")
            return redirect(url_for("main.index"))
    return render_template("auth/setup.html", form=form), 422 if form.errors else 200


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    if current_user.is_authenticated:
        return redirect(safe_next(url_for("main.index")))
    form = LoginForm()
    refused = False
    if form.validate_on_submit():
        address = request.remote_addr or "unknown"
        refusal = accounts.login_refused(form.email.data, address)
        user = None if refusal else accounts.authenticate(form.email.data, form.password.data)
        if refusal:
            form.password.errors.append(refusal)
            refused = True
        elif user is None:
            accounts.record_login_failure(form.email.data, address)
            form.password.errors.append("Wrong email or password.")
        else:
            accounts.clear_login_failures(user.email)
            session.clear()
            login_user(user)
            flash("Signed in.", "success")
            return redirect(safe_next(url_for("main.index")))
    return render_template("auth/login.html", form=form), 429 if refused else 422 if form.errors else 200


@bp.route("/logout", methods=["POST"])
def logout():
    if EmptyForm().validate_on_submit():
        if current_user.is_authenticated:
            accounts.end_sessions(current_user)  # a copy of this session's cookie stops working too
        logout_user()
        session.clear()
        flash("Signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/account", methods=["GET", "POST"])
def account():
    """The signed-in user's own account: change the password (the current one is required)."""
    form = PasswordChangeForm()
    if form.validate_on_submit():
        try:
            accounts.change_password(current_user, form.current_password.data or "", form.new_password.data or "")
        except FieldErrors as e:
            apply_to_form(form, e)
        else:
            login_user(current_user)  # this session continues; every other one ended
            flash("Password changed; your other sessions were signed out.", "success")
            return redirect(url_for("auth.account"))
    return render_template("auth/account.html", form=form), 422 if form.errors else 200
