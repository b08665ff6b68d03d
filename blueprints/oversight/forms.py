"""The forms of the oversight pages."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    PasswordField,
    SelectField,
    StringField,
)
from wtforms.fields.choices import SelectChoice

from blueprints.forms import MultiCheckboxField
from services.oversight.notifications import KINDS as NOTIFY_KINDS


class ChannelForm(FlaskForm):
    name = StringField("Name", description="e.g. team-slack")
    kind = SelectField("Kind", choices=[SelectChoice(k, label) for k, label in NOTIFY_KINDS.items()])
    url = StringField("URL", description="The receiver's https:// URL (webhook, or Slack-compatible incoming "
                      "webhook)")
    email_to = StringField("Email to", description="Addresses separated by commas (email channels)")
    secret = PasswordField("Signing secret", description="Signs each request as X-Berth-Signature-256 "
                           "(HMAC-SHA256 of the body). Leave empty to keep the stored one.")
    events = MultiCheckboxField("Events")
    enabled = BooleanField("Enabled")
