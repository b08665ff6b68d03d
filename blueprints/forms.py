"""Flask-WTF forms for accounts and teams."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    FieldList,
    Form,
    FormField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, NumberRange, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from services.delivery.triggers import KINDS as TRIGGER_KINDS
from services.oversight.notifications import KINDS as NOTIFY_KINDS
from services.platform.validation import check_email, check_object_name, check_password, check_team_name
from services.registries.clients import KINDS as REGISTRY_KINDS


def _check(fn):
    def validator(form, field):
        problem = fn(field.data)
        if problem:
            raise ValidationError(problem)
    return validator


class MultiCheckboxField(SelectMultipleField):
    """A list of checkboxes (one per choice), each with its own label."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class EmptyForm(FlaskForm):
    """Carries only the CSRF token, for button-only POSTs."""


class SetupForm(FlaskForm):
    email = StringField("Email", validators=[_check(check_email)])
    password = PasswordField("Password", validators=[_check(check_password)])
    team = StringField("First team name", validators=[_check(check_team_name)],
                       description="What your team is called, e.g. Shop & Co; Berth makes its slug (shop-co) for "
                       "the Kubernetes namespace")


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


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField("Current password")
    new_password = PasswordField("New password", description="At least 10 characters")


class PasswordResetForm(FlaskForm):
    new_password = PasswordField("New password", description="The user signs in with it; their sessions end")


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=[SelectChoice("member", "Member"), SelectChoice("owner", "Owner")])


class TeamForm(FlaskForm):
    name = StringField("Team name", validators=[_check(check_team_name)],
                       description="e.g. Shop & Co; its slug (shop-co) names the Kubernetes namespace")


class TeamSettingsForm(FlaskForm):
    display_name = StringField("Team name")
    slug = StringField("Slug", description="Names the Kubernetes namespace (berth-<slug>); lowercase letters, "
                       "digits and dashes; changes only while the team has no components")


class RegistryForm(FlaskForm):
    kind = SelectField("Type", choices=[SelectChoice(k, label) for k, label in REGISTRY_KINDS.items()])
    name = StringField("Name", validators=[_check(check_object_name)],
                       description="How your team refers to this registry, e.g. company-harbor")
    url = StringField("URL", description="e.g. https://registry.example.com or harbor.example.com:8443; "
                      "leave empty for Docker Hub, ghcr.io, registry.gitlab.com, or an ECR registry named by "
                      "its account and region")
    username = StringField("Username", description="Leave empty for anonymous access. ECR: the access key ID; "
                           "Azure: the client (application) ID or the admin user")
    password = PasswordField("Password or token", description="ECR: the secret access key; Google: the whole "
                             "service-account key (JSON); Azure: the client secret; GHCR / GitLab: a token")
    region = StringField("AWS region", description="ECR: where the registry is, e.g. eu-west-1")
    registry_id = StringField("AWS account ID", description="ECR: the registry ID, 12 digits (empty: the "
                              "account of the access key)")
    tenant = StringField("Azure tenant", description="ACR with a service principal: the directory (tenant) ID; "
                         "empty for the registry's admin user")
    api_url = StringField("API URL", description="GHCR: https://api.github.com (or your GitHub Enterprise API); "
                          "GitLab: https://gitlab.com/api/v4 or your GitLab's")
    namespace = StringField("Organization, group or project", description="GHCR: the organization whose "
                            "packages to list (empty: the token's user); GitLab: the group or project path")
    poll_budget = IntegerField("Polling budget (requests per hour)", validators=[Optional()],
                               description="Most registry requests polling makes here in an hour, so "
                               "auto-deploy never spends the pulls your runtime needs; empty: the default (600 for "
                               "Docker Hub, 1,000 for GHCR and GitLab, no limit for others)")
    ca_bundle = TextAreaField("CA bundle (PEM)", description="For registries whose certificate is "
                              "signed by a private CA or self-signed")
    insecure = BooleanField("Skip TLS verification (insecure)")
    token_host = StringField("Token service host", description="Only for a registry that signs in at another "
                             "host (self-hosted GitLab: your GitLab's host). Berth sends the registry's "
                             "credentials there for tokens; to no other host.")

    def validate_username(self, field):
        if field.data and len(field.data) > 255:
            raise ValidationError("A username has at most 255 characters.")

    def validate_ca_bundle(self, field):
        if field.data and len(field.data) > 200_000:
            raise ValidationError("A CA bundle has at most 200 KB.")

    def validate_password(self, field):  # a service-account key is longer than any password
        limit = 16384 if self.kind.data == "gar" else 4096
        if field.data and len(field.data) > limit:
            raise ValidationError(f"This field takes at most {limit} characters.")

    def validate_region(self, field):
        if field.data and len(field.data) > 40:
            raise ValidationError("An AWS region has at most 40 characters.")

    def validate_tenant(self, field):
        if field.data and len(field.data) > 253:
            raise ValidationError("A tenant has at most 253 characters.")

    def validate_api_url(self, field):
        if field.data and len(field.data) > 500:
            raise ValidationError("A URL has at most 500 characters.")

    def validate_namespace(self, field):
        if field.data and len(field.data) > 255:
            raise ValidationError("A name or path has at most 255 characters.")


