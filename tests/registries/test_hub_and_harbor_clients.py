"""Harbor and Docker Hub clients against FAKE API servers (neither can run here).

The fake Harbor's answers are validated against Harbor's own OpenAPI spec
(tests/data/harbor-swagger.yaml, see tests/data/SOURCES.md); the registry side of Docker Hub is the real
token-auth docker-registry from the fixtures."""
from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import requests
import yaml

from services.registries.clients import errors
from services.registries.clients.dockerhub import DockerHubClient
from services.registries.clients.harbor import HarborClient, encode_repository
from services.registries.clients.http import HttpSettings
from tests.fixtures.fakes import FakeDockerHub, FakeHarbor, harbor_artifact, hub_tag
from tests.fixtures.registry import PASSWORD, USER

SPEC = Path(__file__).resolve().parents[1] / "data" / "harbor-swagger.yaml"


@pytest.fixture(scope="module")
def harbor_spec():
    assert SPEC.exists(), f"Harbor's OpenAPI spec is expected at {SPEC}"
    return yaml.safe_load(SPEC.read_text())


def harbor_schema(spec, definition: str, array=False) -> dict:
    """A JSON Schema for one of the spec's definitions, with its $refs resolvable."""
    ref = {"$ref": f"#/definitions/{definition}"}
    return {"definitions": spec["definitions"], **({"type": "array", "items": ref} if array else ref)}


@pytest.fixture(scope="module")
def harbor():
    artifacts = {
        "library/web": [
            harbor_artifact("library/web", "sha256:" + "a" * 64, ["v1.0", "stable"], "2026-11-01T10:00:00.000Z"),
            harbor_artifact("library/web", "sha256:" + "b" * 64, ["v1.1"], "2026-11-05T10:00:00.000Z",
                            platforms=["amd64", "arm64"]),
        ] + [harbor_artifact("library/web", "sha256:" + f"{i:064x}", [f"old-{i}"], "2025-01-01T00:00:00.000Z")
             for i in range(150)],
        "library/api/server": [harbor_artifact("library/api/server", "sha256:" + "c" * 64, ["1.0"],
                                               "2026-10-01T00:00:00Z")],
    }
    fake = FakeHarbor({"robot$berth": "robot-secret"}, artifacts)
    yield fake
    fake.stop()


def test_fake_harbor_answers_match_the_openapi_spec(harbor, harbor_spec):
    auth = ("robot$berth", "robot-secret")
    repos = requests.get(harbor.url + "/api/v2.0/repositories", auth=auth, timeout=5).json()
    jsonschema.validate(repos, harbor_schema(harbor_spec, "Repository", array=True))
    arts = requests.get(harbor.url + "/api/v2.0/projects/library/repositories/web/artifacts",
                        params={"with_tag": "true", "page_size": 100}, auth=auth, timeout=5).json()
    jsonschema.validate(arts, harbor_schema(harbor_spec, "Artifact", array=True))
    bad = requests.get(harbor.url + "/api/v2.0/projects", auth=("robot$berth", "no"), timeout=5)
    jsonschema.validate(bad.json(), harbor_schema(harbor_spec, "Errors"))
    paths = harbor_spec["paths"]
    assert "/projects/{project_name}/repositories/{repository_name}/artifacts" in paths
    assert "/repositories" in paths and "/ping" in paths


def test_harbor_client(harbor):
    c = HarborClient(harbor.url, "robot$berth", "robot-secret", HttpSettings(timeout=5))
    assert "Harbor" in c.ping()
    page = c.repositories("api")
    assert page.items == ["library/api/server"] and page.total == 1
    tags = c.tags("library/web")
    assert len(tags) == 153  # paged past Harbor's 100-per-page maximum
    v11 = next(t for t in tags if t.name == "v1.1")
    assert v11.digest == "sha256:" + "b" * 64 and v11.platforms == ["linux/amd64", "linux/arm64"]
    assert v11.created.isoformat() == "2026-11-05T10:00:00" and v11.size == 1_234_567
    assert [t.name for t in c.tags("library/api/server")] == ["1.0"]  # double-encoded name
    with pytest.raises(errors.RegistryAuthError):
        HarborClient(harbor.url, "robot$berth", "wrong", HttpSettings(timeout=5)).ping()
    with pytest.raises(errors.RegistryNotFound):
        c.tags("library/missing")


