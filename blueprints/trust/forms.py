"""The forms of the Trust pages."""
from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, NumberRange, Optional

from blueprints.forms import MultiCheckboxField


class KeyForm(FlaskForm):
    name = StringField("Name", description="How your team refers to this key, e.g. ci-release")
    kind = SelectField("Kind", default="key", choices=[SelectChoice("key", "Public key (cosign.pub)"),
                                        SelectChoice("root", "Root CA certificate (keyless signing certificates)")])
    pem = TextAreaField("Public key or certificate (PEM)", description="The contents of cosign.pub "
                        "(-----BEGIN PUBLIC KEY-----: ECDSA P-256/384/521, RSA of 2048 bits or more, or Ed25519), "
                        "or the root CA certificate that issues your signing certificates "
                        "(-----BEGIN CERTIFICATE-----)")


class PolicyForm(FlaskForm):
    name = StringField("Name", description="e.g. release-signed")
    key_ids = MultiCheckboxField("Keys whose signatures count", coerce=int)
    threshold = IntegerField("Signatures required", default=1, validators=[
        InputRequired("Enter how many of the chosen keys must have signed."),
        NumberRange(1, 20, "Use 1 to 20 signatures.")],
        description="Each key counts once, however many times it signed the image")
    subject_pattern = StringField("Certificate subject (keyless)", description=(
        "With a root CA chosen: the SAN (URI or email) its signing certificates must name, an RE2 regular "
        "expression matched whole, e.g. https://ci\\.example\\.com/.*"))
    issuer_pattern = StringField("Certificate issuer (keyless, optional)", description=(
        "The OIDC issuer the certificate names (Fulcio's issuer extension), RE2 matched whole"))
    scan_below = SelectField("Harbor scan (optional)", default="", choices=[
        SelectChoice("", "No scan required"), SelectChoice("low", "Nothing low or above"),
        SelectChoice("medium", "Nothing medium or above"), SelectChoice("high", "Nothing high or critical"),
        SelectChoice("critical", "Nothing critical")], description=(
        "For images in a Harbor registry: the artifact's vulnerability scan (Harbor's scan overview) must find "
        "nothing at this severity or above. An artifact never scanned is scanned first"))
    scan_wait_seconds = IntegerField("Wait for a scan (seconds)", default=120, validators=[
        Optional(), NumberRange(0, 600, "Wait 0 to 600 seconds.")],
        description="How long a deploy waits for a scan Berth starts; still running then, the deploy is refused "
                    "and decided again at the next push, poll or deploy")
    attestations = TextAreaField("Required attestations (optional)", description=(
        "One per line, each signed by one of the keys (cosign attest): vuln (a scan), vuln below high "
        "(no finding high or critical; also below medium, below critical), sbom (SPDX or CycloneDX), spdx, "
        "cyclonedx, slsaprovenance, openvex, custom, or a predicate type URI"))
