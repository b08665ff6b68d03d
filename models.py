"""Database models. Services flush; the request (or job) commits once."""
from __future__ import annotations

import enum
import secrets
import sqlite3
from datetime import UTC, datetime

from flask_login import UserMixin
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import ForeignKey, Index, String, UniqueConstraint, event, false, true
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """SQLite, the embedded default: WAL lets readers run beside the one writer, and waits
    for the lock instead of failing when several threads write; foreign keys are enforced (with
    their ON DELETE actions) as PostgreSQL does, which SQLite does only when asked, per connection.
    Migrations turn them off while they rebuild tables (migrations/env.py)."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()


# Ids are INTEGER columns (32-bit signed on PostgreSQL); anything larger names no row, and is never
# sent to the database (PostgreSQL refuses it as out of range).
MAX_ID = 2**31 - 1


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def new_token() -> str:
    """An unguessable URL-safe token (256 bits) for webhook URLs."""
    return secrets.token_urlsafe(32)


class Role(enum.StrEnum):
    OWNER = "owner"
    MEMBER = "member"


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(default=False)
    # A deactivated user cannot sign in; their sessions end.
    active: Mapped[bool] = mapped_column(default=True, server_default=true())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Part of the id a session carries (`get_id`): signing out raises it, so a session cookie copied
    # before stops working.
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="user", cascade="all, delete-orphan"
    )

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    @property
    def is_active(self) -> bool:
        return self.active

    def __repr__(self) -> str:
        return f"<User {self.email}>"


class LoginFailure(db.Model):
    """A failed sign-in, kept for the throttling window (accounts.login_refused)."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    address: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Team(db.Model):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The slug: a DNS label, unique, naming the team's namespace (berth-<name>).
    name: Mapped[str] = mapped_column(String(63), unique=True)
    # What people call the team ("Shop & Co"); the slug is made from it.
    display_name: Mapped[str | None] = mapped_column(String(100))
    # An IANA time zone (Europe/Berlin): freeze windows are read in it.
    timezone: Mapped[str] = mapped_column(String(64), server_default="UTC")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="team", cascade="all, delete-orphan"
    )

    @property
    def label(self) -> str:
        return self.display_name or self.name
    applications: Mapped[list[Application]] = relationship(
        back_populates="team", cascade="all, delete-orphan", order_by="Application.name"
    )


class Membership(db.Model):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "team_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16), default=Role.MEMBER)

    user: Mapped[User] = relationship(back_populates="memberships")
    team: Mapped[Team] = relationship(back_populates="memberships")


