"""Connected registries: saving them, testing them, and browsing through their clients."""
from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from models import Component, Registry, Team, db, utcnow
from services.errors import FieldErrors, ServiceError
from services.oversight import audit
from services.platform import metrics, runtime, tls
from services.platform.crypto import secret_box
from services.registries import clients as registry_clients
from services.registries.clients import errors as reg_errors
from services.registries.clients import ratelimit
from services.registries.clients.credentials import (
    AWS_ACCOUNT,
    AWS_REGION,
    CredentialError,
    CredentialState,
    Endpoints,
    parse_service_account,
)
from services.registries.clients.http import HttpSettings
from services.registries.clients.interface import RegistryClient
from services.registries.clients.types import TagInfo, TagList

CLOUD_OPTIONS = ("region", "registry_id", "tenant", "api_url", "namespace")


@dataclass
class RegistryInput:
    kind: str
    name: str
    url: str
    username: str
    password: str  # empty on edit keeps the stored one
    insecure: bool
    ca_bundle: str
    token_host: str = ""  # a host the user trusts with the credentials for Bearer tokens
    region: str = ""  # ECR
    registry_id: str = ""  # ECR: the AWS account id
    tenant: str = ""  # ACR: the service principal's tenant (empty: the admin user)
    api_url: str = ""  # GHCR / GitLab: the API the repository list comes from
    namespace: str = ""  # GHCR: organization (empty: the token's user); GitLab: group or project path
    poll_budget: int | None = None  # registry requests polling may make per hour

    def options(self) -> dict:
        return {k: getattr(self, k).strip() for k in CLOUD_OPTIONS if getattr(self, k).strip()}


def password_of(registry: Registry) -> str | None:
    return secret_box().decrypt(registry.password_encrypted) if registry.password_encrypted else None


def http_settings(insecure: bool, ca_bundle: str | None, label: str = "unsaved",
                  token_host: str | None = None, limits=None) -> HttpSettings:
    """Client settings from the configuration; `label` names the metrics series (a saved registry's
    id; "unsaved" for a connection test, "reference" for plain image references)."""
    cfg = current_app.config
    if ca_bundle and (problem := tls.check_ca_bundle(ca_bundle)):
        raise reg_errors.RegistryTLSError(f"The registry's CA bundle cannot be used: {problem}")
    verify: bool | str = False if insecure else (tls.ca_file(ca_bundle) if ca_bundle else True)
    return HttpSettings(timeout=cfg["BERTH_REGISTRY_TIMEOUT"], max_bytes=cfg["BERTH_REGISTRY_MAX_BYTES"],
                        verify=verify, observe=metrics.registry_observer(label),
                        allow_private=cfg["BERTH_ALLOW_PRIVATE_REGISTRIES"],
                        token_hosts=(token_host,) if token_host else (), limits=limits)


def cloud_endpoints() -> Endpoints:
    cfg = current_app.config
    google = tuple(u for u in (cfg.get("BERTH_GOOGLE_TOKEN_URI"),) if u)
    return Endpoints(ecr=cfg.get("BERTH_ECR_ENDPOINT_URL") or None,
                     google_token_uris=google + Endpoints().google_token_uris,
                     azure_authority=cfg.get("BERTH_AZURE_AUTHORITY_URL") or Endpoints().azure_authority)


def _client(kind, url, username, password, insecure, ca_bundle, label="unsaved", token_host=None, options=None,
            limits=None):
    hub_api = current_app.config.get("BERTH_DOCKERHUB_API_URL") or registry_clients.HUB_API
    return registry_clients.make_client(kind, url, username or None, password or None,
                                        http_settings(insecure, ca_bundle, label, token_host, limits),
                                        hub_api_url=hub_api, options=options, endpoints=cloud_endpoints())


# -- rate limits: the newest a registry reported, per process; polling writes them to the row ------
def _limits_recorder(registry_id: int):
    limits = runtime.of().rate_limits  # called in request and poll threads, outside the app context

    def record(headers, status):
        found = ratelimit.parse(headers, status)
        if found is not None:
            limits[registry_id] = found
    return record


