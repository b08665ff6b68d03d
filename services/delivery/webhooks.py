"""Registry webhook payloads normalized to push events. Plain values in and out; no Flask, no DB.

Formats: Docker Distribution notification envelopes, Docker Hub, Alibaba Cloud ACR, Harbor (Default
and CloudEvents), Quay, GitHub Container Registry (package / registry_package), Azure Container
Registry, Google Artifact Registry / GCR (Pub/Sub), Keel's native body, and a generic form or JSON
post."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from urllib.parse import parse_qs

from services.errors import BerthError

MANIFEST_TYPES = {
    "application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
}
MAX_EVENTS = 200


class PayloadError(BerthError, ValueError):
    """The body is not a webhook Berth understands; the message says why (answered with 400)."""


@dataclass(frozen=True)
class PushEvent:
    repository: str
    tag: str
    digest: str | None = None
    host: str | None = None
    event_id: str | None = None


@dataclass(frozen=True)
class Ignored:
    reason: str
    repository: str | None = None
    tag: str | None = None


def _is_digest(value: str | None) -> bool:
    return bool(value) and value.startswith("sha256:")


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def _split_ref(ref: str) -> tuple[str | None, str]:
    """An image reference or repository URL, without tag or digest -> (host, path): a scheme
    (https://, docker://) is dropped, and the first path component is a host when it has a '.' or a
    ':' or is 'localhost'. (Docker's rule also takes upper case as a host; a payload's repository
    field is a path, so "Team/Demo" stays the repository team/demo here.)"""
    ref = _SCHEME.sub("", ref.strip()).rstrip("/").split("@", 1)[0]
    last = ref.rsplit("/", 1)
    if ":" in last[-1]:
        ref = ref.rsplit(":", 1)[0]
    first, sep, rest = ref.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first.lower(), rest.lower()
    return None, ref.lower()


def _str(value) -> str | None:
    return value if isinstance(value, str) and value else None


def _distribution_event(event, acr: bool = False) -> PushEvent | Ignored:
    if not isinstance(event, dict):
        raise PayloadError("A notification event is not an object.")
    action, target = event.get("action"), event.get("target")
    if not isinstance(target, dict):
        raise PayloadError("A notification event has no target object.")
    repo, tag = _str(target.get("repository")), _str(target.get("tag"))
    if action != "push":
        return Ignored(f"{action or 'unknown'} event, not a push", repo, tag)
    # ACR's push events are always of manifests, and may leave mediaType out.
    if target.get("mediaType") not in MANIFEST_TYPES and not (acr and target.get("mediaType") is None):
        return Ignored(f"push of a blob ({target.get('mediaType')}), not of a manifest", repo, tag)
    if not repo:
        raise PayloadError("A push event has no repository.")
    if not tag:
        return Ignored("push of an untagged manifest (e.g. a platform image inside an index)", repo)
    request = event.get("request") if isinstance(event.get("request"), dict) else {}
    return PushEvent(repo.lower(), tag, _str(target.get("digest")), _str(request.get("host")),
                     _str(event.get("id")))


def _distribution(data) -> list:
    events = data.get("events")
    if not isinstance(events, list):
        raise PayloadError("'events' must be a list.")
    if len(events) > MAX_EVENTS:
        raise PayloadError(f"More than {MAX_EVENTS} events in one notification.")
    return [_distribution_event(e) for e in events]


def _namespaced(repo: dict, full: str) -> str | None:
    """A repository's full name: `full` (repo_name, repo_full_name), else namespace + name, as the
    peers read payloads that leave the full name out."""
    name = _str(repo.get(full))
    if name:
        return name
    namespace, short = _str(repo.get("namespace")), _str(repo.get("name"))
    return f"{namespace}/{short}" if namespace and short else short


def _dockerhub(data) -> tuple[str, list]:
    """Docker Hub's push_data body, or Alibaba Cloud ACR's, which has the same shape plus a region,
    repo_full_name and the pushed digest."""
    push, repo = data.get("push_data"), data.get("repository")
    if not isinstance(push, dict) or not isinstance(repo, dict):
        raise PayloadError("Docker Hub payload needs push_data and repository objects.")
    region = _str(repo.get("region"))
    if region and "repo_name" not in repo:  # Alibaba Cloud Container Registry
        name, tag = _namespaced(repo, "repo_full_name"), _str(push.get("tag"))
        if not name:
            raise PayloadError("Alibaba Cloud ACR payload has no repository.repo_full_name.")
        if not tag:
            return "aliyun", [Ignored("Alibaba Cloud ACR push without a tag", name.lower())]
        if not re.fullmatch(r"[a-z0-9-]{1,40}", region):
            raise PayloadError("Alibaba Cloud ACR payload names no region.")
        digest = _str(push.get("digest"))
        return "aliyun", [PushEvent(name.lower(), tag, digest if _is_digest(digest) else None,
                                    f"registry.{region}.aliyuncs.com")]
    name, tag = _namespaced(repo, "repo_name"), _str(push.get("tag"))
    if not name:
        raise PayloadError("Docker Hub payload has no repository.repo_name (nor namespace and name).")
    if not tag:
        return "dockerhub", [Ignored("Docker Hub push without a tag", name.lower())]
    name = name.lower() if "/" in name else f"library/{name.lower()}"
    return "dockerhub", [PushEvent(name, tag, None, "docker.io", f"dockerhub:{name}:{tag}:{push.get('pushed_at')}")]


def _harbor(data, event_type: str, event_data, event_id=None) -> list:
    # PUSH_ARTIFACT: Harbor 2 (Default); harbor.artifact.pushed: CloudEvents; pushImage: Harbor 1.x.
    if event_type not in ("PUSH_ARTIFACT", "harbor.artifact.pushed", "pushImage"):
        return [Ignored(f"Harbor {event_type} event, not a push")]
    if not isinstance(event_data, dict):
        raise PayloadError("Harbor payload has no event data.")
    repo = event_data.get("repository") if isinstance(event_data.get("repository"), dict) else {}
    name = _namespaced(repo, "repo_full_name")
    resources = event_data.get("resources")
    if not name or not isinstance(resources, list):
        raise PayloadError("Harbor payload needs repository.repo_full_name (or namespace and name) and resources.")
    out = []
    for res in resources[:MAX_EVENTS]:
        if not isinstance(res, dict):
            raise PayloadError("A Harbor resource is not an object.")
        tag, digest = _str(res.get("tag")), _str(res.get("digest"))
        host = _split_ref(res["resource_url"])[0] if _str(res.get("resource_url")) else None
        if not tag or _is_digest(tag):  # pushed by digest: Harbor puts the digest in "tag"
            out.append(Ignored("Harbor push by digest, without a tag", name.lower()))
        else:
            out.append(PushEvent(name.lower(), tag, digest, host, event_id))
    return out


def _quay(data) -> list:
    docker_url, name = _str(data.get("docker_url")), _str(data.get("repository"))
    if not name:
        raise PayloadError("Quay payload has no repository.")
    host = _split_ref(docker_url)[0] if docker_url else None
    tags = data.get("updated_tags")
    if isinstance(tags, dict):  # very old quay.io format: {tag: image_id}
        tags = list(tags)
    if not isinstance(tags, list) or not tags:
        return [Ignored("Quay event without updated tags", name.lower())]
    return [PushEvent(_split_ref(name)[1], t, None, host) for t in tags[:MAX_EVENTS] if isinstance(t, str) and t]


def _github(data, event: str) -> list:
    if data.get("action") not in ("published", "updated"):
        return [Ignored(f"GitHub {event} {data.get('action')} event, not a publish")]
    package = data.get(event)
    if not isinstance(package, dict):
        raise PayloadError(f"GitHub {event} payload has no {event} object.")
    kinds = {str(package.get("package_type", "")).lower(), str(package.get("ecosystem", "")).lower()}
    if not kinds & {"container", "docker"}:
        return [Ignored(f"GitHub package of type {package.get('package_type')}, not a container")]
    version = package.get("package_version") if isinstance(package.get("package_version"), dict) else {}
    meta = version.get("container_metadata") if isinstance(version.get("container_metadata"), dict) else {}
    tag_info = meta.get("tag") if isinstance(meta.get("tag"), dict) else {}
    url = _str(version.get("package_url"))
    host, name = _split_ref(url) if url else ("ghcr.io", f"{_github_owner(data, package)}/{package.get('name', '')}"
                                              .lower())
    if not name.strip("/") or name.startswith("/") or name.endswith("/"):
        raise PayloadError(f"GitHub {event} payload names no owner and package.")
    tag, digest = _str(tag_info.get("name")), _str(tag_info.get("digest")) or _str(version.get("name"))
    if not tag and _str(version.get("name")) and not _is_digest(version.get("name")):
        tag = version["name"]  # a version named by its tag, as the peers read it
    if not tag:
        return [Ignored("GitHub package version without a tag", name)]
    return [PushEvent(name, tag, digest if _is_digest(digest) else None, host or "ghcr.io",
                      f"github:{version.get('id')}")]


def _github_owner(data, package) -> str:
    """Who owns a package without package_url: the organization, else the package's owner."""
    for holder in (data.get("organization"), package.get("owner"), data.get("repository", {}).get("owner")
                   if isinstance(data.get("repository"), dict) else None):
        login = _str(holder.get("login")) if isinstance(holder, dict) else None
        if login:
            return login
    return _str(package.get("namespace")) or ""


def _gcr(message) -> list:
    if message.get("action") != "INSERT":
        return [Ignored(f"Artifact Registry {message.get('action')} event, not an insert")]
    tag_ref, digest_ref = _str(message.get("tag")), _str(message.get("digest"))
    if not tag_ref:
        return [Ignored("Artifact Registry push by digest, without a tag",
                        _split_ref(digest_ref)[1] if digest_ref else None)]
    host, name = _split_ref(tag_ref)
    tag = tag_ref.rsplit(":", 1)[1]
    digest = digest_ref.split("@", 1)[1] if digest_ref and "@" in digest_ref else None
    return [PushEvent(name, tag, digest, host)]


_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def _exact_digest(value) -> str | None:
    """A well-formed sha256 digest, or None (vendors' own samples carry shortened ones)."""
    return value if isinstance(value, str) and _DIGEST.match(value) else None


def _ecr_eventbridge(event: dict) -> list:
    """Amazon ECR's "ECR Image Action" event as EventBridge delivers it (an API destination, or
    inside a CloudEvent): pushes that succeeded, with a tag, in the event's account and region."""
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise PayloadError("ECR Image Action event without a detail object.")
    name, tag = _str(detail.get("repository-name")), _str(detail.get("image-tag"))
    action, result = detail.get("action-type"), detail.get("result")
    if action != "PUSH":
        return [Ignored(f"ECR {str(action)[:20]} action, not a push", name)]
    if result != "SUCCESS":
        return [Ignored(f"ECR push that did not succeed ({str(result)[:20]})", name)]
    if not name:
        raise PayloadError("ECR Image Action event without detail.repository-name.")
    if not tag:
        return [Ignored("ECR push by digest, without a tag", name.lower())]
    account, region = _str(event.get("account")), _str(event.get("region"))
    host = (f"{account}.dkr.ecr.{region}.amazonaws.com" if account and region and re.fullmatch(r"\d{12}", account)
            and re.fullmatch(r"[a-z0-9-]{1,30}", region) else None)
    return [PushEvent(name.lower(), tag, _exact_digest(detail.get("image-digest")), host, _str(event.get("id")))]


def _cloudevent(data: dict) -> list:
    """A CloudEvent in structured mode (specversion, type, data): an image push whose data names the
    repository and tag (or an image reference), or an ECR Image Action relayed through EventBridge."""
    kind, payload = str(data.get("type", ""))[:200], data.get("data")
    if isinstance(payload, dict) and payload.get("detail-type") == "ECR Image Action":
        return _ecr_eventbridge(payload)
    if data.get("source") == "aws.ecr" and isinstance(payload, dict) and "repository-name" in payload:
        return _ecr_eventbridge({"detail": payload, "id": data.get("id")})
    if not re.search(r"push", kind, re.IGNORECASE):
        return [Ignored(f"CloudEvents {kind or 'untyped'} event, not an image push")]
    if not isinstance(payload, dict):
        raise PayloadError("CloudEvents image push without a data object.")
    image = _str(payload.get("image")) or _str(payload.get("reference"))
    repo, tag = _str(payload.get("repository")), _str(payload.get("tag"))
    if image and not repo:
        last = image.split("@", 1)[0].rsplit("/", 1)[-1]
        repo, tag = image, tag or (last.rsplit(":", 1)[1] if ":" in last else None)
    if not repo:
        raise PayloadError("CloudEvents image push: data names no repository (or image).")
    if not tag:
        return [Ignored("CloudEvents push without a tag", _split_ref(repo)[1])]
    host, name = _split_ref(repo)
    digest = _exact_digest(payload.get("digest")) or (_exact_digest(image.split("@", 1)[1]) if image and "@" in image
                                                      else None)
    return [PushEvent(name, tag, digest, host, _str(data.get("id")))]


def _jfrog(data: dict) -> list:
    """JFrog Artifactory's Docker webhook (domain docker; the event alone, as the docs show it, or in
    the envelope Artifactory posts): `pushed` events name the image, its tag and the manifest's
    sha256 within a repository key."""
    event_type = str(data.get("event_type", ""))[:30]
    name, tag = _str(data.get("image_name")), _str(data.get("tag"))
    if event_type != "pushed":
        return [Ignored(f"Artifactory docker {event_type or 'untyped'} event, not a push", name)]
    if not name or not tag:
        raise PayloadError("Artifactory docker push without image_name and tag.")
    sha = data.get("sha256")
    return [PushEvent(name.lower(), tag, _exact_digest(f"sha256:{sha}") if isinstance(sha, str) else None)]


def _generic(data) -> list:
    repo, tag = data.get("repository"), data.get("tag")
    if not isinstance(repo, str) or not repo.strip() or not isinstance(tag, str) or not tag.strip():
        raise PayloadError("Send 'repository' and 'tag' (and optionally 'digest') as strings.")
    digest = data.get("digest")
    if digest is not None and not (isinstance(digest, str) and _is_digest(digest)):
        raise PayloadError("'digest' must look like sha256:….")
    host, name = _split_ref(repo.strip())
    return [PushEvent(name, tag.strip(), digest, host)]


def parse(headers, body: bytes) -> tuple[str, list[PushEvent | Ignored]]:
    """(source, events) for one delivery; PayloadError when the body is not understood."""
    source, events = _parse(headers, body)
    for event in events:
        if any(_CONTROL.search(value) for value in (event.repository, event.tag) if isinstance(value, str)):
            raise PayloadError("Repository and tag names cannot contain control characters.")
    return source, events


# NUL and the other control characters: never in a repository or tag name (nor storable everywhere).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _parse(headers, body: bytes) -> tuple[str, list[PushEvent | Ignored]]:
    if b"\x00" in body:
        raise PayloadError("The body contains NUL bytes.")
    content_type = (headers.get("Content-Type") or "").split(";")[0].strip().lower()
    github_event = headers.get("X-GitHub-Event")
    if content_type == "application/x-www-form-urlencoded":
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        return "generic", _generic(form)
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        raise PayloadError("The body is not JSON (or a form post).") from e
    except RecursionError as e:
        raise PayloadError("The JSON body is nested deeper than any registry notification.") from e
    if not isinstance(data, dict):
        raise PayloadError("The body must be a JSON object.")
    if github_event in ("package", "registry_package"):
        return "ghcr", _github(data, github_event)
    if github_event:
        return "ghcr", [Ignored(f"GitHub {github_event} event, not a package event")]
    if "events" in data:
        return "distribution", _distribution(data)
    if "push_data" in data:
        return _dockerhub(data)
    if "event_data" in data and isinstance(data.get("type"), str):
        return "harbor", _harbor(data, data["type"], data["event_data"])
    if data.get("specversion") and str(data.get("type", "")).startswith("harbor."):
        return "harbor", _harbor(data, data["type"], data.get("data"), _str(data.get("id")))
    if data.get("source") == "aws.ecr" and "detail-type" in data:
        if data["detail-type"] != "ECR Image Action":
            return "ecr", [Ignored(f"ECR {str(data['detail-type'])[:40]} event, not an image push")]
        return "ecr", _ecr_eventbridge(data)
    if data.get("specversion"):
        return "cloudevents", _cloudevent(data)
    if "repo_key" in data and "event_type" in data:
        return "jfrog", _jfrog(data)
    if data.get("domain") == "docker" and isinstance(data.get("data"), dict) and "event_type" in data:
        return "jfrog", _jfrog(data["data"])  # as Artifactory sends it: the event inside an envelope
    if "updated_tags" in data or "docker_url" in data:
        return "quay", _quay(data)
    if "action" in data and isinstance(data.get("target"), dict):
        return "acr", [_distribution_event(data, acr=True)]
    if isinstance(data.get("message"), dict) and "data" in data["message"]:
        try:
            inner = json.loads(base64.b64decode(data["message"]["data"]))
        except (ValueError, TypeError, RecursionError) as e:
            raise PayloadError("Pub/Sub message data is not base64 JSON.") from e
        if not isinstance(inner, dict):
            raise PayloadError("Pub/Sub message data is not an object.")
        return "gcr", _gcr(inner)
    if data.get("action") in ("INSERT", "DELETE"):
        return "gcr", _gcr(data)
    if "repository" in data and "tag" in data:
        return "generic", _generic(data)
    if "name" in data and "tag" in data:  # Keel's native webhook: {"name", "tag"[, "digest"]}
        return "keel", _generic({"repository": data["name"], "tag": data["tag"], "digest": data.get("digest")})
    raise PayloadError("Berth does not recognise this payload: expected a registry notification, or "
                       "'repository' and 'tag'.")


def signature_ok(secret: str, headers, body: bytes) -> bool:
    """True when the request carries the shared secret: Authorization (Bearer or bare) or an
    X-Hub-Signature-256 HMAC of the body. Compared in constant time."""
    auth = headers.get("Authorization") or ""
    if auth:
        token = auth[7:] if auth.lower().startswith("bearer ") else auth
        if hmac.compare_digest(token.encode(), secret.encode()):
            return True
    signature = headers.get("X-Hub-Signature-256") or ""
    if signature.startswith("sha256="):
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(signature.encode(), expected.encode())
    return False
