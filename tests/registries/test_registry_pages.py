"""Connecting, testing, editing and browsing registries through the web app."""
from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from models import Registry, db
from tests.fixtures.registry import MANY_TAGS, PASSWORD, USER, free_port
from tests.helpers import field_error

pytestmark = pytest.mark.registry


def registry_form(server=None, **overrides):
    data = {"kind": "registry", "name": "local", "url": server.url if server else "",
            "username": USER, "password": PASSWORD, "ca_bundle": ""}
    data.update(overrides)
    return data


def registry_count(app):
    with app.app_context():
        return db.session.scalar(select(func.count(Registry.id)))


@pytest.fixture
def connected(client, auth, registries, app):
    """A signed-in owner with the Basic-auth registry connected; returns its id."""
    auth.signed_in()
    r = client.post("/registries/new", data=registry_form(registries.basic))
    assert r.status_code == 302, r.get_data(as_text=True)
    with app.app_context():
        return db.session.scalar(select(Registry.id))


def test_add_registry_stores_password_encrypted_and_never_shows_it(
        client, auth, registries, app, database_url, caplog):
    caplog.set_level(logging.DEBUG)
    auth.signed_in()
    r = client.post("/registries/new", data=registry_form(registries.basic), follow_redirects=True)
    html = r.get_data(as_text=True)
    assert "Connected local" in html and PASSWORD not in html
    with app.app_context():
        reg = db.session.scalar(select(Registry))
        assert reg.password_encrypted and PASSWORD not in reg.password_encrypted
        rid = reg.id
        rows = db.session.execute(db.text("SELECT * FROM registries")).all()
        assert PASSWORD not in repr(rows)
    for page in ("/registries/", f"/registries/{rid}/edit", f"/registries/{rid}/"):
        assert PASSWORD not in client.get(page).get_data(as_text=True)
    if database_url.startswith("sqlite:///"):
        assert PASSWORD.encode() not in Path(database_url[len("sqlite:///"):]).read_bytes()
    assert PASSWORD not in caplog.text


def test_edit_with_empty_password_keeps_the_old_one(client, connected, app):
    r = client.post(f"/registries/{connected}/edit",
                    data=registry_form(url=_url(app, connected), name="renamed", password=""))
    assert r.status_code == 302, r.get_data(as_text=True)
    with app.app_context():
        reg = db.session.get(Registry, connected)
        assert reg.name == "renamed" and reg.password_encrypted


def _url(app, rid):
    with app.app_context():
        return db.session.get(Registry, rid).url


@pytest.mark.parametrize("overrides,field,message", [
    ({"url": "https://bob:pw@r.example"}, "url", "username and password"),
    ({"url": "not a url at all"}, "url", "spaces"),
    ({"url": "https://r.example/?a=1"}, "url", "query"),
    ({"name": ""}, "name", "Enter a name"),
    ({"name": "x" * 64}, "name", "at most 63"),
    ({"ca_bundle": "not a certificate"}, "ca_bundle", "PEM"),
    ({"password": "wrong"}, "password", "401"),
    ({"url": "http://no-such-host.invalid"}, "url", "DNS"),
])
def test_bad_input_is_reported_next_to_the_field(client, auth, registries, app, overrides, field, message):
    auth.signed_in()
    r = client.post("/registries/new", data=registry_form(registries.basic, **overrides))
    assert r.status_code == 422
    assert message in field_error(r.get_data(as_text=True), field), field_error(r.get_data(as_text=True), field)
    assert registry_count(app) == 0


def test_unreachable_html_huge_and_broken_servers(client, auth, misbehaving, app):
    auth.signed_in()
    cases = [(f"http://127.0.0.1:{free_port()}", "refused"), (misbehaving.url + "/html", "Registry API"),
             (misbehaving.url + "/huge", "more than Berth reads")]
    for url, message in cases:
        r = client.post("/registries/new", data=registry_form(url=url, username="", password=""))
        assert r.status_code == 422
        assert message in field_error(r.get_data(as_text=True), "url"), url
    assert registry_count(app) == 0