class EnvForm(Form):
    name = StringField("Name")
    value = StringField("Value")


class PortForm(Form):
    port = IntegerField("Container port", validators=[Optional(), NumberRange(1, 65535, "Use a port from 1 to 65535.")])
    protocol = SelectField("Protocol", choices=[SelectChoice("TCP", "TCP"), SelectChoice("UDP", "UDP")])
    expose = BooleanField("Expose")
    host_port = IntegerField("Host port (podman)", validators=[
        Optional(), NumberRange(1, 65535, "Use a port from 1 to 65535.")],
        description="Empty: one is assigned from the host port range")
    public_host = StringField("Public host (Kubernetes Ingress)", description="e.g. app.example.com; optional")


class ComponentForm(FlaskForm):
    source = SelectField("Image source", choices=[SelectChoice("registry", "A connected registry"),
                                                  SelectChoice("reference", "An image reference")])
    registry_id = SelectField("Registry", coerce=str, validate_choice=False)
    image = StringField("Image", description="Repository in the registry, e.g. team/app; or a full reference "
                        "such as nginx:1.27 or ghcr.io/org/app:tag")
    tag = StringField("Tag")
    name = StringField("Component name", description="Lowercase letters, digits and dashes; names the Deployment")
    application = StringField("Application", description="Pick one or type a new name")
    replicas = IntegerField("Replicas", default=1, validators=[
        InputRequired("Enter how many replicas to run."), NumberRange(1, 50, "Use 1 to 50 replicas.")])
    memory_mb = IntegerField("Memory limit (MiB)", default=256, validators=[
        InputRequired("Enter a memory limit in MiB."),
        NumberRange(4, 131072, "Use a memory limit from 4 MiB to 131072 MiB (128 GiB).")])
    cpu_millicores = IntegerField("CPU limit (millicores, optional)", validators=[
        Optional(), NumberRange(10, 64000, "Use 10 to 64000 millicores.")])
    env = FieldList(FormField(EnvForm), min_entries=0, max_entries=200)
    ports = FieldList(FormField(PortForm), min_entries=0, max_entries=50)
    create_anyway = BooleanField("Create anyway: the registry cannot be reached now; the release checks the tag later")
    health_kind = SelectField("Health check", choices=[SelectChoice("none", "None"), SelectChoice("http", "HTTP GET"),
                                                        SelectChoice("tcp", "TCP connect")], default="none")
    health_port = IntegerField("Port", validators=[Optional(), NumberRange(1, 65535, "Use a port from 1 to 65535.")])
    health_path = StringField("Path (HTTP)", default="/", description="e.g. /healthz; answers 200-399 pass")
    health_initial_delay = IntegerField("Initial delay (s)", default=0, validators=[
        Optional(), NumberRange(0, 3600, "Use 0 to 3600 seconds.")])
    health_period = IntegerField("Period (s)", default=10, validators=[
        Optional(), NumberRange(1, 3600, "Use 1 to 3600 seconds.")])
    health_failure_threshold = IntegerField("Failures before unhealthy", default=3, validators=[
        Optional(), NumberRange(1, 100, "Use 1 to 100 failures.")])

    def validate_health_port(self, field):
        if self.health_kind.data in ("http", "tcp") and field.data is None and not field.errors:
            raise ValidationError("Enter the port the health check connects to.")

    def validate_image(self, field):
        if not (field.data or "").strip():
            raise ValidationError("Choose an image from the registry or type a reference.")

    def validate_tag(self, field):
        if self.source.data == "registry" and not (field.data or "").strip():
            raise ValidationError("Choose a tag.")

    def validate_registry_id(self, field):
        # Without a registry, a repository path would silently become a Docker Hub image anyone may own.
        if self.source.data == "registry" and not (field.data or "").isdigit():
            raise ValidationError("Choose one of your team's registries (or pick \"An image reference\").")


