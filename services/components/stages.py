"""One component, many environments. A component deployed through environments keeps its identity
and settings on its own row (which no longer runs by itself) and gets a stage per environment with
declared overrides; each of the environment's targets runs a row of its own, named
`<component>@<environment>/<target>`, deploying under the component's name in the target's
namespace. A stage row's settings are always the component's settings (as of the release that
reached it) plus its environment's overrides; its releases record both (`Release.base_settings`)."""
from __future__ import annotations

import hashlib
import json
import re

from flask import current_app
from sqlalchemy import select

from models import Component, ComponentStage, Environment, EnvironmentTarget, Release, Team, db
from services.components import components as component_service
from services.components import environments, releases, settings
from services.errors import FieldErrors, ServiceError
from services.oversight import audit

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
OVERRIDABLE = ("replicas", "memory_mb", "cpu_millicores", "env.<NAME>", "public_host.<port>", "volume_size.<volume>")
LIMITS = {"replicas": (0, 100), "memory_mb": (16, 262144), "cpu_millicores": (10, 64000)}


# -- overrides -------------------------------------------------------------------------------------
def parse_overrides(text: str, base: Component) -> dict:
    """Lines "setting = value" → the overrides dict; FieldErrors({"overrides": …}) naming the line."""
    out: dict = {}

    def refuse(number: int, message: str):
        return FieldErrors({"overrides": f"Line {number}: {message}"})
    ports = {str(p["port"]) for p in base.ports or []}
    volumes = {v["name"] for v in base.volumes or []}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep:
            raise refuse(number, "write a setting as name = value, e.g. replicas = 3.")
        head, _, sub = key.partition(".")
        if head in LIMITS and not sub:
            low, high = LIMITS[head]
            if not value.isdigit() or not low <= int(value) <= high:
                raise refuse(number, f"{head} is a whole number from {low} to {high}.")
            out[head] = int(value)
        elif head == "env" and sub:
            if not ENV_NAME.match(sub):
                raise refuse(number, f"{sub!r} is not a variable name (letters, digits, underscores).")
            out.setdefault("env", {})[sub] = value
        elif head == "public_host" and sub:
            if sub not in ports:
                have = ", ".join(sorted(ports)) or "none"
                raise refuse(number, f"{base.name} exposes no port {sub} (it has {have}).")
            if value and not re.fullmatch(r"[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?", value):
                raise refuse(number, f"{value!r} is not a host name.")
            out.setdefault("public_host", {})[sub] = value or None
        elif head == "volume_size" and sub:
            if sub not in volumes:
                raise refuse(number, f"{base.name} mounts no volume {sub!r}.")
            if not value.isdigit() or not 1 <= int(value) <= 1048576:
                raise refuse(number, "a volume's size is a whole number of MiB from 1 to 1048576.")
            out.setdefault("volume_size", {})[sub] = int(value)
        else:
            raise refuse(number, f"Berth has no setting {key!r} to override; these may differ per environment: "
                                 f"{', '.join(OVERRIDABLE)}.")
    return out


def overrides_text(overrides: dict) -> str:
    lines = [f"{k} = {overrides[k]}" for k in LIMITS if k in overrides]
    for head in ("env", "public_host", "volume_size"):
        lines += [f"{head}.{k} = {'' if v is None else v}" for k, v in (overrides.get(head) or {}).items()]
    return "\n".join(lines)


def apply(base: dict, overrides: dict) -> dict:
    """The settings a stage runs: the component's (`base`, a snapshot) with its overrides."""
    out = json.loads(json.dumps(base))
    for key in LIMITS:
        if key in overrides:
            out[key] = overrides[key]
    env = dict(out.get("env") or [])
    for name, value in (overrides.get("env") or {}).items():
        env[name] = value
    out["env"] = [[k, v] for k, v in env.items()]
    hosts = overrides.get("public_host") or {}
    out["ports"] = [{**p, "public_host": hosts[str(p["port"])]} if str(p["port"]) in hosts else p
                    for p in out.get("ports") or []]
    sizes = overrides.get("volume_size") or {}
    out["volumes"] = [{**v, "size_mb": sizes[v["name"]]} if v["name"] in sizes else v
                      for v in out.get("volumes") or []]
    return out


