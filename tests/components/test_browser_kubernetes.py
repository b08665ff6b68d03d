"""Day one and day two in Chromium on the real control plane (tests/fixtures/cluster.py), as Berth's
own ServiceAccount: create from the registry -> Deployment available (KWOK's pods Ready) ->
"running"; an edit removing an env var and a port -> gone from the Deployment and from the pods of
its new ReplicaSet; restart -> a new ReplicaSet; scale 1 -> 3 -> three ready pods; roll back -> the
old release's digest and settings; a push whose pods never become ready (a tag naming
"never-ready": KWOK keeps its pods unready) -> rolled back automatically, auto-deploy paused, its
digest marked bad."""
from __future__ import annotations

import json
import re
import uuid

import pytest
import requests
from playwright.sync_api import expect
from sqlalchemy import select

from models import Component, DeliveryOutcome, Release, db
from tests.components.test_browser_create import connect_registry
from tests.fixtures.images import Image
from tests.helpers import sign_in, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.registry]


@pytest.fixture
def app_config(app_config):
    app_config["BERTH_ROLLOUT_TIMEOUT"] = 10  # a release whose pods never become ready fails after 10 s
    return app_config


def _latest(app, cid) -> Release:
    with app.app_context():
        return db.session.scalars(select(Release).where(Release.component_id == cid)
                                  .order_by(Release.seq.desc()).limit(1)).one()


def _running(app, cid, seq: int) -> bool:
    release = _latest(app, cid)
    assert release.status != "failed" or release.seq != seq, release.message
    return release.seq == seq and release.status == "running"


def _history(app, cid) -> str:
    """What happened, for a failure message: the releases and the auto-deploy decisions."""
    with app.app_context():
        seen = [(r.seq, r.status, r.trigger, r.message) for r in db.session.scalars(
            select(Release).where(Release.component_id == cid).order_by(Release.seq))]
        reasons = db.session.scalars(select(DeliveryOutcome.reason).where(DeliveryOutcome.component_id == cid)).all()
    return f"releases {seen}; auto-deploy decisions {reasons}"


def _pods(target) -> list[dict]:
    out = target.cluster.kubectl("get", "pods", "-n", target.namespace(), "-l", "app.kubernetes.io/instance=web",
                                 "-o", "json")
    return [p for p in json.loads(out.stdout)["items"] if not p["metadata"].get("deletionTimestamp")]


def _ready(pod: dict) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))


def _newest_replica_set(target) -> str:
    d = target.get("deployment", "web")
    return d["metadata"]["annotations"]["deployment.kubernetes.io/revision"]


def _pods_of_revision(target, revision: str) -> list[dict]:
    out = target.cluster.kubectl("get", "replicasets", "-n", target.namespace(), "-l",
                                 "app.kubernetes.io/instance=web", "-o", "json")
    (rs,) = [r for r in json.loads(out.stdout)["items"]
             if r["metadata"]["annotations"].get("deployment.kubernetes.io/revision") == revision]
    hash_ = rs["metadata"]["labels"]["pod-template-hash"]
    return [p for p in _pods(target) if p["metadata"]["labels"].get("pod-template-hash") == hash_]


def _container(obj: dict) -> dict:
    spec = obj["spec"]["template"]["spec"] if "template" in obj["spec"] else obj["spec"]
    return spec["containers"][0]


