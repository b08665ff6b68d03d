"""The environments must-show in Chromium: dev on podman, staging and production on two real
Kubernetes control planes. The owner adds the clusters and environments through their forms, deploys
a component through environments and sets production's overrides; a push deploys dev; the leader's
round (run here with a test clock) promotes to staging after the soak time; "Promote v1.2 to
production" waits for two approvals, the requester's own is refused, two members approve, and
production runs exactly staging's digest (read from the runtimes) with its overrides."""
from __future__ import annotations

import json
import uuid

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from models import AuditEntry, Component, Promotion, Release, db
from services.components import stages
from tests.components.test_environments import _row, _settle, _tick
from tests.fixtures.images import Image
from tests.fixtures.podman import KEY_LABEL, berth_pods
from tests.helpers import create_component, create_registry, sign_in, wait_for
from tests.oversight.test_notifications_approvals_audit import _push

pytestmark = [pytest.mark.browser, pytest.mark.registry, pytest.mark.podman]


def _sign_in_as(page, email: str) -> None:
    page.context.clear_cookies()
    page.goto("/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill("correct horse")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")


def _add_cluster(page, name, cluster, token) -> None:
    page.goto("/clusters/new")
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("API server").fill(cluster.url)
    page.get_by_label("CA certificate (PEM)").fill(cluster.ca_pem)
    page.get_by_label("ServiceAccount token").fill(token)
    page.get_by_role("button", name="Save").click()
    expect(page.locator(f'tr[data-cluster="{name}"]')).to_be_visible()


def _add_environment(page, name, targets, upstream=None, checks=(), numbers=None) -> None:
    page.goto("/environments/new")
    page.get_by_label("Name", exact=True).fill(name)
    if upstream:
        page.get_by_label("Promoted from").select_option(label=upstream)
    page.get_by_label("Deploys to").select_option(label=targets)
    for label in checks:
        page.get_by_label(label).check()
    for label, value in (numbers or {}).items():
        page.get_by_label(label).fill(value)
    page.get_by_role("button", name="Save").click()
    expect(page.locator(f'tr[data-environment="{name}"]')).to_be_visible()