class Application(db.Model):
    """A named group of components inside a team."""

    __tablename__ = "applications"
    __table_args__ = (UniqueConstraint("team_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(63))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    team: Mapped[Team] = relationship(back_populates="applications")


class Registry(db.Model):
    """A container registry a team connected; the password is stored encrypted."""

    __tablename__ = "registries"
    __table_args__ = (UniqueConstraint("team_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(63))
    url: Mapped[str] = mapped_column(String(500))
    username: Mapped[str | None] = mapped_column(String(255))
    password_encrypted: Mapped[str | None] = mapped_column(db.Text)
    insecure: Mapped[bool] = mapped_column(default=False)
    ca_bundle: Mapped[str | None] = mapped_column(db.Text)
    # A host the user confirmed may receive the credentials for Bearer tokens (besides the registry's).
    token_host: Mapped[str | None] = mapped_column(String(253))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    last_checked_at: Mapped[datetime | None]
    last_check_ok: Mapped[bool | None]
    last_check_message: Mapped[str | None] = mapped_column(String(500))
    webhook_token: Mapped[str] = mapped_column(String(64), default=new_token, unique=True)
    webhook_secret_encrypted: Mapped[str | None] = mapped_column(db.Text)
    last_poll_at: Mapped[datetime | None]
    last_poll_error: Mapped[str | None] = mapped_column(String(500))
    poll_backoff_until: Mapped[datetime | None]
    # A cloud registry's settings that are not secret: region, registry_id (AWS account), tenant
    # (Azure), api_url and namespace (GitHub / GitLab listing). Secrets stay in password_encrypted.
    options: Mapped[dict | None] = mapped_column(db.JSON)
    # The rate limit the registry last reported: limit, remaining, window (s), reset_at, seen_at
    # (ISO times), retry_after; see services.registries.clients.ratelimit.
    rate_limit: Mapped[dict | None] = mapped_column(db.JSON)
    # Most registry requests polling may make per hour (None: the configured default).
    poll_budget: Mapped[int | None]

    team: Mapped[Team] = relationship()

    @property
    def has_password(self) -> bool:
        return bool(self.password_encrypted)

    def option(self, name: str) -> str:
        return str((self.options or {}).get(name) or "")


class ReleaseStatus(enum.StrEnum):
    PENDING = "pending"
    DEPLOYING = "deploying"
    RUNNING = "running"
    FAILED = "failed"
    SUPERSEDED = "superseded"
    STOPPED = "stopped"
    CANCELLED = "cancelled"  # a newer release replaced it before it ran


# A release still under way (waiting for a worker or rolling out); see retention.KEPT_RELEASE_STATUSES
# for those never pruned.
UNFINISHED_RELEASE_STATUSES = (ReleaseStatus.PENDING, ReleaseStatus.DEPLOYING)


class ClusterTarget(db.Model):
    """A Kubernetes cluster a team deploys to besides Berth's own (BERTH_DEPLOYER): its API server,
    the CA that signed its certificate, and a ServiceAccount token, stored encrypted."""

    __tablename__ = "cluster_targets"
    __table_args__ = (UniqueConstraint("team_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(63))
    server: Mapped[str] = mapped_column(String(500))
    ca_pem: Mapped[str | None] = mapped_column(db.Text)  # None: the system's CAs
    token_encrypted: Mapped[str] = mapped_column(db.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    last_checked_at: Mapped[datetime | None]
    last_check_ok: Mapped[bool | None]
    last_check_message: Mapped[str | None] = mapped_column(String(1000))

    team: Mapped[Team] = relationship()


class Component(db.Model):
    """A running service made from one image: registry + repository (or a plain reference) + tag."""

    __tablename__ = "components"
    __table_args__ = (UniqueConstraint("team_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="RESTRICT"), index=True)
    registry_id: Mapped[int | None] = mapped_column(ForeignKey("registries.id", ondelete="RESTRICT"), index=True)
    # Where it runs: one of the team's clusters, or None for this Berth's own deployer.
    target_id: Mapped[int | None] = mapped_column(ForeignKey("cluster_targets.id", ondelete="RESTRICT"), index=True)
    # A stage's row is named <component>@<environment>/<target> (services.components.stages).
    name: Mapped[str] = mapped_column(String(200))
    # With a registry: the repository inside it (team/app). Without: host/repository of a plain reference.
    image: Mapped[str] = mapped_column(String(512))  # a repository, or host/repository (a path of up to 255)
    tag: Mapped[str] = mapped_column(String(128))
    digest: Mapped[str | None] = mapped_column(String(100))
    replicas: Mapped[int] = mapped_column(default=1)
    memory_mb: Mapped[int] = mapped_column(default=256)
    cpu_millicores: Mapped[int | None]
    # Kubernetes: run the image's root user (else non-root, Pod Security "restricted").
    run_as_root: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Kubernetes: an autoscaler or `kubectl scale` sets the Deployment's replicas, never Berth.
    replicas_elsewhere: Mapped[bool] = mapped_column(default=False, server_default=false())
    # The container's entrypoint and arguments instead of the image's (None: the image's own).
    command: Mapped[list | None] = mapped_column(db.JSON)
    args: Mapped[list | None] = mapped_column(db.JSON)
    env: Mapped[list] = mapped_column(db.JSON, default=list)
    ports: Mapped[list] = mapped_column(db.JSON, default=list)
    # Volumes mounted: [{"name", "path", "size_mb", "read_only"}]; each names one of the team's
    # Volume rows (None on components from before volumes: none).
    volumes: Mapped[list | None] = mapped_column(db.JSON)
    # Config files mounted read-only: [{"path", "mode", "secret", "sha256", and "content", or for a
    # secret file "content_encrypted"}] (None on components from before config files: none).
    files: Mapped[list | None] = mapped_column(db.JSON)
    # Connections: ids of the team's components (same application) it depends on; Berth gives it
    # their addresses and its first release waits for them (None: none).
    depends_on: Mapped[list | None] = mapped_column(db.JSON)
    stopped: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Build source: auto-deploy on push (webhooks, or polling as the fallback).
    auto_deploy: Mapped[bool] = mapped_column(default=False)
    trigger_kind: Mapped[str] = mapped_column(String(16), default="same_tag")  # same_tag / regex / semver
    trigger_pattern: Mapped[str | None] = mapped_column(String(255))
    include_prereleases: Mapped[bool] = mapped_column(default=False)
    no_downgrade: Mapped[bool] = mapped_column(default=True)
    poll_interval: Mapped[int | None]
    last_polled_at: Mapped[datetime | None]
    webhook_token: Mapped[str] = mapped_column(String(64), default=new_token, unique=True)
    webhook_secret_encrypted: Mapped[str | None] = mapped_column(db.Text)
    # The number of the last release queued; a release takes the next one only if nobody else did
    # since this component was read (see `releases.queue_release`).
    release_seq: Mapped[int] = mapped_column(default=0, server_default="0")
    # Health check (services.settings.health_of): {"kind": "http"|"tcp", "port", "path", "initial_delay",
    # "period", "failure_threshold"}, or None.
    health: Mapped[dict | None] = mapped_column(db.JSON)
    # Set while auto-deploy is paused (after a rollback, a hand-picked older tag or an automatic
    # rollback): the sentence the page shows. Pushes are recorded "ignored" until a person resumes.
    paused_reason: Mapped[str | None] = mapped_column(String(300))
    paused_at: Mapped[datetime | None]
    # Digests whose release failed and was rolled back automatically: never auto-deployed again until
    # a person clears the mark. [{"digest", "tag", "release", "reason", "at"}]
    bad_digests: Mapped[list] = mapped_column(db.JSON, default=list)
    # Rule options: deploy only a tag whose image has this platform (e.g. linux/amd64), and only
    # tags first seen (pushed) at least this many minutes ago.
    require_platform: Mapped[str | None] = mapped_column(String(64))
    cooldown_minutes: Mapped[int | None]
    # Approvals for auto-deploy: a matching push waits for this many approvals (0: none needed),
    # for at most approval_hours; owners only when set.
    approvals_required: Mapped[int] = mapped_column(default=0, server_default="0")
    approval_hours: Mapped[int] = mapped_column(default=24, server_default="24")
    approvals_owners_only: Mapped[bool] = mapped_column(default=False, server_default=false())
    # Environments (services.components.stages): a component deployed through environments keeps
    # its identity and settings on its own row and runs as one row per environment target, which
    # names it (`base_id`) and the target; that row deploys under the component's own name
    # (`runtime_name`) in the target's namespace, with its stage's overrides.
    base_id: Mapped[int | None] = mapped_column(ForeignKey("components.id", ondelete="CASCADE"), index=True)
    env_target_id: Mapped[int | None] = mapped_column(ForeignKey("environment_targets.id", ondelete="RESTRICT"),
                                                      index=True)
    runtime_name: Mapped[str | None] = mapped_column(String(63))
    namespace: Mapped[str | None] = mapped_column(String(63))
    # Deploy only digests this policy accepts (services.trust.gate); a stage row follows its component's.
    trust_policy_id: Mapped[int | None] = mapped_column(ForeignKey("trust_policies.id", ondelete="RESTRICT"),
                                                        index=True)

    team: Mapped[Team] = relationship()
    application: Mapped[Application] = relationship()
    source_registry: Mapped[Registry | None] = relationship()
    target: Mapped[ClusterTarget | None] = relationship()
    base: Mapped[Component | None] = relationship(remote_side="Component.id", foreign_keys=[base_id])
    env_target: Mapped[EnvironmentTarget | None] = relationship()
    # Loaded only to delete a component with its releases; queries go through services.components.releases.
    releases: Mapped[list[Release]] = relationship(
        back_populates="component", cascade="all, delete-orphan", order_by="desc(Release.id)")


class TrustKey(db.Model):
    """A public key a team accepts signatures from (cosign.pub), or a root CA certificate whose
    code-signing certificates it accepts (keyless): public material, shown with its fingerprint
    (SHA-256 of the key's DER SubjectPublicKeyInfo, or of the certificate)."""

    __tablename__ = "trust_keys"
    __table_args__ = (UniqueConstraint("team_id", "name"), UniqueConstraint("team_id", "fingerprint"))

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(63))
    kind: Mapped[str] = mapped_column(String(8), default="key")  # key / root
    pem: Mapped[str] = mapped_column(db.Text)
    fingerprint: Mapped[str] = mapped_column(String(71))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TrustPolicy(db.Model):
    """What a digest must carry to deploy: cosign signatures by at least `threshold` of `key_ids`
    (each key counted once), and the attestations named."""

    __tablename__ = "trust_policies"
    __table_args__ = (UniqueConstraint("team_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(63))
    key_ids: Mapped[list] = mapped_column(db.JSON, default=list)
    threshold: Mapped[int] = mapped_column(default=1)
    # Attestations the digest must also carry, signed by one of the keys (services.trust.cosign
    # Requirement texts: "vuln below high", "sbom", a predicate type URI…).
    attestations: Mapped[list] = mapped_column(db.JSON, default=list)
    # Keyless: what a certificate from one of the roots must name (RE2, whole match; empty: any).
    subject_pattern: Mapped[str] = mapped_column(String(255), default="")
    issuer_pattern: Mapped[str] = mapped_column(String(255), default="")
    # Harbor: the artifact's vulnerability scan must find nothing at or above this severity (""
    # none required); a never-scanned artifact is scanned, waited for at most scan_wait_seconds.
    scan_below: Mapped[str] = mapped_column(String(16), default="", server_default="")
    scan_wait_seconds: Mapped[int] = mapped_column(default=120, server_default="120")
    # SHA-256 of the threshold and the keys' fingerprints (services.trust.policies.rule_hash): a
    # verdict made under another one is decided again.
    rule_hash: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TrustVerdict(db.Model):
    """A policy's verdict on a digest, cached: `policy_hash` is the policy's `rule_hash` it was
    made under (a changed policy decides again); `signatures` the signature manifest it read (a
    refusal is decided again when that changes, e.g. once the image is signed)."""

    __tablename__ = "trust_verdicts"
    __table_args__ = (UniqueConstraint("policy_id", "digest"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("trust_policies.id", ondelete="CASCADE"))
    digest: Mapped[str] = mapped_column(String(100))
    policy_hash: Mapped[str] = mapped_column(String(64))
    ok: Mapped[bool]
    reason: Mapped[str] = mapped_column(String(1000))
    # The signature (and attestation) manifests' digests read: "<.sig digest or -> <.att digest or ->".
    signatures: Mapped[str | None] = mapped_column(String(160))
    checked_at: Mapped[datetime] = mapped_column(default=utcnow)


class Environment(db.Model):
    """One of a team's environments (dev, staging, production): fed by its upstream (None: the
    first), deploying to its targets under its own rules (services.components.environments)."""

    __tablename__ = "environments"
    __table_args__ = (UniqueConstraint("team_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(30))
    upstream_id: Mapped[int | None] = mapped_column(ForeignKey("environments.id", ondelete="SET NULL"), index=True)
    # Pushes may deploy here (a stage's build source); else only promotions and people do.
    auto_deploy: Mapped[bool] = mapped_column(default=False)
    # Promote into it by itself once the gates pass.
    auto_promote: Mapped[bool] = mapped_column(default=False)
    approvals_required: Mapped[int] = mapped_column(default=0)
    owners_only: Mapped[bool] = mapped_column(default=False)  # who may promote into it and approve
    # The upstream must have run the digest this long, healthy on all (or any) of its targets.
    soak_minutes: Mapped[int] = mapped_column(default=0)
    health_rule: Mapped[str] = mapped_column(String(8), default="all")  # all / any
    on_failure: Mapped[str] = mapped_column(String(10), default="retry")  # retry / rollback
    # [{"rule": "FREQ=WEEKLY;BYDAY=FR;BYHOUR=16", "hours": 64}] in the team's time zone.
    freeze_windows: Mapped[list] = mapped_column(db.JSON, default=list)
    # Every digest deployed here must also pass this policy (services.trust.gate), beside the component's.
    trust_policy_id: Mapped[int | None] = mapped_column(ForeignKey("trust_policies.id", ondelete="RESTRICT"),
                                                        index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    upstream: Mapped[Environment | None] = relationship(remote_side="Environment.id")
    trust_policy: Mapped[TrustPolicy | None] = relationship()
    targets: Mapped[list[EnvironmentTarget]] = relationship(
        back_populates="environment", order_by="EnvironmentTarget.id", cascade="all, delete-orphan")


class EnvironmentTarget(db.Model):
    """Where an environment deploys: one of the team's clusters (None: this Berth's own deployer)
    and a namespace (None: <prefix><team>-<environment>)."""

    __tablename__ = "environment_targets"

    id: Mapped[int] = mapped_column(primary_key=True)
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id", ondelete="CASCADE"), index=True)
    cluster_id: Mapped[int | None] = mapped_column(ForeignKey("cluster_targets.id", ondelete="RESTRICT"), index=True)
    namespace: Mapped[str | None] = mapped_column(String(63))

    environment: Mapped[Environment] = relationship(back_populates="targets")
    cluster: Mapped[ClusterTarget | None] = relationship()

    @property
    def label(self) -> str:
        return (self.cluster.name if self.cluster else "local") + (f":{self.namespace}" if self.namespace else "")


class ComponentStage(db.Model):
    """A component in one environment: the settings that differ there (overrides), and whether
    auto-promotion into it is paused (after a rollback there)."""

    __tablename__ = "component_stages"
    __table_args__ = (UniqueConstraint("component_id", "environment_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    component_id: Mapped[int] = mapped_column(ForeignKey("components.id", ondelete="CASCADE"), index=True)
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id", ondelete="RESTRICT"), index=True)
    # {"replicas": 3, "memory_mb": 512, "cpu_millicores": 500, "env": {"LOG_LEVEL": "warn"},
    #  "public_host": {"8080": "shop.example.com"}, "volume_size": {"data": 2048}}
    overrides: Mapped[dict] = mapped_column(db.JSON, default=dict)
    paused_reason: Mapped[str | None] = mapped_column(String(300))
    paused_at: Mapped[datetime | None]

    component: Mapped[Component] = relationship()
    environment: Mapped[Environment] = relationship()


class PromotionStatus(enum.StrEnum):
    WAITING = "waiting"  # for its gates
    DEPLOYING = "deploying"
    DONE = "done"
    PARTIAL = "partial"  # some targets failed: retried or rolled back per the environment
    FAILED = "failed"
    REJECTED = "rejected"
    EXPIRED = "expired"
    SUPERSEDED = "superseded"


class Promotion(db.Model):
    """Moving one release (its exact digest and the component's settings it ran with) from an
    environment to the next, on all that environment's targets, once its gates pass."""

    __tablename__ = "promotions"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    component_id: Mapped[int] = mapped_column(ForeignKey("components.id", ondelete="CASCADE"), index=True)
    environment_id: Mapped[int] = mapped_column(ForeignKey("environments.id", ondelete="CASCADE"), index=True)
    from_environment_id: Mapped[int | None] = mapped_column(ForeignKey("environments.id", ondelete="SET NULL"))
    # The release promoted (no foreign key: retention may prune it; the digest and settings stay here).
    source_release_id: Mapped[int | None]
    tag: Mapped[str] = mapped_column(String(128))
    digest: Mapped[str] = mapped_column(String(100))
    base_settings: Mapped[dict] = mapped_column(db.JSON)
    settings_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=PromotionStatus.WAITING, index=True)
    automatic: Mapped[bool] = mapped_column(default=False)
    requested_by: Mapped[str] = mapped_column(String(255))
    required: Mapped[int] = mapped_column(default=0)
    approvers: Mapped[list] = mapped_column(db.JSON, default=list)
    approved_count: Mapped[int] = mapped_column(default=0)  # compare-and-set, as approvals do
    # An owner's release of a freeze: {"by", "reason", "at"}.
    freeze_override: Mapped[dict | None] = mapped_column(db.JSON)
    # The last look at the gates: [{"gate", "ok", "reason"}].
    gates: Mapped[list] = mapped_column(db.JSON, default=list)
    release_ids: Mapped[list] = mapped_column(db.JSON, default=list)
    message: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    last_retry_at: Mapped[datetime | None]

    component: Mapped[Component] = relationship()
    environment: Mapped[Environment] = relationship(foreign_keys=[environment_id])
    from_environment: Mapped[Environment | None] = relationship(foreign_keys=[from_environment_id])


class Volume(db.Model):
    """One of a team's persistent volumes: a podman named volume or a PersistentVolumeClaim, mounted
    by the components whose `volumes` name it. It belongs to an application and a runtime, and
    outlives its components: deleting one keeps its data unless asked otherwise ("kept" volumes,
    mounted by none, are listed on the application's page)."""

    __tablename__ = "volumes"
    __table_args__ = (UniqueConstraint("team_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="RESTRICT"), index=True)
    # Where its data lives: one of the team's clusters, or None for this Berth's own deployer.
    target_id: Mapped[int | None] = mapped_column(ForeignKey("cluster_targets.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(63))
    size_mb: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    application: Mapped[Application] = relationship()
    target: Mapped[ClusterTarget | None] = relationship()


class Release(db.Model):
    """One deploy of a component at an exact image (pinned by digest once resolved)."""

    __tablename__ = "releases"
    # Releases of one component are numbered 1, 2, 3…: two writers deciding from the same state
    # cannot both add one, on SQLite as on PostgreSQL.
    __table_args__ = (UniqueConstraint("component_id", "seq", name="uq_releases_component_id_seq"),
                      # a component's newest release, its history page, the dashboard's last releases
                      Index("ix_releases_component_id_id", "component_id", "id"),
                      Index("ix_releases_team_id_id", "team_id", "id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    component_id: Mapped[int] = mapped_column(ForeignKey("components.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int]
    tag: Mapped[str] = mapped_column(String(128))
    digest: Mapped[str | None] = mapped_column(String(100))
    image_ref: Mapped[str | None] = mapped_column(String(500))
    # manual / webhook / poll / rollback / auto-rollback / start / scale / approval / resume
    trigger: Mapped[str] = mapped_column(String(16))
    triggered_by: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default=ReleaseStatus.PENDING, index=True)
    message: Mapped[str | None] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    heartbeat_at: Mapped[datetime | None]
    # What this release deployed besides the image (services.settings.snapshot): a rollback restores it.
    settings: Mapped[dict | None] = mapped_column(db.JSON)
    # The last lines the failed container printed, shown beside the failure.
    log_tail: Mapped[str | None] = mapped_column(db.Text)
    # A stage's release: the component's own settings it came from (before the environment's
    # overrides), which a promotion carries on, and the promotion that made it.
    base_settings: Mapped[dict | None] = mapped_column(db.JSON)
    promotion_id: Mapped[int | None] = mapped_column(ForeignKey("promotions.id", ondelete="SET NULL"), index=True)
    # Deployed although the trust policy refused its digest: the owner's reason (audited).
    trust_override: Mapped[str | None] = mapped_column(String(300))

    component: Mapped[Component] = relationship(back_populates="releases")

    @property
    def in_progress(self) -> bool:
        return self.status in UNFINISHED_RELEASE_STATUSES


class NotificationChannel(db.Model):
    """Where a team's notifications go: a signed generic webhook, a Slack-compatible incoming
    webhook, or email. `events` lists what it wants (services.oversight.notifications.EVENTS)."""

    __tablename__ = "notification_channels"
    __table_args__ = (UniqueConstraint("team_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(63))
    kind: Mapped[str] = mapped_column(String(16))  # webhook / slack / email
    url: Mapped[str | None] = mapped_column(String(500))
    email_to: Mapped[str | None] = mapped_column(String(500))
    secret_encrypted: Mapped[str | None] = mapped_column(db.Text)
    events: Mapped[list] = mapped_column(db.JSON, default=list)
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class NotificationStatus(enum.StrEnum):
    PENDING = "pending"  # waiting for its (next) try
    SENDING = "sending"  # claimed by one sender
    SENT = "sent"
    FAILED = "failed"  # every try failed


class Notification(db.Model):
    """One message to one channel, stored before it is sent: retried with backoff by whichever
    process claims it (one at a time), across restarts."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("notification_channels.id", ondelete="CASCADE"), index=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)  # the delivery id receivers see
    event: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict] = mapped_column(db.JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default=NotificationStatus.PENDING, index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None]
    last_latency_ms: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]

    channel: Mapped[NotificationChannel] = relationship()


class ApprovalStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    SUPERSEDED = "superseded"


class Approval(db.Model):
    """A matching push waiting for people: approved, it releases exactly this digest."""

    __tablename__ = "approvals"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    component_id: Mapped[int] = mapped_column(ForeignKey("components.id", ondelete="CASCADE"), index=True)
    tag: Mapped[str] = mapped_column(String(128))
    digest: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(16), default=ApprovalStatus.PENDING, index=True)
    required: Mapped[int] = mapped_column(default=1)
    owners_only: Mapped[bool] = mapped_column(default=False)
    approvers: Mapped[list] = mapped_column(db.JSON, default=list)  # emails, in order
    # How many approved: the compare-and-set that lets two approvals at once not both be the last.
    approved_count: Mapped[int] = mapped_column(default=0)
    requested_by: Mapped[str] = mapped_column(String(255))  # the trigger: "webhook (harbor)", "poll"
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(255))
    note: Mapped[str | None] = mapped_column(String(500))
    release_id: Mapped[int | None] = mapped_column(ForeignKey("releases.id", ondelete="SET NULL"))

    component: Mapped[Component] = relationship()


class ApiToken(db.Model):
    """A bearer token for /api/v1 (services.api.tokens): personal (acts as its user) or a team's
    service token (made by an owner; acts as its maker, never beyond the maker's current role).
    Only its SHA-256 is stored; the token is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10), default="personal")  # personal / service
    name: Mapped[str] = mapped_column(String(63))
    scopes: Mapped[list] = mapped_column(db.JSON, default=list)  # read, deploy, approve, admin
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))  # the token's first characters, to recognise it
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship()


class AuditEntry(db.Model):
    """Who changed what: one row per action, never a secret value."""

    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str] = mapped_column(String(255))  # "component web", "registry local"
    summary: Mapped[str] = mapped_column(String(1000), default="")
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class TagSighting(db.Model):
    """When Berth first saw a tag at a digest for a component (by webhook or poll): the push time
    a cooldown counts from. One row per (component, tag, digest), by the schema."""

    __tablename__ = "tag_sightings"
    __table_args__ = (UniqueConstraint("component_id", "tag", "digest", name="uq_tag_sightings"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    component_id: Mapped[int] = mapped_column(ForeignKey("components.id", ondelete="CASCADE"), index=True)
    tag: Mapped[str] = mapped_column(String(128))
    digest: Mapped[str] = mapped_column(String(100))
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)


class PollLease(db.Model):
    """A replica's claim on one watch key (registry + repository) for the poll cycle it is running:
    while `until` has not passed, no other replica polls that key. Ended when its batch is recorded
    (`until` set to then, `polled_at` too: a replica that read the key as due before then does not
    poll it again); a replica that dies leaves it to expire, and the key to the others."""

    __tablename__ = "poll_leases"

    key: Mapped[str] = mapped_column(String(600), primary_key=True)
    holder: Mapped[str] = mapped_column(String(120))
    until: Mapped[datetime] = mapped_column(index=True)
    polled_at: Mapped[datetime | None]


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"  # stored, waiting for a worker
    PROCESSING = "processing"  # claimed by a worker
    DONE = "done"  # decided: its outcomes say what it meant
    FAILED = "failed"  # Berth hit an unexpected error; a replay retries it


class WebhookDelivery(db.Model):
    """One request to a webhook endpoint (or one poll finding), stored before it is processed."""

    __tablename__ = "webhook_deliveries"
    # an endpoint's newest deliveries (retention keeps the newest N of each)
    __table_args__ = (Index("ix_webhook_deliveries_component_id_id", "component_id", "id"),
                      Index("ix_webhook_deliveries_registry_id_id", "registry_id", "id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    registry_id: Mapped[int | None] = mapped_column(ForeignKey("registries.id", ondelete="CASCADE"), index=True)
    component_id: Mapped[int | None] = mapped_column(ForeignKey("components.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(32))
    headers: Mapped[dict] = mapped_column(db.JSON, default=dict)
    body: Mapped[str] = mapped_column(db.Text, default="")
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING, index=True)
    # False when the endpoint has a secret and the request did not carry it: recorded, never acted on
    # (a replay of it is refused).
    authenticated: Mapped[bool] = mapped_column(default=True, server_default=true())
    processed_at: Mapped[datetime | None]
    claimed_at: Mapped[datetime | None]
    summary: Mapped[str | None] = mapped_column(String(1000))

    outcomes: Mapped[list[DeliveryOutcome]] = relationship(
        back_populates="delivery", cascade="all, delete-orphan", order_by="DeliveryOutcome.id")


class DeliveryOutcome(db.Model):
    """What one push event meant for one component: deployed (with its release) or ignored, and why."""

    __tablename__ = "delivery_outcomes"
    __table_args__ = (Index("ix_delivery_outcomes_component_id_id", "component_id", "id"),)  # a component's page

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True)
    component_id: Mapped[int | None] = mapped_column(ForeignKey("components.id", ondelete="CASCADE"), index=True)
    release_id: Mapped[int | None] = mapped_column(ForeignKey("releases.id", ondelete="SET NULL"))
    repository: Mapped[str] = mapped_column(String(255))
    tag: Mapped[str | None] = mapped_column(String(128))
    digest: Mapped[str | None] = mapped_column(String(100))
    outcome: Mapped[str] = mapped_column(String(16))  # deployed / ignored
    reason: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    delivery: Mapped[WebhookDelivery] = relationship(back_populates="outcomes")
