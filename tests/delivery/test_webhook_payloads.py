"""Every reference payload and every real Distribution notification parses to the right event
or to "ignored" with a reason; garbage raises PayloadError."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.delivery.webhooks import Ignored, PayloadError, PushEvent, parse, signature_ok

DATA = Path(__file__).resolve().parents[1] / "data"
PAYLOADS = DATA / "webhook-payloads"
CAPTURED = DATA / "distribution-notifications"


def headers_of(path: Path) -> dict:
    out = {}
    for line in path.read_text().splitlines():
        if ":" in line:
            k, _, v = line.partition(":")
            out[k.strip()] = v.strip()
    return out


def load(name, **headers):
    body = (PAYLOADS / name).read_bytes()
    return parse({"Content-Type": "application/json", **headers}, body)


def test_reference_files_are_present():
    assert PAYLOADS.is_dir() and CAPTURED.is_dir(), f"test data is missing from {DATA}"


@pytest.mark.parametrize("name,source,expected", [
    ("dockerhub-push.json", "dockerhub", [PushEvent("svendowideit/testhook", "latest", None, "docker.io",
                                                    "dockerhub:svendowideit/testhook:latest:1417566161")]),
    ("harbor-push-artifact-default-v2.7-docs.json", "harbor", None),
    ("quay-repo-push.json", "quay", [PushEvent("dgangaia/test", "latest", None, "quay.io")]),
    ("acr-push.json", "acr", None),
])
def test_push_payloads(name, source, expected):
    got_source, events = load(name)
    assert got_source == source
    if expected is not None:
        assert events == expected
    assert all(isinstance(e, PushEvent) for e in events) and events


def test_harbor_v27_pushed_by_tag():
    _, (event,) = load("harbor-push-artifact-default-v2.7-docs.json")
    assert event.tag == "latest" and event.digest.startswith("sha256:") and "/" in event.repository


def test_harbor_pushed_by_digest_is_ignored_with_reason():
    for name in ("harbor-push-artifact-default.json", "harbor-push-artifact-cloudevents.json"):
        source, (event,) = load(name)
        assert source == "harbor" and isinstance(event, Ignored)
        assert "by digest" in event.reason and event.repository == "harbor/alpine"


def test_harbor_cloudevents_with_comments_is_refused():
    with pytest.raises(PayloadError, match="not JSON"):
        load("harbor-push-artifact-cloudevents.jsonc")


def test_acr_push():
    _, (event,) = load("acr-push.json")
    assert event.repository == "hello-world" and event.tag == "v1" and event.host == "myregistry.azurecr.io"


def test_github_packages_without_tag_are_ignored():
    for name, event in (("github-package-published-docker.json", "package"),
                        ("github-registry_package-published-docker.json", "registry_package")):
        source, (got,) = load(name, **{"X-GitHub-Event": event})
        assert source == "ghcr" and isinstance(got, Ignored) and "without a tag" in got.reason


def test_github_tagged_package():
    data = json.loads((PAYLOADS / "github-package-published-docker.json").read_text())
    data["package"]["package_version"]["container_metadata"]["tag"] = {"name": "v5.1", "digest": "sha256:" + "1" * 64}
    data["package"]["package_version"]["package_url"] = "ghcr.io/codertocat/hello-world:v5.1"
    _, (event,) = parse({"Content-Type": "application/json", "X-GitHub-Event": "package"}, json.dumps(data).encode())
    assert event == PushEvent("codertocat/hello-world", "v5.1", "sha256:" + "1" * 64, "ghcr.io",
                              f"github:{data['package']['package_version']['id']}")


def test_gcr_insert():
    source, (event,) = load("gcp-gcr-pubsub-insert.json")
    assert source == "gcr"
    assert isinstance(event, PushEvent | Ignored)


def test_distribution_reference_examples():
    _, events = load("distribution-notification-envelope-push.json")
    # The docs' example pushes a manifest without a tag, then two layer blobs.
    assert [type(e) for e in events] == [Ignored, Ignored, Ignored]
    assert "untagged" in events[0].reason and "blob" in events[1].reason
    _, (pull,) = load("distribution-notification-pull-event.json")
    assert isinstance(pull, Ignored) and "pull" in pull.reason


@pytest.mark.parametrize("stem,expected", [
    ("11-push-oci.image.manifest.v1-v5.2", ("team/demo", "v5.2")),
    ("12-push-docker.distribution.manifest.v2-latest", ("team/demo", "latest")),
    ("13-push-oci.image.manifest.v1-untagged", "untagged"),
    ("14-push-oci.image.index.v1-v2.0", ("team/multi", "v2.0")),
    ("15-pull-oci.image.manifest.v1-v5.2", "pull"),
    ("16-delete-none-untagged", "delete"),
    ("17-delete-none-v5.2", "delete"),
])
def test_captured_distribution_notifications(stem, expected):
    headers = headers_of(CAPTURED / f"{stem}.headers")
    source, (event,) = parse(headers, (CAPTURED / f"{stem}.json").read_bytes())
    assert source == "distribution"
    if isinstance(expected, tuple):
        assert isinstance(event, PushEvent) and (event.repository, event.tag) == expected
        assert event.digest.startswith("sha256:") and event.host and event.event_id
    else:
        assert isinstance(event, Ignored) and expected in event.reason


@pytest.mark.parametrize("content_type,body", [
    ("application/json", b"not json"),
    ("application/json", b"[1, 2]"),
    ("application/json", b'{"events": "nope"}'),
    ("application/json", b'{"events": [42]}'),
    ("application/json", b'{"events": [{"action": "push", "target": "x"}]}'),
    ("application/json", b'{"repository": 5, "tag": []}'),
    ("application/json", b'{"repository": "a/b", "tag": "v1", "digest": "md5:x"}'),
    ("application/json", b'{"push_data": 1, "repository": 2}'),
    ("application/json", b'{"hello": "world"}'),
    ("application/json", "\u00e9".encode("latin-1")),
    ("application/x-www-form-urlencoded", b"repository=&tag="),
])
def test_garbage_is_a_payload_error(content_type, body):
    with pytest.raises(PayloadError):
        parse({"Content-Type": content_type}, body)


def test_generic_form_and_json():
    assert parse({"Content-Type": "application/x-www-form-urlencoded"}, b"repository=team%2Fdemo&tag=v5.1") == (
        "generic", [PushEvent("team/demo", "v5.1", None, None)])
    assert parse({"Content-Type": "application/json"},
                 b'{"repository": "127.0.0.1:5000/Team/Demo", "tag": "v5.1", "digest": "sha256:ab"}')[1] == [
        PushEvent("team/demo", "v5.1", "sha256:ab", "127.0.0.1:5000")]


def test_signatures():
    import hashlib
    import hmac

    body = b'{"repository": "a/b", "tag": "1"}'
    good = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert signature_ok("s3cret", {"X-Hub-Signature-256": good}, body)
    assert not signature_ok("s3cret", {"X-Hub-Signature-256": "sha256=00"}, body)
    assert signature_ok("s3cret", {"Authorization": "Bearer s3cret"}, body)
    assert signature_ok("s3cret", {"Authorization": "s3cret"}, body)
    assert not signature_ok("s3cret", {"Authorization": "Bearer nope"}, body)
    assert not signature_ok("s3cret", {}, body)


# -- Amazon ECR through EventBridge, CloudEvents, JFrog Artifactory (#31) -------------------------------
ECR_HOST = "123456789012.dkr.ecr.us-west-2.amazonaws.com"


def test_ecr_eventbridge_samples():
    source, events = load("ecr-eventbridge-push.json")
    # Amazon's sample digest has 60 hex digits: not taken for a digest (the tag is checked with the registry).
    assert (source, events) == ("ecr", [PushEvent("my-repository-name", "latest", None, ECR_HOST,
                                                  "13cde686-328b-6117-af20-0e5566167482")])
    assert load("ecr-eventbridge-delete.json") == ("ecr", [Ignored("ECR DELETE action, not a push",
                                                                   "my-repository-name")])
    assert load("ecr-eventbridge-scan.json") == ("ecr", [Ignored("ECR ECR Image Scan event, not an image push")])


def _ecr(**detail) -> dict:
    event = json.loads((PAYLOADS / "ecr-eventbridge-push.json").read_text())
    event["detail"].update(detail)
    return event


def _parse_json(data) -> tuple[str, list]:
    return parse({"Content-Type": "application/json"}, json.dumps(data).encode())


DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize("data,expected", [
    (_ecr(**{"image-digest": DIGEST}), [PushEvent("my-repository-name", "latest", DIGEST, ECR_HOST,
                                                  "13cde686-328b-6117-af20-0e5566167482")]),
    (_ecr(result="FAILURE"), [Ignored("ECR push that did not succeed (FAILURE)", "my-repository-name")]),
    (_ecr(**{"image-tag": None}), [Ignored("ECR push by digest, without a tag", "my-repository-name")]),
    (_ecr(**{"repository-name": "Team/App"}), [PushEvent("team/app", "latest", None, ECR_HOST,
                                                         "13cde686-328b-6117-af20-0e5566167482")]),
    ({**_ecr(), "account": "not-an-account"}, [PushEvent("my-repository-name", "latest", None, None,
                                                         "13cde686-328b-6117-af20-0e5566167482")]),
    # The same event as a CloudEvent's data (EventBridge → a CloudEvents bridge), and its detail alone.
    ({"specversion": "1.0", "type": "aws.ecr.image.action", "source": "aws.ecr", "id": "c1",
      "data": _ecr()}, [PushEvent("my-repository-name", "latest", None, ECR_HOST,
                                  "13cde686-328b-6117-af20-0e5566167482")]),
    ({"specversion": "1.0", "type": "ECR Image Action", "source": "aws.ecr", "id": "c2",
      "data": _ecr()["detail"]}, [PushEvent("my-repository-name", "latest", None, None, "c2")]),
    # Generic CloudEvents image pushes.
    ({"specversion": "1.0", "type": "com.example.image.pushed", "source": "ci", "id": "e1",
      "data": {"repository": "registry.example.com/team/web", "tag": "v1.2.0", "digest": DIGEST}},
     [PushEvent("team/web", "v1.2.0", DIGEST, "registry.example.com", "e1")]),
    ({"specversion": "1.0", "type": "dev.cdevents.artifact.published.0.1.1", "source": "ci", "id": "e2",
      "data": {"image": "registry.example.com/team/web:v2"}}, [Ignored(
        "CloudEvents dev.cdevents.artifact.published.0.1.1 event, not an image push")]),
    ({"specversion": "1.0", "type": "org.example.push", "id": "e3", "data": {"image": "team/web:v3@" + DIGEST}},
     [PushEvent("team/web", "v3", DIGEST, None, "e3")]),
    ({"specversion": "1.0", "type": "org.example.push", "id": "e4", "data": {"repository": "team/web"}},
     [Ignored("CloudEvents push without a tag", "team/web")]),
    ({"specversion": "1.0", "type": "org.example.deleted", "id": "e5", "data": {}},
     [Ignored("CloudEvents org.example.deleted event, not an image push")]),
])
def test_ecr_and_cloudevents_rows(data, expected):
    assert _parse_json(data)[1] == expected


@pytest.mark.parametrize("data,words", [
    ({"specversion": "1.0", "type": "image.push", "data": "flat"}, "without a data object"),
    ({"specversion": "1.0", "type": "image.push", "data": {"tag": "v1"}}, "names no repository"),
    ({"source": "aws.ecr", "detail-type": "ECR Image Action", "detail": []}, "without a detail object"),
    ({"source": "aws.ecr", "detail-type": "ECR Image Action", "detail": {"action-type": "PUSH", "result": "SUCCESS"}},
     "without detail.repository-name"),
    ({"repo_key": "docker-local", "event_type": "pushed", "tag": "v1"}, "without image_name and tag"),
])
def test_new_formats_of_the_wrong_shape_are_payload_errors(data, words):
    with pytest.raises(PayloadError, match=words):
        _parse_json(data)


def test_jfrog_docker_webhook_enveloped_and_alone():
    sha = "35c4a2c15539c6c1e4e5fa4e554dac323ad0107d8eb5c582d6ff386b383b7dce"
    source, events = load("jfrog-docker-pushed.json")
    assert (source, events) == ("jfrog", [PushEvent("library/ubuntu", "latest", f"sha256:{sha}")])
    inner = json.loads((PAYLOADS / "jfrog-docker-pushed.json").read_text())["data"]
    assert _parse_json(inner) == ("jfrog", [PushEvent("library/ubuntu", "latest", f"sha256:{sha}")])
    assert _parse_json({**inner, "event_type": "deleted"}) == (
        "jfrog", [Ignored("Artifactory docker deleted event, not a push", "library/ubuntu")])
    assert _parse_json({**inner, "sha256": "short"})[1][0].digest is None
