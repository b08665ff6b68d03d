"""Webhook bodies in the shapes the peers' own tests and docs send, beyond the vendors' reference
examples (test_webhook_payloads.py): each row written here from the peer's documentation or test
code named beside it."""
from __future__ import annotations

import json

import pytest

from services.delivery.webhooks import Ignored, PayloadError, PushEvent, parse

DIGEST = "sha256:" + "ab" * 32


def _parse(body: dict, **headers):
    return parse({"Content-Type": "application/json", **headers}, json.dumps(body).encode())


@pytest.mark.parametrize(("why", "body", "source", "events"), [
    # Docker Hub without repo_name: namespace + name (Keel's dockerhub trigger reads repo_name, others
    # the pair; docs list both fields)
    ("Docker Hub namespace + name", {"push_data": {"tag": "0.1.7", "pushed_at": 1497467660},
                                     "repository": {"namespace": "karolisr", "name": "keel"}},
     "dockerhub", [PushEvent("karolisr/keel", "0.1.7", None, "docker.io", "dockerhub:karolisr/keel:0.1.7:1497467660")]),
    ("Docker Hub lone name is an official image", {"push_data": {"tag": "3.20", "pushed_at": 1},
                                                   "repository": {"name": "alpine"}},
     "dockerhub", [PushEvent("library/alpine", "3.20", None, "docker.io", "dockerhub:library/alpine:3.20:1")]),
    # Harbor without repo_full_name (Harbor's docs: repository.{name, namespace, repo_full_name})
    ("Harbor namespace + name", {"type": "PUSH_ARTIFACT", "event_data": {
        "repository": {"name": "web", "namespace": "shop"},
        "resources": [{"tag": "v2", "digest": DIGEST, "resource_url": "harbor.example.com/shop/web:v2"}]}},
     "harbor", [PushEvent("shop/web", "v2", DIGEST, "harbor.example.com")]),
    # Harbor's resource_url and tag disagree: the tag field names the pushed tag (Harbor documents
    # `tag`; resource_url is a convenience), and the URL gives only the host
    ("Harbor tag wins over resource_url", {"type": "PUSH_ARTIFACT", "event_data": {
        "repository": {"repo_full_name": "shop/web"},
        "resources": [{"tag": "v3", "digest": DIGEST, "resource_url": "harbor.example.com/shop/web:v1"}]}},
     "harbor", [PushEvent("shop/web", "v3", DIGEST, "harbor.example.com")]),
    # Keel's native webhook (keel-hq/keel trigger/http/native_webhook_trigger.go: {"name", "tag"})
    ("Keel native", {"name": "gcr.io/v2-namespace/hello-world", "tag": "1.1.1"},
     "keel", [PushEvent("v2-namespace/hello-world", "1.1.1", None, "gcr.io")]),
    ("Keel native with a digest", {"name": "team/app", "tag": "2.0.0", "digest": DIGEST},
     "keel", [PushEvent("team/app", "2.0.0", DIGEST, None)]),
    # Alibaba Cloud Container Registry trigger (its docs' field list: push_data.{digest, pushed_at,
    # tag}, repository.{name, namespace, region, repo_full_name, …}); the host is the region's
    ("Alibaba Cloud ACR", {"push_data": {"digest": DIGEST, "pushed_at": "2016-11-29 12:25:46", "tag": "latest"},
                           "repository": {"name": "repoTest", "namespace": "namespace", "region": "cn-hangzhou",
                                          "repo_full_name": "namespace/repoTest", "repo_type": "PUBLIC"}},
     "aliyun", [PushEvent("namespace/repotest", "latest", DIGEST, "registry.cn-hangzhou.aliyuncs.com")]),
])
def test_push_bodies_the_peers_send(why, body, source, events):
    assert _parse(body) == (source, events), why


def test_a_ghcr_version_named_by_its_tag_gives_the_tag():
    """A package version without container_metadata.tag.name whose name is not a digest: that name is
    the tag (as the peers read it); a version named by its digest stays untagged."""
    package = {"package_type": "CONTAINER", "name": "app", "owner": {"login": "octo"},
               "package_version": {"id": 7, "name": "v1.4"}}
    _, events = _parse({"action": "published", "package": package}, **{"X-GitHub-Event": "package"})
    assert events == [PushEvent("octo/app", "v1.4", None, "ghcr.io", "github:7")]
    package["package_version"]["name"] = DIGEST
    _, (event,) = _parse({"action": "published", "package": package}, **{"X-GitHub-Event": "package"})
    assert isinstance(event, Ignored) and "without a tag" in event.reason


@pytest.mark.parametrize(("body", "words"), [
    ({"push_data": {"tag": "v1"}, "repository": {"region": "cn-hangzhou"}}, "no repository.repo_full_name"),
    ({"push_data": {"tag": "v1"}, "repository": {"region": "../../x", "repo_full_name": "a/b"}}, "names no region"),
    ({"push_data": {"tag": "v1"}, "repository": {}}, "nor namespace and name"),
    ({"type": "PUSH_ARTIFACT", "event_data": {"repository": {"namespace": "shop"}, "resources": []}},
     "repo_full_name (or namespace and name)"),
    ({"name": "team/app", "tag": ""}, "Send 'repository' and 'tag'"),
])
def test_incomplete_bodies_are_refused_with_the_reason(body, words):
    with pytest.raises(PayloadError, match=words.replace("(", r"\(").replace(")", r"\)")):
        _parse(body)
