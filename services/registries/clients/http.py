"""The one HTTP choke point for registry APIs: timeouts, a size cap, retries, error mapping."""
from __future__ import annotations

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
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import requests
import urllib3

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
    sleep: object = field(default=time.sleep, repr=False)
    user_agent: str = "Berth/1.0"
    # Told of every request's end: observe(host, outcome, seconds), outcome "2xx"… or the error's
    # class name. The app passes its metrics here; this package imports nothing of the app.
    observe: object = field(default=None, repr=False)
    # False: refuse hosts that resolve to loopback, private, link-local or other non-global
    # addresses (every redirect hop and token realm included). The app sets it from its config.
    allow_private: bool = True
    # Hosts besides the registry's own that the user confirmed may receive its credentials for a
    # Bearer token (a registry that signs in at another host, as self-hosted GitLab does).
    token_hosts: tuple[str, ...] = ()
    # Told of every response's headers: limits(headers, status). The app records the rate limits a
    # registry reports (services.registries.clients.ratelimit) through it.
    limits: object = field(default=None, repr=False)


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
    verify = _ENV_CA_BUNDLE if settings.verify is True and _ENV_CA_BUNDLE else settings.verify
    for _ in range(MAX_REDIRECTS + 1):
        check_address(url, settings)
        parts = urlsplit(url)
        raw = session.request(method, url, headers=headers, auth=auth, params=params, data=data,
                              timeout=settings.timeout, verify=verify, stream=True, allow_redirects=False,
                              proxies=_environment_proxies(parts.scheme, parts.netloc))
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


def check_address(url: str, settings: HttpSettings) -> None:
    """Unless private addresses are allowed, refuse a host that resolves to any address that is not
    globally routable (loopback, RFC 1918, link-local such as cloud metadata, reserved…)."""
    if settings.allow_private:
        return
    parts = urlsplit(url)
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80),
                                   type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return  # the request itself fails and says why (DNS)
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if not address.is_global:
            raise errors.RegistryConnectionError(
                f"{parts.hostname} is at {address}, a private or local address: Berth does not connect "
                "there unless an administrator sets BERTH_ALLOW_PRIVATE_REGISTRIES=on.")


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
