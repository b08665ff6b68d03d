"""Day two in Chromium on podman against the real registry: edit with the diff shown, save and
deploy, change the tag, roll back to release #1 (image and settings), auto-deploy paused by the
rollback, a push recorded "ignored: auto-deploy paused", Resume deploys it."""
from __future__ import annotations

import uuid

import pytest
import requests
from playwright.sync_api import expect
from sqlalchemy import select

from models import Component, Release, db
from services.components import releases
from services.registries import images
from tests.fixtures.images import Image
from tests.helpers import create_component, create_registry, sign_in, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.registry, pytest.mark.podman]


def _container(app, deployer, cid) -> dict:
    with app.app_context():
        c = db.session.get(Component, cid)
        (found,) = deployer.inspect(images.deploy_spec(c, releases.current_release(c)))
        return found


def _running_seq(app, cid) -> int | None:
    with app.app_context():
        r = db.session.scalars(select(Release).where(Release.component_id == cid)
                               .order_by(Release.seq.desc()).limit(1)).one()
        return r.seq if r.status == "running" else None


def _outcome(app, cid, tag):
    from models import DeliveryOutcome

    with app.app_context():
        return db.session.scalar(select(DeliveryOutcome.reason).where(DeliveryOutcome.component_id == cid,
                                                                      DeliveryOutcome.tag == tag))


def test_edit_deploy_roll_back_pause_and_resume(page, app, make_user, live_server, registries, podman_deployer):
    sign_in(page, make_user)
    rid, _ = create_registry(app, url=registries.basic.url, name="local")
    repo = f"team/edit-{uuid.uuid4().hex[:6]}"
    pusher = registries.pusher(registries.basic)
    first = pusher.push(repo, "v5.1", Image(content="five one"))
    pusher.push(repo, "v5.2", Image(content="five two"))
    cid = create_component(app, rid, repo, "v5.1", "web", expose=True, auto_deploy=True, trigger_kind="regex",
                           trigger_pattern=r"v5\..*")
    wait_for(lambda: _running_seq(app, cid) == 1, 90)
    with app.app_context():
        port = db.session.get(Component, cid).ports[0]["host_port"]

    page.goto(f"/components/{cid}")
    page.get_by_role("link", name="Edit").click()
    page.get_by_role("button", name="Add variable").click()
    row = page.locator(".env-row").last
    row.get_by_label("Variable name").fill("LOG_LEVEL")
    row.get_by_label("Value").fill("debug")
    page.get_by_label("Memory limit (MiB)").fill("48")
    page.get_by_role("button", name="Review changes").click()
    changes = page.get_by_test_id("changes")
    expect(changes).to_contain_text("memory 32 → 48 MiB")
    expect(changes).to_contain_text("+ env LOG_LEVEL")
    page.get_by_role("button", name="Save and deploy").click()
    expect(page.get_by_test_id("status")).to_have_text("running", timeout=60000)
    expect(page.get_by_test_id("release-tag")).to_have_text("v5.1")
    wait_for(lambda: _running_seq(app, cid) == 2, 60)
    found = _container(app, podman_deployer, cid)
    assert "LOG_LEVEL=debug" in found["Config"]["Env"] and found["HostConfig"]["Memory"] == 48 << 20

    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Tag").fill("v5.2")
    page.get_by_role("button", name="Review changes").click()
    expect(page.get_by_test_id("changes")).to_contain_text("tag v5.1 → v5.2")
    page.get_by_role("button", name="Save and deploy").click()
    wait_for(lambda: _running_seq(app, cid) == 3, 60)
    assert requests.get(f"http://127.0.0.1:{port}/", timeout=5).text == "five two"

    page.goto(f"/components/{cid}")
    page.once("dialog", lambda d: d.accept())
    page.locator("tr[data-seq='1']").get_by_role("button", name="Roll back to #1").click()
    wait_for(lambda: _running_seq(app, cid) == 4, 60)
    found = _container(app, podman_deployer, cid)
    assert "LOG_LEVEL=debug" not in found["Config"]["Env"] and found["HostConfig"]["Memory"] == 32 << 20
    with app.app_context():
        assert releases.current_release(db.session.get(Component, cid)).digest == first
    assert requests.get(f"http://127.0.0.1:{port}/", timeout=5).text == "five one"
    page.reload()
    expect(page.get_by_test_id("paused")).to_contain_text("Auto-deploy paused since rollback #4 to v5.1")

    pusher.push(repo, "v5.3", Image(content="five three"))
    with app.app_context():
        token = db.session.get(Component, cid).webhook_token
    r = requests.post(f"{live_server.url}/hooks/components/{cid}/{token}", json={"repository": repo, "tag": "v5.3"},
                      timeout=5)
    assert r.status_code == 202
    wait_for(lambda: _outcome(app, cid, "v5.3"), 20)
    page.reload()
    expect(page.locator("body")).to_contain_text("ignored")
    expect(page.locator("body")).to_contain_text("auto-deploy paused: Auto-deploy paused since rollback #4")

    page.get_by_role("button", name="Resume auto-deploy").click()
    wait_for(lambda: _running_seq(app, cid) == 5, 60)
    assert requests.get(f"http://127.0.0.1:{port}/", timeout=5).text == "five three"
    page.reload()
    expect(page.get_by_test_id("paused")).to_have_count(0)


def test_approve_a_pending_deploy_from_the_component_page(page, app, make_user, registries):
    from services.delivery import deliveries, endpoints

    sign_in(page, make_user)
    rid, _ = create_registry(app, url=registries.basic.url, name="gate")
    repo = f"team/gate-{uuid.uuid4().hex[:6]}"
    pusher = registries.pusher(registries.basic)
    first = pusher.push(repo, "v1.0", Image(content="1.0"))
    cid = create_component(app, rid, repo, "v1.0", "gate", release=False, auto_deploy=True, trigger_kind="semver",
                           trigger_pattern="^1", digest=first, approvals_required=1)
    digest = pusher.push(repo, "v1.1", Image(content="1.1"))
    import json
    with app.app_context(), app.test_request_context():
        from models import Registry
        token = db.session.get(Registry, rid).webhook_token
        delivery_id = deliveries.receive(endpoints.find_endpoint("registry", rid, token),
                                         {"Content-Type": "application/json"},
                                         json.dumps({"repository": repo, "tag": "v1.1"}).encode())
        db.session.commit()
    with app.app_context():
        deliveries.process([delivery_id])

    page.goto(f"/components/{cid}")
    expect(page.get_by_test_id("approval")).to_contain_text("v1.1")
    page.get_by_role("button", name="Approve v1.1").click()
    expect(page.locator(".flash-success")).to_contain_text("Approved v1.1 (1 of 1)")
    expect(page.get_by_test_id("approval")).to_have_count(0)
    with app.app_context():
        release = db.session.scalars(select(Release).where(Release.component_id == cid)).one()
        assert (release.tag, release.digest, release.trigger) == ("v1.1", digest, "approval")
    page.goto("/approvals")
    expect(page.get_by_test_id("approvals")).to_contain_text("approved")
