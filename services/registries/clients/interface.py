"""What Berth asks of a registry client: one Protocol that every client (Registry v2, Docker Hub,
Harbor, the cloud registries) implements whole, and the credential provider each one asks."""
from __future__ import annotations

from typing import ClassVar, Protocol

from services.registries.clients.credentials import Credential, CredentialState
from services.registries.clients.types import ImageDetails, RepoPage, TagInfo, TagList, TagSearch


class CredentialProvider(Protocol):
    renews: bool  # a short-lived credential the provider renews (cloud registries)

    def get(self) -> Credential | None: ...

    def renew(self, stale: Credential | None) -> Credential | None: ...

    def state(self) -> CredentialState: ...


class RegistryClient(Protocol):
    # Whether search_tags filters and orders at the registry (one request per search); where it
    # cannot, Berth fetches the tag list once and searches it.
    searches_tags: ClassVar[bool]
    credentials: CredentialProvider

    def ping(self) -> str: ...

    def repositories(self, query: str = "", page: int = 1, per_page: int = 50) -> RepoPage: ...

    def tag_list(self, repository: str) -> TagList: ...

    def search_tags(self, repository: str, query: str, limit: int) -> TagSearch: ...

    def tag_info(self, repository: str, tag: str) -> TagInfo: ...

    def manifest_digest(self, repository: str, reference: str) -> str: ...

    def image_details(self, repository: str, reference: str) -> ImageDetails: ...

    def manifest(self, repository: str, reference: str) -> tuple[str, str, dict]: ...

    def blob(self, repository: str, digest: str, max_bytes: int) -> bytes: ...

    def referrers(self, repository: str, digest: str) -> tuple[str, list[dict]]: ...
