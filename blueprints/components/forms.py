"""The component form and its sub-forms, and the helpers that move values between it and the services."""
from __future__ import annotations

import re
import shlex

from flask import request
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
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

from blueprints.scope import current_team
from models import Component
from services.components import components
from services.delivery.triggers import KINDS as TRIGGER_KINDS
from services.deploy import targets
from services.deploy.drivers.spec import ConfigFile, HealthCheck, Port, Volume
from services.errors import FieldErrors, apply_to_form
from services.registries import registries


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


class VolumeForm(Form):
    name = StringField("Volume name", description="e.g. data; the same name in two components of an application "
                       "shares it (podman only)")
    path = StringField("Mount path", description="In the container, e.g. /var/lib/data")
    size_mb = IntegerField("Size (MiB, Kubernetes)", default=1024, validators=[
        Optional(), NumberRange(1, 1024 * 1024, "Use 1 to 1048576 MiB (1 TiB).")])
    read_only = BooleanField("Read-only")


class FileForm(Form):
    path = StringField("File path", description="In the container, e.g. /etc/app/app.conf")
    mode = StringField("Mode", default="0644", description="Octal, e.g. 0644 or 0600")
    content = TextAreaField("Content")
    secret = BooleanField("Secret file", description="Stored encrypted, never shown again (a Secret on "
                          "Kubernetes); leave the content empty to keep it")


class ComponentForm(FlaskForm):
    source = SelectField("Image source", choices=[SelectChoice("registry", "A connected registry"),
                                                  SelectChoice("reference", "An image reference")])
    registry_id = SelectField("Registry", coerce=str, validate_choice=False)
    target_id = SelectField("Deploy to", coerce=str, validate_choice=False, description=(
        "This Berth's own runtime, or one of your team's Kubernetes clusters (Clusters page). "
        "Chosen once, when the component is created."))
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
    replicas_elsewhere = BooleanField("Replicas managed elsewhere", description=(
        "Kubernetes only. An autoscaler (HPA) or `kubectl scale` sets the number of replicas: Berth leaves "
        "it out of what it applies and never changes it back. Without it, Berth sets the number above, and "
        "refuses to overwrite a number someone else changed (the release says so)."))
    command = StringField("Command", description=(
        "Runs instead of the image's entrypoint, written as in a shell (quotes group words); empty: the image's. "
        "A command without arguments runs without the image's arguments too."))
    args = StringField("Arguments", description="Instead of the image's command (CMD); empty: the image's.")
    run_as_root = BooleanField("Run as root", description=(
        "Kubernetes only. Without it the container runs as a non-root user with no extra privileges "
        "(Pod Security \"restricted\"); tick it for an image whose user is root. The namespace's level "
        "must then allow it (Berth creates namespaces at BERTH_KUBERNETES_POD_SECURITY, \"baseline\" by default)."))
    env = FieldList(FormField(EnvForm), min_entries=0, max_entries=200)
    ports = FieldList(FormField(PortForm), min_entries=0, max_entries=50)
    volumes = FieldList(FormField(VolumeForm), min_entries=0, max_entries=20)
    files = FieldList(FormField(FileForm), min_entries=0, max_entries=20)
    depends_on = SelectMultipleField("Connects to", coerce=int, validate_choice=False, description=(
        "Components of the same application this one depends on: it gets <NAME>_HOST and <NAME>_PORT for each "
        "(e.g. DB_HOST, DB_PORT), and its first release waits until they run."))
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

    def validate_command(self, field):
        shell_words(field.data)

    def validate_args(self, field):
        shell_words(field.data)

    def validate_registry_id(self, field):
        # Without a registry, a repository path would silently become a Docker Hub image anyone may own.
        if self.source.data == "registry" and not (field.data or "").isdigit():
            raise ValidationError("Choose one of your team's registries (or pick \"An image reference\").")


