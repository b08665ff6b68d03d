"""A compose file imported as an application and run on real podman from the real registry: db keeps
a marker in its volume through a redeploy and a rollback, web waits for db's health check and
answers with what it read from db at the host and port Berth gave it; the import is all or nothing."""
from __future__ import annotations

import uuid

import pytest
import requests
from sqlalchemy import func, select

from models import Application, Component, Volume, db
from tests.components.test_create_and_deploy import component_id_of, release_of, wait_release
from tests.fixtures.images import Image
from tests.fixtures.slots import chosen_host_port
from tests.helpers import field_error, wait_for

DB = ("/bin/busybox mkdir -p /tmp/www; "
      "[ -f /data/marker ] || { echo \"marker $(/bin/busybox cat /etc/db.conf) "
      "$(/bin/busybox cat /proc/sys/kernel/random/uuid)\" > /data/marker; }; "
      "/bin/busybox cp /data/marker /tmp/www/index.html; exec /bin/busybox httpd -f -p 8080 -h /tmp/www")
WEB = ("/bin/busybox mkdir -p /tmp/www; "
       "/bin/busybox wget -qO /tmp/www/index.html http://$DB_HOST:$DB_PORT/ || echo unreachable > /tmp/www/index.html; "
       "exec /bin/busybox httpd -f -p 8080 -h /tmp/www")

COMPOSE = """
name: shop
services:
  db:
    image: {host}/{repo}:db
    volumes: [db-data:/data]
    configs:
      - source: db-conf
        target: /etc/db.conf
    healthcheck:
      test: ["CMD", "wget", "-qO-", "http://localhost:8080/"]
      interval: 1s
      retries: 3
    expose: ["8080"]
  web:
    image: {host}/{repo}:${{WEB_TAG:-web}}
    depends_on:
      db: {{condition: service_healthy}}
    environment:
      DB_HOST: db
      DB_PORT: "8080"
    ports: ["{web_port}:8080"]
    x-note: kept for people
configs:
  db-conf:
    content: level=1
volumes:
  db-data: {{}}
x-owner: platform team
"""


def _compose(registries, web_port: int) -> str:
    repo = f"team/compose-{uuid.uuid4().hex[:8]}"
    pusher = registries.pusher(registries.basic)
    pusher.push(repo, "db", Image(cmd=["/bin/busybox", "sh", "-c", DB]))
    pusher.push(repo, "web", Image(cmd=["/bin/busybox", "sh", "-c", WEB]))
    return COMPOSE.format(host=registries.basic.host, repo=repo, web_port=web_port)


def _counts(app):
    with app.app_context():
        return [db.session.scalar(select(func.count()).select_from(m)) for m in (Component, Volume)]


@pytest.mark.podman
def test_a_compose_application_runs_with_its_volume_config_health_check_and_connection(
        client, app, registry_id, registries, podman_deployer):
    web_port = chosen_host_port()
    text = _compose(registries, web_port)
    form = {"compose": text, "env_file": "", "profiles": "", "application": "shop"}
    r = client.post("/applications/import", data={**form, "action": "read"})
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and _counts(app) == [0, 0]
    for key, fate in [("name", "mapped"), ("x-owner", "dropped"), ("services.db.volumes[0]", "mapped"),
                      ("services.db.configs[0]", "mapped"), ("services.db.healthcheck", "changed"),
                      ("services.web.depends_on.db", "mapped"), ("services.web.environment.DB_HOST", "changed"),
                      ("services.web.environment.DB_PORT", "mapped"), ("services.web.x-note", "dropped"),
                      ("services.web.ports[0]", "mapped")]:
        assert f'data-key="{key}" data-fate="{fate}"' in page, key

    r = client.post("/applications/import", data={**form, "action": "import"})
    assert r.status_code == 302, r.get_data(as_text=True)
    db_id, web_id = component_id_of(app, "db"), component_id_of(app, "web")
    for cid in (db_id, web_id):
        assert wait_release(app, cid, 120).status == "running", release_of(app, cid).message
    marker = requests.get(f"http://127.0.0.1:{web_port}/", timeout=5).text
    assert marker.startswith("marker level=1 ") and len(marker) > 40  # unique to db's first run

    first = release_of(app, db_id)
    client.post(f"/components/{db_id}/redeploy", data={})
    wait_for(lambda: release_of(app, db_id).seq == 2 and release_of(app, db_id).status == "running", 90)
    client.post(f"/components/{db_id}/releases/{first.id}/rollback", data={})
    wait_for(lambda: release_of(app, db_id).seq == 3 and release_of(app, db_id).status == "running", 90)
    client.post(f"/components/{web_id}/redeploy", data={})  # web reads db again: the marker the first run wrote
    wait_for(lambda: release_of(app, web_id).seq == 2 and release_of(app, web_id).status == "running", 90)
    assert requests.get(f"http://127.0.0.1:{web_port}/", timeout=5).text == marker
    with app.app_context():
        assert db.session.scalar(select(Application.name).where(Application.id == db.session.get(
            Component, web_id).application_id)) == "shop"