def test_dev_on_podman_staging_and_production_on_two_clusters(page, app, make_user, live_server, registries,
                                                             podman_deployer, cluster, berth_token, second_cluster,
                                                             second_token):
    prefix = f"b{uuid.uuid4().hex[:5]}-"
    app.config["BERTH_KUBERNETES_NAMESPACE_PREFIX"] = prefix
    sign_in(page, make_user)
    for email in ("b@example.com", "c@example.com"):
        make_user(email=email, role="member")
    _add_cluster(page, "stage-eu", cluster, berth_token)
    _add_cluster(page, "prod-eu", second_cluster, second_token)
    _add_environment(page, "dev", "local (this Berth's own runtime)",
                     checks=["Pushes may deploy here (under each component's trigger rule)"])
    _add_environment(page, "staging", "cluster stage-eu", upstream="dev",
                     checks=["Promote into it automatically once the gates pass"],
                     numbers={"Soak time (minutes)": "30"})
    _add_environment(page, "production", "cluster prod-eu", upstream="staging", numbers={"Approvals needed": "2"})

    rid, _ = create_registry(app, registries.basic.url)
    pusher = registries.pusher(registries.basic)
    repo = f"team/benv-{uuid.uuid4().hex[:6]}"
    pusher.push(repo, "v1.1", Image(content="1.1"))
    cid = create_component(app, rid, repo, "v1.1", "web", release=False, auto_deploy=True, trigger_kind="regex",
                           trigger_pattern=r"v1\..*", env=[["MODE", "base"]], memory_mb=32)
    page.goto(f"/components/{cid}")
    page.get_by_role("button", name="Deploy through environments").click()
    production = page.locator('section[data-environment="production"]')
    production.get_by_role("link", name="Overrides").click()
    page.get_by_label("Overrides").fill("replicas = 2\nenv.MODE = prod\nmemory_mb = 48")
    page.get_by_role("button", name="Save overrides").click()
    expect(production).to_contain_text('"replicas": 2')
    production.get_by_role("link", name="Overrides").click()
    expect(page.get_by_test_id("effect")).to_contain_text("replicas 1 → 2")
    expect(page.get_by_test_id("effect")).to_contain_text("memory 32 → 48 MiB")
    page.go_back()

    digest = pusher.push(repo, "v1.2", Image(content="1.2"))
    _push(app, rid, repo, "v1.2")
    assert _settle(app, _row(app, "web@dev/local")).digest == digest
    page.reload()
    staging = page.locator('section[data-environment="staging"]')
    expect(page.locator('section[data-environment="dev"] [data-testid="health"]')).to_have_text("healthy")
    expect(staging.locator('[data-gate="upstream"]')).to_contain_text("to go")  # the soak time
    _tick(app, minutes=31)  # the test clock
    assert _settle(app, _row(app, "web@staging/stage-eu"), minutes=31).digest == digest
    page.reload()
    expect(staging.locator('[data-testid="health"]')).to_have_text("healthy")
    staging.get_by_role("button", name="Promote v1.2 to production").click()
    expect(production.locator('[data-gate="approvals"]')).to_contain_text("0 of 2 approvals")
    production.get_by_role("button", name="Approve").click()
    expect(page.locator(".flash-error")).to_contain_text("You requested this promotion: someone else must approve it.")
    for email in ("b@example.com", "c@example.com"):
        _sign_in_as(page, email)
        page.goto(f"/components/{cid}")
        production.get_by_role("button", name="Approve").click()
        expect(page.locator(".flash-success")).to_contain_text("Approved promotion")
    assert _settle(app, _row(app, "web@production/prod-eu")).digest == digest
    page.reload()
    expect(production.locator('[data-testid="health"]')).to_have_text("healthy")
    expect(production.locator('[data-testid="digest"]')).to_have_text(digest[:19])

    key = f"{podman_deployer.pod_prefix}{prefix}alpha-dev-web"
    pod = next(p for p in berth_pods() if p["Labels"][KEY_LABEL] == key)
    assert {podman_deployer._run("inspect", c["Id"], "--format", "{{.ImageDigest}}").stdout.strip()
            for c in pod["Containers"] if not c["Names"].endswith("-infra")} == {digest}
    for where, ns in ((cluster, f"{prefix}alpha-staging"), (second_cluster, f"{prefix}alpha-production")):
        pods = wait_for(lambda where=where, ns=ns: json.loads(where.kubectl(
            "get", "pods", "-n", ns, "-l", "app.kubernetes.io/instance=web", "-o", "json").stdout)["items"])
        assert {s["imageID"].rsplit("@", 1)[1] for p in pods for s in p["status"]["containerStatuses"]} == {digest}
    deployment = second_cluster.get("deployment", "web", f"{prefix}alpha-production")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert deployment["spec"]["replicas"] == 2 and container["resources"]["limits"]["memory"] == "48Mi"
    assert {e["name"]: e.get("value") for e in container["env"]}["MODE"] == "prod"
    staging_container = cluster.get("deployment", "web", f"{prefix}alpha-staging")["spec"]["template"]["spec"][
        "containers"][0]
    assert {e["name"]: e.get("value") for e in staging_container["env"]}["MODE"] == "base"
    with app.app_context():
        staged = db.session.scalar(select(Release).where(Release.component_id == _row(app, "web@staging/stage-eu"))
                                   .order_by(Release.id.desc()))
        promotion = db.session.scalars(select(Promotion).order_by(Promotion.id.desc())).first()
        assert promotion.settings_hash == stages.settings_hash(staged.base_settings)  # what staging ran
        actions = db.session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("promotion.%"))
                                     .order_by(AuditEntry.id)).all()
        application_id = db.session.get(Component, cid).application_id
    assert actions == ["promotion.requested", "promotion.started", "promotion.done", "promotion.requested",
                       "promotion.approved", "promotion.approved", "promotion.started", "promotion.done"]
    page.goto(f"/applications/{application_id}")
    for env in ("dev", "staging", "production"):
        expect(page.locator(f'[data-testid="pipeline"] tr[data-component="web"] td[data-environment="{env}"]')
               ).to_contain_text(f"v1.2 {digest[:19]}")
    for where, ns in ((cluster, f"{prefix}alpha-staging"), (second_cluster, f"{prefix}alpha-production")):
        where.kubectl("delete", "namespace", ns, "--wait=false", "--ignore-not-found", check=False)
