"""Client for the Docker Registry HTTP API v2 (Distribution, Docker Hub's registry, Harbor, ...)."""
from __future__ import annotations

import hashlib
import re
import threading
import time
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit, urlunsplit

import requests

from services.registries.clients import errors
from services.registries.clients.answers import as_dict, as_list, as_size, as_str
from services.registries.clients.credentials import CredentialError, StaticCredentials
from services.registries.clients.http import HttpSettings, Response, send
from services.registries.clients.types import (
    ImageDetails,
    RepoPage,
    TagInfo,
    TagList,
    TagSearch,
    parse_time,
    platform_of,
)

MANIFEST_TYPES = [
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
]
INDEX_TYPES = set(MANIFEST_TYPES[:2])
ACCEPT = ", ".join(MANIFEST_TYPES)
MAX_PAGES = 1000
MAX_REFERRER_PAGES, MAX_REFERRERS = 4, 256
# Registries found without the referrers API (base URL → until when): asked again after an hour.
_NO_REFERRERS_API: dict[str, float] = {}
REFERRERS_API_RECHECK = 3600.0
KNOWN_REALM_HOSTS = {"registry.gitlab.com": ("gitlab.com",), "registry-1.docker.io": ("auth.docker.io",)}
# Longest names kept from a listing: a tag has at most 128 characters, a repository path 255.
MAX_NAME = {"tags": 128, "repositories": 255}
_CHALLENGE_RE = re.compile(r'(\w+)="([^"]*)"')
_LINK_RE = re.compile(r'^\s*<([^>]*)>\s*;\s*rel="?next"?\s*$')


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    scheme, _, rest = header.strip().partition(" ")
    return scheme.lower(), dict(_CHALLENGE_RE.findall(rest))


def _path_of(url: str) -> str:
    parts = urlsplit(url)
    return (parts.path + ("?" + parts.query if parts.query else ""))[:200]


def _descriptors(index) -> list[dict]:
    """The usable entries of an image index's `manifests` (a digest each): a registry's odd answer
    is read around."""
    manifests = index.get("manifests") if isinstance(index, dict) else None
    return [m for m in as_list(manifests) if isinstance(m, dict) and isinstance(m.get("digest"), str)]