def test_kubernetes_day_one_and_two_in_the_browser(page, app, make_user, live_server, registries, deploy_to_cluster):
    repo = f"team/kshop-{uuid.uuid4().hex[:6]}"
    pusher = registries.pusher(registries.basic)
    first = pusher.push(repo, "v1.0", Image(content="shop v1.0"))
    target = deploy_to_cluster(app)
    sign_in(page, make_user)
    connect_registry(app, registries)

    # Create from the registry, with two variables and two ports.
    page.goto("/components/new")
    page.get_by_label("From a connected registry").select_option(label="local")
    page.get_by_label("Search repositories").press_sequentially(repo.split("/")[1][:9], delay=20)
    page.get_by_role("option", name=repo).click()
    page.get_by_label(f"Tag of {repo}").press_sequentially("v1.0", delay=20)
    page.locator("a.pick-tag[data-tag='v1.0']").click()
    page.get_by_test_id("image-details").wait_for()
    page.get_by_label("Component name").fill("web")
    page.get_by_label("Application").fill("shop")
    rows = page.locator(".env-row")
    for name, value in (("COLOR", "blue"), ("MODE", "production")):
        before = rows.count()
        page.get_by_role("button", name="Add variable").click()
        expect(rows).to_have_count(before + 1)
        rows.nth(before).get_by_label("Variable name").fill(name)
        rows.nth(before).get_by_label("Value").fill(value)
    ports = page.locator(".port-row")
    before = ports.count()
    page.get_by_role("button", name="Add port").click()
    expect(ports).to_have_count(before + 1)
    ports.nth(before).get_by_label("Container port").fill("9090")
    ports.nth(before).get_by_label("Expose").check()
    page.get_by_role("button", name="Create and deploy").click()
    expect(page.get_by_test_id("status")).to_have_text("running", timeout=60000)
    cid = int(re.search(r"/components/(\d+)", page.url).group(1))
    d = target.get("deployment", "web")
    assert d["status"]["availableReplicas"] == 1
    container = _container(d)
    assert {"name": "COLOR", "value": "blue"} in container["env"] and {"name": "MODE", "value": "production"} in \
        container["env"]
    assert {p["containerPort"] for p in container["ports"]} == {8080, 9090}  # 8080: the image's, prefilled
    assert container["image"].endswith(f"@{first}")
    names = [e["name"] for e in container["env"]]  # the image's own variables prefilled, then ours
    kept = [n for n in names if n != "MODE"]

    # Edit: remove MODE and port 9090; both leave the Deployment and the new ReplicaSet's pods.
    page.get_by_role("link", name="Edit").click()
    page.locator(".env-row").filter(has=page.locator("input[value='MODE']")).get_by_role("button").click()
    page.locator(".port-row").filter(has=page.locator("input[value='9090']")).get_by_role("button").click()
    page.get_by_role("button", name="Review changes").click()
    changes = page.get_by_test_id("changes")
    expect(changes).to_contain_text("- env MODE")
    expect(changes).to_contain_text("- port 9090/TCP")
    page.get_by_role("button", name="Save and deploy").click()
    wait_for(lambda: _running(app, cid, 2), 60)
    container = _container(target.get("deployment", "web"))
    assert [e["name"] for e in container["env"]] == kept
    assert [p["containerPort"] for p in container["ports"]] == [8080]
    revision = _newest_replica_set(target)
    new_pods = wait_for(lambda: [p for p in _pods_of_revision(target, revision) if _ready(p)], 30)
    for pod in new_pods:
        assert [e["name"] for e in _container(pod)["env"]] == kept
        assert [p["containerPort"] for p in _container(pod)["ports"]] == [8080]

    # Restart: a new ReplicaSet.
    page.goto(f"/components/{cid}")
    page.get_by_role("button", name="Restart").click()
    wait_for(lambda: _newest_replica_set(target) != revision, 30)

    # Scale 1 -> 3: three ready pods.
    page.goto(f"/components/{cid}")
    page.get_by_label("Replicas").fill("3")
    page.get_by_role("button", name="Scale").click()
    wait_for(lambda: _running(app, cid, 3), 60)
    wait_for(lambda: len([p for p in _pods(target) if _ready(p)]) == 3, 60)
    assert target.get("deployment", "web")["status"]["readyReplicas"] == 3

    # Roll back to #1: its digest and settings (MODE and port 9090 again, one replica).
    page.goto(f"/components/{cid}")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("tr[data-seq='1']").get_by_role("button", name="Roll back to #1").click()
    wait_for(lambda: _running(app, cid, 4), 60)
    d = target.get("deployment", "web")
    container = _container(d)
    assert container["image"].endswith(f"@{first}") and d["spec"]["replicas"] == 1
    assert [e["name"] for e in container["env"]] == names
    assert {p["containerPort"] for p in container["ports"]} == {8080, 9090}

    # Auto-deploy on, then a push whose pods never become ready: rolled back, paused, marked bad.
    with app.app_context():
        c = db.session.get(Component, cid)
        c.auto_deploy, c.trigger_kind, c.trigger_pattern, c.paused_reason = True, "regex", r"v.*", None
        token = c.webhook_token
        db.session.commit()
    bad = pusher.push(repo, "v2.0-never-ready", Image(content="shop v2 never ready"))
    r = requests.post(f"{live_server.url}/hooks/components/{cid}/{token}",
                      json={"repository": repo, "tag": "v2.0-never-ready"}, timeout=5)
    assert r.status_code == 202
    try:
        wait_for(lambda: _latest(app, cid).seq == 6 and _latest(app, cid).status in ("running", "failed"), 90)
    except AssertionError:
        raise AssertionError(_history(app, cid)) from None
    back = _latest(app, cid)
    assert back.trigger == "auto-rollback" and back.status == "running" and back.digest == first, back.message
    with app.app_context():
        failed = db.session.scalar(select(Release).where(Release.component_id == cid, Release.seq == 5))
        assert failed.status == "failed" and "did not finish within 10s" in failed.message, failed.message
        c = db.session.get(Component, cid)
        assert [b["digest"] for b in c.bad_digests] == [bad] and c.paused_reason
    page.goto(f"/components/{cid}")
    expect(page.get_by_test_id("paused")).to_contain_text("auto-deploy paused")
    expect(page.locator("body")).to_contain_text("is marked bad")
    assert _container(target.get("deployment", "web"))["image"].endswith(f"@{first}")