def test_an_import_that_cannot_create_every_service_creates_none(client, app, registry_id, registries):
    text = _compose(registries, chosen_host_port()).replace(":${WEB_TAG:-web}", ":${WEB_TAG:-missing}")
    r = client.post("/applications/import", data={"compose": text, "application": "shop", "action": "import"})
    assert r.status_code == 422
    assert "services.web.tag" in r.get_data(as_text=True) and "does not exist in the registry" in r.get_data(
        as_text=True)
    assert _counts(app) == [0, 0]


@pytest.mark.parametrize(("text", "words"), [
    ("services:\n  a: {image: x, depends_on: [b]}\n  b: {image: y, depends_on: [a]}\n", "A cycle: a → b → a"),
    ("services:\n  a: {build: .}\n", "A service without an image cannot be imported"),
    ("services:\n  a: {image: x, configs: [nope]}\n", "No top-level configs entry named nope"),
])
def test_compose_files_that_cannot_be_imported_say_why(client, app, auth, text, words):
    auth.signed_in()
    r = client.post("/applications/import", data={"compose": text, "application": "shop", "action": "import"})
    assert r.status_code == 422 and words in r.get_data(as_text=True)
    assert _counts(app) == [0, 0]


@pytest.mark.podman
def test_clashes_and_limits_found_while_creating_stop_the_whole_import(client, app, registry_id, registries,
                                                                       make_component, podman_deployer):
    """A host port two services ask for, a volume another application keeps, a config file over the
    size limit: each a message on its service's key, and nothing created."""
    from services.components import volumes

    repo = f"team/clash-{uuid.uuid4().hex[:8]}"
    registries.pusher(registries.basic).push(repo, "v1", Image())
    image = f"{registries.basic.host}/{repo}:v1"
    make_component(registry_id, name="other", release=False,
                   volumes=[{"name": "kept", "path": "/data", "size_mb": 1024, "read_only": False}])
    with app.app_context():
        volumes.record(db.session.scalar(select(Component).where(Component.name == "other")))
        db.session.commit()
    port = chosen_host_port()
    big = "x" * (300 * 1024)
    text = f"""
services:
  a: {{image: "{image}", ports: ["{port}:80"]}}
  b: {{image: "{image}", ports: ["{port}:80"], volumes: ["kept:/data"], configs: [big]}}
configs:
  big: {{content: "{big}"}}
"""
    before = _counts(app)
    r = client.post("/applications/import", data={"compose": text, "application": "blog", "action": "import"})
    page = r.get_data(as_text=True)
    assert r.status_code == 422
    page = page.split('data-testid="import-problems"')[1].split("</section>")[0]
    assert f"services.b.ports-0-host_port</code>: Host port {port} is already used by component a" in page
    assert "services.b.volumes-0-name</code>: Volume kept holds data of application shop" in page
    assert "services.b.files-0-content</code>: This file has 307,200 bytes" in page
    assert _counts(app) == before


def test_every_key_of_every_corpus_file_appears_in_the_report():
    from pathlib import Path

    from services.components.imports import compose

    data = Path(__file__).resolve().parents[1] / "data" / "compose"
    for path in sorted(data.glob("*.yaml")):
        env = path.with_suffix(".env")
        model = compose.load(path.read_text(), env.read_text() if env.exists() else "", ["debug", "backend"])
        keys = [row.key for row in compose.plan(model).report]
        for top in model:
            assert top == "services" or top in keys, (path.name, top)
        for name, service in model["services"].items():
            for key in service:
                assert any(k == f"services.{name}.{key}" or k.startswith(f"services.{name}.{key}.")
                           or k.startswith(f"services.{name}.{key}[") for k in keys), (path.name, name, key)


def test_a_ten_megabyte_file_gets_the_form_back_with_a_message(client, app, auth):
    auth.signed_in()
    r = client.post("/applications/import", data={"compose": "services: {}\n" + "#" * (10 * 1024 * 1024),
                                                   "application": "shop", "action": "import"})
    assert r.status_code == 413
    assert "a compose file has at most 1,048,576" in field_error(r.get_data(as_text=True), "compose")
    assert _counts(app) == [0, 0]
