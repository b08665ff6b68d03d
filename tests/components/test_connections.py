"""Connections: a component depends on others of its application, is told where they answer
(<NAME>_HOST, <NAME>_PORT) and its first release waits until they run; on real podman (pods find
each other by name on the team's network) and on the real control plane (Service names)."""
from __future__ import annotations

import json
import uuid

import pytest
import requests
from sqlalchemy import select

from models import Component, db
from tests.components.test_create_and_deploy import component_form, component_id_of, release_of, wait_release
from tests.fixtures.images import Image
from tests.fixtures.slots import chosen_host_port
from tests.helpers import field_error, wait_for

# Fetches what its dependency serves, at the address Berth gave it, and serves that.
WEB = ("/bin/busybox mkdir -p /tmp/www; i=0; while [ $i -lt 30 ]; do "
       "/bin/busybox wget -qO /tmp/www/index.html http://$DB_HOST:$DB_PORT/ && break; "
       "i=$((i+1)); /bin/busybox sleep 1; done; echo \" via $DB_HOST:$DB_PORT\" >> /tmp/www/index.html; "
       "exec /bin/busybox httpd -f -p 8080 -h /tmp/www")


def depends(app, name="web"):
    with app.app_context():
        return db.session.scalar(select(Component.depends_on).where(Component.name == name))


@pytest.mark.podman
def test_web_reaches_db_by_the_injected_host_and_port_after_waiting_for_it(client, app, registry_id, registries,
                                                                          podman_deployer):
    repo = f"team/conn-{uuid.uuid4().hex[:8]}"
    pusher = registries.pusher(registries.basic)
    pusher.push(repo, "db", Image(content="rows from db"))
    pusher.push(repo, "web", Image(cmd=["/bin/busybox", "sh", "-c", WEB]))
    db_port = chosen_host_port()
    assert client.post("/components/new", data=component_form(
        registry_id, image=repo, tag="db", name="db", **{"ports-0-host_port": str(db_port)})).status_code == 302
    db_id = component_id_of(app, "db")
    web_port = chosen_host_port()
    # Created while db's first release may still run: web's waits for it.
    r = client.post("/components/new", data=component_form(
        registry_id, image=repo, tag="web", name="web", depends_on=str(db_id), **{"ports-0-host_port": str(web_port)}))
    assert r.status_code == 302, field_error(r.get_data(as_text=True), "depends_on")
    web_id = component_id_of(app, "web")
    assert wait_release(app, web_id).status == "running", release_of(app, web_id).message
    assert release_of(app, db_id).status == "running"
    with app.app_context():
        assert release_of(app, web_id).started_at >= release_of(app, db_id).created_at
    text = requests.get(f"http://127.0.0.1:{web_port}/", timeout=5).text
    host = podman_deployer.address_of("berth-alpha", "db")
    assert text == f"rows from db via {host}:8080\n"
    page = client.get(f"/components/{web_id}/edit").get_data(as_text=True)
    assert f'<option selected value="{db_id}">db (shop)</option>' in page

    client.post(f"/components/{db_id}/delete", data={})
    assert depends(app) == []


def test_a_cycle_another_application_or_no_exposed_port_is_a_field_error(client, app, registry_id, make_component):
    db_id = make_component(registry_id, name="db", release=False,
                           ports=[{"port": 5432, "protocol": "TCP", "expose": True}])
    web_id = make_component(registry_id, name="web", release=False, depends_on=[db_id],
                            ports=[{"port": 8080, "protocol": "TCP", "expose": True}])
    quiet = make_component(registry_id, name="quiet", release=False)
    form = component_form(registry_id, name="db", tag="v1", create_anyway="y", depends_on=str(web_id),
                          **{"ports-0-port": "5432"})
    r = client.post(f"/components/{db_id}/edit", data={**form, "action": "review"})
    assert "That makes a cycle: db → web → db" in field_error(r.get_data(as_text=True), "depends_on")
    r = client.post(f"/components/{db_id}/edit", data={**form, "application": "blog", "action": "review"})
    assert "web belongs to application shop" in field_error(r.get_data(as_text=True), "depends_on")
    r = client.post(f"/components/{db_id}/edit", data={**form, "depends_on": str(quiet), "action": "review"})
    assert "quiet exposes no port" in field_error(r.get_data(as_text=True), "depends_on")
    r = client.post(f"/components/{db_id}/edit", data={**form, "depends_on": str(db_id), "action": "review"})
    assert "cannot depend on itself" in field_error(r.get_data(as_text=True), "depends_on")
    assert depends(app, "db") is None


