"""Registries whose repository list comes from their own API rather than the v2 catalog (which
Amazon ECR, GHCR and gitlab.com do not offer): images, tags and manifests still go through the
Registry v2 API, with the credentials their provider keeps fresh."""
from __future__ import annotations

from urllib.parse import quote

from services.registries.clients import errors
from services.registries.clients.answers import as_dict, as_list, as_str
from services.registries.clients.credentials import CredentialError, EcrCredentials
from services.registries.clients.http import send
from services.registries.clients.types import RepoPage
from services.registries.clients.v2 import MAX_NAME, RegistryV2Client

MAX_REPOSITORIES = 10000
API_PAGE = 100


def _page(names: list[str], query: str, page: int, per_page: int) -> RepoPage:
    found = sorted({n for n in names if query.lower() in n.lower()})
    start = (page - 1) * per_page
    return RepoPage(found[start:start + per_page], len(found), page, per_page)


def _name(value) -> str | None:
    text = as_str(value)
    return text if text and len(text) <= MAX_NAME["repositories"] else None


class EcrClient(RegistryV2Client):
    """Amazon ECR: repositories from DescribeRepositories (boto3), the rest over its v2 API with
    the 12-hour password GetAuthorizationToken issues."""

    credentials: EcrCredentials

    def ping(self) -> str:
        credential = self.credentials.get()
        super().ping()
        return f"Connected: Amazon ECR issued a token (user {credential.username}) and the registry accepted it."

    def repositories(self, query: str = "", page: int = 1, per_page: int = 50) -> RepoPage:
        return _page(self.credentials.repository_names(MAX_REPOSITORIES), query, page, per_page)


class GitHubPackagesClient(RegistryV2Client):
    """GHCR: container packages from the GitHub REST API (the token needs read:packages), of an
    organization when `owner` is set, else of the token's user."""

    def __init__(self, url: str, username, password, settings, api_url: str, owner: str | None = None, **kw):
        super().__init__(url, username, password, settings, **kw)
        self.api_url, self.owner = api_url.rstrip("/"), owner or None

    def _api(self, path: str, params: dict):
        credential = self.credentials.get()
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
        if credential:
            headers["Authorization"] = f"Bearer {credential.password}"
        return _api_get(self, self.api_url + path, headers, params, "GitHub API", ("message",),
                        {401: "Check the token.", 403: "The token needs the read:packages scope.",
                         404: "Check the organization name."})

    def package_names(self, limit: int = MAX_REPOSITORIES) -> list[str]:
        path = f"/orgs/{quote(self.owner, safe='')}/packages" if self.owner else "/user/packages"
        names: list[str] = []
        for number in range(1, limit // API_PAGE + 2):
            items = as_list(_json(self._api(path, {"package_type": "container", "per_page": str(API_PAGE),
                                                   "page": str(number)})))
            for item in items:
                item = as_dict(item)
                owner = as_str(as_dict(item.get("owner")).get("login")) or self.owner or ""
                name = _name(f"{owner}/{as_str(item.get('name'))}".lower()) if as_str(item.get("name")) else None
                if name:
                    names.append(name)
            if len(items) < API_PAGE or len(names) >= limit:
                break
        return names[:limit]

    def ping(self) -> str:
        found = len(self.package_names(API_PAGE))  # first: GitHub says which scope a token lacks
        super().ping()
        return f"Connected: GHCR accepted the token and the GitHub API lists {found} container package(s)."

    def repositories(self, query: str = "", page: int = 1, per_page: int = 50) -> RepoPage:
        return _page(self.package_names(), query, page, per_page)


class GitLabRegistryClient(RegistryV2Client):
    """GitLab: a group's (or project's) container repositories from its registry API
    (GET /groups/:id/registry/repositories; the token needs read_api), images over v2."""

    def __init__(self, url: str, username, password, settings, api_url: str, namespace: str | None = None, **kw):
        super().__init__(url, username, password, settings, **kw)
        self.api_url, self.namespace = api_url.rstrip("/"), namespace or None

    def _api(self, path: str, params: dict):
        credential = self.credentials.get()
        headers = {"PRIVATE-TOKEN": credential.password} if credential else {}
        return _api_get(self, self.api_url + path, headers, params, "GitLab API",
                        ("error_description", "message", "error"),
                        {401: "Check the token.", 403: "The token needs the read_api scope.",
                         404: "Check the group or project path."})

    def repository_names(self, limit: int = MAX_REPOSITORIES) -> list[str]:
        if not self.namespace:
            raise errors.RegistryError("Name the GitLab group or project whose repositories Berth lists "
                                       "(gitlab.com offers no registry catalog).")
        encoded = quote(self.namespace, safe="")
        names: list[str] = []
        for kind in ("groups", "projects"):
            try:
                names = self._pages(f"/{kind}/{encoded}/registry/repositories", limit)
                break
            except CredentialError as e:
                if e.status != 404 or kind == "projects":
                    raise
        return names

    def _pages(self, path: str, limit: int) -> list[str]:
        names: list[str] = []
        for number in range(1, limit // API_PAGE + 2):
            response = self._api(path, {"per_page": str(API_PAGE), "page": str(number)})
            for item in as_list(_json(response)):
                name = _name(as_dict(item).get("path"))
                if name:
                    names.append(name)
            if not response.headers.get("x-next-page") or len(names) >= limit:
                break
        return names[:limit]

    def ping(self) -> str:
        if not self.namespace:
            super().ping()
            return "Connected: the registry accepted the token (name a group to list its repositories)."
        found = len(self.repository_names(API_PAGE))  # first: GitLab says which scope a token lacks
        super().ping()
        return f"Connected: the registry accepted the token and GitLab lists {found} repositories in {self.namespace}."

    def repositories(self, query: str = "", page: int = 1, per_page: int = 50) -> RepoPage:
        return _page(self.repository_names(), query, page, per_page)


def _api_get(client: RegistryV2Client, url: str, headers: dict, params: dict, who: str, message_keys: tuple,
             hints: dict[int, str]):
    """GET a forge API through the registry's HTTP settings; an error answer becomes a CredentialError
    with the forge's own message (the first of `message_keys` present) and a hint per status."""
    response = send(client.session, client.settings, "GET", url, headers=headers, params=params,
                    max_bytes=4 * 1024 * 1024)
    if response.status >= 400:
        body = as_dict(_json(response))
        text = next((as_str(body.get(k)) for k in message_keys if as_str(body.get(k))), f"HTTP {response.status}")
        hint = f" {hints[response.status]}" if response.status in hints else ""
        raise CredentialError(f"{who}: {text[:300]} ({response.status}).{hint}",
                              field="namespace" if response.status == 404 else "password", status=response.status)
    return response


def _json(response):
    try:
        return response.json()
    except errors.RegistryProtocolError:
        return None
