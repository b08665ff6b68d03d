"""Components: creating them from an image, their settings and build source."""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from flask import current_app
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import joinedload

from models import (
    MAX_ID,
    Application,
    ClusterTarget,
    Component,
    ComponentStage,
    Registry,
    Release,
    Team,
    TrustPolicy,
    db,
)
from services.components import connections, files, releases, settings, volumes
from services.delivery import autodeploy, endpoints, triggers
from services.deploy import targets
from services.deploy.deployers import get_deployer, replicas_problem
from services.deploy.drivers.spec import ConfigFile, HealthCheck, Port, Volume
from services.errors import FieldErrors
from services.oversight import audit
from services.platform import queries
from services.platform.pagination import Page
from services.platform.sentinel import NOT_PASSED, NotPassed
from services.registries import images, registries
from services.registries.clients import reference
from services.registries.clients.errors import RegistryAuthError, RegistryError, RegistryForbidden, RegistryNotFound
from services.registries.clients.types import ImageDetails
from services.trust import gate

DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
PUBLIC_HOST = re.compile(r"^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)+$")
HEALTH_PATH = re.compile(r"^/[\x21-\x7e]{0,499}$")
SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|KEY|CREDENTIAL|PRIVATE)", re.IGNORECASE)
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# What the component page shows of a component's relations, loaded with it (not a statement each).
PAGE_LOADS = (joinedload(Component.application), joinedload(Component.source_registry))


@dataclass
class ComponentInput:
    name: str
    application: str  # an existing application's name, or a new one to create
    registry_id: int | None
    image: str  # repository in the registry, or a plain image reference
    tag: str
    replicas: int = 1
    memory_mb: int = 256
    cpu_millicores: int | None = None
    run_as_root: bool = False
    replicas_elsewhere: bool = False
    target_id: int | None = None  # one of the team's clusters; None: this Berth's own deployer
    command: list[str] | None = None  # None: the image's entrypoint
    args: list[str] | None = None  # None: the image's command
    env: list[tuple[str, str]] = field(default_factory=list)
    ports: list[Port] = field(default_factory=list)
    volumes: list[Volume] = field(default_factory=list)
    files: list[ConfigFile] = field(default_factory=list)  # a secret file's empty content keeps the stored one
    depends_on: list[int] = field(default_factory=list)  # ids of the application's components it connects to
    health: HealthCheck | None = None
    create_anyway: bool = False  # save even though the registry cannot be reached to check the tag


def team_registry(team: Team, registry_id: int | None) -> Registry | None:
    if registry_id is None:
        return None
    registry = db.session.get(Registry, registry_id) if 0 < registry_id <= MAX_ID else None
    if registry is None or registry.team_id != team.id:
        raise FieldErrors({"registry_id": "Choose one of your team's registries."})
    return registry


def team_target(team: Team, target_id: int | None) -> ClusterTarget | None:
    """One of the team's cluster targets (None: this Berth's own deployer); a field error otherwise."""
    if target_id is None:
        return None
    target = db.session.get(ClusterTarget, target_id) if 0 < target_id <= MAX_ID else None
    if target is None or target.team_id != team.id:
        raise FieldErrors({"target_id": "Choose one of your team's clusters."})
    return target


def image_preview(team: Team, registry_id: int | None, image: str, tag: str) -> ImageDetails:
    """Details of an image to prefill the form (ports, env); raises RegistryError or FieldErrors."""
    registry = team_registry(team, registry_id)
    if registry is None:
        try:
            ref = reference.parse(_with_tag(image, tag))
        except ValueError as e:
            raise FieldErrors({"image": str(e)}) from e
        source = images.source_for(team.id, None, str(ref))
        return source.client.image_details(source.repository, ref.digest or ref.tag)
    source = images.source_for(team.id, registry, image)
    return source.client.image_details(source.repository, tag)


def _with_tag(image: str, tag: str) -> str:
    """A plain reference that names its own tag or digest wins over the tag field."""
    if not tag or "@" in image or ":" in image.rsplit("/", 1)[-1]:
        return image
    return f"{image}:{tag}"


