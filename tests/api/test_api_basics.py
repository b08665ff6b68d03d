"""The API's rules (#29): bearer tokens with scopes and expiry, the team's objects only, one error
shape, the OpenAPI document served from the same declarations the views validate with."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from models import ApiToken, AuditEntry, db, utcnow
from tests.helpers import create_component


def test_the_document_is_openapi_3_1_and_names_every_operation(app, api):
    r = api.call("GET", "/openapi.json", None)
    assert r.status_code == 200
    doc = r.get_json()
    assert doc["openapi"] == "3.1.0"
    operations = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert ("GET", "/api/v1/components") in operations and ("PATCH", "/api/v1/components/{component_id}") in operations
    assert ("POST", "/api/v1/approvals/{approval_id}/approve") in operations


def test_a_token_lists_the_teams_components_by_cursor(app, api):
    token = api.token()
    ids = [create_component(app, None, "registry.example.com/team/web", "v1", f"web{i}", release=False)
           for i in range(5)]
    other = create_component(app, None, "registry.example.com/team/web", "v1", "theirs", release=False, team="beta")
    r = api.call("GET", "/components?limit=2", token)
    assert r.status_code == 200, r.get_json()
    page = r.get_json()
    assert [c["id"] for c in page["items"]] == ids[:2] and page["next_cursor"] == ids[1]
    seen = [c["id"] for c in page["items"]]
    while page["next_cursor"] is not None:
        page = api.call("GET", f"/components?limit=2&cursor={page['next_cursor']}", token).get_json()
        seen += [c["id"] for c in page["items"]]
    assert seen == ids and other not in seen
    assert api.call("GET", f"/components/{other}", token).get_json() == {"error": {
        "code": "not_found", "message": "There is nothing here, or it is not yours to see.", "fields": {}}}


def test_approvals_are_listed_by_cursor_newest_first_and_by_state(app, api):
    from models import Approval, ApprovalStatus, Component, Team

    token = api.token()
    cid = create_component(app, None, "registry.example.com/team/web", "v1", "web", release=False)
    theirs = create_component(app, None, "registry.example.com/team/web", "v1", "theirs", release=False, team="beta")
    states = [ApprovalStatus.EXPIRED, ApprovalStatus.PENDING, ApprovalStatus.REJECTED, ApprovalStatus.PENDING,
              ApprovalStatus.APPROVED]
    with app.app_context():
        def approval(component_id, status, n):
            team_id = db.session.get(Component, component_id).team_id
            row = Approval(team_id=team_id, component_id=component_id, tag=f"v1.{n}", digest="sha256:" + "a" * 64,
                           status=status, requested_by="poll", expires_at=utcnow() + timedelta(hours=1))
            db.session.add(row)
            db.session.flush()
            return row.id
        ids = [approval(cid, status, n) for n, status in enumerate(states)]
        other = approval(theirs, ApprovalStatus.PENDING, 9)
        assert db.session.scalar(select(Team.name).join(Component).where(Component.id == theirs)) == "beta"
        db.session.commit()
    page = api.call("GET", "/approvals?limit=2", token).get_json()
    seen = [a["id"] for a in page["items"]]
    assert seen == ids[::-1][:2] and page["next_cursor"] == ids[3]
    while page["next_cursor"] is not None:
        page = api.call("GET", f"/approvals?limit=2&cursor={page['next_cursor']}", token).get_json()
        seen += [a["id"] for a in page["items"]]
    assert seen == ids[::-1] and other not in seen
    pending = api.call("GET", "/approvals?status=pending", token).get_json()
    assert [a["id"] for a in pending["items"]] == [ids[3], ids[1]] and pending["next_cursor"] is None
    r = api.call("GET", "/approvals?status=waiting", token)
    assert r.status_code == 422 and set(r.get_json()["error"]["fields"]) == {"status"}


def test_no_token_a_wrong_one_an_expired_or_revoked_one_is_401_and_a_missing_scope_403(app, api):
    cid = create_component(app, None, "registry.example.com/team/web", "v1", "web", release=False)
    read = api.token()
    assert api.call("GET", "/components", None).status_code == 401
    assert api.call("GET", "/components", "berth_" + "x" * 43).status_code == 401
    r = api.call("POST", f"/components/{cid}/restart", read)
    assert r.status_code == 403 and r.get_json()["error"]["message"] == "This token lacks the deploy scope."
    expired, revoked = api.token(days=1), api.token(days=2)
    with app.app_context():
        rows = {t.name: t for t in db.session.scalars(select(ApiToken))}
        rows["t-1-1"].expires_at = utcnow() - timedelta(seconds=1)
        rows["t-1-2"].revoked_at = utcnow()
        db.session.commit()
    assert api.call("GET", "/components", expired).status_code == 401
    assert api.call("GET", "/components", revoked).status_code == 401


def test_a_signed_in_browser_cannot_write_through_the_api_without_a_token(app, api, auth):
    auth.signed_in()
    cid = create_component(app, None, "registry.example.com/team/web", "v1", "web", release=False)
    r = api.client.post(f"/api/v1/components/{cid}/stop")
    assert r.status_code == 401 and r.get_json()["error"]["code"] == "unauthorized"


def test_bad_input_is_a_422_with_field_messages(app, api):
    cid = create_component(app, None, "registry.example.com/team/web", "v1", "web", release=False)
    token = api.token(("read", "deploy"))
    r = api.call("POST", f"/components/{cid}/scale", token, json={"replicas": "many", "extra": 1})
    assert r.status_code == 422
    fields = r.get_json()["error"]["fields"]
    assert set(fields) == {"replicas", "extra"}
    r = api.call("POST", f"/components/{cid}/scale", token, data="not json", content_type="application/json")
    assert r.status_code == 422 and r.get_json()["error"]["message"] == "The body must be a JSON object."
    r = api.call("GET", "/components?limit=100000&cursor=-1", token)
    assert r.status_code == 422 and set(r.get_json()["error"]["fields"]) == {"limit", "cursor"}


def test_two_edits_with_the_same_etag_one_wins_and_the_other_is_412(app, api):
    cid = create_component(app, None, "registry.example.com/team/web", "v1", "web", release=False)
    token = api.token(("read", "deploy"))
    r = api.call("GET", f"/components/{cid}", token)
    etag = r.headers["ETag"]
    assert r.get_json()["etag"] == etag
    assert api.call("PATCH", f"/components/{cid}", token, json={"replicas": 2}).status_code == 428
    first = api.call("PATCH", f"/components/{cid}", token, json={"replicas": 2}, headers={"If-Match": etag})
    assert first.status_code == 200, first.get_json()
    assert first.get_json()["changes"] == ["replicas 1 → 2"] or first.get_json()["changes"]
    second = api.call("PATCH", f"/components/{cid}", token, json={"memory_mb": 512}, headers={"If-Match": etag})
    assert second.status_code == 412
    with app.app_context():
        entry = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "component.edited")).one()
        assert entry.actor == "owner@example.com (token t-2-30)"


def test_an_id_beyond_what_the_database_stores_is_404_on_pages_and_the_api(app, api, auth):
    """PostgreSQL's INTEGER ids end at 2**31 - 1: a larger id names no row and never reaches the database."""
    token = api.token()
    assert api.call("GET", "/components/2147483648", token).status_code == 404
    assert api.call("GET", "/releases/2147483647", token).status_code == 404
    auth.signed_in()
    assert api.client.get("/components/2147483648").status_code == 404


