"""Lists and the dashboard at thousands of rows: paged (50), filtered, counted, and read in a bounded
number of SQL statements whatever the row count (counted with an SQLAlchemy event listener; not
timed — `make bench` times them)."""
from __future__ import annotations

import re
import threading
from contextlib import contextmanager

import pytest
from sqlalchemy import event, select

from models import Component, Registry, db
from tests.fixtures.bulk import seed_components, seed_history

LIMIT = 10


@contextmanager
def counting(app):
    statements: list[str] = []

    me = threading.get_ident()

    def count(conn, cursor, statement, parameters, context, executemany):
        if threading.get_ident() == me:  # the request's, not a background thread's
            statements.append(statement)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def get(client, app, url, **kw):
    with counting(app) as statements:
        response = client.get(url, **kw)
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    return response.get_data(as_text=True), statements


def ids(app):
    with app.app_context():
        component = db.session.scalar(select(Component).order_by(Component.id))
        registry = db.session.scalar(select(Registry).order_by(Registry.id))
        return component.id, registry.id


PAGES = ["/", "/components/", "/registries/", "/components/{c}", "/components/{c}/status",
         "/components/{c}/releases", "/components/{c}/deliveries", "/registries/{r}/webhook",
         "/components/?state=failed&application=app1&name=c0"]


def test_list_pages_issue_a_bounded_number_of_statements(app, client, auth):
    """At 1,000 components and a component with 1,000 releases and 10,000 deliveries the counts are
    the same (test_the_counts_do_not_grow_with_the_rows), so they stay within LIMIT there too."""
    auth.signed_in()
    rows = 10
    seed_components(app, count=rows)
    c, r = ids(app)
    seed_history(app, c, releases=rows, deliveries=10 * rows)
    counts = {}
    for page in PAGES:
        url = page.format(c=c, r=r)
        get(client, app, url)  # the first request of a page may load what later ones have cached
        body, statements = get(client, app, url)
        counts[url] = len(statements)
        assert len(statements) <= LIMIT, (url, len(statements), statements)
    print(rows, counts)


def test_the_counts_do_not_grow_with_the_rows(app, client, auth):
    auth.signed_in()
    seed_components(app, count=10)
    c, r = ids(app)
    seed_history(app, c, releases=20, deliveries=100)  # the same shape: the running release is not among the last 10
    for p in PAGES:
        get(client, app, p.format(c=c, r=r))
    small = {p: len(get(client, app, p.format(c=c, r=r))[1]) for p in PAGES}
    seed_components(app, count=990, start=10)
    seed_history(app, c, releases=1000, deliveries=10_000)
    assert max(small.values()) <= LIMIT
    big = {p: len(get(client, app, p.format(c=c, r=r))[1]) for p in PAGES}
    assert big == small


def test_components_list_pages_counts_and_filters(app, client, auth):
    auth.signed_in()
    seed_components(app, count=120)
    body, _ = get(client, app, "/components/")
    assert "1–50 of 120 components" in body
    assert "Page 1 of 3" in body
    assert body.count('data-component="') == 50
    assert 'data-component="c0000"' in body and 'data-component="c0050"' not in body
    body, _ = get(client, app, "/components/?page=3")
    assert "101–120 of 120 components" in body and 'data-component="c0119"' in body
    body, _ = get(client, app, "/components/?page=999")  # past the end: the last page
    assert "Page 3 of 3" in body
    body, _ = get(client, app, "/components/?page=x")
    assert "Page 1 of 3" in body

    # Status: the latest release's, "stopped" for every tenth, pending/deploying as deploying
    body, _ = get(client, app, "/components/?state=failed")
    names = re.findall(r'data-component="(c\d+)"', body)
    assert names and all(int(n[1:]) % 4 == 1 and int(n[1:]) % 10 != 9 for n in names)
    assert f"of {len(names)} components matching the filter" in body
    body, _ = get(client, app, "/components/?state=stopped")
    assert all(int(n[1:]) % 10 == 9 for n in re.findall(r'data-component="(c\d+)"', body))
    body, _ = get(client, app, "/components/?name=c011")
    assert re.findall(r'data-component="(c\d+)"', body) == [f"c011{i}" for i in range(10)]
    body, _ = get(client, app, "/components/?application=app2&name=c00")
    assert re.findall(r'data-component="(c\d+)"', body) == ["c0002", "c0007", "c0012"] + [
        f"c00{i}" for i in range(17, 100, 5)]
    body, _ = get(client, app, "/components/?name=%25")  # LIKE's wildcard is a plain character here
    assert "No component matches the filter." in body

    # HTMX: only the results block, and the page links keep the filters
    body, _ = get(client, app, "/components/?state=running&page=1", headers={"HX-Request": "true"})
    assert body.lstrip().startswith('<div id="results">')
    assert "<html" not in body


