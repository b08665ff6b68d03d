"""The registry clients' exception tree. Every message is safe to show to the user."""
from __future__ import annotations

import json
import re

from services.errors import BerthError


class RegistryError(BerthError):
    """Base: something went wrong talking to a registry."""

    def __init__(self, message: str, *, status: int | None = None, response=None):
        super().__init__(message)
        self.status = status
        self.response = response


class RegistryConnectionError(RegistryError):
    """DNS failure, connection refused, reset."""


class RegistryTimeout(RegistryError):
    """The registry did not answer in time."""


class RegistryTLSError(RegistryError):
    """The certificate could not be verified."""


class RegistryAuthError(RegistryError):
    """401: missing or wrong credentials."""


class RegistryForbidden(RegistryError):
    """403: the credentials are valid but not allowed to do this."""


class RegistryNotFound(RegistryError):
    """404: no such repository, tag or manifest."""


class RegistryRateLimited(RegistryError):
    """429 after retries; retry_after is the server's wish in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw):
        super().__init__(message, **kw)
        self.retry_after = retry_after


class RegistryProtocolError(RegistryError):
    """The server's answer is not what the API promises (not a registry, bad JSON, bad Link)."""


class RegistryResponseTooLarge(RegistryProtocolError):
    """The body is larger than Berth reads."""


class RegistryServerError(RegistryError):
    """5xx after retries."""


_BY_STATUS = {401: RegistryAuthError, 403: RegistryForbidden, 404: RegistryNotFound}


def for_status(status: int, message: str, *, response=None) -> RegistryError:
    """The error for an HTTP status a client could not use: 401, 403 and 404 have their own classes."""
    return _BY_STATUS.get(status, RegistryError)(message, status=status, response=response)


_CODE = re.compile(r"^[A-Z][A-Z_]{1,63}$")


def detail_of(body: bytes, hub: bool = False) -> str:
    """A short " (CODE: message)" from a Registry v2 error body ({"errors": [{"code", "message"}]},
    the code an upper-case identifier); with `hub`, also Docker Hub API's {"detail"} or {"message"}.
    "" for anything else: what some other server says is never shown."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return ""
    if not isinstance(data, dict):
        return ""
    first = data.get("errors")[0] if isinstance(data.get("errors"), list) and data["errors"] else None
    if isinstance(first, dict) and isinstance(first.get("code"), str) and _CODE.match(first["code"]):
        text = f"{first['code']}: {first.get('message', '')}"
    elif hub:
        text = data.get("detail") or data.get("message") or ""
    else:
        return ""
    return f" ({text})"[:200] if isinstance(text, str) and text.strip(": ") else ""
