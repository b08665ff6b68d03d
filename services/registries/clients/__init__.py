"""Registry clients. Plain values in, plain values out; no Flask, no database.

`make_client` picks the client for a registry kind; every client implements the RegistryClient
Protocol (interface.py): ping, repositories, tag_list, search_tags, tag_info, manifest_digest,
image_details, and the credentials it asks on every request.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from services.registries.clients.cloud import EcrClient, GitHubPackagesClient, GitLabRegistryClient
from services.registries.clients.credentials import Endpoints, provider_for
from services.registries.clients.dockerhub import HUB_API, DockerHubClient
from services.registries.clients.harbor import HarborClient
from services.registries.clients.http import HttpSettings
from services.registries.clients.interface import RegistryClient
from services.registries.clients.v2 import RegistryV2Client

KINDS = {"registry": "Docker Registry (any v2 API server)", "dockerhub": "Docker Hub",
         "harbor": "Harbor", "ecr": "Amazon ECR", "gar": "Google Artifact Registry / GCR",
         "acr": "Azure Container Registry", "ghcr": "GitHub Container Registry (ghcr.io)",
         "gitlab": "GitLab Container Registry"}
# Kinds with a well-known registry URL, used when the URL is left empty.
DEFAULT_URLS = {"ghcr": "https://ghcr.io", "gitlab": "https://registry.gitlab.com"}
DEFAULT_API_URLS = {"ghcr": "https://api.github.com", "gitlab": "https://gitlab.com/api/v4"}
DOCKER_HUB_HOSTS = {"docker.io", "index.docker.io", "registry.hub.docker.com",
                    "registry-1.docker.io", "hub.docker.com"}
DOCKER_HUB_URL = "https://registry-1.docker.io"


def normalize_url(kind: str, raw: str) -> tuple[str, str]:
    """(kind, url) with a scheme, no trailing slash or /v2; ValueError with a message otherwise."""
    text = (raw or "").strip()
    if not text:
        if kind == "dockerhub":
            return kind, DOCKER_HUB_URL
        if kind in DEFAULT_URLS:
            return kind, DEFAULT_URLS[kind]
        raise ValueError("Enter the registry's URL, e.g. https://registry.example.com.")
    if len(text) > 500:
        raise ValueError("A URL has at most 500 characters.")
    if "://" not in text:
        text = "https://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as e:
        raise ValueError("This is not a valid URL (check the port).") from e
    if parts.scheme not in ("http", "https"):
        raise ValueError("Use an http:// or https:// URL.")
    if not parts.hostname:
        raise ValueError("The URL needs a host name.")
    if parts.username or parts.password or "@" in parts.netloc:
        raise ValueError("Put the username and password in their own fields, not in the URL.")
    if parts.query or parts.fragment or text.endswith(("?", "#")):
        raise ValueError("The URL must not have a query (?…) or fragment (#…).")
    if any(c.isspace() for c in text):
        raise ValueError("The URL must not contain spaces.")
    if parts.hostname.lower() in DOCKER_HUB_HOSTS:
        return "dockerhub", DOCKER_HUB_URL
    path = parts.path.rstrip("/")
    if path.endswith("/v2"):
        path = path[:-3]
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{port}" if port else "")
    return kind, f"{parts.scheme}://{netloc}{path}"


def pull_host(kind: str, url: str) -> str:
    """The registry part of image references, as container runtimes expect it."""
    if kind == "dockerhub" and url == DOCKER_HUB_URL:
        return "docker.io"
    parts = urlsplit(url)
    return parts.netloc + parts.path


def make_client(kind: str, url: str, username: str | None, password: str | None,
                settings: HttpSettings, hub_api_url: str = HUB_API, options: dict | None = None,
                endpoints: Endpoints = Endpoints()) -> RegistryClient:
    """The client for a registry; its credentials come from the kind's provider (cloud kinds obtain
    and renew short-lived ones). Raises CredentialError for settings a provider cannot use."""
    options = options or {}
    if kind in ("ecr", "gar", "acr", "ghcr", "gitlab"):
        credentials = provider_for(kind, url, username, password, options, settings, endpoints)
        if kind == "ecr":
            return EcrClient(url, settings=settings, credentials=credentials)
        if kind == "ghcr":
            return GitHubPackagesClient(url, None, None, settings, options.get("api_url") or DEFAULT_API_URLS["ghcr"],
                                        options.get("namespace"), credentials=credentials)
        if kind == "gitlab":
            return GitLabRegistryClient(url, None, None, settings,
                                        options.get("api_url") or DEFAULT_API_URLS["gitlab"],
                                        options.get("namespace"), credentials=credentials)
        return RegistryV2Client(url, settings=settings, credentials=credentials)
    if kind == "harbor":
        return HarborClient(url, username, password, settings)
    if kind == "dockerhub":
        return DockerHubClient(username, password, settings, api_url=hub_api_url, registry_url=url)
    return RegistryV2Client(url, username, password, settings)
