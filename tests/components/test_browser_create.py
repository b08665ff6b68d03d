"""The whole create-from-image flow in Chromium, deploying on podman."""
from __future__ import annotations

import re
import uuid

import pytest
import requests
from playwright.sync_api import expect

from tests.fixtures.images import Image
from tests.fixtures.registry import PASSWORD, USER
from tests.fixtures.slots import chosen_host_port
from tests.helpers import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.registry, pytest.mark.podman]


def connect_registry(app, registries):
    from models import Team, db
    from services.registries import registries as registry_service

    with app.app_context():
        team = db.session.scalar(db.select(Team))
        registry_service.save_registry(team, registry_service.RegistryInput(
            "registry", "local", registries.basic.url, USER, PASSWORD, False, ""), by="test")
        db.session.commit()


def test_create_component_from_registry_and_watch_it_run(page, app, make_user, registries, podman_deployer):
    repo = f"team/shop-{uuid.uuid4().hex[:6]}"
    pusher = registries.pusher(registries.basic)
    for tag in ("v1.0", "v1.1", "v2.0"):
        pusher.push(repo, tag, Image(content=f"shop {tag}"))
    sign_in(page, make_user)
    connect_registry(app, registries)

    page.goto("/components/new")
    page.get_by_label("From a connected registry").select_option(label="local")
    page.get_by_label("Search repositories").press_sequentially(repo.split("/")[1][:8], delay=20)
    page.get_by_role("option", name=repo).click()
    page.get_by_label(f"Tag of {repo}").press_sequentially("v1.1", delay=20)
    expect(page.get_by_test_id("tag-picker-count")).to_have_text(re.compile(r"^\s*1 of 3"))
    page.locator("a.pick-tag[data-tag='v1.1']").click()
    page.get_by_test_id("image-details").wait_for()
    assert "tag=v1.1" in page.url
    assert "8080/TCP" in page.get_by_test_id("image-details").inner_text()

    assert page.get_by_label("Application").input_value() == "default"
    page.get_by_label("Application").fill("shop")
    page.get_by_label("Memory limit (MiB)").fill("48")
    rows = page.locator(".env-row")
    for name, value in (("COLOR", "blue"), ("MODE", "production")):
        before = rows.count()
        page.get_by_role("button", name="Add variable").click()
        expect(rows).to_have_count(before + 1)  # the new row arrived from the server
        row = rows.nth(before)
        row.get_by_label("Variable name").fill(name)
        row.get_by_label("Value").fill(value)
    host_port = chosen_host_port()
    page.get_by_label("Host port (podman)").fill(str(host_port))
    page.get_by_role("button", name="Create and deploy").click()
    page.wait_for_load_state()
    if not page.get_by_test_id("status").count():
        errors = page.locator("ul.errors li, .flash-error").all_inner_texts()
        page.get_by_test_id("status").wait_for(timeout=5000) if not errors else None
        assert not errors, errors
    page.evaluate("window.__sameDocument = true")
    expect(page.get_by_test_id("status")).to_have_text("running", timeout=60000)
    assert page.evaluate("window.__sameDocument") is True  # updated in place by the polling fragment
    assert requests.get(f"http://127.0.0.1:{host_port}/", timeout=5).text == "shop v1.1"
    from services.deploy.drivers.podman import KEY_LABEL  # noqa: F401 - the pod carries Berth's key label
    (container,) = [c for c in podman_deployer.inspect(_spec(app)) if c]
    env = container["Config"]["Env"]
    assert "COLOR=blue" in env and "MODE=production" in env
    assert container["HostConfig"]["Memory"] == 48 * 1024 * 1024


def _spec(app):
    from models import Component, db
    from services.components import releases
    from services.registries import images

    with app.app_context():
        component = db.session.scalar(db.select(Component))
        return images.deploy_spec(component, releases.current_release(component))