def rate_limit_of(registry: Registry) -> ratelimit.RateLimit | None:
    """The newest rate limit seen for this registry: by this process, or as stored on its row."""
    seen = runtime.of().rate_limits.get(registry.id)
    stored = ratelimit.RateLimit.from_dict(registry.rate_limit)
    if seen is None or (stored is not None and stored.seen_at > seen.seen_at):
        return stored
    return seen


def store_rate_limits(registry_ids) -> None:
    """Write what this process saw to the registries' rows (the page of any process shows it)."""
    for registry_id in registry_ids:
        seen = runtime.of().rate_limits.get(registry_id)
        registry = db.session.get(Registry, registry_id) if seen is not None else None
        if registry is not None and (registry.rate_limit or {}).get("seen_at") != seen.seen_at:
            registry.rate_limit = seen.to_dict()


def credential_state(registry: Registry) -> CredentialState:
    """The state of the registry's credential; a renewing one is obtained now if it never was."""
    try:
        credentials = client_for(registry).credentials
        if not credentials.renews:
            return CredentialState(renews=False)
        if credentials.state().expires_at is None:
            credentials.get()
        return credentials.state()
    except reg_errors.RegistryError as e:
        return CredentialState(renews=True, error=e.message)


def pull_credential(registry: Registry) -> tuple[str, str] | None:
    """The username and password a runtime pulls with now (a cloud registry's current token)."""
    credentials = client_for(registry).credentials
    if credentials.renews:
        current = credentials.get()
        return (current.username, current.password) if current else None
    if registry.username and registry.password_encrypted:
        return registry.username, password_of(registry)
    return None


def client_for(registry: Registry) -> RegistryClient:
    """A client per registry and connection settings, kept so tokens and connections are reused
    (across requests and poll cycles: what a poll records on the row does not make a new one)."""
    key = (registry.id, registry.kind, registry.url, registry.username, registry.password_encrypted,
           registry.insecure, registry.ca_bundle, registry.token_host, repr(sorted((registry.options or {}).items())))
    clients = runtime.of().registry_clients
    client = clients.get(key)
    if client is None:
        try:
            client = _client(registry.kind, registry.url, registry.username, password_of(registry),
                             registry.insecure, registry.ca_bundle, label=str(registry.id),
                             token_host=registry.token_host, options=registry.options,
                             limits=_limits_recorder(registry.id))
        except ValueError as e:  # settings saved before a check existed: say so, never a 500
            raise reg_errors.RegistryError(f"The registry's settings cannot be used: {e}") from None
        with _cache_lock:
            for stale in [k for k in clients if k[0] == registry.id]:
                del clients[stale]
            clients[key] = client
    return client


_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*$")


def _error_field(error: reg_errors.RegistryError) -> str:
    if isinstance(error, CredentialError):
        return error.field
    if isinstance(error, (reg_errors.RegistryAuthError, reg_errors.RegistryForbidden)):
        return "password"
    if isinstance(error, reg_errors.RegistryTLSError):
        return "ca_bundle"
    return "url"


def try_connection(data: RegistryInput, existing: Registry | None = None) -> str:
    """Try the registry with these settings; return a message or raise FieldErrors."""
    kind, url = _normalized(data)
    problems = _cloud_problems(data)
    if problems:
        raise FieldErrors(problems)
    password = data.password or (password_of(existing) if existing else None)
    try:
        return _client(kind, url, data.username.strip(), password, data.insecure,
                       data.ca_bundle.strip() or None, token_host=data.token_host.strip().lower() or None,
                       options=data.options()).ping()
    except reg_errors.RegistryError as e:
        raise FieldErrors({_error_field(e): e.message}) from e


def _normalized(data: RegistryInput) -> tuple[str, str]:
    raw = data.url
    if data.kind == "ecr" and not raw.strip() and AWS_ACCOUNT.match(data.registry_id.strip()) \
            and AWS_REGION.match(data.region.strip()):
        raw = f"https://{data.registry_id.strip()}.dkr.ecr.{data.region.strip()}.amazonaws.com"
    try:
        return registry_clients.normalize_url(data.kind, raw)
    except ValueError as e:
        raise FieldErrors({"url": str(e)}) from e


_TENANT = re.compile(r"^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|"
                     r"[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+)$")
_NAMESPACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}(/[A-Za-z0-9][A-Za-z0-9._-]{0,254}){0,20}$")


