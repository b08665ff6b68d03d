"""A team's environments (dev → staging → production): each fed by its upstream, deploying to its
targets (a cluster and namespace, or this Berth's own deployer) under its own rules — pushes allowed,
auto-promotion, approvals, soak time, health rule, what to do when a target fails, freeze windows
(RRULE lines read in the team's time zone). Saving checks everything first and writes nothing on a
refusal."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from dateutil import rrule
from sqlalchemy import func, select

from models import ClusterTarget, Component, ComponentStage, Environment, EnvironmentTarget, Team, TrustPolicy, db
from services.errors import FieldErrors, ServiceError

NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,28}[a-z0-9])?$")
NAMESPACE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
# Windows repeat at most daily and last at most 31 days: their occurrences are counted from
# DTSTART (Monday 1 January 2024, 00:00 in the team's zone), so a rule stays cheap to evaluate.
DTSTART = datetime(2024, 1, 1)
FREQUENCIES = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
MAX_WINDOW_HOURS = 31 * 24
MAX_APPROVALS = 10


@dataclass
class EnvironmentInput:
    name: str
    upstream_id: int | None = None
    targets: list[str] = field(default_factory=list)  # "local" or a cluster's id, ":namespace" optional
    auto_deploy: bool = False
    auto_promote: bool = False
    approvals_required: int = 0
    owners_only: bool = False
    soak_minutes: int = 0
    health_rule: str = "all"
    on_failure: str = "retry"
    freeze_windows: str = ""  # one per line: "<RRULE> for <hours>h"
    trust_policy_id: int | None = None  # every digest deployed here must also pass it


@dataclass
class FreezeWindow:
    rule: str
    hours: float
    opened: datetime  # in the team's zone, naive
    until: datetime


def team_zone(team: Team) -> ZoneInfo:
    try:
        return ZoneInfo(team.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def set_timezone(team: Team, name: str) -> None:
    name = name.strip()
    if name not in available_timezones():
        raise FieldErrors({"timezone": "An IANA time zone such as Europe/Berlin, America/New_York or UTC."})
    team.timezone = name
    db.session.flush()


def _rule(text: str) -> rrule.rrule:
    """The RRULE of one freeze line, or ValueError saying what is wrong."""
    body = text.strip().removeprefix("RRULE:")
    parts = dict(p.split("=", 1) for p in body.split(";") if "=" in p)
    if parts.get("FREQ") not in FREQUENCIES:
        raise ValueError(f"FREQ must be one of {', '.join(FREQUENCIES)} (a window repeats at most daily).")
    if "DTSTART" in body.upper() or "UNTIL" in parts and "COUNT" in parts:
        raise ValueError("Leave DTSTART out (windows count from 2024-01-01 00:00 in the team's zone).")
    try:
        return rrule.rrulestr("RRULE:" + body, dtstart=DTSTART)
    except (ValueError, TypeError) as e:
        raise ValueError(f"This RRULE does not parse ({e}).") from None


def parse_freeze_windows(text: str) -> list[dict]:
    """Lines "<RRULE> for <hours>h" → [{"rule", "hours"}]; ValueError naming the line."""
    windows = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.fullmatch(r"(?P<rule>\S+)\s+for\s+(?P<hours>\d+(?:\.\d+)?)\s*h", line, re.IGNORECASE)
        if not match:
            raise ValueError(f"Line {number}: write a window as <RRULE> for <hours>h, e.g. "
                             f"FREQ=WEEKLY;BYDAY=FR;BYHOUR=16;BYMINUTE=0 for 64h.")
        hours = float(match["hours"])
        if not 0 < hours <= MAX_WINDOW_HOURS:
            raise ValueError(f"Line {number}: a window lasts more than 0 and at most {MAX_WINDOW_HOURS} hours.")
        try:
            _rule(match["rule"])
        except ValueError as e:
            raise ValueError(f"Line {number}: {e}") from None
        windows.append({"rule": match["rule"].removeprefix("RRULE:"), "hours": hours})
    if len(windows) > 20:
        raise ValueError("At most 20 freeze windows per environment.")
    return windows


def freeze_text(environment: Environment) -> str:
    return "\n".join(f"{w['rule']} for {w['hours']:g}h" for w in environment.freeze_windows or [])


def open_freeze(environment: Environment, team: Team, now_utc: datetime) -> FreezeWindow | None:
    """The freeze window open at `now_utc` (naive UTC) that ends last, or None."""
    zone = team_zone(team)
    now = now_utc.replace(tzinfo=ZoneInfo("UTC")).astimezone(zone).replace(tzinfo=None)
    found = None
    for window in environment.freeze_windows or []:
        length = timedelta(hours=window["hours"])
        try:
            rule = _rule(window["rule"])
        except ValueError:
            continue  # saved rules were checked; a rule a newer dateutil refuses holds nothing
        start = rule.before(now, inc=True)
        if start is not None and start + length > now and (found is None or start + length > found.until):
            found = FreezeWindow(window["rule"], window["hours"], start, start + length)
    return found


# -- the chain ------------------------------------------------------------------------------------
def team_environments(team_id: int) -> list[Environment]:
    """The team's environments, each after its upstream (a tree walked depth-first, by name)."""
    rows = list(db.session.scalars(select(Environment).where(Environment.team_id == team_id)
                                   .order_by(Environment.name)))
    children: dict[int | None, list[Environment]] = {}
    for row in rows:
        children.setdefault(row.upstream_id, []).append(row)
    ordered: list[Environment] = []

    def walk(parent: int | None) -> None:
        for row in children.get(parent, []):
            ordered.append(row)
            walk(row.id)
    walk(None)
    return ordered


