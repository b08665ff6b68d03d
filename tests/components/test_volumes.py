"""Volumes: named persistent data that outlives releases, edits, rollbacks and (unless asked) the
component; on real podman, and the rules a save checks."""
from __future__ import annotations

import subprocess
import uuid

import pytest
import requests
from sqlalchemy import select

from models import Application, Component, Volume, db
from services.components import volumes
from tests.components.test_create_and_deploy import component_form, component_id_of, release_of, wait_release
from tests.fixtures import slots
from tests.fixtures.images import Image
from tests.fixtures.registry import free_port
from tests.helpers import field_error, wait_for

# Keeps the first MARK it saw in the volume, counts its starts there, and serves both.
SCRIPT = ('[ -f /data/marker ] || echo "$MARK" > /data/marker; echo start >> /data/starts; '
          "/bin/busybox mkdir -p /tmp/www; "
          "{ /bin/busybox cat /data/marker; /bin/busybox wc -l < /data/starts; } > /tmp/www/index.html; "
          "exec /bin/busybox httpd -f -p 8080 -h /tmp/www")


def volume_rows(app) -> dict[str, int]:
    with app.app_context():
        return {v.name: v.application_id for v in db.session.scalars(select(Volume))}


def podman_volume_exists(name: str) -> bool:
    return subprocess.run(["podman", "volume", "exists", name], capture_output=True).returncode == 0


def volume_form(registry_id, repo, host_port, **overrides):
    return component_form(registry_id, image=repo, tag="v1", **{
        "env-0-name": "MARK", "env-0-value": "one", "env-1-name": None, "env-1-value": None,
        "ports-0-host_port": str(host_port), "volumes-0-name": "db-data", "volumes-0-path": "/data",
        "volumes-0-size_mb": "64", **overrides})


@pytest.mark.podman
def test_a_volume_keeps_its_data_through_redeploy_edit_rollback_and_delete(client, app, registry_id, registries,
                                                                          podman_deployer):
    repo = f"team/vol-{uuid.uuid4().hex[:8]}"
    registries.pusher(registries.basic).push(repo, "v1", Image(cmd=["/bin/busybox", "sh", "-c", SCRIPT]))
    host_port = free_port()
    form = volume_form(registry_id, repo, host_port)
    assert client.post("/components/new", data=form).status_code == 302
    cid = component_id_of(app)
    first = wait_release(app, cid)
    assert first.status == "running", first.message
    url = f"http://127.0.0.1:{host_port}/"
    assert requests.get(url, timeout=5).text == "one\n1\n"
    named = f"{slots.pod_prefix()}berth-alpha-db-data"
    assert podman_volume_exists(named)
    page = client.get(f"/components/{cid}").get_data(as_text=True)
    assert "db-data</code> at <code>/data" in page and "data stays in the named volume" in page

    client.post(f"/components/{cid}/redeploy", data={})
    wait_for(lambda: release_of(app, cid).seq == 2 and release_of(app, cid).status == "running", 60)
    assert requests.get(url, timeout=5).text == "one\n2\n"

    r = client.post(f"/components/{cid}/edit", data={**form, "env-0-value": "two", "action": "review"})
    assert "~ env MARK (new value)" in r.get_data(as_text=True)
    client.post(f"/components/{cid}/edit", data={**form, "env-0-value": "two", "action": "deploy"})
    wait_for(lambda: release_of(app, cid).seq == 3 and release_of(app, cid).status == "running", 60)
    assert requests.get(url, timeout=5).text == "one\n3\n"  # the marker written by the first release

    client.post(f"/components/{cid}/releases/{first.id}/rollback", data={})
    wait_for(lambda: release_of(app, cid).seq == 4 and release_of(app, cid).status == "running", 60)
    assert requests.get(url, timeout=5).text == "one\n4\n"

    client.post(f"/components/{cid}/delete", data={})  # the default keeps the data
    assert component_id_of(app) is None and podman_volume_exists(named)
    with app.app_context():
        application = db.session.scalar(select(Application).where(Application.name == "shop"))
        assert [(v.name, users) for v, users in volumes.of_application(application)] == [("db-data", [])]

    # A new component of the application mounting the volume by name finds the data.
    assert client.post("/components/new", data={**form, "name": "web2"}).status_code == 302
    cid = component_id_of(app, "web2")
    assert wait_release(app, cid).status == "running"
    assert requests.get(url, timeout=5).text == "one\n5\n"
    page = client.get(f"/components/{cid}").get_data(as_text=True)
    assert "Also delete its data (volumes db-data)" in page
    client.post(f"/components/{cid}/delete", data={"delete_data": "y"})
    assert not podman_volume_exists(named) and volume_rows(app) == {}