def test_harbor_ping_on_a_plain_registry_is_refused(registries):
    with pytest.raises(errors.RegistryProtocolError, match="Harbor"):
        HarborClient(registries.basic.url, USER, PASSWORD).ping()


def test_encode_repository():
    assert encode_repository("a/b") == "a%252Fb"
    assert encode_repository("web") == "web"


@pytest.fixture(scope="module")
def hub():
    repos = {"alice/web": [hub_tag(f"1.{i}", "sha256:" + f"{i:064x}", f"2026-11-{i % 28 + 1:02d}T10:00:00.000000Z")
                           for i in range(130)],
             "acme/api": [hub_tag("2.0", "sha256:" + "d" * 64, "2026-10-01T00:00:00Z", ("amd64", "arm64"))],
             "library/nginx": [hub_tag("1.27", "sha256:" + "e" * 64, "2026-09-01T00:00:00Z")]}
    fake = FakeDockerHub("alice", "hub-token", repos, orgs=["acme"])
    yield fake
    fake.stop()


def test_dockerhub_client(hub, registries):
    c = DockerHubClient("alice", "hub-token", HttpSettings(timeout=5), api_url=hub.url,
                        registry_url=registries.token.url)
    assert "alice" in c.ping()
    assert c.repositories().items == ["acme/api", "alice/web"]
    assert c.repositories("web").items == ["alice/web"]
    tags = c.tags("alice/web")
    assert len(tags) == 130
    api = c.tags("acme/api")[0]
    assert api.platforms == ["linux/amd64", "linux/arm64"] and api.size == 2_345_678
    assert [t.name for t in c.tags("nginx")] == ["1.27"]  # official images live under library/
    with pytest.raises(errors.RegistryAuthError):
        DockerHubClient("alice", "wrong", HttpSettings(timeout=5), api_url=hub.url).ping()


def test_dockerhub_pulls_through_the_registry(hub, registries):
    # The registry side of Docker Hub speaks the token flow; ours is a real registry doing so.
    c = DockerHubClient(USER, PASSWORD, HttpSettings(timeout=5), api_url=hub.url,
                        registry_url=registries.token.url)
    digest = c.manifest_digest("team/demo", "v1.0")
    assert digest == registries.digests[f"{registries.token.port}/team/demo:v1.0"]


def test_harbor_and_hub_through_the_web(client, auth, app, harbor, hub):
    app.config["BERTH_DOCKERHUB_API_URL"] = hub.url
    auth.signed_in()
    r = client.post("/registries/new", data={"kind": "harbor", "name": "harbor", "url": harbor.url,
                                             "username": "robot$berth", "password": "robot-secret"})
    assert r.status_code == 302
    html = client.get(r.headers["Location"]).get_data(as_text=True)
    assert "library/web" in html
    rid = r.headers["Location"].rstrip("/").split("/")[-1]
    html = client.get(f"/registries/{rid}/repository?repo=library/web&q=v1").get_data(as_text=True)
    assert html.index("v1.1") < html.index("v1.0")  # newest first by push time
    r = client.post("/registries/new", data={"kind": "harbor", "name": "h2", "url": harbor.url,
                                             "username": "robot$berth", "password": "nope"})
    assert r.status_code == 422 and "401" in r.get_data(as_text=True)


# -- server-side tag search: Docker Hub's `name` + `ordering`, Harbor's `q=tags=~` + `sort` ------
def _calls(fake, part):
    return [path for _, path in fake.server.calls if part in path]


@pytest.fixture(scope="module")
def big_hub():
    tags = [hub_tag(f"{i // 100}.{i % 100}.0", "sha256:" + f"{i:064x}",
                    f"2026-{i % 12 + 1:02d}-{i % 28 + 1:02d}T{i % 24:02d}:00:00.{i:06d}Z") for i in range(10_000)]
    fake = FakeDockerHub("alice", "hub-token", {"alice/big": tags})
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def big_harbor():
    arts = [harbor_artifact("proj/big", "sha256:" + f"{i:064x}", [f"{i // 100}.{i % 100}.0"],
                            f"2026-{i % 12 + 1:02d}-{i % 28 + 1:02d}T{i % 24:02d}:00:00.000Z") for i in range(10_000)]
    fake = FakeHarbor({"robot$berth": "robot-secret"}, {"proj/big": arts})
    yield fake
    fake.stop()