def downstream(environment: Environment) -> list[Environment]:
    return list(db.session.scalars(select(Environment).where(Environment.upstream_id == environment.id)
                                   .order_by(Environment.name)))


def _parse_target(team: Team, text: str) -> tuple[int | None, str | None]:
    cluster, _, namespace = text.strip().partition(":")
    namespace = namespace.strip() or None
    if namespace is not None and not NAMESPACE.match(namespace):
        raise ValueError(f"{namespace!r} is not a namespace name (lowercase letters, digits, dashes).")
    if cluster in ("", "local"):
        return None, namespace
    found = db.session.scalar(select(ClusterTarget).where(ClusterTarget.team_id == team.id,
                                                           (ClusterTarget.id == int(cluster)) if cluster.isdigit()
                                                           else (ClusterTarget.name == cluster)))
    if found is None:
        raise ValueError(f"Your team has no cluster {cluster!r} (Clusters page).")
    return found.id, namespace


def save(team: Team, data: EnvironmentInput, environment: Environment | None = None) -> Environment:
    errors: dict[str, str] = {}
    name = data.name.strip().lower()
    if not NAME.match(name):
        errors["name"] = "Use lowercase letters, digits and dashes (at most 30), e.g. staging."
    elif db.session.scalar(select(func.count(Environment.id)).where(
            Environment.team_id == team.id, Environment.name == name,
            Environment.id != (environment.id if environment else -1))):
        errors["name"] = f"Your team already has an environment named {name}."
    upstream = None
    if data.upstream_id is not None:
        upstream = db.session.get(Environment, data.upstream_id)
        if upstream is None or upstream.team_id != team.id:
            errors["upstream_id"] = "Choose one of your team's environments, or none for the first."
        elif environment is not None:
            seen, walk = set(), upstream
            while walk is not None and walk.id not in seen:
                if walk.id == environment.id:
                    errors["upstream_id"] = (f"{upstream.name} is fed by {environment.name} already: environments "
                                             f"form a chain without cycles.")
                    break
                seen.add(walk.id)
                walk = walk.upstream
    targets = []
    for line in data.targets:
        if not line.strip():
            continue
        try:
            targets.append(_parse_target(team, line))
        except ValueError as e:
            errors["targets"] = str(e)
    if not targets and "targets" not in errors:
        errors["targets"] = "Choose at least one place this environment deploys to."
    elif len(set(targets)) != len(targets):
        errors["targets"] = "The same cluster and namespace are listed twice."
    if not 0 <= data.approvals_required <= MAX_APPROVALS:
        errors["approvals_required"] = f"From 0 (none) to {MAX_APPROVALS}."
    if not 0 <= data.soak_minutes <= 7 * 24 * 60:
        errors["soak_minutes"] = "From 0 to 10080 minutes (a week)."
    if data.health_rule not in ("all", "any"):
        errors["health_rule"] = "All targets or any one."
    if data.on_failure not in ("retry", "rollback"):
        errors["on_failure"] = "Retry the failed target, or roll it back."
    if data.trust_policy_id is not None and db.session.scalar(select(TrustPolicy.team_id).where(
            TrustPolicy.id == data.trust_policy_id)) != team.id:
        errors["trust_policy_id"] = "Choose one of your team's trust policies, or none."
    try:
        windows = parse_freeze_windows(data.freeze_windows)
    except ValueError as e:
        errors["freeze_windows"] = str(e)
    if environment is not None and "targets" not in errors:
        for gone in [t for t in environment.targets if (t.cluster_id, t.namespace) not in set(targets)]:
            users = db.session.scalars(select(Component.name).where(Component.env_target_id == gone.id)
                                       .limit(3)).all()
            if users:
                errors["targets"] = f"{', '.join(users)} run on {gone.label}: delete those components first."
    if errors:
        raise FieldErrors(errors)
    if environment is None:
        environment = Environment(team_id=team.id)
        db.session.add(environment)
    environment.name, environment.upstream = name, upstream
    environment.auto_deploy, environment.auto_promote = data.auto_deploy, data.auto_promote
    environment.approvals_required, environment.owners_only = data.approvals_required, data.owners_only
    environment.soak_minutes, environment.health_rule = data.soak_minutes, data.health_rule
    environment.on_failure, environment.freeze_windows = data.on_failure, windows
    environment.trust_policy_id = data.trust_policy_id
    existing = {(t.cluster_id, t.namespace): t for t in environment.targets}
    environment.targets = [existing.get(key) or EnvironmentTarget(cluster_id=key[0], namespace=key[1])
                           for key in targets]
    db.session.flush()
    return environment


def delete(environment: Environment) -> None:
    if db.session.scalar(select(func.count(Environment.id)).where(Environment.upstream_id == environment.id)):
        raise ServiceError(f"{environment.name} feeds other environments: point them elsewhere first.")
    if db.session.scalar(select(func.count(ComponentStage.id)).where(ComponentStage.environment_id == environment.id)):
        raise ServiceError(f"Components are deployed through {environment.name}: take them out first.")
    db.session.delete(environment)
    db.session.flush()
