"""Enable auto-deploy with v5.*, see the matching tags, push, watch the component move on its own."""
from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import expect

from models import Component, db
from tests.fixtures.images import Image, Pusher
from tests.fixtures.registry import PASSWORD, USER, free_port
from tests.helpers import create_component, sign_in, wait_running

pytestmark = [pytest.mark.browser, pytest.mark.registry, pytest.mark.podman]


def test_enable_regex_rule_and_watch_a_push_deploy(page, app, make_user, live_server, notifying, podman_deployer):
    sign_in(page, make_user)
    rid, server = notifying
    pusher = Pusher(server.url, USER, PASSWORD)
    for tag in ("v5.0", "v6.0", "v4.9"):
        pusher.push("team/app", tag, Image(content=tag))
    port = free_port()
    cid = create_component(app, rid, "team/app", "v5.0", "app", port)
    wait_running(app, cid, "v5.0")

    page.goto(f"/components/{cid}/build-source")
    page.get_by_label("Deploy automatically when a matching tag is pushed").check()
    page.get_by_label("Trigger rule").select_option("regex")
    page.get_by_label("Pattern").press_sequentially("v5.*", delay=30)
    expect(page.get_by_test_id("preview-count")).to_have_text(re.compile(r"^\s*1 of 3 current tags match; none"))
    assert page.locator(".preview-tags tr[data-tag='v5.0']").inner_text().split("\t")[1:] == [
        "no", "already running (a push of a new digest under it redeploys)"]
    assert page.locator(".preview-tags tr[data-tag]").evaluate_all("rows => rows.map(r => r.dataset.tag)") == [
        "v6.0", "v5.0", "v4.9"]
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Saved the build source.").wait_for()
    with app.app_context():
        assert db.session.get(Component, cid).trigger_pattern == "v5.*"

    page.goto(f"/components/{cid}")
    page.evaluate("window.__sameDocument = true")
    assert page.get_by_test_id("release-tag").inner_text() == "v5.0"
    pusher.push("team/app", "v5.1", Image(content="v5.1"))
    expect(page.get_by_test_id("release-tag")).to_have_text("v5.1", timeout=60000)
    expect(page.get_by_test_id("status")).to_have_text("running", timeout=60000)
    assert page.evaluate("window.__sameDocument") is True
    assert requests.get(f"http://127.0.0.1:{port}/", timeout=5).text == "v5.1"
    pusher.push("team/app", "v6.1", Image(content="v6.1"))
    page.reload()
    page.get_by_text("tag v6.1 does not match /v5.*/").wait_for(timeout=30000)