def _with_page_size(url: str, size: int) -> str:
    """A next-page link asking for `size` items (the registry chose a smaller default)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "n"]
    return urlunsplit(parts._replace(query=urlencode([*query, ("n", str(size))])))


def parse_next_link(header: str | None, base_url: str) -> str | None:
    """The URL of the next page from a `Link: <...>; rel="next"` header, same host only."""
    if not header:
        return None
    for part in header.split(","):
        m = _LINK_RE.match(part)
        if m:
            target = urljoin(base_url, m.group(1))
            if urlsplit(target).netloc != urlsplit(base_url).netloc:
                raise errors.RegistryProtocolError("The registry's Link header points to another host.")
            return target
    raise errors.RegistryProtocolError(f"The registry sent a Link header Berth cannot read: {header[:100]!r}")


class RegistryV2Client:
    """Speaks the Registry v2 API with Basic or Bearer-token auth; tokens cached per scope.

    The username and password come from `credentials` (services.registries.clients.credentials), asked on
    every request: a cloud registry's short-lived password is renewed there, ahead of its expiry and
    once more when the registry answers 401 to it."""

    searches_tags = False  # the v2 API cannot filter: search_tags reads the whole list

    def __init__(self, url: str, username: str | None = None, password: str | None = None,
                 settings: HttpSettings | None = None, session: requests.Session | None = None,
                 realm_hosts: tuple[str, ...] = (), credentials=None):
        self.base = url.rstrip("/")
        self.credentials = credentials or StaticCredentials(username, password)
        self.settings = settings or HttpSettings()
        self.session = session or requests.Session()
        # Where the credentials may go for a token: the registry's own host, its known token
        # service (gitlab.com's registry signs in at gitlab.com), these, and those the user confirmed.
        host = urlsplit(self.base).hostname
        self.realm_hosts = {host, *KNOWN_REALM_HOSTS.get(host, ()), *realm_hosts, *self.settings.token_hosts}
        self._tokens: dict[str, tuple[str, float]] = {}
        self._basic = False
        self._lock = threading.Lock()
        # Whether tags/list without `n` answers the whole list (Distribution does, and counting
        # to `n` costs it a sort); None until the first listing says, False for a registry that
        # pages anyway (its later listings ask for the largest pages from the start).
        self._whole_lists: bool | None = None
        # The token service's realm and service, once a challenge named them.
        self._challenge: dict[str, str] | None = None

    # -- the one request path -------------------------------------------------------------
    def request(self, method: str, path_or_url: str, *, scope: str = "", headers=None,
                params=None, max_bytes=None) -> Response:
        used = self.credentials.get()
        try:
            return self._request(method, path_or_url, scope, headers, params, max_bytes)
        except CredentialError:
            raise
        except errors.RegistryAuthError:
            if not self.credentials.renews:
                raise
        # The registry refused a cloud token before its time (revoked, or a clock off): renew it
        # once, forget the access tokens it bought, and try again.
        self.credentials.renew(used)
        with self._lock:
            self._tokens.clear()
        return self._request(method, path_or_url, scope, headers, params, max_bytes)

    def _request(self, method, path_or_url, scope, headers, params, max_bytes) -> Response:
        url = path_or_url if path_or_url.startswith(("http://", "https://")) else self.base + path_or_url
        if scope and self._challenge is not None and self._token(scope) is None:
            # The token service is known from an earlier challenge: a new scope (or an expired
            # token) is bought first, not found out by a 401 that costs the registry a request.
            self._fetch_token(self._challenge, scope)
        response = send(self.session, self.settings, method, url, headers=self._auth(scope, headers),
                        params=params, max_bytes=max_bytes)
        if response.status == 401:
            challenge = response.headers.get("WWW-Authenticate", "")
            scheme, params_ = parse_challenge(challenge)
            if scheme == "bearer" and params_.get("realm"):
                self._fetch_token(params_, scope or params_.get("scope", ""))
                self._challenge = {k: v for k, v in params_.items() if k in ("realm", "service")}
            elif scheme == "basic" and self.credentials.get():
                self._basic = True
            else:
                raise self._status_error(response)
            response = send(self.session, self.settings, method, url,
                            headers=self._auth(scope or params_.get("scope", ""), headers),
                            params=params, max_bytes=max_bytes)
        if response.status >= 400:
            raise self._status_error(response)
        return response

    def _token(self, scope: str) -> str | None:
        """The access token bought for `scope`, while it is still valid."""
        with self._lock:
            token = self._tokens.get(scope)
        return token[0] if token and token[1] > time.time() else None

    def _auth(self, scope: str, headers) -> dict:
        out = dict(headers or {})
        token = self._token(scope)
        if token:
            out["Authorization"] = f"Bearer {token}"
        elif self._basic:
            credential = self.credentials.get()
            if credential:
                out["Authorization"] = requests.auth._basic_auth_str(credential.username, credential.password)
        return out

    def _fetch_token(self, challenge: dict[str, str], scope: str) -> None:
        params = {"service": challenge.get("service", "")}
        if scope:
            params["scope"] = scope
        credential = self.credentials.get()
        auth = (credential.username, credential.password) if credential else None
        realm = urlsplit(challenge["realm"])
        if realm.scheme not in ("http", "https") or not realm.hostname:
            raise errors.RegistryProtocolError(f"The registry named a token service Berth cannot use: "
                                               f"{challenge['realm'][:100]!r}.")
        if auth is not None and (realm.hostname not in self.realm_hosts or
                                 realm.scheme == "http" and self.base.startswith("https://")):
            raise errors.RegistryAuthError(
                f"The registry sends sign-ins to {realm.scheme}://{realm.hostname}, not to its own host; Berth "
                "does not send the registry's credentials there unless you name that host as the token "
                "service on the registry's settings.")
        response = send(self.session, self.settings, "GET", challenge["realm"], params=params,
                        auth=auth, max_bytes=1024 * 1024)
        if response.status in (401, 403):
            raise errors.RegistryAuthError(
                "The registry's token service rejected the credentials (401): check the username "
                "and password or token.", status=response.status, response=response)
        if response.status >= 400:
            raise errors.RegistryProtocolError(
                f"The registry's token service answered {response.status}.", status=response.status,
                response=response)
        data = response.json()
        token = data.get("token") or data.get("access_token") if isinstance(data, dict) else None
        if not token:
            raise errors.RegistryProtocolError("The registry's token service sent no token.")
        expires_in = data.get("expires_in") or 60
        try:
            expires_at = time.time() + max(10, int(expires_in)) - 5
        except (TypeError, ValueError):
            expires_at = time.time() + 55
        with self._lock:
            self._tokens[scope] = (token, expires_at)

    def _status_error(self, response: Response) -> errors.RegistryError:
        status = response.status
        who = "these credentials" if self.credentials.get() else "anonymous access"
        message = {401: f"The registry refused {who} (401 Unauthorized): check the username and password "
                        "or token.",
                   403: "The registry answered 403 Forbidden: the account may not do this.",
                   404: "Not found in the registry (404)."}.get(status, f"The registry answered {status}.")
        return errors.for_status(status, message + errors.detail_of(response.body), response=response)

    # -- API --------------------------------------------------------------------------------
    def ping(self) -> str:
        """Check that this is a v2 registry and that the credentials work."""
        try:
            response = self.request("GET", "/v2/")
        except errors.RegistryNotFound as e:
            raise errors.RegistryProtocolError(
                "This server has no Registry v2 API at /v2/ (404): is the URL a container registry?",
                status=404) from e
        is_registry = "docker-distribution-api-version" in response.headers or \
            response.body.strip() in (b"{}", b"") or response.headers.get(
                "Content-Type", "").startswith("application/json")
        if not is_registry:
            raise errors.RegistryProtocolError(
                "The server answered /v2/ with something other than the Registry API (HTML?): "
                "is the URL a container registry?", status=response.status)
        return "Connected: the registry answered the v2 API."

    def _paged_list(self, path: str, key: str, scope: str, page_size: int, limit: int,
                    ask_size: bool = True) -> list[str]:
        """Follow `Link: <…>; rel="next"` pages of a list answer (catalog, tags) up to `limit` items;
        without `ask_size` the first request leaves the page size to the registry, and the next
        pages, if it pages, ask for `page_size`."""
        items: list[str] = []
        url: str | None = path
        params = {"n": str(page_size)} if ask_size else None
        seen: set[str] = set()
        longest = MAX_NAME[key]
        for _ in range(MAX_PAGES):
            if url is None or len(items) >= limit:
                break
            response = self.request("GET", url, scope=scope, params=params)
            seen.add(response.url)
            data = response.json()
            page = data.get(key) if isinstance(data, dict) else None
            if page is None and key == "tags" and isinstance(data, dict):
                page = []  # a repository whose tags were all deleted answers "tags": null
            if not isinstance(page, list):
                raise errors.RegistryProtocolError(f"The registry's answer has no {key} list.")
            # Names arrive as strings of sane length; look one by one only when a registry sends others.
            if set(map(type, page)) <= {str} and max(map(len, page), default=0) <= longest:
                items.extend(page)
            else:
                items.extend(n for n in page if isinstance(n, str) and 0 < len(n) <= longest)
            url = parse_next_link(response.headers.get("Link"), response.url)
            if url in seen:
                raise errors.RegistryProtocolError(
                    f"The registry's Link header points back to a page already read ({_path_of(url)}); "
                    f"stopped after {len(seen)} page(s).")
            if not ask_size:
                if key == "tags" and len(seen) == 1:
                    self._whole_lists = url is None
                if url is not None:
                    url = _with_page_size(url, page_size)
                    seen.add(url)  # asked for as rewritten: a link back to it is a loop too
            params = None  # the next link carries its own query
        return items[:limit]

    def catalog_all(self, limit: int = 10000) -> list[str]:
        return self._paged_list("/v2/_catalog", "repositories", "registry:catalog:*", 1000, limit)

    def repositories(self, query: str = "", page: int = 1, per_page: int = 50) -> RepoPage:
        names = sorted(r for r in self.catalog_all() if query.lower() in r.lower())
        start = (page - 1) * per_page
        return RepoPage(names[start:start + per_page], len(names), page, per_page)

    def tag_names(self, repository: str) -> list[str]:
        return self._paged_list(f"/v2/{repository}/tags/list", "tags", pull_scope(repository), 10000,
                                MAX_PAGES * 10000, ask_size=self._whole_lists is False)

    def tag_list(self, repository: str) -> TagList:
        return TagList(self.tag_names(repository))

    def search_tags(self, repository: str, query: str, limit: int) -> TagSearch:
        """The newest `limit` tags containing `query`, from the whole list (the API cannot filter)."""
        tags = self.tag_list(repository)
        shown, matched = tags.search(query, limit)
        return TagSearch(shown, matched, len(tags))

    def manifest_digest(self, repository: str, reference: str) -> str:
        response = self.request("HEAD", f"/v2/{repository}/manifests/{quote(reference, safe=':@')}",
                                scope=pull_scope(repository), headers={"Accept": ACCEPT})
        digest = response.headers.get("Docker-Content-Digest")
        if not digest:
            return self.manifest(repository, reference)[0]
        return digest

    def manifest(self, repository: str, reference: str) -> tuple[str, str, dict]:
        """(digest, media type, parsed manifest)."""
        response = self.request("GET", f"/v2/{repository}/manifests/{quote(reference, safe=':@')}",
                                scope=pull_scope(repository), headers={"Accept": ACCEPT},
                                max_bytes=4 * 1024 * 1024)
        digest = response.headers.get("Docker-Content-Digest") or \
            "sha256:" + hashlib.sha256(response.body).hexdigest()
        data = response.json()
        if not isinstance(data, dict):
            raise errors.RegistryProtocolError("The manifest is not a JSON object.")
        media_type = data.get("mediaType") or response.headers.get("Content-Type", "").split(";")[0]
        if media_type not in MANIFEST_TYPES and "manifests" in data:
            media_type = MANIFEST_TYPES[0]
        return digest, media_type, data

    def referrers(self, repository: str, digest: str) -> tuple[str, list[dict]]:
        """The manifests whose subject is `digest`: (a token that changes when they do, "-" when there
        are none; their descriptors, each a dict with at least a digest). The OCI 1.1 referrers API,
        following at most MAX_REFERRER_PAGES `Link` pages; a registry without it (404) keeps them in an
        image index under the tag sha256-<hex> (the referrers tag schema), as cosign writes it there."""
        url: str | None = f"/v2/{repository}/referrers/{digest}"
        found: list[dict] = []
        token = hashlib.sha256()
        try:
            if time.monotonic() < _NO_REFERRERS_API.get(self.base, 0):
                raise errors.RegistryNotFound("known to have no referrers API")
            for _ in range(MAX_REFERRER_PAGES):
                response = self.request("GET", url, scope=pull_scope(repository), max_bytes=1024 * 1024,
                                        headers={"Accept": MANIFEST_TYPES[0]})
                token.update(response.body)
                found += _descriptors(response.json())
                url = parse_next_link(response.headers.get("Link"), response.url)
                if url is None:
                    break
            return ("sha256:" + token.hexdigest()) if found else "-", found[:MAX_REFERRERS]
        except errors.RegistryNotFound:
            _NO_REFERRERS_API[self.base] = time.monotonic() + REFERRERS_API_RECHECK
        try:
            index_digest, _media_type, data = self.manifest(repository, digest.replace(":", "-", 1))
        except errors.RegistryNotFound:
            return "-", []
        return index_digest, _descriptors(data)[:MAX_REFERRERS]

    def blob_json(self, repository: str, digest: str) -> dict:
        response = self.request("GET", f"/v2/{repository}/blobs/{digest}", scope=pull_scope(repository),
                                max_bytes=4 * 1024 * 1024)
        data = response.json()
        return data if isinstance(data, dict) else {}

    def blob(self, repository: str, digest: str, max_bytes: int) -> bytes:
        """A blob's bytes, at most `max_bytes` (the caller checks them against `digest`)."""
        return self.request("GET", f"/v2/{repository}/blobs/{digest}", scope=pull_scope(repository),
                            max_bytes=max_bytes).body

    def image_details(self, repository: str, reference: str) -> ImageDetails:
        digest, media_type, data = self.manifest(repository, reference)
        details = ImageDetails(repository, reference, digest, media_type)
        image = data
        if media_type in INDEX_TYPES or "manifests" in data:
            # Children without a digest cannot be fetched: they are left out.
            children = [m for m in as_list(data.get("manifests")) if isinstance(m, dict) and as_str(m.get("digest"))]
            details.platforms = [p for p in (platform_of(m.get("platform")) for m in children) if p]
            chosen = _pick_platform(children)
            if chosen is None:
                return details
            _, _, image = self.manifest(repository, chosen["digest"])
        layers = [as_dict(x) for x in as_list(image.get("layers"))]
        config_ref = as_dict(image.get("config"))
        details.size = sum(as_size(x.get("size")) for x in layers) + as_size(config_ref.get("size"))
        if as_str(config_ref.get("digest")):
            config = self.blob_json(repository, config_ref["digest"])
            details.created = parse_time(config.get("created"))
            if not details.platforms and config.get("os"):
                details.platforms = [platform_of(config) or ""]
            cfg = as_dict(config.get("config"))
            details.exposed_ports = _ports(cfg.get("ExposedPorts"))
            details.env = _env(cfg.get("Env"))
            details.entrypoint = _words(cfg.get("Entrypoint"))
            details.cmd = _words(cfg.get("Cmd"))
            details.command = details.entrypoint + details.cmd
        return details

    def tag_info(self, repository: str, tag: str) -> TagInfo:
        d = self.image_details(repository, tag)
        return TagInfo(tag, d.digest, d.size, d.created, d.platforms)


def pull_scope(repository: str) -> str:
    return f"repository:{repository}:pull"


def _pick_platform(children: list[dict]) -> dict | None:
    for child in children:
        if platform_of(child.get("platform")) == "linux/amd64":
            return child
    real = [c for c in children if platform_of(c.get("platform"))]
    return (real or children or [None])[0]


def _words(value, limit: int = 64, size: int = 4096) -> list[str]:
    """An image config's Entrypoint or Cmd: strings only, a bounded number of bounded length."""
    return [x[:size] for x in as_list(value) if isinstance(x, str)][:limit]


def _ports(exposed) -> list[tuple[int, str]]:
    out = []
    for key in as_dict(exposed):
        number, _, proto = str(key).partition("/")
        if number.isdigit() and 0 < int(number) < 65536:
            out.append((int(number), (proto or "tcp").upper()))
    return sorted(out)


def _env(env) -> list[tuple[str, str]]:
    out = []
    for item in as_list(env):
        if not isinstance(item, str):
            continue
        name, sep, value = item.partition("=")
        if sep and name:
            out.append((name, value))
    return out
