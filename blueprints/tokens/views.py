"""API tokens: a person makes personal tokens (an owner also the team's service tokens), sees a
new token once, lists theirs with last use, revokes them; and the API reference, rendered from the
same OpenAPI document /api/v1/openapi.json serves."""
from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, NumberRange

from blueprints.api.core import document
from blueprints.forms import EmptyForm, MultiCheckboxField
from blueprints.scope import current_team, get_team_object_or_404, is_owner
from models import ApiToken
from services.api import tokens
from services.errors import FieldErrors, ServiceError, apply_to_form

bp = Blueprint("tokens", __name__, url_prefix="/tokens")


class TokenForm(FlaskForm):
    name = StringField("Name", description="What uses it, e.g. ci-deploy")
    kind = SelectField("Kind", default="personal", choices=[
        SelectChoice("personal", "Personal: acts as you"),
        SelectChoice("service", "Team service token (owners): acts as the owner who made it")])
    scopes = MultiCheckboxField("Scopes", choices=[SelectChoice(s, f"{s}: {tokens.SCOPE_TEXT[s]}")
                                                   for s in tokens.SCOPES])
    days = IntegerField("Expires after (days)", default=90, validators=[
        InputRequired("Enter after how many days the token expires."),
        NumberRange(1, tokens.MAX_DAYS, f"1 to {tokens.MAX_DAYS} days.")])


def _page(form: TokenForm, secret: str | None = None, status: int = 200):
    team = current_team()
    response = render_template("tokens/index.html", form=form, secret=secret, action_form=EmptyForm(),
                               tokens=tokens.visible(team, current_user, is_owner()))
    return response, status, {"Cache-Control": "no-store"}


@bp.route("/", methods=["GET", "POST"])
def index():
    form = TokenForm()
    if request.method == "POST" and form.validate_on_submit():
        try:
            _row, secret = tokens.create(current_team(), current_user, g.membership, form.name.data or "",
                                         list(form.scopes.data or []), form.days.data, form.kind.data or "")
        except FieldErrors as e:
            apply_to_form(form, e)
        else:
            return _page(TokenForm(formdata=None), secret, 201)
    return _page(form, status=422 if form.errors else 200)


@bp.route("/<int:token_id>/revoke", methods=["POST"])
def revoke(token_id: int):
    token = get_team_object_or_404(ApiToken, token_id)
    mine = token.user_id == current_user.id and token.kind == "personal"
    if not (mine or (token.kind == "service" and is_owner())):
        return redirect(url_for("tokens.index"))
    if EmptyForm().validate_on_submit():
        try:
            tokens.revoke(token, current_user.email)
        except ServiceError as e:
            flash(e.message, "error")
        else:
            flash(f"Revoked token {token.name}: it no longer works.", "success")
    return redirect(url_for("tokens.index"))


@bp.route("/reference")
def reference():
    return render_template("tokens/reference.html", doc=document(request.host_url))
