"""The API tokens page (#29): a token is shown once and stored hashed, listed with its last use,
revoked by its maker; a member makes no service token; the reference page renders the document."""
from __future__ import annotations

import re

from sqlalchemy import select

from models import ApiToken, db


def test_a_token_is_shown_once_stored_hashed_listed_with_last_use_and_revoked(app, client, auth):
    auth.signed_in()
    r = client.post("/tokens/", data={"name": "ci-deploy", "kind": "personal", "scopes": ["read", "deploy"],
                                      "days": 30})
    assert r.status_code == 201 and r.headers["Cache-Control"] == "no-store"
    secret = re.search(r'value="(berth_[A-Za-z0-9_-]{43})"', r.get_data(as_text=True)).group(1)
    with app.app_context():
        row = db.session.scalar(select(ApiToken))
        assert secret not in (row.token_hash, row.prefix) and row.prefix == secret[:12]
    assert secret not in client.get("/tokens/").get_data(as_text=True)  # never again
    assert "never" in client.get("/tokens/").get_data(as_text=True)
    assert client.get("/api/v1/components", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    page = client.get("/tokens/").get_data(as_text=True)
    assert "UTC" in page.split('data-token="ci-deploy"')[1].split("</tr>")[0]  # last used
    with app.app_context():
        token_id = db.session.scalar(select(ApiToken.id))
    client.post(f"/tokens/{token_id}/revoke", follow_redirects=True)
    assert client.get("/api/v1/components", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    page = client.post(f"/tokens/{token_id}/revoke", follow_redirects=True).get_data(as_text=True)
    assert "Token ci-deploy is revoked already." in page and "Revoked token" not in page


def test_bad_token_input_is_a_field_error_and_a_member_makes_no_service_token(app, client, auth, make_user):
    auth.signed_in()
    r = client.post("/tokens/", data={"name": "", "scopes": [], "days": 0})
    page = r.get_data(as_text=True)
    assert r.status_code == 422 and "1 to 366 days." in page
    make_user(email="member@example.com", role="member")
    auth.logout()
    auth.signed_in(email="member@example.com", admin=False)
    r = client.post("/tokens/", data={"name": "svc", "kind": "service", "scopes": ["read"], "days": 5})
    assert r.status_code == 422 and "Only the team&#39;s owners make service tokens." in r.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(ApiToken.id)) is None


def test_the_reference_page_renders_the_served_document(app, client, auth):
    auth.signed_in()
    page = client.get("/tokens/reference").get_data(as_text=True)
    assert "POST /api/v1/components/{component_id}/deploy" in page and "ComponentEdit" in page