def _cloud_problems(data: RegistryInput) -> dict[str, str]:
    """What is wrong with a cloud kind's own fields, field by field (before any provider is asked)."""
    problems: dict[str, str] = {}
    kind = data.kind
    if kind == "ecr":
        region = data.region.strip()
        if not region:
            problems["region"] = "Enter the AWS region of the registry, e.g. eu-west-1."
        elif not AWS_REGION.match(region) or region not in _aws_regions():
            problems["region"] = f"{region[:40]!r} is not an AWS region where ECR runs (e.g. eu-west-1, us-east-1)."
        if data.registry_id.strip() and not AWS_ACCOUNT.match(data.registry_id.strip()):
            problems["registry_id"] = "The registry ID is the AWS account ID: 12 digits."
        if data.username.strip() and not re.fullmatch(r"[A-Z0-9]{16,128}", data.username.strip()):
            problems["username"] = "An AWS access key ID has upper-case letters and digits (AKIA…)."
    elif kind == "gar" and data.password.strip():
        try:
            parse_service_account(data.password.strip(), cloud_endpoints().google_token_uris)
        except CredentialError as e:
            problems["password"] = e.message
    elif kind == "acr" and data.tenant.strip():
        if not _TENANT.match(data.tenant.strip()):
            problems["tenant"] = "The tenant is a directory ID (a GUID) or a domain such as contoso.onmicrosoft.com."
        if not data.username.strip():
            problems["username"] = "Enter the service principal's client (application) ID."
    elif kind in ("ghcr", "gitlab"):
        if data.api_url.strip():
            try:
                registry_clients.normalize_url("registry", data.api_url)
            except ValueError as e:
                problems["api_url"] = str(e)
        if data.namespace.strip() and not _NAMESPACE.match(data.namespace.strip()):
            problems["namespace"] = "Enter a name or path such as my-org or my-group/my-project."
    if data.poll_budget is not None and not 1 <= data.poll_budget <= 100000:
        problems["poll_budget"] = "Allow polling from 1 to 100,000 requests an hour (empty: the default)."
    return problems


def _aws_regions() -> set[str]:
    import boto3  # noqa: PLC0415 - only ECR registries load boto3 (see services.registries.clients.credentials)

    session = boto3.session.Session()
    return {r for partition in session.get_available_partitions()
            for r in session.get_available_regions("ecr", partition)}


def save_registry(team: Team, data: RegistryInput, existing: Registry | None = None, *, by: str) -> Registry:
    """Create or update a registry after checking its settings and its connection."""
    problems = {}
    kind, url = None, None
    try:
        kind, url = _normalized(data)
    except FieldErrors as e:
        problems.update(e.errors)
    ca_problem = tls.check_ca_bundle(data.ca_bundle)
    if ca_problem:
        problems["ca_bundle"] = ca_problem
    if data.token_host.strip() and not _HOST.match(data.token_host.strip()):
        problems["token_host"] = "Enter a host name only, like gitlab.example.com (no scheme, port or path)."
    problems.update(_cloud_problems(data))
    clash = db.session.scalar(select(Registry).where(Registry.team_id == team.id,
                                                     Registry.name == data.name.strip()))
    if clash is not None and clash is not existing:
        problems["name"] = "This team already has a registry with this name."
    if problems:
        raise FieldErrors(problems)
    message = try_connection(data, existing)
    registry = existing or Registry(team=team)
    key_json = data.password.strip() if kind == "gar" else ""
    if kind == "gar":  # no username: the key names its account, shown to say which one is connected
        registry.username = parse_service_account(key_json, cloud_endpoints().google_token_uris)["client_email"][:255] \
            if key_json else (registry.username if existing is not None and existing.kind == "gar" else None)
    else:
        registry.username = data.username.strip() or None
    registry.kind, registry.url, registry.name = kind, url, data.name.strip()
    if data.password:
        registry.password_encrypted = secret_box().encrypt(key_json or data.password)
    elif not registry.username:
        registry.password_encrypted = None
    registry.insecure = data.insecure
    registry.ca_bundle = data.ca_bundle.strip() or None
    registry.token_host = data.token_host.strip().lower() or None
    registry.options = data.options() or None
    registry.poll_budget = data.poll_budget
    if existing is None:
        db.session.add(registry)
    _remember_check(registry, True, message)
    forget_cache(registry.id)
    changed = "; credentials changed" if existing and data.password else ""
    audit.record(team.id, by, "registry.saved" if existing else "registry.created", f"registry {registry.name}",
                 f"{registry.kind} {registry.url}{changed}")
    return registry


