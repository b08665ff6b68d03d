"""Flask-WTF forms for accounts and teams."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import ValidationError

from services.validation import check_email, check_password, check_team_name


def _check(fn):
    def validator(form, field):
        problem = fn(field.data)
        if problem:
            raise ValidationError(problem)
    return validator


class EmptyForm(FlaskForm):
    """Carries only the CSRF token, for button-only POSTs."""


class SetupForm(FlaskForm):
    email = StringField("Email", validators=[_check(check_email)])
    password = PasswordField("Password", validators=[_check(check_password)])
    team = StringField("First team name", validators=[_check(check_team_name)],
                       description="Lowercase letters, digits and dashes, e.g. platform")


class LoginForm(FlaskForm):
    email = StringField("Email", validators=[_check(check_email)])
    password = PasswordField("Password")

    def validate_password(self, field):
        if not field.data:
            raise ValidationError("Enter your password.")
        if len(field.data) > 256:
            raise ValidationError("A password has at most 256 characters.")


class UserForm(FlaskForm):
    email = StringField("Email", validators=[_check(check_email)])
    password = PasswordField("Password", validators=[_check(check_password)])
    team = StringField("Team", validators=[_check(check_team_name)],
                       description="Created if it does not exist yet")
    is_admin = BooleanField("Administrator")


class MemberForm(FlaskForm):
    email = StringField("Email of an existing user", validators=[_check(check_email)])
    role = SelectField("Role", choices=[SelectChoice("member", "Member"),
                                           SelectChoice("owner", "Owner")])


class TeamForm(FlaskForm):
    name = StringField("Team name", validators=[_check(check_team_name)])
