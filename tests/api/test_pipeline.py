"""The README's pipeline example, walked over real HTTP against real podman and the real registry
(#29): make a token with the deploy scope, deploy a pushed digest, wait until it runs (the bounded
long poll), read the component back."""
from __future__ import annotations

import re
import uuid

import pytest
import requests

from tests.fixtures.images import Image
from tests.helpers import create_component, create_registry

pytestmark = [pytest.mark.podman]


def test_a_pipeline_deploys_a_digest_and_waits_until_it_runs(app, client, auth, registries, podman_deployer,
                                                              live_server):
    auth.signed_in()
    rid, _ = create_registry(app, url=registries.basic.url, name="local")
    repo = f"team/pipeline-{uuid.uuid4().hex[:8]}"
    pusher = registries.pusher(registries.basic)
    pusher.push(repo, "main", Image(content="one"))
    cid = create_component(app, rid, repo, "main", "web", release=False, memory_mb=64)
    page = client.post("/tokens/", data={"name": "ci", "kind": "personal", "scopes": ["read", "deploy"],
                                         "days": 7}).get_data(as_text=True)
    token = re.search(r'value="(berth_[^"]+)"', page).group(1)
    built = pusher.push(repo, "main", Image(content="two"))  # CI pushed a new build under the same tag

    berth, auth_header = live_server.url, {"Authorization": f"Bearer {token}"}
    r = requests.post(f"{berth}/api/v1/components/{cid}/deploy", json={"digest": built}, headers=auth_header,
                      timeout=10)
    assert r.status_code == 202, r.text
    release = r.json()
    assert release["digest"] == built and release["status"] == "pending"
    for _ in range(5):  # each answer waits up to 60 s for the release to end
        release = requests.get(f"{berth}/api/v1/releases/{release['id']}", params={"wait": 60}, headers=auth_header,
                               timeout=70).json()
        if release["done"]:
            break
    assert release["status"] == "running", release
    component = requests.get(f"{berth}/api/v1/components/{cid}", headers=auth_header, timeout=10).json()
    assert component["digest"] == built and component["state"] == "running"
    assert component["latest_release"]["id"] == release["id"]