class OverrideForm(FlaskForm):
    reason = StringField("Why deploy it anyway", validators=[
        DataRequired("Say why this image may run although the policy refuses it."),
        Length(max=300, message="At most 300 characters.")])


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
    trust_policy_id = SelectField("Signature policy", coerce=lambda v: int(v) if v not in (None, "", "None") else None,
                                  description="Deploy only image digests this policy accepts (Trust page), "
                                  "on every path: pushes, polls, manual deploys, rollbacks, promotions")
    poll_interval = IntegerField("Poll every (seconds, optional)", validators=[
        Optional(), NumberRange(15, 86400, "Use 15 to 86400 seconds.")],
        description="Polling is the fallback for registries that cannot send webhooks; empty uses the default")
    webhook_secret = PasswordField("Webhook secret (optional)", description="When set, deliveries must carry it as "
                                   "an Authorization header or an X-Hub-Signature-256 HMAC. Leave empty to keep it.")
    clear_secret = BooleanField("Remove the webhook secret")


def component_form(**kwargs) -> ComponentForm:
    form = ComponentForm(**kwargs)
    form.registry_id.choices = [SelectChoice("", "— choose —")] + [
        SelectChoice(str(r.id), r.name) for r in team_registries()]
    form.target_id.choices = [SelectChoice("", "This Berth's own runtime")] + [
        SelectChoice(str(t.id), f"Kubernetes cluster {t.name}") for t in targets.team_targets(current_team().id)]
    form.depends_on.choices = [SelectChoice(c.id, f"{c.name} ({c.application.name})")
                               for c in components.team_components(current_team().id)]
    return form


def shell_words(text: str | None) -> list[str] | None:
    """A command line as its words (None when empty: the image's own); ValidationError when quoting is off."""
    if not (text or "").strip():
        return None
    try:
        return shlex.split(text)
    except ValueError as e:
        raise ValidationError(f"Check the quotes: {e}.") from None


def _words_or_none(text: str | None) -> list[str] | None:
    try:
        return shell_words(text)
    except ValidationError:
        return None  # the form's own validation names the field


def prefill(form: ComponentForm, details) -> None:
    while len(form.ports):
        form.ports.pop_entry()
    for port, proto in details.exposed_ports:
        form.ports.append_entry({"port": port, "protocol": proto, "expose": True})
    for field, words in ((form.command, details.entrypoint), (form.args, details.cmd)):
        field.render_kw = {"placeholder": shlex.join(words)} if words else None
    while len(form.env):
        form.env.pop_entry()
    for name, value in details.env:
        if name not in ("PATH", "HOME", "HOSTNAME"):
            form.env.append_entry({"name": name, "value": value})


def component_input(form: ComponentForm) -> components.ComponentInput:
    from_registry = form.source.data == "registry"
    registry_id = form.registry_id.data if from_registry else None
    return components.ComponentInput(
        name=(form.name.data or "").strip(), application=form.application.data or "",
        registry_id=int(registry_id) if registry_id and registry_id.isdigit() else None,
        target_id=int(form.target_id.data) if (form.target_id.data or "").isdigit() else None,
        command=_words_or_none(form.command.data), args=_words_or_none(form.args.data),
        image=(form.image.data or "").strip(), tag=(form.tag.data or "").strip(),
        replicas=form.replicas.data, memory_mb=form.memory_mb.data, cpu_millicores=form.cpu_millicores.data,
        run_as_root=bool(form.run_as_root.data), replicas_elsewhere=bool(form.replicas_elsewhere.data),
        env=[(e.form.name.data.strip(), e.form.value.data or "") for e in form.env if (e.form.name.data or "").strip()
             or e.form.value.data],
        ports=[Port(p.form.port.data, p.form.protocol.data, bool(p.form.expose.data), p.form.host_port.data,
                    (p.form.public_host.data or "").strip().lower() or None)
               for p in form.ports if p.form.port.data],
        volumes=[Volume((v.form.name.data or "").strip(), (v.form.path.data or "").strip(), v.form.size_mb.data or 1024,
                        bool(v.form.read_only.data))
                 for v in form.volumes if (v.form.name.data or "").strip() or (v.form.path.data or "").strip()],
        files=[ConfigFile((f.form.path.data or "").strip(), (f.form.content.data or "").replace("\r\n", "\n"),
                          file_mode(f.form.mode.data), bool(f.form.secret.data))
               for f in form.files if (f.form.path.data or "").strip() or f.form.content.data],
        depends_on=list(form.depends_on.data or []),
        health=health_check(form), create_anyway=bool(form.create_anyway.data))