def test_dashboard_counts_recent_and_failing(app, client, auth):
    auth.signed_in()
    seed_components(app, count=60)
    body, statements = get(client, app, "/")
    assert len(statements) <= LIMIT
    counts = dict(re.findall(r'data-count="([a-z ]+)">(\d+)<', body))
    # 60 components: every tenth stopped (4); of the others the last release cycles
    # running/failed/deploying/superseded by index
    expected = {"running": 0, "failed": 0, "deploying": 0, "stopped": 0, "never deployed": 0, "superseded": 0}
    for i in range(60):
        key = "stopped" if i % 10 == 9 else ["running", "failed", "deploying", "superseded"][i % 4]
        expected[key] += 1
    assert {k: int(v) for k, v in counts.items()} == {k: v for k, v in expected.items() if k != "superseded"}
    failing = re.search(r'data-testid="failing">(.*?)</ul>', body, re.S).group(1)
    assert expected["failed"] == 12
    assert failing.count("<li>") == 10 and "Back-off pulling image" in failing
    assert f"All {expected['failed']} failing components" in body
    assert re.search(r'data-testid="registries-failing">.*reg000.*HTTP 503', body, re.S)
    assert re.search(r'data-testid="recent">', body)
    assert body.count("<tr><td>") >= 10


def test_component_releases_and_deliveries_pages(app, client, auth):
    auth.signed_in()
    seed_components(app, count=2)
    c, r = ids(app)
    seed_history(app, c, releases=120, deliveries=130)
    body, _ = get(client, app, f"/components/{c}")
    assert body.count("data-release=") == 10 and "All releases" in body
    assert "The latest 10 of 130." in body
    body, _ = get(client, app, f"/components/{c}/releases?page=2")
    assert "51–100 of 123 releases" in body and body.count("data-release=") == 50
    body, _ = get(client, app, f"/components/{c}/releases?status=running")
    assert "1 release matching the filter" in body
    body, _ = get(client, app, f"/components/{c}/deliveries?outcome=deployed")
    assert "1–13 of 13 deliveries matching the filter" in body
    body, _ = get(client, app, f"/components/{c}/deliveries?repository=nothing")
    assert "No delivery matches the filter." in body
    body, _ = get(client, app, f"/components/{c}/deliveries?page=3")
    assert "101–130 of 130 deliveries" in body
    assert f'href="/components/{c}/deliveries?page=2"' in body


def test_lists_are_team_scoped(app, client, auth):
    auth.signed_in()
    seed_components(app, team="other", count=5)
    c, r = ids(app)
    body, _ = get(client, app, "/components/")
    assert "No component yet" in body
    assert client.get(f"/components/{c}/releases").status_code == 404
    assert client.get(f"/components/{c}/deliveries").status_code == 404
    assert client.get(f"/registries/{r}/webhook").status_code == 404
    body, _ = get(client, app, "/")
    assert "No component yet" in body


@pytest.mark.browser
def test_filters_narrow_in_place_and_pages_keep_them(app, page, make_user):
    """In Chromium: typing a name narrows the list without a page load (HTMX), the URL follows (so
    Back and a shared link work), and the page links keep the filter."""
    from playwright.sync_api import expect

    from tests.helpers import sign_in

    sign_in(page, make_user, email="lists@example.com")
    with app.app_context():
        from models import Team, User
        user = db.session.scalar(select(User).where(User.email == "lists@example.com"))
        team = db.session.get(Team, user.memberships[0].team_id).name
    seed_components(app, team=team, count=130)
    page.goto("/components/")
    expect(page.get_by_text("1–50 of 130 components")).to_be_visible()
    page.evaluate("window.berthMarker = 1")  # survives only if no full page load happens
    page.get_by_label("Name").fill("c01")
    expect(page.get_by_text("1–30 of 30 components matching the filter")).to_be_visible()
    assert page.evaluate("window.berthMarker") == 1
    assert "name=c01" in page.url
    page.get_by_label("Status").select_option("stopped")
    expect(page.get_by_text("1–3 of 3 components matching the filter")).to_be_visible()
    assert [r.get_attribute("data-component") for r in page.locator("tr[data-component]").all()] == [
        "c0109", "c0119", "c0129"]
    page.goto("/components/?name=c00")
    expect(page.get_by_text("1–50 of 100 components matching the filter")).to_be_visible()
    page.get_by_role("link", name="Next").click()
    expect(page.get_by_text("51–100 of 100 components matching the filter")).to_be_visible()