def _check(team: Team, data: ComponentInput, existing: Component | None = None) -> dict[str, str]:
    problems: dict[str, str] = {}
    if not DNS_LABEL.match(data.name or ""):
        problems["name"] = ("Use 1–63 lowercase letters, digits and dashes, starting with a letter "
                            "(it names the Deployment and Service).")
    clash = db.session.scalar(select(Component).where(Component.team_id == team.id, Component.name == data.name))
    if clash is not None and clash is not existing:
        problems["name"] = "This team already has a component with this name."
    app_name = (data.application or "").strip()
    if not app_name:
        problems["application"] = "Choose an application or type a new one's name."
    elif len(app_name) > 63:
        problems["application"] = "An application name has at most 63 characters."
    try:
        team_registry(team, data.registry_id)
    except FieldErrors as e:
        problems.update(e.errors)
    if data.registry_id is None:
        try:
            reference.parse(_with_tag(data.image, data.tag))  # the reference carries its own tag
        except ValueError as e:
            problems["image"] = str(e)
    else:
        problem = reference.check_repository(data.image)
        if problem:
            problems["image"] = problem
        problem = reference.check_tag(data.tag)
        if problem:
            problems["tag"] = problem
    seen = set()
    for i, (name, value) in enumerate(data.env):
        if not ENV_NAME.match(name):
            problems[f"env-{i}-name"] = "Use letters, digits and _, not starting with a digit."
        elif name in seen:
            problems[f"env-{i}-name"] = f"{name} is set twice."
        seen.add(name)
        if len(value) > 32768:
            problems[f"env-{i}-value"] = "A value has at most 32,768 characters."
    for key, words in (("command", data.command), ("args", data.args)):
        if words is not None and (len(words) > 64 or any(len(w) > 4096 or "\0" in w for w in words)):
            problems[key] = "At most 64 words of at most 4,096 characters each."
    seen_ports = set()
    for i, p in enumerate(data.ports):
        if (p.port, p.protocol) in seen_ports:
            problems[f"ports-{i}-port"] = f"Port {p.port}/{p.protocol} is listed twice."
        seen_ports.add((p.port, p.protocol))
        if p.public_host and not PUBLIC_HOST.match(p.public_host):
            problems[f"ports-{i}-public_host"] = ("Use a host name such as app.example.com (lowercase letters, "
                                                  "digits, dashes, dots).")
    try:
        target = team_target(team, data.target_id) if existing is None else existing.target
    except FieldErrors as e:
        problems.update(e.errors)
        target = None
    deployer = targets.deployer_for(target) if target is not None else get_deployer()
    if deployer is not None and deployer.publishes_host_ports:
        problems.update(_host_port_problems(team, data.ports, existing))
    problems.update(_health_problems(data, deployer))
    problems.update(volumes.problems(team, data.volumes, app_name, existing, target, deployer))
    problems.update(files.problems(data.files, data.volumes, existing))
    problems.update(connections.problems(team, data.depends_on, app_name, existing, target))
    problem = replicas_problem(data.replicas or 1, deployer)
    if problem:
        problems["replicas"] = problem
    return problems


def _health_problems(data: ComponentInput, deployer) -> dict[str, str]:
    h = data.health
    if h is None:
        return {}
    problems = {}
    if h.kind not in ("http", "tcp"):
        problems["health_kind"] = "Choose none, HTTP or TCP."
    if not 1 <= h.port <= 65535:
        problems["health_port"] = "Use a port from 1 to 65535."
    elif h.port not in {p.port for p in data.ports if p.protocol == "TCP"}:
        problems["health_port"] = f"Port {h.port} is not one of the component's TCP ports; add it under Ports."
    elif deployer is not None and not deployer.probes_itself and \
            h.port not in {p.port for p in data.ports if p.expose and p.protocol == "TCP"}:
        problems["health_port"] = (f"On podman Berth checks health through the published port: tick Expose "
                                   f"for port {h.port}.")
    if h.kind == "http" and not HEALTH_PATH.match(h.path or ""):
        problems["health_path"] = "Use a path starting with /, e.g. /healthz (no spaces, at most 500 characters)."
    if not 0 <= h.initial_delay <= 3600:
        problems["health_initial_delay"] = "Use 0 to 3600 seconds."
    if not 1 <= h.period <= 3600:
        problems["health_period"] = "Use 1 to 3600 seconds."
    if not 1 <= h.failure_threshold <= 100:
        problems["health_failure_threshold"] = "Use 1 to 100 failures."
    return problems


