"""The one HTTP choke point for registry APIs: timeouts, a size cap, retries, error mapping."""
from __future__ import annotations

import contextlib
import contextvars
import email.utils
import functools
import ipaddress
import json
import logging
import math
import os
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode, urljoin, urlsplit

import requests
import requests.adapters
import urllib3
import urllib3.connection

from services.registries.clients import errors

log = logging.getLogger("berth.registry")

RETRY_STATUSES = {429, 500, 502, 503, 504}

# Skipping TLS verification is an explicit per-registry choice, shown with a warning in the UI;
# urllib3's per-request warning would only flood the logs.
urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
MAX_RETRY_AFTER = 30.0  # longer waits end the request (the poller backs off instead)
LONGEST_RETRY_AFTER = 86400.0


@dataclass
class Response:
    """A fully read, size-capped response."""

    status: int
    headers: requests.structures.CaseInsensitiveDict
    body: bytes
    url: str

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise errors.RegistryProtocolError(
                "The server answered with something that is not JSON; is this the right URL "
                "for a registry?", status=self.status, response=self) from e
        except RecursionError as e:
            raise errors.RegistryProtocolError(
                "The server answered with JSON nested deeper than Berth reads; is this a registry?",
                status=self.status, response=self) from e


@dataclass
class HttpSettings:
    timeout: float = 10.0
    max_bytes: int = 16 * 1024 * 1024
    verify: bool | str = True
    retries: int = 2
    backoff: float = 0.5
    # Called before each retry wait; tests and the poller may shorten or record it.
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    user_agent: str = "Berth/1.0"
    # Told of every request's end: observe(host, outcome, seconds), outcome "2xx"… or the error's
    # class name. The app passes its metrics here; this package imports nothing of the app.
    observe: Callable[[str, str, float], None] | None = field(default=None, repr=False)
    # False: refuse hosts that resolve to loopback, private, link-local or other non-global
    # addresses (every redirect hop and token realm included). The app sets it from its config.
    allow_private: bool = True
    # Hosts besides the registry's own that the user confirmed may receive its credentials for a
    # Bearer token (a registry that signs in at another host, as self-hosted GitLab does).
    token_hosts: tuple[str, ...] = ()
    # Told of every response's headers: limits(headers, status). The app records the rate limits a
    # registry reports (services.registries.clients.ratelimit) through it.
    limits: Callable[[Mapping[str, str], int], None] | None = field(default=None, repr=False)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds a server asks to wait (`Retry-After`: seconds or an HTTP date), at most a day;
    None when the value is missing or unreadable (then Berth's own backoff applies)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, OverflowError, IndexError):
            return None
    if not math.isfinite(seconds):
        return None
    return min(max(0.0, seconds), LONGEST_RETRY_AFTER)


def _describe_connection_error(e: Exception, url: str) -> errors.RegistryError:
    text = str(e)
    host = requests.utils.urlparse(url).netloc
    lowered = text.lower()
    # A TLS handshake answered in plain HTTP: an SSLError too, but not a certificate problem.
    if "wrong version number" in lowered or "record layer failure" in lowered:
        return errors.RegistryTLSError(f"{host} does not speak HTTPS on this port; try http://.")
    if isinstance(e, requests.exceptions.SSLError) or "CERTIFICATE_VERIFY_FAILED" in text:
        return errors.RegistryTLSError(
            f"TLS verification failed for {host}: the certificate is not trusted. If the registry "
            "uses a private CA or a self-signed certificate, paste the CA bundle (PEM); skip "
            "verification only on a trusted network.")
    if isinstance(e, requests.exceptions.Timeout):
        return errors.RegistryTimeout(f"{host} did not answer in time (timeout).")
    if "name or service not known" in lowered or "nodename nor servname" in lowered \
            or "failed to resolve" in lowered or "temporary failure in name resolution" in lowered \
            or "no address associated" in lowered:
        return errors.RegistryConnectionError(f"The host name {host.split(':')[0]} could not be "
                                              "resolved (DNS). Check the URL.")
    if "connection refused" in lowered:
        return errors.RegistryConnectionError(f"Connection refused by {host}: nothing listens "
                                              "there. Check the host and port.")
    return errors.RegistryConnectionError(f"Could not connect to {host}.")


def send(session: requests.Session, settings: HttpSettings, method: str, url: str, *,
         headers: dict | None = None, auth=None, params=None, data=None,
         max_bytes: int | None = None) -> Response:
    """Send one request with retries on 429/5xx; map failures to RegistryError subclasses.

    Returns responses of any status below 500 except 429; callers decide what 4xx means.
    """
    started = time.monotonic()
    outcome = "unexpected"
    try:
        response = _send(session, settings, method, url, headers=headers, auth=auth, params=params, data=data,
                         max_bytes=max_bytes)
        outcome = f"{response.status // 100}xx"
        return response
    except errors.RegistryError as e:
        outcome = type(e).__name__
        raise
    finally:
        if settings.observe is not None:
            settings.observe(requests.utils.urlparse(url).netloc, outcome, time.monotonic() - started)


def _send(session, settings, method, url, *, headers, auth, params, data, max_bytes) -> Response:
    limit = max_bytes or settings.max_bytes
    all_headers = {"User-Agent": settings.user_agent, **(headers or {})}
    attempt = 0
    while True:
        try:
            raw = _open(session, settings, method, url, headers=all_headers, auth=auth, params=params, data=data)
        except (requests.exceptions.SSLError, ssl.SSLError) as e:
            raise _describe_connection_error(e, url) from e
        except requests.exceptions.Timeout as e:
            raise errors.RegistryTimeout(
                f"{requests.utils.urlparse(url).netloc} did not answer within "
                f"{settings.timeout:g}s (timeout).") from e
        except requests.exceptions.RequestException as e:
            raise _describe_connection_error(e, url) from e
        try:
            # The socket timeout bounds each read; the deadline bounds a slow drip of bytes.
            body = _read_capped(raw, limit, time.monotonic() + settings.timeout * 3)
        finally:
            raw.close()
        response = Response(raw.status_code, raw.headers, body, raw.url)
        if settings.limits is not None:
            settings.limits(raw.headers, raw.status_code)
        log.debug("registry %s %s -> %s (%d bytes)", method, _loggable(url), raw.status_code,
                 len(body))
        if raw.status_code not in RETRY_STATUSES:
            return response
        wait = parse_retry_after(raw.headers.get("Retry-After"))
        if attempt >= settings.retries or (wait is not None and wait > MAX_RETRY_AFTER):
            if raw.status_code == 429:
                raise errors.RegistryRateLimited(
                    "The registry is rate limiting Berth (429 Too Many Requests)"
                    + (f"; it asks to wait {wait:g}s." if wait is not None else "."),
                    retry_after=wait, status=429, response=response)
            raise errors.RegistryServerError(
                f"The registry answered {raw.status_code} (server error). Try again later.",
                status=raw.status_code, response=response)
        settings.sleep(wait if wait is not None else settings.backoff * (2 ** attempt))
        attempt += 1


MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)


