"""Running a component day to day on real podman against the real registry: edit and redeploy with
a diff, settings restored by rollback, auto-deploy paused by rollback, logs, health checks, the
safety loop, access links and host ports, releases in order."""
from __future__ import annotations

import re
import time
import uuid

import pytest
import requests
from sqlalchemy import select

from models import Component, DeliveryOutcome, Release, db
from services.components import releases
from services.registries import images
from tests.fixtures.images import Image, cgi, chatty, crashing
from tests.helpers import create_component, create_registry, field_error, wait_for

pytestmark = [pytest.mark.podman]


@pytest.fixture
def setup(app, client, auth, registries, podman_deployer):
    """A signed-in owner of team alpha, the Basic-auth registry connected, a fresh repository."""
    auth.signed_in()
    rid, token = create_registry(app, url=registries.basic.url, name="local")
    repo = f"team/day2-{uuid.uuid4().hex[:8]}"
    return rid, token, repo, registries.pusher(registries.basic)


def newest(app, cid) -> Release:
    with app.app_context():
        return db.session.scalars(select(Release).where(Release.component_id == cid)
                                  .order_by(Release.seq.desc()).limit(1)).one()


def settled(app, cid, seq=None, timeout=90) -> Release:
    """The newest release once it ended (running or failed), optionally at least number `seq`."""
    def done():
        r = newest(app, cid)
        return r if r.status in ("running", "failed") and (seq is None or r.seq >= seq) else None
    return wait_for(done, timeout)


def container(app, deployer, cid) -> dict:
    with app.app_context():
        c = db.session.get(Component, cid)
        (found,) = deployer.inspect(images.deploy_spec(c, releases.current_release(c)))
        return found


def host_port(app, cid) -> int:
    with app.app_context():
        return db.session.get(Component, cid).ports[0]["host_port"]