# PostgreSQL advisory lock (any fixed number) that saves choosing host ports take in turn.
HOST_PORTS_LOCK = 0x6265727468  # "berth"


def _lock_host_ports() -> None:
    """Host ports are the machine's, not a team's: saves that check or choose them do so one after
    another, whatever their team. PostgreSQL: a transaction-scoped advisory lock; SQLite: the save
    already holds the database's write lock (`lock_team`)."""
    if queries.postgresql():
        db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": HOST_PORTS_LOCK})


def _host_ports_in_use(existing: Component | None) -> dict[int, Component]:
    """Host ports other components hold (host ports are shared by every team on the machine)."""
    _lock_host_ports()
    used = {}
    query = select(Component)
    if existing is not None:
        query = query.where(Component.id != existing.id)
    for other in db.session.scalars(query):
        for p in other.ports or []:
            if p.get("expose", True) and p.get("host_port"):
                used[p["host_port"]] = other
    return used


def _host_port_problems(team: Team, ports: list[Port], existing: Component | None) -> dict[str, str]:
    used, problems, mine = _host_ports_in_use(existing), {}, set()
    for i, p in enumerate(ports):
        if not p.expose or not p.host_port:
            continue
        holder = used.get(p.host_port)
        if holder is not None:
            owner = f"component {holder.name}" if holder.team_id == team.id else "a component of another team"
            problems[f"ports-{i}-host_port"] = f"Host port {p.host_port} is already used by {owner}."
        elif p.host_port in mine:
            problems[f"ports-{i}-host_port"] = f"Host port {p.host_port} is listed twice."
        mine.add(p.host_port)
    return problems


def assign_host_ports(ports: list[Port], existing: Component | None, target: ClusterTarget | None = None,
                      ) -> list[Port]:
    """Give every exposed port without a host port a free one from BERTH_HOST_PORTS (podman only:
    on Kubernetes a Service reaches the port)."""
    if existing is not None:
        target = existing.target
    deployer = targets.deployer_for(target) if target is not None else get_deployer()
    if deployer is None or not deployer.publishes_host_ports:
        return ports
    low, high = current_app.config["BERTH_HOST_PORTS"]
    taken = set(_host_ports_in_use(existing)) | {p.host_port for p in ports if p.host_port}
    free = (n for n in range(low, high + 1) if n not in taken and deployer.host_port_free(n))
    out = []
    for p in ports:
        if p.expose and not p.host_port:
            number = next(free, None)
            if number is None:
                raise FieldErrors({"ports": f"No free host port is left in {low}-{high} (BERTH_HOST_PORTS)."})
            p = replace(p, host_port=number)
        out.append(p)
    return out


def _application(team: Team, name: str) -> Application:
    name = name.strip()
    app = db.session.scalar(select(Application).where(Application.team_id == team.id,
                                                      func.lower(Application.name) == name.lower()))
    if app is None:
        app = Application(team=team, name=name)
        db.session.add(app)
        db.session.flush()
    return app


def lock_team(team: Team) -> None:
    """Write the team's row, which locks it (PostgreSQL) or the database (SQLite) until the commit:
    saves of the team's components are checked one after another, so a rule such as "a name once"
    or "a Kubernetes volume serves one component" holds between two saves at the same moment."""
    db.session.execute(update(Team).where(Team.id == team.id).values(name=Team.name))


def lock_component(component: Component) -> None:
    """Write the component's row, which locks it (PostgreSQL) or the database (SQLite) until the
    commit, and read it afresh: an edit compares what it read (an ETag) with what is there now."""
    db.session.execute(update(Component).where(Component.id == component.id).values(release_seq=Component.release_seq))
    db.session.refresh(component)