@functools.lru_cache(maxsize=512)
def _environment_proxies(scheme: str, netloc: str) -> dict:
    """HTTP(S)_PROXY / NO_PROXY for one host, read once: requests would scan the whole environment
    on every request (a third of a small request's CPU), and the environment does not change."""
    return requests.utils.get_environ_proxies(f"{scheme}://{netloc}/")


_ENV_CA_BUNDLE = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")


def _open(session, settings, method, url, *, headers, auth, params, data) -> requests.Response:
    """session.request, following redirects itself: every hop passes the address check, and the
    credentials never follow to another host. The environment's proxy and CA settings apply as
    requests applies them, read once per host (never ~/.netrc: a registry gets its own credentials)."""
    session.trust_env = False
    pin(session)
    verify = _ENV_CA_BUNDLE if settings.verify is True and _ENV_CA_BUNDLE else settings.verify
    for _ in range(MAX_REDIRECTS + 1):
        check_address(url, settings)
        parts = urlsplit(url)
        proxies = _environment_proxies(parts.scheme, parts.netloc)
        proxied = requests.utils.select_proxy(url, proxies) is not None
        with address_policy(settings, proxied=proxied):
            if method in ("GET", "HEAD") and data is None and not proxied and not session.cookies:
                raw = _direct(session, method, url, headers=headers, auth=auth, params=params,
                              timeout=settings.timeout, verify=verify)
            else:
                raw = session.request(method, url, headers=headers, auth=auth, params=params, data=data,
                                      timeout=settings.timeout, verify=verify, stream=True, allow_redirects=False,
                                      proxies=proxies)
        location = raw.headers.get("Location")
        if raw.status_code not in REDIRECTS or not location or method not in ("GET", "HEAD"):
            return raw
        raw.close()
        target = urljoin(raw.url, location)
        if urlsplit(target).scheme not in ("http", "https"):
            raise errors.RegistryProtocolError("The registry redirected to something that is not a web address.")
        if urlsplit(target).netloc != urlsplit(url).netloc:
            headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
            auth = None
        url, params = target, None
    raise errors.RegistryProtocolError(f"The registry redirected more than {MAX_REDIRECTS} times.")


