"""Config files: written in Berth, mounted read-only at their path (the rest of the directory stays
the image's), secret ones stored encrypted and never shown back; on real podman, and the rules a
save checks."""
from __future__ import annotations

import json
import subprocess
import uuid

import pytest
import requests
from sqlalchemy import select

from models import Component, Release, db
from tests.components.test_create_and_deploy import component_form, component_id_of, release_of, wait_release
from tests.fixtures import slots
from tests.fixtures.images import Image
from tests.fixtures.slots import chosen_host_port
from tests.helpers import field_error, wait_for


def files_form(registry_id, **overrides):
    return component_form(registry_id, **{
        "files-0-path": "/www/config.txt", "files-0-mode": "0640", "files-0-content": "level=1\r\n",
        "files-1-path": "/www/token.txt", "files-1-mode": "0644", "files-1-content": "s3cret-token",
        "files-1-secret": "y", **overrides})


def container_exec(component: str, *command: str) -> str:
    names = subprocess.run(["podman", "ps", "--format", "{{.Names}}"], capture_output=True, text=True,
                           check=True).stdout.split()
    (name,) = [n for n in names if n.startswith(slots.pod_prefix()) and f"-{component}-pod-" in n
               and not n.endswith("-infra")]
    return subprocess.run(["podman", "exec", name, *command], capture_output=True, text=True, check=True).stdout


@pytest.mark.podman
def test_config_files_are_mounted_changed_as_a_release_and_secrets_never_shown(client, app, registry_id, registries,
                                                                                podman_deployer):
    repo = f"team/files-{uuid.uuid4().hex[:8]}"
    registries.pusher(registries.basic).push(repo, "v1", Image(content="the image's page"))
    host_port = chosen_host_port()
    form = files_form(registry_id, image=repo, tag="v1", **{"ports-0-host_port": str(host_port)})
    assert client.post("/components/new", data=form).status_code == 302
    cid = component_id_of(app)
    assert wait_release(app, cid).status == "running", release_of(app, cid).message
    url = f"http://127.0.0.1:{host_port}"
    assert requests.get(f"{url}/config.txt", timeout=5).text == "level=1\n"
    assert requests.get(f"{url}/token.txt", timeout=5).text == "s3cret-token"
    assert requests.get(f"{url}/", timeout=5).text == "the image's page"  # the directory is still the image's
    assert container_exec("web", "/bin/busybox", "stat", "-c", "%a", "/www/config.txt").strip() == "640"
    with app.app_context():
        stored = json.dumps([db.session.get(Component, cid).files,
                             db.session.scalars(select(Release.settings)).all()])
    assert "s3cret-token" not in stored and "level=1" in stored

    edit = client.get(f"/components/{cid}/edit").get_data(as_text=True)
    assert "s3cret-token" not in edit and "level=1" in edit
    changed = {**form, "files-0-content": "level=2\n", "files-1-content": ""}  # the secret left empty: kept
    r = client.post(f"/components/{cid}/edit", data={**changed, "action": "review"})
    changes = r.get_data(as_text=True).split('data-testid="changes"')[1].split("</div>")[0]
    assert "~ file /www/config.txt (0640): new content" in changes and "token.txt" not in changes
    client.post(f"/components/{cid}/edit", data={**changed, "action": "deploy"})
    wait_for(lambda: release_of(app, cid).seq == 2 and release_of(app, cid).status == "running", 60)
    assert requests.get(f"{url}/config.txt", timeout=5).text == "level=2\n"
    assert requests.get(f"{url}/token.txt", timeout=5).text == "s3cret-token"

    gone = {k: v for k, v in changed.items() if not k.startswith("files-1-")}
    client.post(f"/components/{cid}/edit", data={**gone, "action": "deploy"})
    wait_for(lambda: release_of(app, cid).seq == 3 and release_of(app, cid).status == "running", 60)
    assert requests.get(f"{url}/token.txt", timeout=5).status_code == 404
    files_dir = podman_deployer.workdir / "files"
    assert [p.name for p in files_dir.iterdir() for p in p.iterdir()] == [str(release_of(app, cid).id)]
    client.post(f"/components/{cid}/delete", data={})
    assert list(files_dir.iterdir()) == []


BIG = "x" * (256 * 1024 + 1)


@pytest.mark.parametrize(("fields", "key", "words"), [
    ({"files-0-path": "/etc/app.conf", "files-0-content": BIG}, "files-0-content", "at most 262,144"),
    ({"files-0-path": "/etc/a.conf", "files-0-content": "y" * 200_000, "files-1-path": "/etc/b.conf",
      "files-1-content": "y" * 200_000, "files-2-path": "/etc/c.conf", "files-2-content": "y" * 200_000},
     "files", "at most 524,288"),
    ({"files-0-path": "etc/app.conf", "files-0-content": "a"}, "files-0-path", "absolute path"),
    ({"files-0-path": "/etc/app.conf", "files-0-content": "a", "files-1-path": "/etc/app.conf",
      "files-1-content": "b"}, "files-1-path", "listed twice"),
    ({"files-0-path": "/etc/app.conf", "files-0-content": "a", "files-0-mode": "999"}, "files-0-mode", "octal"),
    ({"files-0-path": "/run/token", "files-0-secret": "y"}, "files-0-content", "Write the secret file"),
    ({"files-0-path": "/data", "files-0-content": "a", "volumes-0-name": "data", "volumes-0-path": "/data"},
     "files-0-path", "A volume is mounted at /data"),
])
def test_config_file_input_that_cannot_be_used_is_a_field_error(client, app, registry_id, fields, key, words):
    r = client.post("/components/new", data=component_form(registry_id, **fields))
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert words in field_error(html, key), key
    assert component_id_of(app) is None
