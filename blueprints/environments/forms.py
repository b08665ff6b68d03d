"""The forms of the environments pages."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, NumberRange, Optional


class EnvironmentForm(FlaskForm):
    name = StringField("Name", validators=[InputRequired(), Length(max=30)], description="e.g. staging")
    upstream_id = SelectField("Promoted from", coerce=str, description=(
        "The environment whose releases come here; none for the first (it takes pushes and deploys)."))
    targets = SelectMultipleField("Deploys to", description=(
        "This Berth's own runtime (local) and your team's clusters (Clusters page); a promotion deploys on all."))
    namespace = StringField("Namespace on clusters (optional)", validators=[Optional(), Length(max=63)],
                            description="Empty: <prefix><team>-<environment>")
    auto_deploy = BooleanField("Pushes may deploy here (under each component's trigger rule)")
    auto_promote = BooleanField("Promote into it automatically once the gates pass")
    approvals_required = IntegerField("Approvals needed", default=0, validators=[InputRequired(message=(
        "A whole number, 0 for none.")), NumberRange(min=0, max=10)], description=(
        "A person cannot approve a promotion they requested."))
    owners_only = BooleanField("Only owners may promote into it and approve")
    soak_minutes = IntegerField("Soak time (minutes)", default=0, validators=[InputRequired(message=(
        "A whole number of minutes, 0 for none.")), NumberRange(min=0, max=10080)], description=(
        "The upstream must have run the release healthy this long."))
    health_rule = SelectField("Upstream healthy on", choices=[SelectChoice("all", "all of its targets"),
                                                              SelectChoice("any", "any one target")])
    on_failure = SelectField("When a target fails", choices=[
        SelectChoice("retry", "retry it (every minute) and keep the next gate closed"),
        SelectChoice("rollback", "leave it rolled back (the safety loop) and keep the next gate closed")])
    trust_policy_id = SelectField("Trust policy", coerce=str, default="", description=(
        "Every digest deployed here must also pass this policy (Trust page), beside the component's own."))
    freeze_windows = TextAreaField("Freeze windows", description=(
        "One per line, <RRULE> for <hours>h in the team's time zone, e.g. "
        "FREQ=WEEKLY;BYDAY=FR;BYHOUR=16;BYMINUTE=0 for 64h (Friday 16:00 to Monday 08:00)."))


class TimezoneForm(FlaskForm):
    timezone = StringField("Team time zone", validators=[InputRequired()], description="e.g. Europe/Berlin")


class OverridesForm(FlaskForm):
    overrides = TextAreaField("Overrides", description=(
        "One per line: replicas = 3, memory_mb = 512, cpu_millicores = 500, env.LOG_LEVEL = warn, "
        "public_host.8080 = shop.example.com, volume_size.data = 2048."))


class PromoteForm(FlaskForm):
    environment_id = SelectField("Promote to", coerce=str)


class FreezeOverrideForm(FlaskForm):
    reason = StringField("Reason", validators=[InputRequired(message="Say why it may go during the freeze."),
                                               Length(max=300)])