def check_input(team: Team, data: ComponentInput, existing: Component | None = None) -> None:
    """Every problem the service can see in this input, at once (FieldErrors), or nothing."""
    lock_team(team)
    problems = _check(team, data, existing)
    if problems:
        raise FieldErrors(problems)


def resolve_digest(team: Team, registry: Registry | None, image: str, tag: str, create_anyway: bool) -> str | None:
    """The digest the tag points to now, asked before anything is saved: a tag or image the registry
    does not have is a field error; a registry that cannot be reached is one too, unless the person
    chose to create anyway (then None: the release resolves it later)."""
    try:
        source = images.source_for(team.id, registry, image if registry else f"{image}:{tag}")
        return source.client.manifest_digest(source.repository, tag)
    except RegistryNotFound as e:
        raise FieldErrors({"tag": f"{image}:{tag} does not exist in the registry ({e.message})"}) from e
    except (RegistryAuthError, RegistryForbidden) as e:
        raise FieldErrors({"tag": f"The registry refused access to {image}:{tag}: {e.message} Connect the "
                                  "registry with credentials that may pull it."}) from e
    except RegistryError as e:
        if create_anyway:
            return None
        raise FieldErrors({"tag": f"Berth could not reach the registry to check {image}:{tag}: {e.message} "
                                  "Tick “Create anyway” to save it now; its release will try again."}) from e


def create_component(team: Team, data: ComponentInput, triggered_by: str) -> Component:
    """Create the component and its first (pending) release, pinned to the digest the tag has now;
    the release runs in the background."""
    check_input(team, data)
    registry, target = team_registry(team, data.registry_id), team_target(team, data.target_id)
    image, tag = data.image.strip(), data.tag.strip()
    digest = None
    if registry is None:
        ref = reference.parse(_with_tag(image, tag))
        image, tag, digest = ref.name, ref.tag or tag, ref.digest
    digest = digest or resolve_digest(team, registry, image, tag, data.create_anyway)
    component = Component(team=team, application=_application(team, data.application), source_registry=registry,
                          name=data.name, image=image, tag=tag, replicas=data.replicas, memory_mb=data.memory_mb,
                          cpu_millicores=data.cpu_millicores, run_as_root=data.run_as_root,
                          replicas_elsewhere=data.replicas_elsewhere, command=data.command, args=data.args,
                          env=[list(e) for e in data.env],
                          ports=[settings.port_dict(p) for p in assign_host_ports(data.ports, None, target)],
                          volumes=[settings.volume_dict(v) for v in data.volumes],
                          files=files.stored(data.files, None), depends_on=list(data.depends_on),
                          health=settings.health_dict(data.health), target=target)
    db.session.add(component)
    db.session.flush()
    volumes.record(component)
    releases.queue_release(component, "manual", triggered_by, tag=tag, digest=digest)
    audit.record(team.id, triggered_by, "component.created", f"component {component.name}",
                 f"{component.image}:{component.tag}")
    return component


def _source_of(team: Team, data: ComponentInput) -> tuple[Registry | None, str, str, str | None]:
    """(registry, image, tag, digest) of valid input: a plain reference is split into its parts."""
    registry = team_registry(team, data.registry_id)
    image, tag = data.image.strip(), data.tag.strip()
    if registry is not None:
        return registry, image, tag, None
    ref = reference.parse(_with_tag(image, tag))
    return None, ref.name, ref.tag or tag, ref.digest


def _keep_secrets(component: Component, env: list[tuple[str, str]]) -> list[list[str]]:
    """An empty value for a secret-like variable that already has one keeps it (the form never shows it)."""
    old = dict(map(tuple, component.env or []))
    return [[k, old[k] if v == "" and k in old and SECRET_NAME.search(k) else v] for k, v in env]


