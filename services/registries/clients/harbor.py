"""Harbor: its REST API v2.0 for browsing, the registry v2 API on the same host for images."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

import requests

from services.registries.clients import errors
from services.registries.clients.answers import as_dict, as_list, as_size, as_str
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

API = "/api/v2.0"
SCAN_REPORT_TYPES = ("application/vnd.security.vulnerability.report; version=1.1",
                     "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0")
PAGE_SIZE = 100  # Harbor's maximum page_size
MAX_PAGES = 100


@dataclass(frozen=True)
class ScanSummary:
    """A Harbor vulnerability scan: its status (pending, running, success, error…), overall
    severity, the count of findings per severity (lower case), and the scanner's name."""
    status: str
    severity: str
    counts: dict[str, int]
    scanner: str


def encode_repository(name: str) -> str:
    """Harbor wants slashes in repository names URL-encoded twice: a/b -> a%252Fb."""
    return quote(quote(name, safe=""), safe="")


class HarborClient:
    searches_tags = True  # filtered and ordered at the source: one request per search

    def __init__(self, url: str, username: str | None = None, password: str | None = None,
                 settings: HttpSettings | None = None, session: requests.Session | None = None):
        self.base = url.rstrip("/")
        self.username, self.password = username or None, password or None
        self.settings = settings or HttpSettings()
        self.session = session or requests.Session()
        self.registry = RegistryV2Client(url, username, password, self.settings, self.session)

    @property
    def credentials(self) -> StaticCredentials:
        """The user's credentials, as its registry endpoint uses them."""
        return self.registry.credentials

    def api(self, path: str, params=None, method: str = "GET", headers=None) -> Response:
        auth = (self.username, self.password or "") if self.username else None
        response = send(self.session, self.settings, method, self.base + API + path, params=params,
                        auth=auth, headers={"Accept": "application/json", **(headers or {})})
        if response.status >= 400:
            raise self._error(response)
        return response

    def _error(self, response: Response) -> errors.RegistryError:
        status = response.status
        message = {401: "Harbor API: wrong username or password (401).",
                   403: "Harbor API: this account may not do this (403).",
                   404: "Harbor API: not found (404)."}.get(status, f"Harbor API error {status}.")
        return errors.for_status(status, message + errors.detail_of(response.body), response=response)

    def ping(self) -> str:
        try:
            response = self.api("/ping")
        except errors.RegistryNotFound as e:
            raise errors.RegistryProtocolError(
                "No Harbor API at /api/v2.0 (404): is this a Harbor URL?", status=404) from e
        if response.body.strip().strip(b'"') != b"Pong":
            raise errors.RegistryProtocolError("The server answered /api/v2.0/ping without "
                                               "'Pong': is this a Harbor URL?")
        if self.username:
            # Any authenticated call checks the credentials (robot accounts included).
            self.api("/projects", params={"page": 1, "page_size": 1})
        return "Connected: Harbor API v2.0 answered."

    def repositories(self, query: str = "", page: int = 1, per_page: int = 50) -> RepoPage:
        params = {"page": page, "page_size": min(per_page, PAGE_SIZE)}
        if query:
            params["q"] = f"name=~{query}"
        response = self.api("/repositories", params=params)
        data = response.json()
        if not isinstance(data, list):
            raise errors.RegistryProtocolError("Harbor's repository list is not a list.")
        total = response.headers.get("X-Total-Count")
        return RepoPage([str(r.get("name")) for r in data if isinstance(r, dict)],
                        int(total) if total and total.isdigit() else None, page, params["page_size"])

    def _artifacts(self, repository: str, params: dict) -> tuple[list[TagInfo], int | None, int]:
        """One page of artifacts as tags: (tags, X-Total-Count of artifacts, artifacts on the page)."""
        project, _, repo = repository.partition("/")
        response = self.api(f"/projects/{quote(project, safe='')}/repositories/{encode_repository(repo)}/artifacts",
                            params={"with_tag": "true", **params})
        artifacts = response.json()
        if not isinstance(artifacts, list):
            raise errors.RegistryProtocolError("Harbor's artifact list is not a list.")
        out = []
        for art in artifacts:
            if not isinstance(art, dict):
                continue  # not an artifact: a registry's odd answer is read around, not trusted
            platforms = [p for p in (platform_of(r.get("platform")) for r in as_list(art.get("references"))
                                     if isinstance(r, dict)) if p]
            extra = as_dict(art.get("extra_attrs"))
            if not platforms and extra.get("os"):
                platforms = [platform_of(extra) or ""]
            for tag in as_list(art.get("tags")):
                name = as_str(tag.get("name")) if isinstance(tag, dict) else None
                if name is None or len(name) > 128:
                    continue
                out.append(TagInfo(name, as_str(art.get("digest")), as_size(art.get("size")),
                                   parse_time(tag.get("push_time") or art.get("push_time")), platforms))
        total = response.headers.get("X-Total-Count")
        return out, int(total) if total and total.isdigit() else None, len(artifacts)

    def _artifact_path(self, repository: str, reference: str) -> str:
        project, _, repo = repository.partition("/")
        return (f"/projects/{quote(project, safe='')}/repositories/{encode_repository(repo)}"
                f"/artifacts/{quote(reference, safe=':')}")

    def scan_overview(self, repository: str, digest: str) -> ScanSummary | None:
        """The artifact's newest vulnerability scan summary (the spec's NativeReportSummary, from
        getArtifact with_scan_overview), None when it was never scanned."""
        response = self.api(self._artifact_path(repository, digest),
                            params={"with_scan_overview": "true", "with_tag": "false"},
                            headers={"X-Accept-Vulnerabilities": ", ".join(SCAN_REPORT_TYPES)})
        overview = as_dict(as_dict(response.json()).get("scan_overview"))
        reports = [as_dict(r) for r in list(overview.values())[:8]]
        reports = [r for r in reports if as_str(r.get("scan_status"))]
        if not reports:
            return None
        report = max(reports, key=lambda r: as_str(r.get("end_time")) or "")
        summary = as_dict(as_dict(report.get("summary")).get("summary"))
        counts = {str(k)[:20].lower(): v for k, v in list(summary.items())[:10] if isinstance(v, int) and v > 0}
        scanner = as_str(as_dict(report.get("scanner")).get("name")) or "scanner"
        return ScanSummary(as_str(report.get("scan_status"))[:20].lower(),
                           (as_str(report.get("severity")) or "")[:20].lower(), counts, scanner[:40])

    def start_scan(self, repository: str, digest: str) -> None:
        """Ask Harbor to scan the artifact (scanArtifact: 202 accepted)."""
        self.api(self._artifact_path(repository, digest) + "/scan", method="POST")

    def tags(self, repository: str) -> list[TagInfo]:
        out: list[TagInfo] = []
        for page in range(1, MAX_PAGES + 1):
            found, total, count = self._artifacts(repository, {"page": page, "page_size": PAGE_SIZE})
            out += found
            if count < PAGE_SIZE or (total is not None and page * PAGE_SIZE >= total):
                break
        return out

    def search_tags(self, repository: str, query: str, limit: int) -> TagSearch:
        """The newest `limit` tags whose name contains `query`: Harbor filters (`q=tags=~query`,
        fuzzy) and orders (`sort=-push_time`) the artifacts, so one request answers."""
        params = {"page_size": min(limit, PAGE_SIZE), "sort": "-push_time"}
        if query:
            params["q"] = f"tags=~{query}"
        out: list[TagInfo] = []
        artifacts_total = None
        for page in range(1, -(-limit // PAGE_SIZE) + 1):
            found, artifacts_total, count = self._artifacts(repository, {**params, "page": page})
            out += [t for t in found if query.lower() in t.name.lower()]  # an artifact's other tags
            if count < params["page_size"] or (artifacts_total is not None and page * PAGE_SIZE >= artifacts_total):
                artifacts_total = None  # all of them are here: count the tags themselves
                break
        out.sort(key=lambda t: t.created or datetime.min, reverse=True)
        # Harbor counts artifacts, not tags: past the first pages, "at least" that many match.
        return TagSearch(out[:limit], max(len(out), artifacts_total or 0), None)

    def tag_list(self, repository: str) -> TagList:
        return TagList.of(self.tags(repository))

    def manifest_digest(self, repository: str, reference: str) -> str:
        return self.registry.manifest_digest(repository, reference)

    def manifest(self, repository: str, reference: str) -> tuple[str, str, dict]:
        return self.registry.manifest(repository, reference)

    def blob(self, repository: str, digest: str, max_bytes: int) -> bytes:
        return self.registry.blob(repository, digest, max_bytes)

    def referrers(self, repository: str, digest: str) -> tuple[str, list[dict]]:
        return self.registry.referrers(repository, digest)

    def image_details(self, repository: str, reference: str) -> ImageDetails:
        return self.registry.image_details(repository, reference)

    def tag_info(self, repository: str, tag: str) -> TagInfo:
        return self.registry.tag_info(repository, tag)