class ScaleForm(FlaskForm):
    replicas = IntegerField("Replicas", validators=[
        InputRequired("Enter how many replicas to run."), NumberRange(1, 50, "Use 1 to 50 replicas.")])


class BuildSourceForm(FlaskForm):
    auto_deploy = BooleanField("Deploy automatically when a matching tag is pushed")
    trigger_kind = SelectField("Trigger rule", choices=[SelectChoice(k, label) for k, label in TRIGGER_KINDS.items()])
    trigger_pattern = StringField("Pattern", description="Regular expression matched against the whole tag (RE2), "
                                  "e.g. v5.*; or a version range, e.g. >=5.0.0 <6, ~5.1, ^5")
    include_prereleases = BooleanField("Include pre-releases (e.g. 5.2.0-rc.1)")
    no_downgrade = BooleanField("Never deploy an older version than the one running")
    platform_only = BooleanField("Only when the image has my platform")
    platform = StringField("Platform", default="linux/amd64", description="os/architecture[/variant] the "
                           "runtime needs, e.g. linux/amd64 or linux/arm64/v8; a tag without it waits")
    cooldown_minutes = IntegerField("Cooldown (minutes, optional)", validators=[
        Optional(), NumberRange(1, 10080, "Use 1 to 10080 minutes (a week).")],
        description="Deploy only tags first seen at least this long ago")
    require_approval = BooleanField("Require approval before an automatic deploy",
                                    description="Manual deploys and rollbacks never wait.")
    approvals_required = IntegerField("Approvals needed", default=1, validators=[
        Optional(), NumberRange(1, 10, "Use 1 to 10 approvals.")])
    approval_hours = IntegerField("Approval expires after (hours)", default=24, validators=[
        Optional(), NumberRange(1, 720, "Use 1 to 720 hours.")])
    approvals_owners_only = BooleanField("Only owners may approve")
    poll_interval = IntegerField("Poll every (seconds, optional)", validators=[
        Optional(), NumberRange(15, 86400, "Use 15 to 86400 seconds.")],
        description="Polling is the fallback for registries that cannot send webhooks; empty uses the default")
    webhook_secret = PasswordField("Webhook secret (optional)", description="When set, deliveries must carry it as "
                                   "an Authorization header or an X-Hub-Signature-256 HMAC. Leave empty to keep it.")
    clear_secret = BooleanField("Remove the webhook secret")


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


class WebhookSecretForm(FlaskForm):
    webhook_secret = PasswordField("Webhook secret (optional)", description="When set, deliveries must carry it as "
                                   "an Authorization header or an X-Hub-Signature-256 HMAC. Leave empty to keep it.")
    clear_secret = BooleanField("Remove the webhook secret")
