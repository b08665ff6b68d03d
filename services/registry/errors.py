"""The registry clients' exception tree. Every message is safe to show to the user."""
from __future__ import annotations


class RegistryError(Exception):
    """Base: something went wrong talking to a registry."""

    def __init__(self, message: str, *, status: int | None = None, response=None):
        super().__init__(message)
        self.message = message
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