def settings_hash(base: dict) -> str:
    """What a promotion carries, as a short fingerprint: the component's settings, image aside."""
    kept = {k: v for k, v in base.items() if k not in ("tag", "registry_id", "image")}
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()


# -- stages and their rows --------------------------------------------------------------------------
def in_environments(component: Component) -> bool:
    return component.base_id is None and db.session.scalar(
        select(ComponentStage.id).where(ComponentStage.component_id == component.id).limit(1)) is not None


def stages_of(component: Component) -> list[ComponentStage]:
    """The component's stages in the environments' order."""
    order = {e.id: i for i, e in enumerate(environments.team_environments(component.team_id))}
    found = db.session.scalars(select(ComponentStage).where(ComponentStage.component_id == component.id))
    return sorted(found, key=lambda s: order.get(s.environment_id, len(order)))


def stage_of(row: Component) -> ComponentStage | None:
    if row.base_id is None or row.env_target is None:
        return None
    return db.session.scalar(select(ComponentStage).where(
        ComponentStage.component_id == row.base_id, ComponentStage.environment_id == row.env_target.environment_id))


def rows_of(component: Component, environment: Environment | None = None) -> list[Component]:
    query = select(Component).where(Component.base_id == component.id)
    if environment is not None:
        query = query.join(EnvironmentTarget, EnvironmentTarget.id == Component.env_target_id).where(
            EnvironmentTarget.environment_id == environment.id)
    return list(db.session.scalars(query.order_by(Component.env_target_id)))


def default_namespace(team: Team, environment: Environment) -> str:
    return f"{current_app.config['BERTH_KUBERNETES_NAMESPACE_PREFIX']}{team.name}-{environment.name}"[:63]


def _base_snapshot(component: Component, tag: str | None = None) -> dict:
    base = settings.snapshot(component)
    if tag:
        base["tag"] = tag
    return base


def _put(row: Component, base: dict, overrides: dict) -> dict:
    """Write base + overrides on the row, keeping the host ports its runtime holds; the settings."""
    wanted = apply(base, overrides)
    held = {p["port"]: p.get("host_port") for p in row.ports or []}
    wanted["ports"] = [{**p, "host_port": held.get(p["port"])} for p in wanted["ports"]]
    settings.restore(row, wanted)
    if row.target_id is None:
        ports = component_service.assign_host_ports(settings.ports_of(wanted), row if row.id else None)
        row.ports = wanted["ports"] = [settings.port_dict(p) for p in ports]
    return wanted


def _make_row(base: Component, stage: ComponentStage, target: EnvironmentTarget) -> Component:
    environment = stage.environment
    row = Component(team_id=base.team_id, application_id=base.application_id, registry_id=base.registry_id,
                    image=base.image, tag=base.tag, name=f"{base.name}@{environment.name}/{target.label}",
                    runtime_name=base.name, namespace=target.namespace or default_namespace(base.team, environment),
                    target_id=target.cluster_id, base_id=base.id, env_target_id=target.id,
                    auto_deploy=base.auto_deploy and environment.auto_deploy, trigger_kind=base.trigger_kind,
                    trigger_pattern=base.trigger_pattern, include_prereleases=base.include_prereleases,
                    no_downgrade=base.no_downgrade, require_platform=base.require_platform,
                    cooldown_minutes=base.cooldown_minutes, bad_digests=[], stopped=False)
    db.session.add(row)
    base_settings = _base_snapshot(base)
    for p in base_settings["ports"]:
        p["host_port"] = None  # a row's host ports are its own
    _put(row, base_settings, stage.overrides or {})
    db.session.flush()
    return row


