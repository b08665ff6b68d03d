"""Every API operation under the same rules (#29), as tests/platform/test_access_to_every_route.py
does for pages: no token, a token without the operation's scope, a revoked one and an expired one
are refused; another team's ids are 404; a member's token never does an owner's action."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from blueprints.api.core import OPERATIONS
from models import ApiToken, Approval, Component, Environment, Membership, Promotion, Release, User, db, utcnow
from services.api import tokens
from tests.helpers import create_component, create_registry

BODIES = {"scale": {"replicas": 1}, "rollback": {"release_id": 1}, "promote": {"environment_id": 1},
          "create_component": {"name": "made", "application": "shop", "image": "registry.example.com/team/web:v1"}}
SCOPED = [op for op in OPERATIONS if op.scope is not None]


def _objects(app, team: str) -> dict[str, int]:
    """One of each object an operation names, in `team`."""
    cid = create_component(app, None, "registry.example.com/team/web", "v1", f"web-{team}", release=False,
                           team=team)
    registry_id, _ = create_registry(app, team=team)
    with app.app_context():
        component = db.session.get(Component, cid)
        release = Release(team_id=component.team_id, component_id=cid, seq=1, tag="v1", digest="sha256:" + "1" * 64,
                          trigger="manual", triggered_by="test", status="running", settings={})
        approval = Approval(team_id=component.team_id, component_id=cid, tag="v2", digest="sha256:" + "2" * 64,
                            required=1, owners_only=True, requested_by="poll", expires_at=utcnow() + timedelta(hours=1))
        db.session.add_all([release, approval])
        db.session.commit()
        return {"component_id": cid, "release_id": release.id, "approval_id": approval.id,
                "registry_id": registry_id, "promotion_id": _promotion(component, release)}


def _promotion(component: Component, release: Release) -> int:
    environment = Environment(team_id=component.team_id, name=f"env-{component.id}", freeze_windows=[])
    promotion = Promotion(team_id=component.team_id, component=component, environment=environment, tag="v1",
                          digest=release.digest, base_settings={}, settings_hash="0" * 64, requested_by="test",
                          approvers=[], gates=[], release_ids=[], expires_at=utcnow() + timedelta(hours=1))
    db.session.add_all([environment, promotion])
    db.session.commit()
    return promotion.id


def _path(op, ids: dict[str, int]) -> str:
    path = op.path.replace("{", "{ids[").replace("}", "]}")
    return path.format(ids=ids) + ("?repository=team/web" if op.name == "list_tags" else "")


@pytest.mark.parametrize("op", SCOPED, ids=lambda op: f"{op.method} {op.rule}")
def test_every_operation_refuses_no_token_a_wrong_scope_a_revoked_or_expired_one(app, api, op):
    ids = _objects(app, "alpha")
    body = BODIES.get(op.name, {}) if op.body is not None else None
    other_scope = next(s for s in tokens.SCOPES if s != op.scope)
    wrong, revoked, expired = api.token((other_scope,)), api.token((op.scope,), days=2), api.token((op.scope,), days=3)
    with app.app_context():
        rows = {t.name: t for t in db.session.scalars(select(ApiToken))}
        rows["t-1-2"].revoked_at = utcnow()
        rows["t-1-3"].expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    for token, status in ((None, 401), (wrong, 403), (revoked, 401), (expired, 401)):
        r = api.call(op.method, _path(op, ids), token, json=body)
        assert r.status_code == status, (token, r.get_json())
        assert set(r.get_json()["error"]) == {"code", "message", "fields"}


@pytest.mark.parametrize("op", [op for op in SCOPED if op.path_params], ids=lambda op: f"{op.method} {op.rule}")
def test_another_teams_ids_are_not_found(app, api, op):
    theirs = _objects(app, "beta")
    token = api.token(tokens.SCOPES)
    r = api.call(op.method, _path(op, theirs), token, json=BODIES.get(op.name, {}) if op.body else None,
                 headers={"If-Match": '"x"'})
    assert r.status_code == 404, r.get_json()
    assert r.get_json()["error"]["code"] == "not_found"


def test_a_members_token_never_does_an_owners_action(app, api):
    ids = _objects(app, "alpha")
    api.token(("read",))  # the owner exists first
    member = api.token(tokens.SCOPES, email="member@example.com", role="member")
    r = api.call("POST", f"/approvals/{ids['approval_id']}/approve", member)
    assert r.status_code == 403 and "Only the team's owners may approve" in r.get_json()["error"]["message"]
    r = api.call("POST", f"/components/{ids['component_id']}/rollback", member,
                 json={"release_id": ids["release_id"], "override_reason": "hotfix"})
    assert r.status_code == 403
    with app.app_context():
        assert db.session.get(Approval, ids["approval_id"]).approved_count == 0


def test_a_service_token_stops_when_its_maker_is_no_longer_an_owner(app, api):
    service = api.token(("read",), kind="service")
    assert api.call("GET", "/components", service).status_code == 200
    with app.app_context():
        owner = db.session.scalar(select(User).where(User.email == "owner@example.com"))
        db.session.scalar(select(Membership).where(Membership.user_id == owner.id)).role = "member"
        db.session.commit()
    assert api.call("GET", "/components", service).status_code == 401


def test_two_edits_at_the_same_moment_with_one_etag_one_wins(app, api):
    cid = create_component(app, None, "registry.example.com/team/web", "v1", "web", release=False)
    token = api.token(("read", "deploy"))
    etag = api.call("GET", f"/components/{cid}", token).headers["ETag"]
    barrier, statuses = threading.Barrier(2), []

    def edit(replicas: int):
        with app.test_client() as client:
            barrier.wait()
            r = client.patch(f"/api/v1/components/{cid}", json={"replicas": replicas},
                             headers={"Authorization": f"Bearer {token}", "If-Match": etag})
            statuses.append(r.status_code)
    threads = [threading.Thread(target=edit, args=(n,)) for n in (2, 3)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sorted(statuses) == [200, 412]
