"""Every main page at 1280 px and 375 px: no horizontal overflow, no serious or critical axe-core
accessibility violation (axe-core as bundled by axe-playwright-python). Screenshots are saved under
test-artifacts/ (or $BERTH_TEST_ARTIFACTS) for people to look at."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from cryptography.hazmat.primitives import serialization

from tests.helpers import create_component, create_registry, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.registry]
ARTIFACTS = Path(os.environ.get("BERTH_TEST_ARTIFACTS") or Path(__file__).resolve().parents[2] / "test-artifacts")
WIDTHS = {"desktop": (1280, 900), "phone": (375, 740)}


def _pages(app, registries) -> dict[str, str]:
    from models import Release, db

    rid, _ = create_registry(app, url=registries.basic.url, name="local")
    registries.pusher(registries.basic).push("team/ui", "v1.0")
    cid = create_component(app, rid, "team/ui", "v1.0", "shop-frontend-with-a-long-name", release=False,
                           env=[["GREETING", "hello"], ["DATABASE_URL", "postgres://db/shop"]],
                           ports=[{"port": 8080, "protocol": "TCP", "expose": True, "host_port": 20001}],
                           volumes=[{"name": "uploads-of-the-shop", "path": "/var/lib/shop/uploads", "size_mb": 1024,
                                     "read_only": False}],
                           files=[{"path": "/etc/shop/settings-for-production.conf", "mode": 0o640, "secret": False,
                                   "sha256": "0" * 64, "content": "level=1\n"}])
    db_id = create_component(app, rid, "team/ui", "v1.0", "db", release=False,
                             ports=[{"port": 5432, "protocol": "TCP", "expose": True, "host_port": 20002}])
    with app.app_context():
        from models import Application, Component, Volume

        shop = db.session.get(Component, cid)
        shop.depends_on = [db_id]
        db.session.add(Volume(team_id=shop.team_id, application_id=shop.application_id, name="kept-backups",
                              size_mb=1))
        db.session.commit()
        application_id = db.session.scalar(db.select(Application.id))
    with app.app_context():
        from models import Component

        component = db.session.get(Component, cid)
        db.session.add(Release(team_id=component.team_id, component_id=cid, seq=1, tag="v1.0",
                               digest="sha256:" + "ab" * 32, trigger="manual", triggered_by="owner@example.com",
                               status="failed", message="The image tag v1.0 could not be pulled: a long message " * 3))
        component.release_seq = 1
        from models import ClusterTarget, utcnow

        target = ClusterTarget(team_id=component.team_id, name="production-eu-with-a-long-name",
                               last_checked_at=utcnow(), server="https://kubernetes.production.example.com:6443",
                               token_encrypted="x",
                               last_check_ok=False, last_check_message="Berth's token may not: create namespaces, "
                               "patch deployments.apps, get ingresses.networking.k8s.io")
        db.session.add(target)
        from cryptography.hazmat.primitives.asymmetric import ec

        from services.trust import policies

        public = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        key = policies.add_key(component.team, "release-signing-key-of-the-ci", public, "owner@example.com")
        policy = policies.save_policy(component.team, policies.PolicyInput(
            "release-signed", [key.id], 1, "vuln below high\nsbom"), "owner@example.com")
        component.trust_policy_id = policy.id
        db.session.commit()
        target_id, policy_id = target.id, policy.id
    return {
        "dashboard": "/", "registries": "/registries/", "registry-form": "/registries/new",
        "browse": f"/registries/{rid}/", "repository": f"/registries/{rid}/repository?repo=team/ui",
        "registry-webhook": f"/registries/{rid}/webhook",
        "clusters": "/clusters/", "cluster-form": "/clusters/new", "cluster-edit": f"/clusters/{target_id}/edit",
        "trust": "/trust/", "trust-policy": f"/trust/policies/{policy_id}",
        "components": "/components/", "component-new": "/components/new",
        "application": f"/applications/{application_id}", "compose-import": "/applications/import",
        "docker-run-import": "/components/import",
        "component-new-prefilled": f"/components/new?registry_id={rid}&repo=team/ui&tag=v1.0",
        "component": f"/components/{cid}", "component-edit": f"/components/{cid}/edit",
        "build-source": f"/components/{cid}/build-source", "logs": f"/components/{cid}/logs",
        "releases": f"/components/{cid}/releases", "deliveries": f"/components/{cid}/deliveries",
        "team": "/team/", "users": "/team/users", "new-team": "/team/new", "notifications": "/team/notifications",
        "channel-new": "/team/notifications/new", "approvals": "/approvals", "audit": "/team/audit",
    }


def _check(page, name: str) -> list[str]:
    problems = []
    for label, (width, height) in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        page.reload()
        page.wait_for_load_state("networkidle")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        if overflow > 0:
            problems.append(f"{name} @ {width}px overflows by {overflow}px")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{name}-{label}.png"), full_page=True)
    results = Axe().run(page)
    for violation in results.response["violations"]:
        if violation["impact"] in ("serious", "critical"):
            targets = [n["target"] for n in violation["nodes"]][:3]
            problems.append(f"{name}: {violation['id']} ({violation['impact']}) {violation['help']} {targets}")
    return problems


# Every main page, in three groups that run side by side (each page costs two reloads, two screenshots
# and an axe run; one test of all of them was the suite's longest).
GROUPS = {
    "registries": ["dashboard", "registries", "registry-form", "browse", "repository", "registry-webhook",
                   "components", "application", "trust", "trust-policy"],
    "components": ["component-new", "component-new-prefilled", "component", "component-edit", "build-source",
                   "logs", "releases", "deliveries", "compose-import", "docker-run-import"],
    "team": ["team", "users", "new-team", "notifications", "channel-new", "approvals", "audit", "clusters",
             "cluster-form", "cluster-edit"],
}


@pytest.mark.parametrize("group", GROUPS)
def test_every_main_page_fits_a_phone_and_passes_axe(page, app, make_user, registries, group):
    sign_in(page, make_user)
    pages = _pages(app, registries)
    assert set(pages) == {name for names in GROUPS.values() for name in names}  # no page left out
    problems = []
    for name in GROUPS[group]:
        page.goto(pages[name])
        problems += _check(page, name)
    assert not problems, "\n".join(problems)


def test_setup_and_login_fit_a_phone_and_pass_axe(page, app, make_user):
    page.goto("/setup")
    problems = _check(page, "setup")
    make_user(email="someone@example.com")
    page.goto("/login")
    problems += _check(page, "login")
    assert not problems, "\n".join(problems)
