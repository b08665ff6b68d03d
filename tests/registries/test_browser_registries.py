"""Add a registry, test it, browse to a repository and filter its tags live, in Chromium."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.fixtures.registry import PASSWORD, USER
from tests.helpers import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.registry]


def test_add_test_browse_and_filter_tags(page, make_user, registries, many_tags):
    sign_in(page, make_user)
    page.get_by_role("link", name="Registries").click()
    page.get_by_role("link", name="Add registry").click()
    page.get_by_label("Name", exact=True).fill("local")
    page.get_by_label("URL", exact=True).fill(registries.basic.url)
    page.get_by_label("Username").fill(USER)
    page.get_by_label("Password or token").fill("wrong-password")
    page.get_by_role("button", name="Test connection").click()
    assert "401" in page.get_by_test_id("test-result").inner_text()
    page.get_by_label("Password or token").fill(PASSWORD)
    page.get_by_role("button", name="Test connection").click()
    expect(page.get_by_test_id("test-result")).to_contain_text("Connected")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**/registries/*/")
    page.get_by_label("Search repositories").press_sequentially("many", delay=20)
    expect(page.locator("#repo-results")).not_to_contain_text("team/demo")
    page.get_by_role("link", name="team/many").click()
    assert "5000 of 5000 tags" in page.get_by_test_id("tag-count").inner_text()
    url_before = page.url
    page.get_by_label("Filter tags").press_sequentially("1.49.9", delay=20)
    expect(page.get_by_test_id("tag-count")).to_have_text(re.compile(r"^\s*11 of"))
    rows = page.locator("tr.tag-row")
    assert rows.count() == 11 and rows.first.get_attribute("data-tag") == "1.49.99"
    assert page.url == url_before  # filtered in place, no reload
    # Digest and size load into the visible rows.
    expect(page.locator("tr.tag-row td:nth-child(2)").first).to_have_text(re.compile(r"^\s*sha256:"))