def test_on_kubernetes_the_dependency_is_its_service_name(client, app, registry_id, registries, cluster,
                                                          deploy_to_cluster):
    target = deploy_to_cluster(app)
    repo = f"team/kc-{uuid.uuid4().hex[:8]}"
    registries.pusher(registries.basic).push(repo, "v1", Image())
    assert client.post("/components/new", data=component_form(
        registry_id, image=repo, tag="v1", name="db", **{"ports-0-port": "5432"})).status_code == 302
    db_id = component_id_of(app, "db")
    assert client.post("/components/new", data=component_form(
        registry_id, image=repo, tag="v1", name="web", depends_on=str(db_id),
        **{"env-0-name": "DB_PORT_5432", "env-0-value": "set by hand"})).status_code == 302
    assert wait_release(app, component_id_of(app, "web")).status == "running"
    deployment = json.loads(cluster.kubectl("get", "deployment", "web", "-n", target.namespace(), "-o",
                                            "json").stdout)
    env = {e["name"]: e["value"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["DB_HOST"] == "db" and env["DB_PORT"] == "5432" and env["DB_PORT_5432"] == "set by hand"
    service = json.loads(cluster.kubectl("get", "service", "db", "-n", target.namespace(), "-o", "json").stdout)
    assert [p["port"] for p in service["spec"]["ports"]] == [5432]
    page = client.get(f"/components/{component_id_of(app, 'web')}").get_data(as_text=True)
    assert ">db</a> (<code>DB_HOST</code>, <code>DB_PORT</code>)" in page


def test_a_first_release_does_not_start_beside_a_dependency_that_failed_or_waits(app, registry_id, registries,
                                                                                 make_component):
    """Deploying is off here, so db's release fails: web's first release fails saying so instead of
    starting; with db's release still pending, web's waits and gives up at its timeout."""
    from models import Release, ReleaseStatus
    from services.components import releases

    with app.app_context():  # release_of's rows are read after its own context
        repo = f"team/dep-{uuid.uuid4().hex[:8]}"  # the registry is shared: never add tags to team/demo
        registries.pusher(registries.basic).push(repo, "v1", Image())
        db_id = make_component(registry_id, repo, "v1", name="db", expose=True)
        wait_for(lambda: release_of(app, db_id).status == "failed", 30)
        web_id = make_component(registry_id, name="web", release=False, depends_on=[db_id],
                                ports=[{"port": 8080, "protocol": "TCP", "expose": True}])
        component = db.session.get(Component, web_id)
        first_id = releases.queue_release(component, "manual", "test", tag="v1", digest="sha256:" + "a" * 64).id
        db.session.commit()
        releases.run(first_id, rollout_timeout=5, poll=0.05)
        assert "db, which web depends on, is not running: Deploying is disabled" in release_of(app, web_id).message
        db.session.add(Release(team_id=db.session.get(Component, db_id).team_id, component_id=db_id, seq=9,
                               tag="v1", trigger="manual", triggered_by="test", status=ReleaseStatus.PENDING))
        again_id = releases.queue_release(db.session.get(Component, web_id), "manual", "test", tag="v1",
                                          digest="sha256:" + "a" * 64).id
        db.session.commit()
        releases.run(again_id, rollout_timeout=0.5, poll=0.05)
        assert release_of(app, web_id).message == "db did not run within 0.5s, so web was not started."
