"""First-run setup, sign out and sign in again, in a real browser."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_setup_logout_login(page):
    page.goto("/")
    assert page.url.endswith("/setup")
    page.get_by_label("Email").fill("admin@example.com")
    page.get_by_label("Password").fill("short")
    page.get_by_label("First team name").fill("platform")
    page.get_by_role("button", name="Create administrator").click()
    assert "at least 8" in page.locator("#password-errors").inner_text()
    page.get_by_label("Password").fill("a-long-password")
    page.get_by_role("button", name="Create administrator").click()
    page.wait_for_url("**/")
    assert page.get_by_test_id("current-team").inner_text() == "platform"
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login")
    page.get_by_label("Email").fill("admin@example.com")
    page.get_by_label("Password").fill("wrong-password")
    page.get_by_role("button", name="Sign in").click()
    assert "Wrong email or password" in page.locator("#password-errors").inner_text()
    page.get_by_label("Password").fill("a-long-password")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")
    assert page.get_by_role("heading", name="Dashboard").is_visible()
