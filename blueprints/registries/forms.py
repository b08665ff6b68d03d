"""The forms of the registries pages."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Optional, ValidationError

from blueprints.forms import check
from services.platform.validation import check_object_name
from services.registries.clients import KINDS as REGISTRY_KINDS


class RegistryForm(FlaskForm):
    kind = SelectField("Type", choices=[SelectChoice(k, label) for k, label in REGISTRY_KINDS.items()])
    name = StringField("Name", validators=[check(check_object_name)],
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


class WebhookSecretForm(FlaskForm):
    webhook_secret = PasswordField("Webhook secret (optional)", description="When set, deliveries must carry it as "
                                   "an Authorization header or an X-Hub-Signature-256 HMAC. Leave empty to keep it.")
    clear_secret = BooleanField("Remove the webhook secret")