def sync(component: Component) -> list[Component]:
    """Give the component a stage in every environment of its team and a row on every target;
    the rows made."""
    made = []
    have = {s.environment_id: s for s in db.session.scalars(
        select(ComponentStage).where(ComponentStage.component_id == component.id))}
    targets_with_rows = {r.env_target_id for r in rows_of(component)}
    for environment in environments.team_environments(component.team_id):
        stage = have.get(environment.id)
        if stage is None:
            stage = ComponentStage(team_id=component.team_id, component_id=component.id, environment=environment,
                                   overrides={})
            db.session.add(stage)
            db.session.flush()
        for target in environment.targets:
            if target.id not in targets_with_rows:
                made.append(_make_row(component, stage, target))
    return made


def sync_team(team_id: int) -> None:
    """After the environments changed: every component deployed through them gets its new stages
    and rows."""
    ids = db.session.scalars(select(ComponentStage.component_id).where(ComponentStage.team_id == team_id)
                             .distinct()).all()
    for component in db.session.scalars(select(Component).where(Component.id.in_(ids))):
        sync(component)


def join(component: Component, by: str) -> list[Component]:
    """Deploy the component through the team's environments from now on: it gets a stage in each and
    a row on each target; what it ran by itself stops (its volumes keep their data), and its own
    row keeps the identity and settings and no longer deploys."""
    if component.base_id is not None:
        raise ServiceError(f"{component.name} is one environment's copy of {component.base.name}.")
    if not environments.team_environments(component.team_id):
        raise ServiceError("Your team has no environments yet: add them on the Environments page first.")
    if in_environments(component):
        raise ServiceError(f"{component.name} is deployed through environments already.")
    if releases.latest_release(component) is not None and not component.stopped:
        releases.stop_component(component)
    made = sync(component)
    component.auto_deploy = False  # the rows in environments that allow pushes follow the rule
    audit.record(component.team_id, by, "component.environments", f"component {component.name}",
                 f"deployed through environments: {', '.join(r.name for r in made)}")
    db.session.flush()
    return made


def effect(stage: ComponentStage) -> list[str]:
    """What the environment's overrides change from the component's own settings, as the edit diff
    words it (env values never shown)."""
    base = _base_snapshot(stage.component)
    return settings.diff(base, apply(base, stage.overrides or {})) or ["nothing: it runs the component's settings"]


def set_overrides(stage: ComponentStage, text: str, by: str) -> None:
    component = stage.component
    overrides = parse_overrides(text, component)
    before = overrides_text(stage.overrides or {})
    stage.overrides = overrides
    audit.record(component.team_id, by, "stage.overrides", f"component {component.name}",
                 f"{stage.environment.name}: {before or 'none'} -> {overrides_text(overrides) or 'none'}"
                 .replace("\n", "; "))
    db.session.flush()


def deploy_to(row: Component, base: dict, trigger: str, by: str, *, tag: str, digest: str | None,
              promotion_id: int | None = None) -> Release:
    """Queue a release of one stage row: the component's settings `base` plus its stage's overrides."""
    stage = stage_of(row)
    wanted = _put(row, base, stage.overrides if stage else {})
    row.tag, row.stopped = tag, False
    release = releases.queue_release(row, trigger, by, tag=tag, digest=digest, recorded=wanted, base=base)
    release.promotion_id = promotion_id
    return release


def deploy_first(component: Component, by: str, keep_digest: str | None = None) -> list[Release]:
    """The component's settings (just saved, or deployed again) go to the first environments' rows;
    later environments get them by promotion."""
    base = _base_snapshot(component)
    out = []
    for environment in environments.team_environments(component.team_id):
        if environment.upstream_id is None:
            out += [deploy_to(row, base, "manual", by, tag=component.tag, digest=keep_digest)
                    for row in rows_of(component, environment)]
    return out


def resume(stage: ComponentStage, by: str) -> None:
    stage.paused_reason = stage.paused_at = None
    audit.record(stage.team_id, by, "stage.resumed", f"component {stage.component.name}",
                 f"auto-promotion into {stage.environment.name} resumed")
    db.session.flush()