def proposed_settings(component: Component, data: ComponentInput) -> tuple[dict, str | None]:
    """The settings the edit would give the component, and the digest a plain reference pins.
    Raises FieldErrors (every problem at once) for input that cannot be saved."""
    team = component.team
    check_input(team, data, component)
    registry, image, tag, digest = _source_of(team, data)
    if (registry.id if registry else None, image, tag) != (component.registry_id, component.image, component.tag):
        digest = digest or resolve_digest(team, registry, image, tag, data.create_anyway)
    return {"registry_id": registry.id if registry else None, "image": image, "tag": tag,
            "replicas": data.replicas, "memory_mb": data.memory_mb, "cpu_millicores": data.cpu_millicores,
            "run_as_root": data.run_as_root, "replicas_elsewhere": data.replicas_elsewhere,
            "command": data.command, "args": data.args,
            "env": _keep_secrets(component, data.env),
            "ports": [settings.port_dict(p) for p in assign_host_ports(data.ports, component)],
            "volumes": [settings.volume_dict(v) for v in data.volumes],
            "files": files.stored(data.files, component), "depends_on": list(data.depends_on),
            "health": settings.health_dict(data.health)}, digest


def running_settings(component: Component, current: Release | None | NotPassed = NOT_PASSED) -> dict | None:
    """What runs now (the running release's recorded settings), to compare an edit against;
    `current`, the running release, when the caller has it already."""
    if current is NOT_PASSED:
        current = releases.current_release(component)
    if current is None:
        return None
    recorded = current.settings or settings.snapshot(component)
    return {**recorded, "tag": current.tag}


def update_component(component: Component, data: ComponentInput, by: str, deploy: bool):
    """Save an edit ("Save"), and with `deploy` start a release of it ("Save and deploy"): at the
    running digest when the image did not change, else the new tag resolved anew. Returns the
    release (or None) and the changes against what runs. Choosing by hand a tag older than the one
    running, with auto-deploy on, pauses auto-deploy (the next push must not undo the choice)."""
    new, digest = proposed_settings(component, data)
    running = running_settings(component)
    changes = settings.diff(running, new, registry_names(component.team), component_names(component.team))
    same_image = running is not None and all(running.get(k) == new[k] for k in ("registry_id", "image", "tag"))
    component.application = _application(component.team, data.application)
    settings.restore(component, new)
    volumes.record(component)
    release = None
    if deploy:
        keep = digest or (releases.current_release(component).digest if same_image else None)
        release = releases.deploy_settings(component, by, keep)
        if component.auto_deploy and running is not None and new["tag"] != running["tag"] and \
                triggers.older(new["tag"], running["tag"]):
            releases.pause(component, f"Auto-deploy paused since release #{release.seq}: {new['tag']} was chosen "
                           f"by hand over the newer {running['tag']}.")
    done = f"deployed as release #{release.seq}: " if release else "saved: "
    audit.record(component.team_id, by, "component.edited", f"component {component.name}",
                 done + ("; ".join(changes) or "no changes"))
    db.session.flush()
    return release, changes


def input_of(component: Component) -> ComponentInput:
    """The component's saved settings as an edit's input (secret values and secret files empty:
    an edit keeps what they hold), for an edit that changes a few of them (the API's)."""
    saved = settings.snapshot(component)
    return ComponentInput(
        name=component.name, application=component.application.name, registry_id=component.registry_id,
        image=component.image, tag=component.tag, replicas=component.replicas, memory_mb=component.memory_mb,
        cpu_millicores=component.cpu_millicores, run_as_root=component.run_as_root,
        replicas_elsewhere=component.replicas_elsewhere, target_id=component.target_id,
        command=saved["command"], args=saved["args"],
        env=[(k, "" if SECRET_NAME.search(k) else v) for k, v in component.env or []],
        ports=settings.ports_of(saved), volumes=settings.volumes_of(saved),
        files=[ConfigFile(f["path"], "" if f.get("secret") else f.get("content", ""), int(f.get("mode", 0o644)),
                          bool(f.get("secret"))) for f in component.files or []],
        depends_on=list(component.depends_on or []), health=settings.health_of(saved))


def edit_changes(component: Component, data: ComponentInput) -> list[str]:
    """The diff an edit would make against what runs, or FieldErrors."""
    new, _ = proposed_settings(component, data)
    return settings.diff(running_settings(component), new, registry_names(component.team),
                         component_names(component.team))


def using_repository(registry: Registry, repository: str) -> list[Component]:
    """The components deploying this repository of this registry (for "Update <component>")."""
    return list(db.session.scalars(select(Component).where(
        Component.registry_id == registry.id, func.lower(Component.image) == repository.lower())
        .order_by(Component.name).limit(20)))