def test_a_token_is_throttled_past_its_requests_per_minute(app, api, monkeypatch):
    from blueprints.api import core

    monkeypatch.setattr(core, "PER_MINUTE", 3)
    token, other = api.token(), api.token(days=9)
    assert [api.call("GET", "/components", token).status_code for _ in range(3)] == [200] * 3
    r = api.call("GET", "/components", token)
    assert r.status_code == 429 and 1 <= int(r.headers["Retry-After"]) <= 61
    assert r.get_json()["error"]["code"] == "throttled"
    assert api.call("GET", "/components", other).status_code == 200  # per token
    assert core.throttle.allow("k", now=0) is None and core.throttle.allow("k", now=60.5) is None


def test_an_environment_row_is_not_edited_through_the_api_but_its_component_is(app, api, auth):
    from tests.components.test_environments import _env_form, _row

    auth.signed_in()
    assert api.client.post("/environments/new", data=_env_form("dev", ["local"])).status_code == 302
    cid = create_component(app, None, "registry.example.com/team/web", "v1", "web", release=False)
    assert api.client.post(f"/components/{cid}/environments").status_code == 302
    token = api.token(("read", "deploy"))
    row = _row(app, "web@dev/local")
    etag = api.call("GET", f"/components/{row}", token).headers["ETag"]
    r = api.call("PATCH", f"/components/{row}", token, json={"replicas": 2}, headers={"If-Match": etag})
    assert r.status_code == 409 and "is one environment's row of web" in r.get_json()["error"]["message"]
    etag = api.call("GET", f"/components/{cid}", token).headers["ETag"]
    r = api.call("PATCH", f"/components/{cid}", token, json={"replicas": 2}, headers={"If-Match": etag})
    assert r.status_code == 200 and r.get_json()["component"]["replicas"] == 2


def test_the_document_validates_against_the_openapi_3_1_specification(app, api):
    from openapi_spec_validator import validate

    validate(api.call("GET", "/openapi.json", None).get_json())  # raises on any violation
