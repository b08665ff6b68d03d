"""Every route: anonymous users are sent to login; other teams' objects answer 404."""
from __future__ import annotations

import pytest

from tests.scoping import OBJECT_ARGS, PLAIN_ARGS, build_url, make_team_objects, public_endpoints


def routes(app):
    return [r for r in app.url_map.iter_rules() if r.endpoint != "static"]


def test_anonymous_requests_to_private_routes_go_to_login(app, client, make_user):
    make_user(email="someone@example.com")  # past first-run setup
    public = public_endpoints(app)
    checked = 0
    for rule in routes(app):
        if rule.endpoint in public:
            continue
        url = build_url(rule, {arg: PLAIN_ARGS.get(arg, 1) for arg in rule.arguments})
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            r = client.open(url, method=method)
            assert r.status_code == 302, (rule, method, r.status_code)
            assert "/login" in r.headers["Location"], (rule, method)
            checked += 1
    assert checked > 5


def test_other_teams_objects_answer_404(app, client, auth, make_user):
    objects = make_team_objects(app, make_user, team="alpha")
    auth.signed_in(email="intruder@example.com", team="bravo", admin=False, role="owner")
    public = public_endpoints(app)
    checked = 0
    for rule in routes(app):
        if rule.endpoint in public or not (set(rule.arguments) - set(PLAIN_ARGS)):
            continue
        unknown = set(rule.arguments) - OBJECT_ARGS - set(PLAIN_ARGS)
        assert not unknown, f"{rule} has arguments the scoping test does not know: {unknown}"
        url = build_url(rule, {arg: objects.get(arg) or PLAIN_ARGS[arg] for arg in rule.arguments})
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            r = client.open(url, method=method)
            assert r.status_code == 404, (rule, method, r.status_code)
            checked += 1
    assert checked >= 1


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/login", "/setup"])
def test_public_routes_do_not_need_login(client, make_user, path):
    make_user()
    assert client.get(path).status_code in (200, 302)
