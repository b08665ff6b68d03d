"""Image references by Docker's rules (distribution/reference's ParseNormalizedNamed):
[host[:port]/]path[:tag][@digest]. The first path component is a host when it has a '.', a ':',
is 'localhost' or has upper-case letters; docker.io and index.docker.io are Docker Hub, where a
one-component path gets 'library/'; the repository path (without the host, with 'library/' when it
was added) has at most 255 characters, as distribution/reference counts it; 64 hex characters are
an image id, not a repository."""
from __future__ import annotations

import re
from dataclasses import dataclass

from services.errors import BerthError

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
_HOST_RE = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
                      r"|\[[0-9a-fA-F:]+\])(?::[0-9]{1,5})?$")
DOCKER_HUB = "docker.io"
_HUB_ALIASES = {"docker.io", "index.docker.io"}
_IMAGE_ID = re.compile(r"^[a-f0-9]{64}$")
NAME_MAX = 255


class BadReference(BerthError, ValueError):
    """Not an image reference Docker would accept; the message says why."""


@dataclass(frozen=True)
class ImageReference:
    host: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        return f"{self.host}/{self.repository}"

    def __str__(self) -> str:
        out = self.name
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out

    def pinned(self, digest: str) -> str:
        """host/repo@digest: what a runtime pulls so a moved tag cannot change what runs."""
        return f"{self.name}@{digest}"


def check_tag(tag: str) -> str | None:
    if not tag:
        return "Enter a tag."
    if not _TAG_RE.match(tag):
        return "A tag has up to 128 letters, digits, dots, dashes and underscores, not starting with . or -."
    return None


def check_repository(path: str) -> str | None:
    if len(path or "") > NAME_MAX:
        return f"A repository path has at most {NAME_MAX} characters (this one has {len(path)})."
    if not path or not _PATH_RE.match(path):
        return ("A repository is lowercase letters and digits separated by /, ., _ or -, "
                "e.g. team/app.")
    return None


def parse(text: str) -> ImageReference:
    """Parse a reference like nginx:1.27 or 127.0.0.1:5000/team/app@sha256:…; ValueError otherwise."""
    ref = (text or "").strip()
    if not ref:
        raise BadReference("Enter an image reference, e.g. nginx:1.27.")
    if len(ref) > 500 or any(c.isspace() for c in ref):
        raise BadReference("An image reference has no spaces and at most 500 characters.")
    if "://" in ref:
        raise BadReference("Leave out the scheme: write registry.example.com/team/app:tag.")
    name, digest = ref, None
    if "@" in ref:
        name, _, digest = ref.partition("@")
        if not _DIGEST_RE.match(digest):
            raise BadReference("The digest must be sha256: followed by 64 hex characters.")
    tag = None
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, _, tag = name.rpartition(":")
        problem = check_tag(tag)
        if problem:
            raise BadReference(problem)
    if _IMAGE_ID.match(name):
        raise BadReference("That is an image id (64 hexadecimal characters), not a repository name.")
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first.startswith("[")
                or first != first.lower()):
        host, path = first, rest
        if not _HOST_RE.match(host):
            raise BadReference(f"{host} is not a valid registry host.")
    else:
        host, path = DOCKER_HUB, name
    if host.lower() in _HUB_ALIASES:
        host = DOCKER_HUB
    if host == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    if path != path.lower():
        raise BadReference("A repository name must be lowercase.")
    problem = check_repository(path)
    if problem:
        raise BadReference(problem)
    if tag is None and digest is None:
        tag = "latest"
    return ImageReference(host, path, tag, digest)


def is_loopback(host: str) -> bool:
    h = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0][1:]
    return h == "localhost" or h.startswith("127.") or h == "::1"