def test_duplicate_name(client, connected, registries):
    r = client.post("/registries/new", data=registry_form(registries.basic))
    assert "already has a registry" in field_error(r.get_data(as_text=True), "name")


def test_tls_registry_with_ca_bundle_and_insecure(client, auth, registries, app):
    auth.signed_in()
    r = client.post("/registries/new", data=registry_form(registries.tls, name="tls"))
    assert "CA bundle" in field_error(r.get_data(as_text=True), "ca_bundle")
    r = client.post("/registries/new", data=registry_form(registries.tls, name="tls", ca_bundle=registries.ca_pem))
    assert r.status_code == 302
    r = client.post("/registries/new", data=registry_form(registries.tls, name="tls2", insecure="y"))
    assert r.status_code == 302
    assert registry_count(app) == 2


def test_token_registry_connects(client, auth, registries):
    auth.signed_in()
    r = client.post("/registries/new", data=registry_form(registries.token, name="tok"))
    assert r.status_code == 302, field_error(r.get_data(as_text=True), "password")


def test_test_connection_buttons(client, connected, registries):
    r = client.post("/registries/test", data=registry_form(registries.basic, password="nope"),
                    headers={"HX-Request": "true"})
    assert "401" in r.get_data(as_text=True)
    # Testing an edit form without a password uses the stored one.
    r = client.post("/registries/test", data=registry_form(registries.basic, password="",
                                                            registry_id=str(connected)))
    assert "Connected" in r.get_data(as_text=True)
    r = client.post(f"/registries/{connected}/test")
    assert "Connected" in r.get_data(as_text=True)


def test_browse_repositories_with_live_search(client, connected):
    r = client.get(f"/registries/{connected}/")
    html = r.get_data(as_text=True)
    assert "team/demo" in html and "other/app0" in html and "HX-Request" in r.headers["Vary"]
    r = client.get(f"/registries/{connected}/?q=multi", headers={"HX-Request": "true"})
    html = r.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="repo-results">') and "<html" not in html
    assert "team/multi" in html and "team/demo" not in html


def test_tags_search_is_cached_and_refresh_bypasses(client, connected, monkeypatch, many_tags):
    from services.registries.clients.v2 import RegistryV2Client

    calls = []
    real = RegistryV2Client.tag_names
    monkeypatch.setattr(RegistryV2Client, "tag_names", lambda self, repo: calls.append(repo) or real(self, repo))
    url = f"/registries/{connected}/repository?repo=team/many"
    html = client.get(url).get_data(as_text=True)
    assert f"{MANY_TAGS} of {MANY_TAGS} tags" in html
    assert html.index("1.49.99") < html.index("1.49.98")  # highest version first
    r = client.get(url + "&q=1.49.", headers={"HX-Request": "true"})
    assert "100 of 5000 tags" in r.get_data(as_text=True)
    client.get(url + "&q=1.4", headers={"HX-Request": "true"})
    assert calls == ["team/many"]
    client.get(url + "&refresh=1", headers={"HX-Request": "true"})
    assert calls == ["team/many", "team/many"]


def _columns(row: str) -> int:
    return sum(int(span or 1) for span in re.findall(r'<td(?: colspan="(\d+)")?', row))


def test_tag_details_row(client, connected, registries):
    html = client.get(f"/registries/{connected}/tag?repo=team/multi&tag=v2.0").get_data(as_text=True)
    assert "linux/amd64, linux/arm64" in html and registries.digests["multi:v2.0"][:19] in html
    assert _columns(html) == 6  # Tag, Digest, Size, Created, Platforms, Actions: as the table's head
    html = client.get(f"/registries/{connected}/tag?repo=team/demo&tag=nope").get_data(as_text=True)
    assert "404" in html and "status-error" in html
    assert _columns(html) == 6  # the error spans the four detail columns, the actions stay in theirs


def test_missing_repository_shows_message(client, connected):
    r = client.get(f"/registries/{connected}/repository?repo=no/such")
    assert r.status_code == 200 and "Not found" in r.get_data(as_text=True)


