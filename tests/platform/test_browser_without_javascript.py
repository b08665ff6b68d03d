"""The main flows with JavaScript switched off in Chromium: setup, add and test a registry, create a
component from the registry pickers with two env vars, edit it, roll back. HTMX only makes them
smoother; every step here is a plain form post or link."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from models import Component, Release, db
from tests.fixtures.images import Image
from tests.fixtures.registry import PASSWORD, USER
from tests.helpers import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.registry, pytest.mark.podman]


@pytest.fixture
def nojs(browser, live_server):
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    context.set_default_timeout(15000)
    page = context.new_page()
    yield page
    context.close()


def _release(app, cid, seq):
    with app.app_context():
        return db.session.scalar(select(Release).where(Release.component_id == cid, Release.seq == seq))


def test_main_flows_without_javascript(nojs, app, registries, podman_deployer):
    page = nojs
    repo = f"team/nojs-{uuid.uuid4().hex[:6]}"
    pusher = registries.pusher(registries.basic)
    first = pusher.push(repo, "v1.0", Image(content="one"))
    pusher.push(repo, "v1.1", Image(content="two"))

    page.goto("/setup")
    page.get_by_label("Email").fill("first@example.com")
    page.get_by_label("Password").fill("correct horse battery")
    page.get_by_label("First team name").fill("Shop & Co")
    page.get_by_role("button", name="Create").click()
    page.wait_for_url("**/")

    page.goto("/registries/new")
    page.get_by_label("Name", exact=True).fill("local")
    page.get_by_label("URL", exact=True).fill(registries.basic.url)
    page.get_by_label("Username").fill(USER)
    page.get_by_label("Password or token").fill(PASSWORD)
    page.get_by_role("button", name="Test connection").click()
    assert "✓" in page.get_by_test_id("test-result").inner_text()
    page.get_by_label("Password or token").fill(PASSWORD)  # never filled back in: typed again
    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**/registries/*/")

    page.goto("/components/new")
    page.get_by_label("From a connected registry").select_option(label="local")
    page.get_by_label("Search repositories").fill(repo.split("/")[1])
    page.get_by_role("button", name="Show repositories").click()
    page.get_by_role("option", name=repo).click()
    page.get_by_role("link", name="v1.0", exact=True).click()
    page.get_by_test_id("image-details").wait_for()
    page.get_by_label("Component name").fill("nojs")
    page.get_by_label("Memory limit (MiB)").fill("48")
    for name, value in (("COLOR", "blue"), ("MODE", "production")):
        page.get_by_role("button", name="Add variable").click()
        row = page.locator(".env-row").last
        row.get_by_label("Variable name").fill(name)
        row.get_by_label("Value").fill(value)
    page.get_by_role("button", name="Create and deploy").click()
    page.wait_for_url("**/components/*")
    with app.app_context():
        cid = db.session.scalar(select(Component.id).where(Component.name == "nojs"))
        env = db.session.get(Component, cid).env
    assert ["COLOR", "blue"] in env and ["MODE", "production"] in env
    wait_for(lambda: _release(app, cid, 1).status == "running", 90)

    page.goto(f"/components/{cid}/edit")
    page.get_by_label("Tag").fill("v1.1")
    page.get_by_role("button", name="Review changes").click()
    assert "tag v1.0 → v1.1" in page.get_by_test_id("changes").inner_text()
    page.get_by_role("button", name="Save and deploy").click()
    wait_for(lambda: _release(app, cid, 2) is not None and _release(app, cid, 2).status == "running", 90)

    page.goto(f"/components/{cid}")
    page.locator("tr[data-seq='1']").get_by_role("button", name="Roll back to #1").click()
    wait_for(lambda: _release(app, cid, 3) is not None and _release(app, cid, 3).status == "running", 90)
    assert _release(app, cid, 3).digest == first and _release(app, cid, 3).trigger == "rollback"