def test_two_components_of_an_application_share_a_volume_on_podman(client, app, registry_id, registries,
                                                                    make_component, podman_deployer):
    """podman's named volumes may be mounted by several containers; a volume stays within its
    application."""
    repo = f"team/share-{uuid.uuid4().hex[:8]}"
    registries.pusher(registries.basic).push(repo, "v1", Image())
    make_component(registry_id, name="db", release=False,
                   volumes=[{"name": "shared", "path": "/data", "size_mb": 1024, "read_only": False}])
    with app.app_context():
        volumes.record(db.session.scalar(select(Component).where(Component.name == "db")))
        db.session.commit()
    form = component_form(registry_id, image=repo, tag="v1", **{"volumes-0-name": "shared", "volumes-0-path": "/srv",
                                                                 "volumes-0-read_only": "y"})
    r = client.post("/components/new", data={**form, "application": "blog"})
    assert r.status_code == 422
    assert "holds data of application shop" in field_error(r.get_data(as_text=True), "volumes-0-name")
    assert client.post("/components/new", data=form).status_code == 302
    with app.app_context():
        users = volumes.mounted_by(db.session.scalar(select(Component.team_id).limit(1)))
        assert sorted(c.name for c in users["shared"]) == ["db", "web"]
    # web runs with the volume db keeps mounted read-only (and no release is left running past the test)
    web = wait_release(app, component_id_of(app, "web"))
    assert web.status == "running", web.message


@pytest.mark.parametrize(("fields", "key", "words"), [
    ({"volumes-0-name": "/srv/data", "volumes-0-path": "/data"}, "volumes-0-name", "Host bind mounts are refused"),
    ({"volumes-0-name": "./data", "volumes-0-path": "/data"}, "volumes-0-name", "Host bind mounts are refused"),
    ({"volumes-0-name": "Data_1", "volumes-0-path": "/data"}, "volumes-0-name", "lowercase letters"),
    ({"volumes-0-name": "data", "volumes-0-path": "data"}, "volumes-0-path", "absolute path"),
    ({"volumes-0-name": "data", "volumes-0-path": "/srv/../etc"}, "volumes-0-path", "Write the path plainly"),
    ({"volumes-0-name": "data", "volumes-0-path": "/proc/x"}, "volumes-0-path", "belongs to the container"),
    ({"volumes-0-name": "data", "volumes-0-path": "/data", "volumes-1-name": "data", "volumes-1-path": "/more"},
     "volumes-1-name", "mounted twice"),
    ({"volumes-0-name": "a", "volumes-0-path": "/data", "volumes-1-name": "b", "volumes-1-path": "/data"},
     "volumes-1-path", "Two volumes are mounted at /data"),
    ({"volumes-0-name": "data", "volumes-0-path": "/data", "volumes-0-size_mb": "0"}, "volumes-0-size_mb", "1 to"),
])
def test_volume_input_that_cannot_be_used_is_a_field_error(client, app, registry_id, fields, key, words):
    r = client.post("/components/new", data=component_form(registry_id, **fields))
    assert r.status_code == 422
    assert words in field_error(r.get_data(as_text=True), key)
    assert component_id_of(app) is None and volume_rows(app) == {}


def test_on_kubernetes_a_volume_serves_one_component(client, app, registry_id, registries, cluster,
                                                     deploy_to_cluster):
    """ReadWriteOnce: the second component naming the volume gets a field error, and its size can
    not change afterwards either."""
    deploy_to_cluster(app)
    repo = f"team/kv-{uuid.uuid4().hex[:8]}"
    registries.pusher(registries.basic).push(repo, "v1", Image())
    form = component_form(registry_id, image=repo, tag="v1", **{"volumes-0-name": "data", "volumes-0-path": "/data",
                                                                 "volumes-0-size_mb": "100"})
    assert client.post("/components/new", data=form).status_code == 302
    assert volume_rows(app).keys() == {"data"}
    r = client.post("/components/new", data={**form, "name": "web2"})
    assert r.status_code == 422
    assert "mounted by component web" in field_error(r.get_data(as_text=True), "volumes-0-name")
    cid = component_id_of(app)
    r = client.post(f"/components/{cid}/edit", data={**form, "volumes-0-size_mb": "200", "action": "save"})
    assert "is 100 MiB" in field_error(r.get_data(as_text=True), "volumes-0-name")
    page = client.get(f"/components/{cid}").get_data(as_text=True)
    assert "(100 MiB)" in page and "Recreate" in page