class _DirectResponse:
    """A response read straight from urllib3 (`_direct`): the parts of requests.Response that
    `_send` and `_read_capped` use, with urllib3's errors told as requests' (one mapping to
    RegistryError for both paths)."""

    __slots__ = ("status_code", "headers", "url", "_raw", "_done")

    def __init__(self, raw: urllib3.BaseHTTPResponse, url: str):
        self.status_code = raw.status
        self.headers = requests.structures.CaseInsensitiveDict(raw.headers)
        self.url = url
        self._raw = raw
        self._done = False

    def iter_content(self, size: int):
        try:
            yield from self._raw.stream(size, decode_content=True)
        except urllib3.exceptions.HTTPError as e:
            raise _as_requests_error(e) from e
        self._done = True

    def close(self) -> None:
        if not self._done:
            self._raw.close()  # not read to its end: the connection cannot serve another request
        self._raw.release_conn()


def _as_requests_error(e: Exception) -> requests.exceptions.RequestException:
    if isinstance(e, urllib3.exceptions.SSLError):
        return requests.exceptions.SSLError(e)
    if isinstance(e, urllib3.exceptions.NewConnectionError):  # a ConnectTimeoutError too, for urllib3's history
        return requests.exceptions.ConnectionError(e)
    if isinstance(e, urllib3.exceptions.ConnectTimeoutError):
        return requests.exceptions.ConnectTimeout(e)
    if isinstance(e, urllib3.exceptions.ReadTimeoutError):
        return requests.exceptions.ReadTimeout(e)
    return requests.exceptions.ConnectionError(e)


def _direct(session: requests.Session, method: str, url: str, *, headers: dict, auth, params, timeout: float,
            verify) -> _DirectResponse:
    """A GET or HEAD sent by urllib3 through the session's own (pinned) connection pools, headers
    as requests would send them. requests' layer around it (a prepared request, its setting
    merges and Protocol checks, a cookie jar fed through the email parser) costs as much CPU as the
    request itself: this is the path every poll request takes. Not for proxies, bodies, or a
    session that holds cookies (those go through requests)."""
    if params:
        url = f"{url}{'&' if '?' in url else '?'}{urlencode(params, doseq=True)}"
    sent = {**session.headers, **headers}
    if auth is not None:
        sent["Authorization"] = requests.auth._basic_auth_str(*auth)
    adapter = session.get_adapter(url)
    try:
        host, tls = adapter.build_connection_pool_key_attributes(_Url(url), verify)
        pool = adapter.poolmanager.connection_from_host(**host, pool_kwargs=tls)
        parts = urlsplit(url)
        raw = pool.urlopen(method, f"{parts.path or '/'}{'?' + parts.query if parts.query else ''}",
                           headers=sent, redirect=False, assert_same_host=False, preload_content=False,
                           decode_content=False, retries=False, timeout=urllib3.Timeout(connect=timeout, read=timeout))
    except urllib3.exceptions.HTTPError as e:
        raise _as_requests_error(e) from e
    except ValueError as e:  # what urllib3 cannot parse, as requests says it
        raise requests.exceptions.InvalidURL(e) from e
    return _DirectResponse(raw, url)


@dataclass(frozen=True)
class _Url:
    """What requests' pool-key builder reads of a request: its URL."""

    url: str