def check_saved(registry: Registry) -> tuple[bool, str]:
    """Test a saved registry and remember the outcome."""
    try:
        message, ok = client_for(registry).ping(), True
    except reg_errors.RegistryError as e:
        message, ok = e.message, False
    _remember_check(registry, ok, message)
    return ok, message


def _remember_check(registry: Registry, ok: bool, message: str) -> None:
    registry.last_checked_at, registry.last_check_ok = utcnow(), ok
    registry.last_check_message = message[:500]
    db.session.flush()


def delete_registry(registry: Registry, by: str) -> None:
    users = registry_users(registry)
    if users:
        raise ServiceError(f"Registry {registry.name} is used by {len(users)} component(s) "
                           f"({', '.join(users[:5])}); change or delete them first.")
    forget_cache(registry.id)
    audit.record(registry.team_id, by, "registry.deleted", f"registry {registry.name}")
    db.session.delete(registry)
    db.session.flush()


def registry_users(registry: Registry) -> list[str]:
    """Names of the components that pull from this registry."""
    return list(db.session.scalars(select(Component.name).where(Component.registry_id == registry.id)
                                   .order_by(Component.name)))


# -- browsing, with a short-lived tag cache --------------------------------------------------
_cache: OrderedDict[tuple, tuple[float, object]] = OrderedDict()
_cache_lock = threading.Lock()
CACHE_ENTRIES = 256  # least recently used go first: searches are cached per query


def forget_cache(registry_id: int) -> None:
    with _cache_lock:
        for key in [k for k in _cache if k[0] == registry_id]:
            del _cache[key]


def _cached(key: tuple, refresh: bool, fetch):
    now = time.monotonic()
    if not refresh:
        with _cache_lock:
            hit = _cache.get(key)
            if hit and hit[0] > now:
                _cache.move_to_end(key)
                return hit[1]
    value = fetch()
    with _cache_lock:
        old = _cache.get(key)
        if old is not None and isinstance(value, TagList) and value.same_as(old[1]):
            value = old[1]  # fetched again, nothing new: keep the list whose searches are done
        _cache[key] = (now + current_app.config["BERTH_TAG_CACHE_SECONDS"], value)
        _cache.move_to_end(key)
        while len(_cache) > CACHE_ENTRIES:
            _cache.popitem(last=False)
    return value


def cached_tags(registry: Registry, repository: str, refresh: bool = False) -> TagList:
    return _cached((registry.id, repository), refresh, lambda: client_for(registry).tag_list(repository))


def search_tags(registry: Registry, repository: str, query: str = "", limit: int = 50,
                refresh: bool = False) -> tuple[list[TagInfo], int, int | None]:
    """(first `limit` tags containing query, newest first; how many match; how many in all, or
    None when the registry does not say).

    Docker Hub and Harbor filter and order on their side (one request per search). A v2 registry
    cannot, so its whole list is fetched once (largest pages it accepts), cached, and only the
    matches are ordered, only the top `limit` of them: a keystroke costs a filter, not a fetch.
    """
    query = query.strip()
    client = client_for(registry)
    if client.searches_tags:
        found = _cached((registry.id, repository, "search", query, limit), refresh,
                        lambda: client.search_tags(repository, query, limit))
        return found.tags, found.matched, found.total
    tags = _cached((registry.id, repository), refresh, lambda: client.tag_list(repository))
    shown, matched = tags.search(query, limit)
    return shown, matched, len(tags)


def repositories(registry: Registry, query: str = "", page: int = 1, per_page: int = 50):
    return client_for(registry).repositories(query.strip(), page, per_page)


def tag_details(registry: Registry, repository: str, tag: str) -> TagInfo:
    return client_for(registry).tag_info(repository, tag)


def of_team(team_id: int) -> list[Registry]:
    """The team's registries by name."""
    return list(db.session.scalars(select(Registry).where(Registry.team_id == team_id).order_by(Registry.name)))