def newest(tags, needle, n):
    return [t["name"] for t in sorted((t for t in tags if needle in t["name"]), key=lambda t: t["last_updated"],
                                      reverse=True)][:n]


def test_hub_search_is_one_filtered_request(big_hub):
    c = DockerHubClient("alice", "hub-token", HttpSettings(timeout=5), api_url=big_hub.url)
    big_hub.server.calls.clear()
    found = c.search_tags("alice/big", "42.", 50)
    tag_calls = _calls(big_hub, "/tags")
    assert len(tag_calls) == 1 and "name=42." in tag_calls[0] and "ordering=last_updated" in tag_calls[0]
    assert len(big_hub.server.calls) == 2  # and the login
    assert found.matched == 199 and found.total is None  # 42.*.0 and *.42.0
    assert [t.name for t in found.tags] == newest(big_hub.repos["alice/big"], "42.", 50)
    assert all(t.digest and t.created and t.platforms for t in found.tags)
    # More than a page: pages of 100 (Docker Hub's maximum), still filtered
    big_hub.server.calls.clear()
    found = c.search_tags("alice/big", ".1", 150)
    assert len(found.tags) == 150 and found.matched == sum(".1" in n["name"] for n in big_hub.repos["alice/big"])
    assert len(_calls(big_hub, "/tags")) == 2
    # No query: the newest, and the count is the repository's
    found = c.search_tags("alice/big", "", 50)
    assert found.total == 10_000 and found.matched == 10_000 and len(found.tags) == 50
    assert c.search_tags("alice/big", "nothing-like-this", 50).matched == 0


def test_harbor_search_is_one_filtered_request(big_harbor, harbor_spec):
    c = HarborClient(big_harbor.url, "robot$berth", "robot-secret", HttpSettings(timeout=5))
    big_harbor.server.calls.clear()
    found = c.search_tags("proj/big", "42.", 50)
    (call,) = big_harbor.server.calls
    assert "q=tags%3D~42." in call[1] and "sort=-push_time" in call[1]
    assert found.matched == 199 and len(found.tags) == 50
    assert [t.created for t in found.tags] == sorted((t.created for t in found.tags), reverse=True)
    assert all("42." in t.name for t in found.tags)
    # The filtered answer is still what Harbor's spec says a list of artifacts is
    arts = requests.get(big_harbor.url + "/api/v2.0/projects/proj/repositories/big/artifacts",
                        params={"with_tag": "true", "q": "tags=~42.", "sort": "-push_time", "page_size": 5},
                        auth=("robot$berth", "robot-secret"), timeout=5).json()
    jsonschema.validate(arts, harbor_schema(harbor_spec, "Artifact", array=True))
    assert "query" in [p.get("$ref", "").rsplit("/", 1)[-1] for p in harbor_spec["paths"][
        "/projects/{project_name}/repositories/{repository_name}/artifacts"]["get"]["parameters"]]


def test_search_through_the_web_uses_the_server_filter_and_caches_it(client, auth, app, big_hub):
    app.config["BERTH_DOCKERHUB_API_URL"] = big_hub.url
    auth.signed_in()
    r = client.post("/registries/new", data={"kind": "dockerhub", "name": "hub", "url": "",
                                             "username": "alice", "password": "hub-token"})
    assert r.status_code == 302, r.get_data(as_text=True)
    rid = r.headers["Location"].rstrip("/").split("/")[-1]
    big_hub.server.calls.clear()
    html = client.get(f"/registries/{rid}/repository?repo=alice/big&q=42.",
                      headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "199 tags matching “42.”, showing the first 50" in html
    first = newest(big_hub.repos["alice/big"], "42.", 1)[0]
    assert html.index(first) < html.index(newest(big_hub.repos["alice/big"], "42.", 2)[1])
    assert len(_calls(big_hub, "/tags")) == 1
    client.get(f"/registries/{rid}/repository?repo=alice/big&q=42.", headers={"HX-Request": "true"})
    assert len(_calls(big_hub, "/tags")) == 1  # cached
    html = client.get(f"/registries/{rid}/repository?repo=alice/big", headers={"HX-Request": "true"}).get_data(
        as_text=True)
    assert "10000 of 10000 tags, showing the first 50" in html