def registry_names(team: Team) -> dict:
    return dict(db.session.execute(select(Registry.id, Registry.name).where(Registry.team_id == team.id)).all())


def component_names(team: Team) -> dict:
    return dict(db.session.execute(select(Component.id, Component.name).where(Component.team_id == team.id)).all())


@dataclass
class BuildSourceInput:
    auto_deploy: bool
    trigger_kind: str
    trigger_pattern: str
    include_prereleases: bool
    no_downgrade: bool
    poll_interval: int | None
    webhook_secret: str  # empty keeps the stored one
    clear_secret: bool
    require_platform: str | None = None
    cooldown_minutes: int | None = None
    approvals_required: int = 0  # 0: pushes deploy without approval
    approval_hours: int = 24
    approvals_owners_only: bool = False
    trust_policy_id: int | None = None  # deploy only digests this policy accepts (None: any)


def _check_rule(kind: str, pattern: str) -> None:
    if kind not in triggers.KINDS:
        raise FieldErrors({"trigger_kind": "Choose a rule."})
    problem = triggers.check_pattern(kind, pattern)
    if problem:
        raise FieldErrors({"trigger_pattern": problem})


PLATFORM = re.compile(r"^[a-z0-9]{1,20}/[a-z0-9_]{1,20}(/[a-z0-9]{1,10})?$")


def _copy_rule(row: Component, data: BuildSourceInput) -> None:
    row.auto_deploy, row.trigger_kind = data.auto_deploy, data.trigger_kind
    row.trigger_pattern = data.trigger_pattern.strip() if data.trigger_kind != "same_tag" else None
    row.include_prereleases, row.no_downgrade = data.include_prereleases, data.no_downgrade
    row.require_platform, row.cooldown_minutes = data.require_platform, data.cooldown_minutes


def update_build_source(component: Component, data: BuildSourceInput, by: str) -> None:
    _check_rule(data.trigger_kind, data.trigger_pattern)
    if data.require_platform is not None and not PLATFORM.match(data.require_platform):
        raise FieldErrors({"platform": "Write the platform as os/architecture, e.g. linux/amd64 or linux/arm64/v8."})
    policy = db.session.get(TrustPolicy, data.trust_policy_id) if data.trust_policy_id is not None else None
    if data.trust_policy_id is not None and (policy is None or policy.team_id != component.team_id):
        raise FieldErrors({"trust_policy_id": "Choose one of the team's signature policies."})
    if data.trust_policy_id != component.trust_policy_id:
        was = db.session.get(TrustPolicy, component.trust_policy_id) if component.trust_policy_id else None
        audit.record(component.team_id, by, "trust.component_policy", f"component {component.name}",
                     f"signature policy {policy.name if policy else 'none'} (was {was.name if was else 'none'})")
    component.trust_policy_id = data.trust_policy_id
    component.require_platform = data.require_platform
    component.cooldown_minutes = data.cooldown_minutes
    component.approvals_required = data.approvals_required
    component.approval_hours = data.approval_hours
    component.approvals_owners_only = data.approvals_owners_only
    if data.auto_deploy and component.env_target is not None and not component.env_target.environment.auto_deploy:
        raise FieldErrors({"auto_deploy": f"{component.env_target.environment.name} takes only promotions: pushes "
                                          f"may not deploy there (its environment's rule)."})
    component.auto_deploy = data.auto_deploy
    if component.base_id is None and db.session.scalar(
            select(ComponentStage.id).where(ComponentStage.component_id == component.id).limit(1)) is not None:
        # deployed through environments: the rule is the component's, pushes deploy its rows where allowed
        component.auto_deploy = False
        for row in db.session.scalars(select(Component).where(Component.base_id == component.id)):
            if row.env_target.environment.auto_deploy:
                _copy_rule(row, data)
    component.trigger_kind = data.trigger_kind
    component.trigger_pattern = data.trigger_pattern.strip() if data.trigger_kind != "same_tag" else None
    component.include_prereleases = data.include_prereleases
    component.no_downgrade = data.no_downgrade
    component.poll_interval = data.poll_interval
    endpoints.set_webhook_secret(component, data.webhook_secret, data.clear_secret)
    audit.record(component.team_id, by, "component.build_source", f"component {component.name}",
                 f"auto-deploy {'on' if data.auto_deploy else 'off'}, rule {component.trigger_kind}"
                 f"{' ' + component.trigger_pattern if component.trigger_pattern else ''}, approvals "
                 f"{component.approvals_required}")