def file_mode(text: str | None) -> int:
    """An octal mode as typed ("0644", "644"); -1 (refused by the service) when it is not one."""
    text = (text or "").strip() or "0644"
    return int(text, 8) if re.fullmatch(r"0?[0-7]{3}", text) else -1


def health_check(form: ComponentForm) -> HealthCheck | None:
    if form.health_kind.data not in ("http", "tcp"):
        return None
    return HealthCheck(form.health_kind.data, form.health_port.data or 0, (form.health_path.data or "/").strip(),
                       form.health_initial_delay.data or 0, form.health_period.data or 10,
                       form.health_failure_threshold.data or 3)


def fill(form: ComponentForm, component: Component) -> None:
    """The edit form, filled with the component's saved settings (secret-like values left out)."""
    form.source.data = "registry" if component.registry_id else "reference"
    form.registry_id.data = str(component.registry_id or "")
    form.image.data, form.tag.data = component.image, component.tag
    form.name.data, form.application.data = component.name, component.application.name
    form.replicas.data, form.memory_mb.data = component.replicas, component.memory_mb
    form.cpu_millicores.data, form.run_as_root.data = component.cpu_millicores, component.run_as_root
    form.replicas_elsewhere.data = component.replicas_elsewhere
    form.command.data = shlex.join(component.command) if component.command is not None else ""
    form.args.data = shlex.join(component.args) if component.args is not None else ""
    for name, value in component.env or []:
        form.env.append_entry({"name": name, "value": "" if components.SECRET_NAME.search(name) else value})
    for p in component.ports or []:
        form.ports.append_entry({"port": p["port"], "protocol": p.get("protocol", "TCP"),
                                 "expose": p.get("expose", True), "host_port": p.get("host_port"),
                                 "public_host": p.get("public_host") or ""})
    for v in component.volumes or []:
        form.volumes.append_entry({"name": v["name"], "path": v["path"], "size_mb": v.get("size_mb", 1024),
                                   "read_only": v.get("read_only", False)})
    for f in component.files or []:
        form.files.append_entry({"path": f["path"], "mode": f"{int(f.get('mode', 0o644)):04o}",
                                 "content": "" if f.get("secret") else f.get("content", ""),
                                 "secret": bool(f.get("secret"))})
    form.depends_on.data = list(component.depends_on or [])
    form.depends_on.choices = [c for c in form.depends_on.choices if c.value != component.id]
    h = component.health or {}
    form.health_kind.data = h.get("kind", "none")
    form.health_port.data, form.health_path.data = h.get("port"), h.get("path") or "/"
    form.health_initial_delay.data = h.get("initial_delay", 0)
    form.health_period.data = h.get("period", 10)
    form.health_failure_threshold.data = h.get("failure_threshold", 3)


def apply_errors(form: ComponentForm, error: FieldErrors, keep_existing: bool = False) -> None:
    """Service errors name list rows as env-0-name / ports-1-port / volumes-0-path; put them on those inputs. With
    `keep_existing`, a field the form already found wrong keeps its own message (one per field)."""
    rest = {}
    for key, message in error.errors.items():
        m = re.fullmatch(r"(env|ports|volumes|files)-(\d+)-(\w+)", key)
        if m and int(m.group(2)) < len(getattr(form, m.group(1))):
            sub = getattr(form, m.group(1))[int(m.group(2))].form[m.group(3)]
            if not (keep_existing and sub.errors):
                sub.errors = list(sub.errors) + [message]
        elif keep_existing and getattr(getattr(form, key, None), "errors", None):
            continue
        else:
            rest[key] = message
    if rest:
        apply_to_form(form, FieldErrors(rest))


def add_row(form: ComponentForm) -> bool:
    """"Add variable" / "Add port" / "Add volume" / "Add config file" without JavaScript: the form comes
    back with one more row."""
    rows = {"add-env": form.env, "add-port": form.ports, "add-volume": form.volumes,
            "add-file": form.files}.get(request.form.get("action", ""))
    if rows is None:
        return False
    rows.append_entry()
    for field_ in form:
        field_.errors = [] if not isinstance(field_.errors, dict) else {}
    return True


def team_registries():
    return registries.of_team(current_team().id)


def team_applications():
    return components.applications_of_team(current_team().id)
