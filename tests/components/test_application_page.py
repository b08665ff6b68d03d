"""The application page: its components in dependency order with their state and connections,
deploy all / stop all, and the volumes it keeps (deleted only from here, with their data)."""
from __future__ import annotations

import subprocess
import uuid

import pytest
from sqlalchemy import select

from models import Application, Component, Release, db
from tests.components.test_create_and_deploy import component_form, component_id_of, release_of, wait_release
from tests.fixtures import slots
from tests.fixtures.images import Image
from tests.helpers import wait_for


def application_id(app, name="shop"):
    with app.app_context():
        return db.session.scalar(select(Application.id).where(Application.name == name))


@pytest.mark.podman
def test_deploy_all_and_stop_all_in_dependency_order_and_kept_volumes(client, app, registry_id, registries,
                                                                      podman_deployer):
    repo = f"team/app-{uuid.uuid4().hex[:8]}"
    registries.pusher(registries.basic).push(repo, "v1", Image())
    assert client.post("/components/new", data=component_form(
        registry_id, image=repo, tag="v1", name="db", **{"volumes-0-name": "pages", "volumes-0-path": "/data"},
    )).status_code == 302
    db_id = component_id_of(app, "db")
    assert client.post("/components/new", data=component_form(
        registry_id, image=repo, tag="v1", name="web", depends_on=str(db_id))).status_code == 302
    web_id = component_id_of(app, "web")
    for cid in (db_id, web_id):
        assert wait_release(app, cid).status == "running", release_of(app, cid).message
    aid = application_id(app)
    page = client.get(f"/applications/{aid}").get_data(as_text=True)
    assert page.index('data-component="db"') < page.index('data-component="web"')
    assert "→ db" in page and 'data-volume="pages"' in page and "Delete data" not in page

    client.post(f"/applications/{aid}/stop-all", data={})
    with app.app_context():
        assert all(c.stopped for c in db.session.scalars(select(Component)))
    client.post(f"/applications/{aid}/deploy-all", data={})
    for cid in (db_id, web_id):
        wait_for(lambda cid=cid: release_of(app, cid).seq == 2 and release_of(app, cid).status == "running", 90)
    with app.app_context():  # web's release was queued after db's, and did not start before db ran
        web, dbr = (db.session.scalar(select(Release).where(Release.component_id == c, Release.seq == 2))
                    for c in (web_id, db_id))
        assert web.id > dbr.id and web.started_at is not None

    client.post(f"/components/{db_id}/delete", data={})  # web's connection to it goes too
    page = client.get(f"/applications/{aid}").get_data(as_text=True)
    assert 'data-testid="kept">kept' in page and "Delete data" in page
    volume = f"{slots.pod_prefix()}berth-alpha-pages"
    assert subprocess.run(["podman", "volume", "exists", volume]).returncode == 0
    with app.app_context():
        from models import Volume
        vid = db.session.scalar(select(Volume.id))
    client.post(f"/applications/{aid}/volumes/{vid}/delete", data={})
    assert subprocess.run(["podman", "volume", "exists", volume]).returncode != 0
    assert "This application keeps no volumes." in client.get(f"/applications/{aid}").get_data(as_text=True)


def test_a_mounted_volume_cannot_be_deleted_from_the_application(client, app, registry_id, make_component):
    from models import Volume
    from services.components import volumes

    make_component(registry_id, name="db", release=False,
                   volumes=[{"name": "pages", "path": "/data", "size_mb": 1, "read_only": False}])
    with app.app_context():
        volumes.record(db.session.scalar(select(Component)))
        db.session.commit()
        vid = db.session.scalar(select(Volume.id))
    r = client.post(f"/applications/{application_id(app)}/volumes/{vid}/delete", data={}, follow_redirects=True)
    assert "Volume pages is mounted by component db; remove it there first." in r.get_data(as_text=True)