def repository_tags(component: Component) -> list[str]:
    """The names of the tags in the component's repository now (briefly cached for registries)."""
    if component.source_registry is not None:
        return registries.cached_tags(component.source_registry, component.image).names
    source = images.source_for(component.team_id, None, f"{component.image}:{component.tag}")
    return source.client.tag_list(source.repository).names


@dataclass
class Preview:
    rows: list  # triggers.Verdict, this page
    total: int  # tags in the repository
    matching: int  # tags the rule accepts
    winner: str | None
    page: int
    pages: int
    trust: dict[str, str] = field(default_factory=dict)  # tag → the trust policies' verdict on its digest


TRUST_PREVIEW = 5  # matching tags of a page whose signatures the preview checks (registry requests each)


def preview_rule(component: Component, kind: str, pattern: str, include_prereleases: bool,
                 require_platform: str | None = None, cooldown_minutes: int | None = None,
                 page: int = 1, per_page: int = 50) -> Preview:
    """Every current tag of the repository with what this rule would make of it (paged), the one
    that would deploy marked; its platform, cooldown and signatures (the saved trust policy) checked
    as a push would be. Raises
    FieldErrors for a rule that cannot be used, RegistryError when the tags cannot be read."""
    _check_rule(kind, pattern)
    rule = triggers.Rule(kind, pattern, include_prereleases, component.no_downgrade)
    running = releases.current_release(component)
    verdicts = triggers.explain(rule, repository_tags(component), component.tag,
                                running.tag if running is not None and not component.stopped else None)
    winner = next((v.tag for v in verdicts if v.deploys), None)
    guarded = gate.guarded(component)
    source = None
    if guarded or (winner is not None and (require_platform or cooldown_minutes)):
        source = images.source_for(component.team_id, component.source_registry, component.image
                                   if component.source_registry else f"{component.image}:{component.tag}")
    known: dict[str, str] = {}  # tag → its trust verdict, when already asked
    if winner is not None and (require_platform or cooldown_minutes or guarded):
        digest = source.client.manifest_digest(source.repository, winner)
        held = autodeploy.waiting(component.id, require_platform, cooldown_minutes, source, winner, digest,
                                  record=False)
        if not held and guarded:
            verdict = gate.check(component, digest, source)
            known[winner] = verdict.reason
            held = None if verdict.ok else verdict.reason
        if held:
            verdicts = [triggers.Verdict(v.tag, False, held, True) if v.tag == winner else v for v in verdicts]
            winner = None
    shown = Page.of_list(verdicts, page, per_page)
    preview = Preview(shown.items, shown.total, sum(v.matches for v in verdicts), winner, shown.page, shown.pages)
    if guarded:
        for v in [v for v in shown.items if v.matches][:TRUST_PREVIEW]:
            preview.trust[v.tag] = known.get(v.tag) or _trust_of_tag(component, source, v.tag)
    return preview


def _trust_of_tag(component: Component, source: images.ImageSource, tag: str) -> str:
    """The trust policies' verdict on the digest `tag` names now, as the preview shows it."""
    try:
        digest = source.client.manifest_digest(source.repository, tag)
    except RegistryError as e:
        return f"its digest could not be read ({e.message})"
    verdict = gate.check(component, digest, source)
    return verdict.reason if verdict is not None else ""


def team_components(team_id: int) -> list[Component]:
    """The team's components by name (for choosing connections)."""
    return list(db.session.scalars(select(Component).where(Component.team_id == team_id).order_by(Component.name)))


def applications_of_team(team_id: int) -> list[Application]:
    """The team's applications by name."""
    return list(db.session.scalars(select(Application).where(Application.team_id == team_id)
                                   .order_by(Application.name)))
