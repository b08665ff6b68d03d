"""Objects of one team for the route-scoping test; add each new route argument here."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from blueprints.access import access_of
from models import (
    ApiToken,
    Application,
    Approval,
    ClusterTarget,
    Component,
    ComponentStage,
    Environment,
    Membership,
    NotificationChannel,
    Promotion,
    Registry,
    Release,
    Team,
    TrustKey,
    TrustPolicy,
    Volume,
    WebhookDelivery,
    db,
    utcnow,
)


def public_endpoints(app) -> set[str]:
    return {e for e, view in app.view_functions.items()
            if access_of(view) is not None}


def build_url(rule, values) -> str:
    return rule.map.bind("localhost").build(rule.endpoint, values)


# Any public key: the scoping test only needs a row.
TEST_PUBLIC_KEY = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEexample\n-----END PUBLIC KEY-----\n"

OBJECT_ARGS = {"team_id", "membership_id", "registry_id", "component_id", "release_id", "delivery_id",
               "channel_id", "approval_id", "target_id", "application_id", "volume_id", "environment_id", "stage_id",
               "promotion_id", "key_id", "policy_id", "token_id"}
# Route arguments that are not objects of a team; routes with only these are not team-scoped.
PLAIN_ARGS = {"kind": "env", "user_id": 1}  # user_id: admins' own pages, not a team's objects


def make_team_objects(app, make_user, team: str) -> dict[str, int]:
    """One of every team-scoped object, written straight to the database."""
    make_user(email=f"owner-{team}@example.com", team=team)
    with app.app_context():
        t = db.session.scalar(select(Team).where(Team.name == team))
        owner = db.session.scalar(select(Membership).where(Membership.team_id == t.id)).user
        registry = Registry(team=t, kind="registry", name="scoped", url="http://127.0.0.1:1")
        component = Component(team=t, application=Application(team=t, name="app"), source_registry=registry,
                              name="scoped", image="team/demo", tag="v1", env=[], ports=[], release_seq=1)
        release = Release(team_id=t.id, component=component, seq=1, tag="v1", digest="sha256:" + "0" * 64,
                          trigger="manual", triggered_by="test", status="running")
        delivery = WebhookDelivery(team_id=t.id, source="test", body="{}")
        channel = NotificationChannel(team_id=t.id, name="scoped", kind="webhook", url="https://example.com/hook",
                                      events=["release.running"])
        approval = Approval(team_id=t.id, component=component, tag="v2", digest="sha256:" + "1" * 64,
                            requested_by="test", expires_at=utcnow() + timedelta(hours=1))
        target = ClusterTarget(team=t, name="scoped", server="https://127.0.0.1:1", token_encrypted="x")
        volume = Volume(team_id=t.id, application=component.application, name="scoped", size_mb=1)
        environment = Environment(team_id=t.id, name="scoped", freeze_windows=[])
        stage = ComponentStage(team_id=t.id, component=component, environment=environment, overrides={})
        promotion = Promotion(team_id=t.id, component=component, environment=environment, tag="v1",
                              digest="sha256:" + "0" * 64, base_settings={}, settings_hash="0" * 64,
                              requested_by="test", approvers=[], gates=[], release_ids=[],
                              expires_at=utcnow() + timedelta(hours=1))
        key = TrustKey(team_id=t.id, name="scoped", pem=TEST_PUBLIC_KEY, fingerprint="sha256:" + "2" * 64)
        policy = TrustPolicy(team_id=t.id, name="scoped", key_ids=[], threshold=1)
        token = ApiToken(team_id=t.id, user=owner, kind="service", name="scoped", scopes=["read"],
                         token_hash=f"{t.id:064x}", prefix="berth_scoped", expires_at=utcnow() + timedelta(days=1))
        db.session.add_all([registry, component, release, delivery, channel, approval, target, volume, environment,
                            stage, promotion, key, policy, token])
        db.session.commit()
        return {
            "delivery_id": delivery.id,
            "component_id": component.id,
            "release_id": release.id,
            "team_id": t.id,
            "membership_id": db.session.scalar(select(Membership.id).where(Membership.team_id == t.id)),
            "registry_id": registry.id,
            "channel_id": channel.id,
            "approval_id": approval.id,
            "target_id": target.id,
            "application_id": component.application_id,
            "volume_id": volume.id,
            "environment_id": environment.id,
            "stage_id": stage.id,
            "promotion_id": promotion.id,
            "key_id": key.id,
            "policy_id": policy.id,
            "token_id": token.id,
        }
