"""The compose must-show in Chromium, on podman against the real registry: paste the file, read the
report (every key's fate), import, watch the application page until both run, and web answers with
what it read from db; db redeployed and rolled back from its page keeps the marker in its volume."""
from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import expect

from tests.components.test_compose_application import _compose
from tests.components.test_create_and_deploy import component_id_of, release_of
from tests.fixtures.slots import chosen_host_port
from tests.helpers import create_registry, sign_in, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.registry, pytest.mark.podman]


def test_import_a_compose_application_and_run_it(page, app, make_user, live_server, registries, podman_deployer):
    sign_in(page, make_user)
    create_registry(app, url=registries.basic.url, name="local")
    web_port = chosen_host_port()
    page.goto("/components/new")
    page.get_by_role("link", name="…or a whole application from a compose file").click()
    page.get_by_label("Compose file").fill(_compose(registries, web_port))
    page.get_by_label("Application").fill("shop")
    page.get_by_role("button", name="Read").click()
    report = page.get_by_test_id("import-report")
    expect(report.locator('tr[data-key="services.db.volumes[0]"]')).to_contain_text("volume db-data at /data")
    expect(report.locator('tr[data-key="services.web.depends_on.db"]')).to_contain_text(
        "passes its health check")
    expect(report.locator('tr[data-key="x-owner"]')).to_contain_text("dropped")
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_role("heading", name="Application shop")).to_be_visible()
    rows = page.get_by_test_id("components")
    expect(rows.locator('tr[data-component="web"]')).to_contain_text("→ db")
    expect(rows.locator('tr[data-component="web"] [data-testid="state"]')).to_have_text("running", timeout=120_000)
    expect(rows.locator('tr[data-component="db"] [data-testid="state"]')).to_have_text("running")
    marker = requests.get(f"http://127.0.0.1:{web_port}/", timeout=5).text
    assert re.fullmatch(r"marker level=1 [0-9a-f-]{36}\n", marker), marker

    db_id, web_id = component_id_of(app, "db"), component_id_of(app, "web")
    page.goto(f"/components/{db_id}")
    page.get_by_role("button", name="Redeploy").click()
    wait_for(lambda: release_of(app, db_id).seq == 2 and release_of(app, db_id).status == "running", 90)
    page.goto(f"/components/{db_id}/releases")
    page.get_by_role("button", name="Roll back to #1").click()
    wait_for(lambda: release_of(app, db_id).seq == 3 and release_of(app, db_id).status == "running", 90)
    page.goto(f"/components/{web_id}")
    page.get_by_role("button", name="Redeploy").click()
    wait_for(lambda: release_of(app, web_id).seq == 2 and release_of(app, web_id).status == "running", 90)
    assert requests.get(f"http://127.0.0.1:{web_port}/", timeout=5).text == marker
