"""Docker Hub: its own API (hub.docker.com) for browsing, registry-1.docker.io for images."""
from __future__ import annotations

import json
import threading
from datetime import datetime
from urllib.parse import quote

import requests

from services.registries.clients import errors
from services.registries.clients.answers import as_list, as_size, as_str
from services.registries.clients.credentials import StaticCredentials
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
from services.registries.clients.v2 import RegistryV2Client

HUB_API = "https://hub.docker.com"
HUB_REGISTRY = "https://registry-1.docker.io"
HUB_AUTH_HOST = "auth.docker.io"  # Docker Hub's token service, on another host than its registry
PAGE_SIZE = 100
MAX_TAG_PAGES = 100


def hub_repository(name: str) -> str:
    """Official images live under library/: nginx -> library/nginx."""
    return name if "/" in name else f"library/{name}"


class DockerHubClient:
    searches_tags = True  # filtered and ordered at the source: one request per search

    def __init__(self, username: str | None = None, password: str | None = None,
                 settings: HttpSettings | None = None, session: requests.Session | None = None,
                 api_url: str = HUB_API, registry_url: str = HUB_REGISTRY):
        self.api_url = api_url.rstrip("/")
        self.username, self.password = username or None, password or None
        self.settings = settings or HttpSettings()
        self.session = session or requests.Session()
        self.registry = RegistryV2Client(registry_url, username, password, self.settings, self.session,
                                         realm_hosts=(HUB_AUTH_HOST,))
        self._jwt: str | None = None
        self._lock = threading.Lock()

    @property
    def credentials(self) -> StaticCredentials:
        """The user's credentials, as its registry endpoint uses them."""
        return self.registry.credentials

    def api(self, path: str, params=None) -> Response:
        response = send(self.session, self.settings, "GET", self.api_url + path, params=params,
                        headers=self._headers())
        if response.status >= 400:
            raise self._error(response)
        return response

    def _headers(self) -> dict:
        headers = {"Accept": "application/json"}
        if self.username and self.password:
            headers["Authorization"] = f"Bearer {self._login()}"
        return headers

    def _login(self) -> str:
        with self._lock:
            if self._jwt:
                return self._jwt
            response = send(self.session, self.settings, "POST", self.api_url + "/v2/users/login",
                            headers={"Content-Type": "application/json"},
                            data=json.dumps({"username": self.username, "password": self.password}))
            if response.status in (401, 403):
                raise errors.RegistryAuthError(
                    "Docker Hub rejected the username or access token (401).", status=response.status,
                    response=response)
            if response.status >= 400:
                raise self._error(response)
            data = response.json()
            token = data.get("token") if isinstance(data, dict) else None
            if not token:
                raise errors.RegistryProtocolError("Docker Hub's login answer has no token.")
            self._jwt = token
            return token

    def _error(self, response: Response) -> errors.RegistryError:
        return errors.for_status(response.status, f"Docker Hub API error {response.status}."
                                 + errors.detail_of(response.body, hub=True), response=response)

    def ping(self) -> str:
        if self.username and self.password:
            self._login()
            self.api(f"/v2/repositories/{quote(self.username)}/", params={"page_size": 1})
            return f"Connected to Docker Hub as {self.username}."
        self.api("/v2/repositories/library/", params={"page_size": 1})
        return "Connected to Docker Hub anonymously (public images only)."

    def namespaces(self) -> list[str]:
        if not self.username:
            return ["library"]
        names = [self.username]
        try:
            data = self.api("/v2/user/orgs/", params={"page_size": PAGE_SIZE}).json()
            names += [o.get("orgname") for o in data.get("results", []) if o.get("orgname")]
        except errors.RegistryError:
            pass  # an access token without org scope still lists the user's own repositories
        return names

    def repositories(self, query: str = "", page: int = 1, per_page: int = 50) -> RepoPage:
        namespace, _, rest = query.partition("/")
        namespaces = [namespace] if rest or query.endswith("/") else self.namespaces()
        needle = (rest if namespaces == [namespace] else query).lower()
        names: list[str] = []
        for ns in namespaces:
            data = self.api(f"/v2/repositories/{quote(ns)}/", params={"page_size": PAGE_SIZE}).json()
            for r in data.get("results", []) if isinstance(data, dict) else []:
                full = f"{r.get('namespace', ns)}/{r.get('name')}"
                if needle in full.lower():
                    names.append(full)
        names.sort()
        start = (page - 1) * per_page
        return RepoPage(names[start:start + per_page], len(names), page, per_page)

    def _tags_path(self, repository: str) -> str:
        namespace, _, repo = hub_repository(repository).partition("/")
        return f"/v2/repositories/{quote(namespace)}/{quote(repo)}/tags"

    def _tag_page(self, path: str, params: dict) -> tuple[list[TagInfo], dict]:
        data = self.api(path, params=params).json()
        if not isinstance(data, dict) or not isinstance(data.get("results"), list):
            raise errors.RegistryProtocolError("Docker Hub's tag list has no results.")
        out = []
        for t in data["results"]:
            name = as_str(t.get("name")) if isinstance(t, dict) else None
            if name is None or len(name) > 128:
                continue  # not a tag: read around it
            images = [i for i in as_list(t.get("images")) if isinstance(i, dict)]
            out.append(TagInfo(name, as_str(t.get("digest")), as_size(t.get("full_size")),
                               parse_time(t.get("tag_last_pushed") or t.get("last_updated")),
                               [p for p in (platform_of(i) for i in images) if p]))
        return out, data

    def tags(self, repository: str) -> list[TagInfo]:
        path = self._tags_path(repository)
        out: list[TagInfo] = []
        for page in range(1, MAX_TAG_PAGES + 1):
            found, data = self._tag_page(path, {"page": page, "page_size": PAGE_SIZE})
            out += found
            if not data.get("next"):
                break
        return out

    def search_tags(self, repository: str, query: str, limit: int) -> TagSearch:
        """The newest `limit` tags whose name contains `query`, filtered and ordered by Docker Hub
        (`name`, `ordering=last_updated`: what hub.docker.com's own tag page sends), so a
        10,000-tag repository costs one request, not a hundred."""
        path = self._tags_path(repository)
        params = {"page_size": min(limit, PAGE_SIZE), "ordering": "last_updated"}
        if query:
            params["name"] = query
        out: list[TagInfo] = []
        reported, more = None, False
        for page in range(1, -(-limit // PAGE_SIZE) + 1):
            found, data = self._tag_page(path, {**params, "page": page})
            out += [t for t in found if query.lower() in t.name.lower()]
            count = data.get("count")
            reported = count if isinstance(count, int) and not isinstance(count, bool) and count >= 0 else None
            more = bool(data.get("next"))
            if not more:
                break
        out.sort(key=lambda t: t.created or datetime.min, reverse=True)
        matched = max(len(out), reported or 0) if more else len(out)
        return TagSearch(out[:limit], matched, matched if not query else None)

    def tag_list(self, repository: str) -> TagList:
        return TagList.of(self.tags(repository))

    def manifest_digest(self, repository: str, reference: str) -> str:
        return self.registry.manifest_digest(hub_repository(repository), reference)

    def manifest(self, repository: str, reference: str) -> tuple[str, str, dict]:
        return self.registry.manifest(hub_repository(repository), reference)

    def blob(self, repository: str, digest: str, max_bytes: int) -> bytes:
        return self.registry.blob(hub_repository(repository), digest, max_bytes)

    def referrers(self, repository: str, digest: str) -> tuple[str, list[dict]]:
        return self.registry.referrers(hub_repository(repository), digest)

    def image_details(self, repository: str, reference: str) -> ImageDetails:
        return self.registry.image_details(hub_repository(repository), reference)

    def tag_info(self, repository: str, tag: str) -> TagInfo:
        return self.registry.tag_info(hub_repository(repository), tag)