def edit_form(rid, repo, tag, **overrides):
    data = {"source": "registry", "registry_id": str(rid), "image": repo, "tag": tag, "name": "web",
            "application": "shop", "replicas": "1", "memory_mb": "64", "env-0-name": "GREETING",
            "env-0-value": "hello", "ports-0-port": "8080", "ports-0-protocol": "TCP", "ports-0-expose": "y",
            "health_kind": "none"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_edit_with_diff_save_and_deploy_then_rollback_restores_image_and_settings(app, client, setup,
                                                                                podman_deployer):
    rid, _, repo, pusher = setup
    first = pusher.push(repo, "v1", Image(content="one"))
    second = pusher.push(repo, "v2", Image(content="two"))
    assert client.post("/components/new", data=edit_form(rid, repo, "v1")).status_code == 302
    cid = db_id(app, "web")
    assert settled(app, cid).status == "running"
    port = host_port(app, cid)
    assert 20000 <= port <= 29999  # assigned from BERTH_HOST_PORTS
    assert requests.get(f"http://127.0.0.1:{port}/", timeout=5).text == "one"

    # The edit page shows what changes against the running release before anything is saved.
    changed = edit_form(rid, repo, "v1", memory_mb="96", **{"env-1-name": "LOG_LEVEL", "env-1-value": "debug"})
    page = client.post(f"/components/{cid}/edit", data={**changed, "action": "review"}).get_data(as_text=True)
    assert "memory 64 → 96 MiB" in page and "+ env LOG_LEVEL" in page
    with app.app_context():
        assert db.session.get(Component, cid).memory_mb == 64  # reviewing saves nothing
    r = client.post(f"/components/{cid}/edit", data={**changed, "action": "deploy"})
    assert r.status_code == 302
    assert settled(app, cid, seq=2).status == "running"
    env = container(app, podman_deployer, cid)["Config"]["Env"]
    assert "LOG_LEVEL=debug" in env and container(app, podman_deployer, cid)["HostConfig"]["Memory"] == 96 << 20
    assert newest(app, cid).digest == first  # the image did not change: the running digest is kept

    # Edit the tag: the new image runs.
    r = client.post(f"/components/{cid}/edit", data={**changed, "tag": "v2", "action": "deploy"})
    assert r.status_code == 302
    third = settled(app, cid, seq=3)
    assert third.status == "running" and third.digest == second
    assert requests.get(f"http://127.0.0.1:{port}/", timeout=5).text == "two"

    # Roll back to release #1: its digest and its env and memory.
    with app.app_context():
        one = db.session.scalar(select(Release).where(Release.component_id == cid, Release.seq == 1))
    assert client.post(f"/components/{cid}/releases/{one.id}/rollback").status_code == 302
    back = settled(app, cid, seq=4)
    assert back.status == "running" and back.digest == first and back.trigger == "rollback"
    found = container(app, podman_deployer, cid)
    assert "LOG_LEVEL=debug" not in found["Config"]["Env"] and found["HostConfig"]["Memory"] == 64 << 20
    assert requests.get(f"http://127.0.0.1:{port}/", timeout=5).text == "one"
    with app.app_context():
        c = db.session.get(Component, cid)
        assert (c.memory_mb, c.tag, c.env) == (64, "v1", [["GREETING", "hello"]])


def db_id(app, name):
    with app.app_context():
        return db.session.scalar(select(Component.id).where(Component.name == name))


def test_rollback_pauses_auto_deploy_and_resume_deploys_the_newest(app, client, live_server, setup):
    rid, token, repo, pusher = setup
    pusher.push(repo, "v5.1", Image(content="5.1"))
    cid = create_component(app, rid, repo, "v5.1", "web", expose=True, auto_deploy=True, trigger_kind="regex",
                           trigger_pattern=r"v5\..*")
    assert settled(app, cid).status == "running"
    pusher.push(repo, "v5.2", Image(content="5.2"))
    hook = f"{live_server.url}/hooks/components/{cid}/{component_token(app, cid)}"
    generic = {"repository": repo, "tag": "v5.2"}
    assert requests.post(hook, json=generic, timeout=5).status_code == 202
    assert wait_for(lambda: newest(app, cid).tag == "v5.2" and settled(app, cid, seq=2)).status == "running"

    with app.app_context():
        one = db.session.scalar(select(Release).where(Release.component_id == cid, Release.seq == 1))
    assert client.post(f"/components/{cid}/releases/{one.id}/rollback").status_code == 302
    assert settled(app, cid, seq=3).tag == "v5.1"
    page = client.get(f"/components/{cid}").get_data(as_text=True)
    assert "Auto-deploy paused since rollback #3 to v5.1" in page and "Resume auto-deploy" in page

    pusher.push(repo, "v5.3", Image(content="5.3"))
    assert requests.post(hook, json={"repository": repo, "tag": "v5.3"}, timeout=5).status_code == 202
    reason = wait_for(lambda: outcome_of(app, cid, "v5.3"))
    assert reason.startswith("auto-deploy paused")
    assert newest(app, cid).seq == 3

    assert client.post(f"/components/{cid}/resume").status_code == 302
    resumed = settled(app, cid, seq=4)
    assert resumed.status == "running" and resumed.tag == "v5.3"


def component_token(app, cid):
    with app.app_context():
        return db.session.get(Component, cid).webhook_token


def outcome_of(app, cid, tag):
    with app.app_context():
        o = db.session.scalars(select(DeliveryOutcome).where(DeliveryOutcome.component_id == cid,
                                                             DeliveryOutcome.tag == tag)
                               .order_by(DeliveryOutcome.id.desc())).first()
        return o.reason if o is not None else None


def test_logs_tab_shows_lines_and_follow_sees_new_ones(app, client, setup):
    rid, _, repo, pusher = setup
    pusher.push(repo, "v1", Image(cmd=chatty("tick")))
    cid = create_component(app, rid, repo, "v1", "chatty")
    assert settled(app, cid).status == "running"
    wait_for(lambda: "tick 2" in client.get(f"/components/{cid}/logs").get_data(as_text=True), 20)
    page = client.get(f"/components/{cid}/logs?tail=200").get_data(as_text=True)
    assert "started" in page and "tick 1" in page
    # Following: the fragment polls itself and shows lines printed after the page opened.
    followed = client.get(f"/components/{cid}/logs?follow=1").get_data(as_text=True)
    assert 'hx-trigger="every 2s"' in followed
    seen = max(int(n) for n in re.findall(r"tick (\d+)", followed))

    def refreshed():
        text = client.get(f"/components/{cid}/logs?tail=200&until=9999999999",
                          headers={"HX-Request": "true"}).get_data(as_text=True)
        return text if f"tick {seen + 2}" in text else None
    fragment = wait_for(refreshed, 20)
    assert "<html" not in fragment and 'id="log-streams"' in fragment
    # The newest line is at the bottom.
    assert fragment.index(f"tick {seen + 2}") > fragment.index(f"tick {seen}")
    download = client.get(f"/components/{cid}/logs/download")
    assert download.headers["Content-Disposition"].startswith("attachment") and "tick 1" in download.get_data(
        as_text=True)


def test_crashing_container_fails_with_exit_code_and_last_lines(app, client, setup):
    rid, _, repo, pusher = setup
    pusher.push(repo, "v1", Image(cmd=crashing(3)))
    cid = create_component(app, rid, repo, "v1", "crashy")
    release = settled(app, cid)
    assert release.status == "failed" and "exited with code 3" in release.message
    assert "fatal: CONFIG_PATH is not set" in release.log_tail
    page = client.get(f"/components/{cid}").get_data(as_text=True)
    assert "exited with code 3" in page and "fatal: CONFIG_PATH is not set" in page


def test_http_health_check_fails_on_500_and_passes_on_200(app, client, setup):
    rid, _, repo, pusher = setup
    pusher.push(repo, "v1", Image(scripts={"cgi-bin/health": cgi("500 Internal Server Error", "down")}))
    form = edit_form(rid, repo, "v1", name="probed", health_kind="http", health_port="8080",
                     health_path="/cgi-bin/health", health_period="1", health_failure_threshold="2")
    assert client.post("/components/new", data=form).status_code == 302
    cid = db_id(app, "probed")
    release = settled(app, cid)
    assert release.status == "failed"
    assert "health check failed 2 times in a row: HTTP 500 on /cgi-bin/health" in release.message

    pusher.push(repo, "v2", Image(scripts={"cgi-bin/health": cgi("200 OK", "fine")}))
    assert client.post(f"/components/{cid}/edit", data={**form, "tag": "v2", "action": "deploy"}).status_code == 302
    release = settled(app, cid, seq=2)
    assert release.status == "running" and "HTTP 200 on /cgi-bin/health" in release.message


def test_safety_loop_rolls_back_a_failing_push_and_marks_its_digest_bad(app, client, live_server, setup):
    rid, _, repo, pusher = setup
    healthy = {"cgi-bin/health": cgi("200 OK", "fine")}
    good = pusher.push(repo, "v5.2", Image(content="good", scripts=healthy))
    cid = create_component(app, rid, repo, "v5.2", "web", expose=True, auto_deploy=True, trigger_kind="regex",
                           trigger_pattern=r"v5\..*", health={"kind": "http", "port": 8080,
                                                              "path": "/cgi-bin/health", "initial_delay": 0,
                                                              "period": 1, "failure_threshold": 2})
    assert settled(app, cid).status == "running"
    port = host_port(app, cid)
    bad = pusher.push(repo, "v5.3", Image(content="bad", scripts={"cgi-bin/health": cgi("500 Oops", "x")}))
    hook = f"{live_server.url}/hooks/components/{cid}/{component_token(app, cid)}"
    assert requests.post(hook, json={"repository": repo, "tag": "v5.3"}, timeout=5).status_code == 202

    back = settled(app, cid, seq=3)
    assert back.trigger == "auto-rollback" and back.status == "running" and back.digest == good
    assert requests.get(f"http://127.0.0.1:{port}/", timeout=5).text == "good"
    with app.app_context():
        c = db.session.get(Component, cid)
        failed = db.session.scalar(select(Release).where(Release.component_id == cid, Release.seq == 2))
        assert failed.status == "failed" and "rolled back automatically to release #1 (v5.2)" in failed.message
        assert [b["digest"] for b in c.bad_digests] == [bad]
        assert c.paused_reason.startswith("v5.3 failed") and "auto-deploy paused" in c.paused_reason
    page = client.get(f"/components/{cid}").get_data(as_text=True)
    assert "is marked bad" in page and "rolled back to v5.2" in page

    # Resumed, the same bad image pushed under another matching tag is still refused.
    with app.app_context():
        db.session.get(Component, cid).paused_reason = None
        db.session.commit()
    pusher.push(repo, "v5.4", Image(content="bad", scripts={"cgi-bin/health": cgi("500 Oops", "x")}))
    assert requests.post(hook, json={"repository": repo, "tag": "v5.4"}, timeout=5).status_code == 202
    reason = wait_for(lambda: outcome_of(app, cid, "v5.4"))
    assert "is marked bad" in reason
    assert newest(app, cid).seq == 3


def test_host_port_clash_is_a_field_error_naming_the_holder(app, client, setup):
    rid, _, repo, pusher = setup
    pusher.push(repo, "v1", Image(content="one"))
    assert client.post("/components/new", data=edit_form(rid, repo, "v1", name="first")).status_code == 302
    first = db_id(app, "first")
    port = host_port(app, first)
    assert settled(app, first).status == "running"
    r = client.post("/components/new", data=edit_form(rid, repo, "v1", name="second",
                                                      **{"ports-0-host_port": str(port)}))
    assert r.status_code == 422
    assert field_error(r.get_data(as_text=True), "ports-0-host_port") == \
        f"Host port {port} is already used by component first."
    assert db_id(app, "second") is None
    # The link on the page answers.
    page = client.get(f"/components/{first}").get_data(as_text=True)
    assert f'href="http://127.0.0.1:{port}/"' in page
    assert requests.get(f"http://127.0.0.1:{port}/", timeout=5).text == "one"


def test_edit_bad_input_shows_field_errors_and_saves_nothing(app, client, setup):
    rid, _, repo, pusher = setup
    pusher.push(repo, "v1", Image(content="one"))
    assert client.post("/components/new", data=edit_form(rid, repo, "v1", name="holder")).status_code == 302
    holder_port = host_port(app, db_id(app, "holder"))
    assert settled(app, db_id(app, "holder")).status == "running"
    cid = create_component(app, rid, repo, "v1", "web", release=False, memory_mb=64)
    bad = edit_form(rid, repo, "v1", memory_mb="2", replicas="3", health_kind="http", health_port="9999",
                    health_path="no-slash", health_period="0",
                    **{"env-0-name": "1BAD", "ports-0-host_port": str(holder_port), "action": "deploy"})
    r = client.post(f"/components/{cid}/edit", data=bad)
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert "Use a memory limit from 4 MiB" in field_error(html, "memory_mb")
    assert "Use 1 to 3600 seconds." in field_error(html, "health_period")
    r = client.post(f"/components/{cid}/edit", data={**bad, "memory_mb": "64", "health_period": "5"})
    html = r.get_data(as_text=True)
    assert r.status_code == 422
    assert "podman" in field_error(html, "replicas")
    assert "Port 9999 is not one of the component" in field_error(html, "health_port")
    assert "path starting with /" in field_error(html, "health_path")
    assert "Use letters, digits and _" in field_error(html, "env-0-name")
    assert "already used by component holder" in field_error(html, "ports-0-host_port")
    with app.app_context():
        c = db.session.get(Component, cid)
        assert (c.memory_mb, c.replicas, c.health, c.release_seq) == (64, 1, None, 0)


def test_start_restart_scale_and_buttons_that_apply(app, client, setup, podman_deployer):
    rid, _, repo, pusher = setup
    pusher.push(repo, "v1", Image(content="one"))
    cid = create_component(app, rid, repo, "v1", "web", expose=True)
    assert settled(app, cid).status == "running"
    page = client.get(f"/components/{cid}").get_data(as_text=True)
    assert ">Stop<" in page and ">Restart<" in page and ">Start<" not in page
    started_at = container(app, podman_deployer, cid)["State"]["StartedAt"]
    assert client.post(f"/components/{cid}/restart").status_code == 302
    wait_for(lambda: container(app, podman_deployer, cid)["State"]["StartedAt"] != started_at, 30)

    r = client.post(f"/components/{cid}/scale", data={"replicas": "2"})
    assert r.status_code == 422 and "one replica" in field_error(r.get_data(as_text=True), "replicas")

    assert client.post(f"/components/{cid}/stop").status_code == 302
    page = client.get(f"/components/{cid}").get_data(as_text=True)
    assert ">Start<" in page and ">Stop<" not in page and ">Restart<" not in page
    assert client.post(f"/components/{cid}/start").status_code == 302
    release = settled(app, cid, seq=2)
    assert release.status == "running" and release.trigger == "start"
    assert requests.get(f"http://127.0.0.1:{host_port(app, cid)}/", timeout=5).text == "one"


def test_overlapping_releases_end_with_the_database_agreeing_with_the_runtime(app, client, live_server, setup,
                                                                               podman_deployer):
    """v1.1 becomes healthy only after 4 s; v1.2 at once. Pushed 0.5 s apart, the newer release
    replaces the slower one's rollout: the running release recorded is what podman runs."""
    rid, _, repo, pusher = setup
    ready = ["/bin/busybox", "sh", "-c", "(sleep {delay}; touch /www/ready) & /bin/busybox httpd -f -p 8080 -h /www"]
    probe = cgi("200 OK", "ok").replace("echo 'Status: 200 OK'",
                                         "[ -f /www/ready ] && echo 'Status: 200 OK' || echo 'Status: 503 Wait'")
    pusher.push(repo, "v1.0", Image(content="1.0", scripts={"cgi-bin/ready": probe},
                                    cmd=[*ready[:3], ready[3].format(delay=0)]))
    cid = create_component(app, rid, repo, "v1.0", "web", expose=True, auto_deploy=True, trigger_kind="semver",
                           trigger_pattern="^1", health={"kind": "http", "port": 8080, "path": "/cgi-bin/ready",
                                                         "initial_delay": 0, "period": 1, "failure_threshold": 20})
    assert settled(app, cid).status == "running"
    pusher.push(repo, "v1.1", Image(content="1.1", scripts={"cgi-bin/ready": probe},
                                    cmd=[*ready[:3], ready[3].format(delay=4)]))
    pusher.push(repo, "v1.2", Image(content="1.2", scripts={"cgi-bin/ready": probe},
                                    cmd=[*ready[:3], ready[3].format(delay=0)]))
    hook = f"{live_server.url}/hooks/components/{cid}/{component_token(app, cid)}"
    assert requests.post(hook, json={"repository": repo, "tag": "v1.1"}, timeout=5).status_code == 202
    wait_for(lambda: newest(app, cid).status == "deploying" and newest(app, cid).tag == "v1.1", 30, 0.05)
    time.sleep(0.5)
    assert requests.post(hook, json={"repository": repo, "tag": "v1.2"}, timeout=5).status_code == 202
    final = wait_for(lambda: (lambda r: r if r.tag == "v1.2" and r.status in ("running", "failed") else None)(
        newest(app, cid)), 90)
    assert final.status == "running", final.message
    time.sleep(5)  # past the moment v1.1 would have become healthy
    with app.app_context():
        c = db.session.get(Component, cid)
        running = db.session.scalars(select(Release).where(Release.component_id == cid,
                                                           Release.status == "running")).all()
        assert [r.tag for r in running] == ["v1.2"] and c.tag == "v1.2"
        slow = db.session.scalar(select(Release).where(Release.component_id == cid, Release.tag == "v1.1"))
        assert slow.status == "cancelled" and "replaced it during its rollout" in slow.message
    assert container(app, podman_deployer, cid)["ImageName"].endswith(final.digest)
    assert requests.get(f"http://127.0.0.1:{host_port(app, cid)}/", timeout=5).text == "1.2"