def _allowed(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return address.is_global


def refusal(host: str, port: int, setting: str = "BERTH_ALLOW_PRIVATE_REGISTRIES") -> tuple[list[str], str | None]:
    """(the addresses `host` resolves to, why Berth may not connect there or None): every address
    must be globally routable (not loopback, RFC 1918, link-local such as cloud metadata,
    reserved…). Raises OSError when the name does not resolve. The one place the private-address
    policy is decided, for registries, token realms, notification receivers and clusters."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses = []
    for info in infos:
        text = info[4][0].split("%", 1)[0]
        address = ipaddress.ip_address(text)
        if not _allowed(address):
            return [], (f"{host} is at {address}, a private or local address: Berth does not connect there "
                        f"unless an administrator sets {setting}=on.")
        addresses.append(text)
    return addresses, None


def check_address(url: str, settings: HttpSettings) -> None:
    """Unless private addresses are allowed, refuse a host that resolves to any address that is not
    globally routable. A request does not rely on this look alone: its connection is made to an
    address checked by the same rule as it connects (`PinnedAdapter`), so a name answering a
    public address now and 127.0.0.1 a moment later (DNS rebinding) never reaches loopback."""
    if settings.allow_private:
        return
    parts = urlsplit(url)
    try:
        _addresses, problem = refusal(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    except (OSError, UnicodeError):
        return  # the request itself fails and says why (DNS)
    if problem:
        raise errors.RegistryConnectionError(problem)


# The policy of the request being sent in this thread: None lets a connection resolve as usual.
_POLICY: contextvars.ContextVar[HttpSettings | None] = contextvars.ContextVar("berth_address_policy", default=None)


class _Pinned:
    """A connection that, under the private-address policy, resolves its host once, checks every
    address, and connects to a checked one; TLS still sends and verifies the host name."""

    def _new_conn(self):
        settings = _POLICY.get()
        if settings is None or settings.allow_private:
            return super()._new_conn()
        try:
            addresses, problem = refusal(self._dns_host, self.port)
        except socket.gaierror as e:
            raise urllib3.exceptions.NameResolutionError(self.host, self, e) from e
        if problem:
            raise errors.RegistryConnectionError(problem)
        host = self._dns_host
        try:
            self._dns_host = addresses[0]
            return super()._new_conn()
        finally:
            self._dns_host = host


class _PinnedHTTPConnection(_Pinned, urllib3.connection.HTTPConnection):
    pass


class _PinnedHTTPSConnection(_Pinned, urllib3.connection.HTTPSConnection):
    pass


class _PinnedHTTPPool(urllib3.HTTPConnectionPool):
    ConnectionCls = _PinnedHTTPConnection


class _PinnedHTTPSPool(urllib3.HTTPSConnectionPool):
    ConnectionCls = _PinnedHTTPSConnection


class PinnedAdapter(requests.adapters.HTTPAdapter):
    """requests' adapter whose connections are pinned to checked addresses (see `_Pinned`)."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _PinnedHTTPPool, "https": _PinnedHTTPSPool}


def pin(session: requests.Session) -> requests.Session:
    """Mount the pinning adapter on a session (once)."""
    if not isinstance(session.get_adapter("https://"), PinnedAdapter):
        session.mount("https://", PinnedAdapter())
        session.mount("http://", PinnedAdapter())
    return session


@contextlib.contextmanager
def address_policy(settings: HttpSettings, proxied: bool = False):
    """Requests sent inside follow `settings`' address policy at connect time. Through a proxy the
    proxy resolves the host, so only the look before (`check_address`) applies."""
    token = _POLICY.set(None if proxied else settings)
    try:
        yield
    finally:
        _POLICY.reset(token)


def guarded_request(method: str, url: str, settings: HttpSettings, **kwargs) -> requests.Response:
    """One request outside a registry client (a notification receiver) under the same address
    policy: checked, then connected to a checked address. The caller closes the response."""
    check_address(url, settings)
    session = pin(requests.Session())
    proxied = requests.utils.select_proxy(url, _environment_proxies(*urlsplit(url)[:2])) is not None
    with address_policy(settings, proxied=proxied):
        return session.request(method, url, **kwargs)


def _read_capped(raw: requests.Response, limit: int, deadline: float) -> bytes:
    declared = raw.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise errors.RegistryResponseTooLarge(
            f"The server's answer is {int(declared) // 1024} KiB, more than Berth reads "
            f"({limit // 1024} KiB); is this a registry?", status=raw.status_code)
    chunks, total = [], 0
    try:
        for chunk in raw.iter_content(64 * 1024):
            total += len(chunk)
            if total > limit:
                raise errors.RegistryResponseTooLarge(
                    f"The server's answer is larger than Berth reads ({limit // 1024} KiB); is "
                    "this a registry?", status=raw.status_code)
            chunks.append(chunk)
            if time.monotonic() > deadline:
                raise errors.RegistryTimeout("The registry sent its answer too slowly (timeout).",
                                             status=raw.status_code)
    except requests.exceptions.RequestException as e:
        raise _describe_connection_error(e, raw.url) from e
    return b"".join(chunks)


def _loggable(url: str) -> str:
    return url.split("?", 1)[0]
