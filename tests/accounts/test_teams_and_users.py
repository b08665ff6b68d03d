"""Team display names and slugs; accounts: own password, admins' resets, deactivation and deletion,
role changes, the last owner kept."""
from __future__ import annotations

from sqlalchemy import select

from models import AuditEntry, Component, Membership, Team, User, db
from tests.helpers import create_component, create_registry, field_error


def test_setup_takes_a_display_name_and_makes_the_slug(client, app):
    r = client.post("/setup", data={"email": "first@example.com", "password": "correct horse",
                                    "team": "Shop & Co"})
    assert r.status_code == 302
    with app.app_context():
        team = db.session.scalar(select(Team))
        assert (team.display_name, team.name) == ("Shop & Co", "shop-co")
    page = client.get("/team/").get_data(as_text=True)
    assert "Team Shop &amp; Co" in page and "shop-co" in page


def test_new_teams_get_unique_slugs_and_slugs_are_dns_labels(client, app, auth):
    auth.signed_in()
    assert client.post("/team/new", data={"name": "Platform"}).status_code == 302
    assert client.post("/team/new", data={"name": "Platform!"}).status_code == 302
    with app.app_context():
        slugs = sorted(t.name for t in db.session.scalars(select(Team)))
    assert "platform" in slugs and "platform-2" in slugs
    r = client.post("/team/settings", data={"display_name": "Platform!", "slug": "Not A Label"})
    assert r.status_code == 422 and "lowercase letters" in field_error(r.get_data(as_text=True), "slug")
    r = client.post("/team/settings", data={"display_name": "Platform!", "slug": "platform"})
    assert r.status_code == 422 and "Another team" in field_error(r.get_data(as_text=True), "slug")
    assert client.post("/team/settings", data={"display_name": "Platform Two", "slug": "plat-two"}).status_code == 302


def test_the_slug_is_fixed_while_the_team_has_components(client, app, auth):
    auth.signed_in()
    rid, _ = create_registry(app)
    create_component(app, rid, "team/demo", "v1", "web", release=False)
    r = client.post("/team/settings", data={"display_name": "Alpha Team", "slug": "alpha-two"})
    assert r.status_code == 422 and "only while the team has no components" in field_error(
        r.get_data(as_text=True), "slug")
    assert client.post("/team/settings", data={"display_name": "Alpha Team", "slug": "alpha"}).status_code == 302
    with app.app_context():
        team = db.session.scalar(select(Team).where(Team.name == "alpha"))
        assert team.display_name == "Alpha Team" and db.session.scalar(select(Component.team_id)) == team.id


def test_own_password_change_needs_the_current_one(client, app, auth):
    auth.signed_in()
    r = client.post("/account", data={"current_password": "wrong", "new_password": "x"})
    html = r.get_data(as_text=True)
    assert r.status_code == 422 and field_error(html, "current_password") and field_error(html, "new_password")
    r = client.post("/account", data={"current_password": "correct horse", "new_password": "a brand new secret"})
    assert r.status_code == 302
    assert client.get("/account").status_code == 200  # this session continues
    auth.logout()
    assert auth.login(password="correct horse").status_code == 422  # refused: the form again
    assert auth.login(password="a brand new secret").status_code == 302


def test_admin_resets_deactivates_and_deletes_users_and_the_audit_trail_stays(client, app, auth, make_user):
    make_user(email="bob@example.com", password="bobs old password", team="alpha", role="member")
    auth.signed_in()
    with app.app_context():
        bob = db.session.scalar(select(User).where(User.email == "bob@example.com")).id
    assert client.post(f"/team/users/{bob}/password", data={"new_password": "reset by admin 1"}).status_code == 302
    assert client.post(f"/team/users/{bob}/active").status_code == 302
    with app.app_context():
        assert db.session.get(User, bob).active is False
    auth.logout()
    assert auth.login("bob@example.com", "reset by admin 1").status_code == 422  # deactivated: refused
    auth.signed_in()
    client.post(f"/team/users/{bob}/active")
    auth.logout()
    assert auth.login("bob@example.com", "reset by admin 1").status_code == 302
    auth.logout()
    auth.signed_in()
    assert client.post(f"/team/users/{bob}/delete").status_code == 302
    with app.app_context():
        assert db.session.get(User, bob) is None
        actions = [(e.action, e.target) for e in db.session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert actions == [("user.password_reset", "user bob@example.com"), ("user.deactivated", "user bob@example.com"),
                       ("user.activated", "user bob@example.com"), ("user.deleted", "user bob@example.com")]


def test_owners_change_roles_but_the_last_owner_stays(client, app, auth, make_user):
    auth.signed_in(role="owner")
    make_user(email="carol@example.com", team="alpha", role="member")
    with app.app_context():
        rows = {m.user.email: m.id for m in db.session.scalars(select(Membership))}
    r = client.post(f"/team/members/{rows['owner@example.com']}/role", data={"role": "member"}, follow_redirects=True)
    assert "at least one owner" in r.get_data(as_text=True)
    assert client.post(f"/team/members/{rows['carol@example.com']}/role", data={"role": "owner"}).status_code == 302
    assert client.post(f"/team/members/{rows['owner@example.com']}/role", data={"role": "member"}).status_code == 302
    with app.app_context():
        roles = {m.user.email: m.role for m in db.session.scalars(select(Membership))}
    assert roles == {"owner@example.com": "member", "carol@example.com": "owner"}
