"""The forms of the accounts pages."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    PasswordField,
    SelectField,
    StringField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import ValidationError

from blueprints.forms import check
from services.platform.validation import check_email, check_password, check_team_name


class SetupForm(FlaskForm):
    email = StringField("Email", validators=[check(check_email)])
    password = PasswordField("Password", validators=[check(check_password)])
    team = StringField("First team name", validators=[check(check_team_name)],
                       description="What your team is called, e.g. Shop & Co; Berth makes its slug (shop-co) for "
                       "the Kubernetes namespace")


class LoginForm(FlaskForm):
    email = StringField("Email", validators=[check(check_email)])
    password = PasswordField("Password")

    def validate_password(self, field):
        if not field.data:
            raise ValidationError("Enter your password.")
        if len(field.data) > 256:
            raise ValidationError("A password has at most 256 characters.")


class UserForm(FlaskForm):
    email = StringField("Email", validators=[check(check_email)])
    password = PasswordField("Password", validators=[check(check_password)])
    team = StringField("Team", validators=[check(check_team_name)],
                       description="Created if it does not exist yet")
    is_admin = BooleanField("Administrator")


class MemberForm(FlaskForm):
    email = StringField("Email of an existing user", validators=[check(check_email)])
    role = SelectField("Role", choices=[SelectChoice("member", "Member"),
                                           SelectChoice("owner", "Owner")])


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField("Current password")
    new_password = PasswordField("New password", description="At least 10 characters")


class PasswordResetForm(FlaskForm):
    new_password = PasswordField("New password", description="The user signs in with it; their sessions end")


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=[SelectChoice("member", "Member"), SelectChoice("owner", "Owner")])


class TeamForm(FlaskForm):
    name = StringField("Team name", validators=[check(check_team_name)],
                       description="e.g. Shop & Co; its slug (shop-co) names the Kubernetes namespace")


class TeamSettingsForm(FlaskForm):
    display_name = StringField("Team name")
    slug = StringField("Slug", description="Names the Kubernetes namespace (berth-<slug>); lowercase letters, "
                       "digits and dashes; changes only while the team has no components")