def test_delete_registry(client, connected, app):
    assert client.post(f"/registries/{connected}/delete").status_code == 302
    assert registry_count(app) == 0


def test_ca_bundles_are_checked_and_kept_where_only_berth_writes(app, registries):
    import os
    import stat
    import tempfile

    from services.registries.clients import errors
    from services.registries.registries import http_settings

    with app.app_context():
        path = Path(http_settings(insecure=False, ca_bundle=registries.ca_pem).verify)
        planted = Path(tempfile.gettempdir()) / path.name  # the old, predictable place
        assert path.parent != Path(tempfile.gettempdir()) and not planted.exists()
        assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700 and path.read_text() == registries.ca_pem
        with pytest.raises(errors.RegistryTLSError, match="CA bundle cannot be used"):
            http_settings(insecure=False, ca_bundle="-----BEGIN CERTIFICATE-----\nnot base64\n")


def test_owners_manage_registries_and_members_use_them(client, auth, app, make_user, make_registry):
    make_user(email="owner@example.com", team="alpha")  # the team's first user: its owner
    rid, _ = make_registry(name="shared")
    auth.signed_in(email="member@example.com", team="alpha", admin=False, role="member")
    page = client.get("/registries/").get_data(as_text=True)
    assert "Team owners add, change and remove registries" in page and "Add registry" not in page
    assert client.get(f"/registries/{rid}/webhook").status_code == 200  # members see the URL and deliveries
    for method, path in (("get", "/registries/new"), ("get", f"/registries/{rid}/edit"),
                         ("post", f"/registries/{rid}/edit"), ("post", f"/registries/{rid}/delete"),
                         ("post", f"/registries/{rid}/webhook-token"), ("post", f"/registries/{rid}/webhook")):
        assert getattr(client, method)(path).status_code == 404, (method, path)
    with app.app_context():
        assert db.session.get(Registry, rid) is not None
    auth.logout()
    auth.login("owner@example.com")
    assert "Add registry" in client.get("/registries/").get_data(as_text=True)
    assert client.post(f"/registries/{rid}/delete").status_code == 302
    with app.app_context():
        assert db.session.get(Registry, rid) is None


def test_a_token_service_on_another_host_needs_the_users_word(client, auth, app, registries):
    """Reached as localhost, the token registry signs in at 127.0.0.1: another host. Berth keeps the
    credentials until the user names that host on the form."""
    auth.signed_in()
    url = registries.token.url.replace("127.0.0.1", "localhost")
    form = {"kind": "registry", "name": "elsewhere", "url": url, "username": USER, "password": PASSWORD}
    r = client.post("/registries/new", data=form)
    assert r.status_code == 422 and "not to its own host" in field_error(r.get_data(as_text=True), "password")
    r = client.post("/registries/new", data={**form, "token_host": "https://127.0.0.1/token"})
    assert r.status_code == 422 and "host name only" in field_error(r.get_data(as_text=True), "token_host")
    assert client.post("/registries/new", data={**form, "token_host": "127.0.0.1"}).status_code == 302
    with app.app_context():
        registry = db.session.scalar(select(Registry).where(Registry.name == "elsewhere"))
        assert registry.token_host == "127.0.0.1"
    assert client.get(f"/registries/{registry.id}/?q=team").status_code == 200
    assert "team/demo" in client.get(f"/registries/{registry.id}/?q=team").get_data(as_text=True)


def test_repository_page_shows_more_tags_on_request(client, auth, app, registries, many_tags):
    from tests.helpers import create_registry

    auth.signed_in()
    rid, _ = create_registry(app, registries.basic.url, name="many-tags")
    html = client.get(f"/registries/{rid}/repository?repo=team/many").get_data(as_text=True)
    total = int(re.search(r"(\d+) of (\d+) tags", html).group(2))
    assert html.count('class="tag-row"') == 50 and f"50 of {total}" not in html  # all match, 50 shown
    assert "more=2" in html and "Show more" in html
    more = client.get(f"/registries/{rid}/repository?repo=team/many&more=2", headers={"HX-Request": "true"})
    assert more.get_data(as_text=True).count('class="tag-row"') == 100
