"""Setup, login, logout, users and team membership."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from models import Membership, Team, User, db
from tests.helpers import field_error


def count(app, model):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def test_first_visit_goes_to_setup(client):
    r = client.get("/")
    assert r.status_code == 302 and r.headers["Location"].endswith("/setup")
    assert client.get("/login").headers["Location"].endswith("/setup")


def test_setup_creates_admin_and_team_and_signs_in(client, app):
    r = client.post("/setup", data={"email": "Admin@Example.com", "password": "s3cret-pass",
                                    "team": "platform"})
    assert r.status_code == 302
    assert "platform" in client.get("/").get_data(as_text=True)
    with app.app_context():
        user = db.session.scalar(select(User))
        assert user.email == "admin@example.com" and user.is_admin
        assert user.password_hash.startswith("scrypt:")
        assert user.memberships[0].role == "owner"
    # Setup is closed once a user exists.
    assert client.get("/setup").status_code == 302


@pytest.mark.parametrize("data,field,message", [
    ({"email": "", "password": "s3cret-pass", "team": "ops"}, "email", "Enter an email"),
    ({"email": "nope", "password": "s3cret-pass", "team": "ops"}, "email", "valid email"),
    ({"email": "a" * 250 + "@x.io", "password": "s3cret-pass", "team": "ops"}, "email", "at most 254"),
    ({"email": "a@b.io", "password": "", "team": "ops"}, "password", "Enter a password"),
    ({"email": "a@b.io", "password": "short", "team": "ops"}, "password", "at least 8"),
    ({"email": "a@b.io", "password": "p" * 300, "team": "ops"}, "password", "at most 256"),
    ({"email": "a@b.io", "password": "s3cret-pass", "team": ""}, "team", "Enter a team"),
    ({"email": "a@b.io", "password": "s3cret-pass", "team": "!!!"}, "team", "at least one letter or digit"),
    ({"email": "a@b.io", "password": "s3cret-pass", "team": "t" * 101}, "team", "at most 100 characters"),
])
def test_setup_bad_input_shows_message_next_to_field(client, app, data, field, message):
    r = client.post("/setup", data=data)
    assert r.status_code == 422
    assert message in field_error(r.get_data(as_text=True), field)
    assert count(app, User) == 0 and count(app, Team) == 0


def test_login_wrong_password_and_unknown_user(client, make_user):
    make_user(email="owner@example.com")
    for email, password in (("owner@example.com", "wrong password"), ("nobody@example.com", "x" * 9)):
        r = client.post("/login", data={"email": email, "password": password})
        assert r.status_code == 422
        assert "Wrong email or password" in field_error(r.get_data(as_text=True), "password")
    r = client.post("/login", data={"email": "", "password": ""})
    html = r.get_data(as_text=True)
    assert "Enter an email" in field_error(html, "email")
    assert "Enter your password" in field_error(html, "password")
    r = client.post("/login", data={"email": "owner@example.com", "password": "p" * 1000})
    assert "at most 256" in field_error(r.get_data(as_text=True), "password")


def test_login_logout_and_safe_next(client, make_user):
    make_user(email="owner@example.com")
    r = client.post("/login?next=/team/", data={"email": "owner@example.com",
                                                "password": "correct horse"})
    assert r.headers["Location"] == "/team/"
    client.post("/logout")
    assert client.get("/").status_code == 302
    for evil in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"):
        r = client.post("/login?next=" + evil, data={"email": "owner@example.com",
                                                     "password": "correct horse"})
        assert r.headers["Location"] == "/", evil
        client.post("/logout")


def test_logout_needs_post(client, auth):
    auth.signed_in()
    assert client.get("/logout").status_code == 405
    assert client.get("/").status_code == 200


def test_admin_creates_user_and_bad_input(client, auth, app):
    auth.signed_in(admin=True)
    r = client.post("/team/users", data={"email": "bob@example.com", "password": "bob-password",
                                         "team": "beta"})
    assert r.status_code == 302
    users_before = count(app, User)
    memberships_before = count(app, Membership)
    r = client.post("/team/users", data={"email": "BOB@example.com", "password": "bob-password",
                                         "team": "gamma"})
    assert r.status_code == 422
    assert "already exists" in field_error(r.get_data(as_text=True), "email")
    assert count(app, User) == users_before and count(app, Membership) == memberships_before
    with app.app_context():
        assert db.session.scalar(select(Team).where(Team.name == "gamma")) is None


def test_non_admin_cannot_create_users(client, auth):
    auth.signed_in(email="member@example.com", admin=False)
    assert client.get("/team/users").status_code == 404
    assert client.post("/team/users", data={"email": "x@example.com", "password": "xxxxxxxxx",
                                            "team": "alpha"}).status_code == 404


def test_owner_adds_and_removes_member(client, auth, make_user, app):
    auth.signed_in(email="owner@example.com", team="alpha")
    make_user(email="carol@example.com", team="other")
    r = client.post("/team/members", data={"email": "carol@example.com", "role": "member"})
    assert r.status_code == 302
    r = client.post("/team/members", data={"email": "carol@example.com", "role": "member"})
    assert "already a member" in field_error(r.get_data(as_text=True), "email")
    r = client.post("/team/members", data={"email": "ghost@example.com", "role": "member"})
    assert "No user with this email" in field_error(r.get_data(as_text=True), "email")
    with app.app_context():
        m = db.session.scalar(select(Membership).join(User).where(User.email == "carol@example.com",
                                                                 Membership.role == "member"))
        mid = m.id
    assert client.post(f"/team/members/{mid}/remove").status_code == 302
    with app.app_context():
        assert db.session.get(Membership, mid) is None


def test_last_owner_cannot_be_removed(client, auth, app):
    auth.signed_in(email="owner@example.com")
    with app.app_context():
        mid = db.session.scalar(select(Membership.id))
    r = client.post(f"/team/members/{mid}/remove", follow_redirects=True)
    assert "at least one owner" in r.get_data(as_text=True)
    assert count(app, Membership) == 1


def test_member_cannot_manage_team(client, auth, make_user):
    make_user(email="owner@example.com", team="alpha")
    auth.signed_in(email="member@example.com", team="alpha", admin=False)
    assert client.post("/team/members", data={"email": "owner@example.com",
                                              "role": "member"}).status_code == 404


def test_team_switcher(client, auth, make_user, app):
    auth.signed_in(email="owner@example.com", team="alpha")
    make_user(email="x@example.com", team="beta")
    with app.app_context():
        beta = db.session.scalar(select(Team).where(Team.name == "beta"))
        beta_id = beta.id
    # Not a member of beta: 404, and the current team does not change.
    assert client.post(f"/team/switch/{beta_id}").status_code == 404
    client.post("/team/new", data={"name": "gamma"})
    assert 'data-testid="current-team">gamma' in client.get("/").get_data(as_text=True)
    r = client.post("/team/new", data={"name": "gamma"})
    assert "already exists" in field_error(r.get_data(as_text=True), "name")


def test_cli_create_user_reads_password_from_stdin(runner, app):
    result = runner.invoke(args=["create-user", "cli@example.com", "--team", "ops", "--admin"],
                           input="long-enough-pw\n")
    assert result.exit_code == 0, result.output
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "cli@example.com"))
        assert user.is_admin and user.memberships[0].team.name == "ops"
    again = runner.invoke(args=["create-user", "cli@example.com", "--team", "ops"], input="another-pw1\n")
    assert again.exit_code != 0 and "already exists" in again.output
    bad = runner.invoke(args=["create-user", "x@example.com", "--team", "ops"], input="short\n")
    assert bad.exit_code != 0 and "at least 8" in bad.output
    assert count(app, User) == 1


@pytest.mark.parametrize("email", ["x'+alert(document.domain)+'@e.co", "<b>@x.io", "a b@c.de", "a@b",
                                   "a..b@c.com", "a@-b.com"])
def test_email_addresses_are_what_addresses_contain(email):
    from services.platform.validation import check_email

    assert check_email(email) is not None
    assert check_email("o'brien+tag@mail.example.co.uk") is None


def test_signing_out_ends_copies_of_the_session(client, auth, app):
    auth.signed_in()
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    other = app.test_client()  # someone who copied the cookie before the owner signed out
    other.set_cookie(cookie.key, cookie.value)
    assert other.get("/components/").status_code == 200
    auth.logout()
    assert other.get("/components/").status_code == 302  # back to the login page
    auth.login()  # signing in again works, with a new session
    assert client.get("/components/").status_code == 200


def test_sign_in_is_throttled_per_account_and_per_address_for_a_while(client, make_user, app):
    from datetime import timedelta

    from models import LoginFailure, db

    make_user(email="victim@example.com")
    make_user(email="other@example.com")
    for _ in range(10):
        r = client.post("/login", data={"email": "victim@example.com", "password": "wrong password"},
                        environ_base={"REMOTE_ADDR": "203.0.113.7"})
        assert r.status_code == 422
    # The account: refused even with the right password, from another address.
    r = client.post("/login", data={"email": "victim@example.com", "password": "correct horse"},
                    environ_base={"REMOTE_ADDR": "198.51.100.1"})
    assert r.status_code == 429 and "Try again in 15 minutes" in r.get_data(as_text=True)
    # The address: refused for another account too.
    r = client.post("/login", data={"email": "other@example.com", "password": "correct horse"},
                    environ_base={"REMOTE_ADDR": "203.0.113.7"})
    assert r.status_code == 429
    # Another account from another address is not affected.
    r = client.post("/login", data={"email": "other@example.com", "password": "correct horse"},
                    environ_base={"REMOTE_ADDR": "198.51.100.1"})
    assert r.status_code == 302
    client.post("/logout")
    with app.app_context():  # the window passes: nobody is locked out for good
        for failure in db.session.scalars(db.select(LoginFailure)):
            failure.at -= timedelta(minutes=16)
        db.session.commit()
    r = client.post("/login", data={"email": "victim@example.com", "password": "correct horse"},
                    environ_base={"REMOTE_ADDR": "203.0.113.7"})
    assert r.status_code == 302
