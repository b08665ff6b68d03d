"""Where a registry's username and password come from: one interface for fixed credentials and for
cloud registries whose passwords are short-lived tokens (Amazon ECR, Google Artifact Registry,
Azure Container Registry).

A provider's `get()` answers the credential to use now: cached with its expiry and obtained again
ahead of time (a quarter of its lifetime, at least RENEW_AHEAD seconds, before it ends), so a
background job always finds one that outlives its next run. `renew(stale)` obtains a new one after
the registry refused `stale` (401). What a provider obtains never reaches a log or a page: the
Credential's repr hides the password, and errors carry the provider's message only.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import requests

from services.registries.clients import errors
from services.registries.clients.http import HttpSettings, send

if TYPE_CHECKING:
    from botocore.exceptions import ClientError

RENEW_AHEAD = 300.0
# boto3 and google-auth are imported by the providers that use them (`noqa: PLC0415` below): together
# they add ~55 MB to a process, which a Berth without cloud registries should not carry.


@dataclass(frozen=True)
class Credential:
    username: str
    password: str = field(repr=False)
    expires_at: float | None = None  # epoch seconds; None: it does not expire


@dataclass(frozen=True)
class CredentialState:
    """What the registry page says about the credential (never the credential itself)."""

    renews: bool
    expires_at: float | None = None
    obtained_at: float | None = None
    error: str | None = None


class CredentialError(errors.RegistryAuthError):
    """The provider refused to issue a credential; the message is the provider's own, in plain words.
    `field` names the form field the user should look at."""

    def __init__(self, message: str, field: str = "password", **kw):
        super().__init__(message, **kw)
        self.field = field


class StaticCredentials:
    """A username and password (or token) as the user entered them."""

    renews = False

    def __init__(self, username: str | None, password: str | None):
        self._credential = Credential(username, password or "") if username else None

    def get(self) -> Credential | None:
        return self._credential

    def renew(self, stale: Credential | None) -> Credential | None:
        return self._credential

    def state(self) -> CredentialState:
        return CredentialState(renews=False)


class RenewingCredentials:
    """A credential a cloud provider issues for a while; subclasses implement `obtain()`.

    LIFETIME is the provider's documented lifetime, used when an answer's expiry is missing or
    already past (a skewed clock): the registry's 401 renews it early if that guess is wrong."""

    renews = True
    LIFETIME = 3600.0

    def __init__(self, clock=time.time):
        self.clock = clock
        self._lock = threading.Lock()
        self._current: Credential | None = None
        self._obtained_at: float | None = None
        self._error: str | None = None
        self.renewals = 0  # how many times a credential was obtained (tests and the page read it)

    def obtain(self) -> Credential:
        raise NotImplementedError

    def _due(self, now: float) -> bool:
        c = self._current
        if c is None:
            return True
        if c.expires_at is None:
            return False
        lifetime = c.expires_at - (self._obtained_at or now)
        return c.expires_at - now <= max(RENEW_AHEAD, lifetime / 4)

    def _refresh(self) -> Credential:
        now = self.clock()
        try:
            fresh = self.obtain()
        except CredentialError as e:
            self._error = e.message
            if self._current is not None and (self._current.expires_at or 0) > now + 30:
                return self._current  # still valid: keep using it, the page shows the error
            raise
        if fresh.expires_at is None or fresh.expires_at <= now:
            fresh = Credential(fresh.username, fresh.password, now + self.LIFETIME)
        self._current, self._obtained_at, self._error = fresh, now, None
        self.renewals += 1
        return fresh

    def get(self) -> Credential:
        with self._lock:
            if self._due(self.clock()):
                return self._refresh()
            return self._current

    def renew(self, stale: Credential | None) -> Credential:
        with self._lock:
            if self._current is None or self._current is stale:
                return self._refresh()
            return self._current  # another thread renewed it meanwhile

    def state(self) -> CredentialState:
        with self._lock:
            c = self._current
            return CredentialState(True, c.expires_at if c else None, self._obtained_at, self._error)


# -- Amazon ECR -------------------------------------------------------------------------------------
AWS_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
AWS_ACCOUNT = re.compile(r"^\d{12}$")
_XML_ERROR = re.compile(r"<Code>([^<]{1,100})</Code>\s*<Message>([^<]{0,500})</Message>")


def aws_message(e: ClientError) -> str:
    """"Code: message" of a botocore ClientError, as AWS wrote it (from JSON or an XML body)."""
    error = e.response.get("Error") if isinstance(e.response, dict) else None
    error = error if isinstance(error, dict) else {}
    code, message = str(error.get("Code", "")), str(error.get("Message", ""))
    found = _XML_ERROR.search(message)
    if found:
        code, message = found.group(1), found.group(2)
    return f"{code}: {message}".strip(": ")[:400] or type(e).__name__


class EcrCredentials(RenewingCredentials):
    """ECR's GetAuthorizationToken (boto3): a base64 "AWS:<password>" valid for 12 hours. Without
    an access key, boto3's default chain (environment, web identity token file, instance profile)."""

    LIFETIME = 12 * 3600.0

    def __init__(self, region: str, registry_id: str | None, access_key_id: str | None,
                 secret_access_key: str | None, endpoint_url: str | None = None, timeout: float = 10.0,
                 clock=time.time):
        super().__init__(clock)
        self.region, self.registry_id = region, registry_id or None
        self.access_key_id, self._secret = access_key_id or None, secret_access_key or None
        self.endpoint_url, self.timeout = endpoint_url or None, timeout

    def _client(self):
        import boto3  # noqa: PLC0415
        from botocore.config import Config  # noqa: PLC0415

        session = boto3.session.Session(aws_access_key_id=self.access_key_id,
                                        aws_secret_access_key=self._secret if self.access_key_id else None,
                                        region_name=self.region)
        return session.client("ecr", endpoint_url=self.endpoint_url, config=Config(
            connect_timeout=self.timeout, read_timeout=self.timeout, retries={"max_attempts": 2}))

    def obtain(self) -> Credential:
        from botocore import exceptions as aws  # noqa: PLC0415

        kwargs = {"registryIds": [self.registry_id]} if self.registry_id else {}
        try:
            data = self._client().get_authorization_token(**kwargs)
        except aws.ClientError as e:
            raise CredentialError(f"AWS refused the token: {aws_message(e)}") from None
        except aws.NoCredentialsError:
            raise CredentialError("No AWS credentials: enter an access key ID and secret, or run Berth where "
                                  "AWS provides them (environment, web identity, instance profile).") from None
        except (aws.EndpointConnectionError, aws.ConnectTimeoutError, aws.ReadTimeoutError) as e:
            raise CredentialError(f"Could not reach Amazon ECR in region {self.region}: {type(e).__name__}.",
                                  field="region") from None
        except aws.BotoCoreError as e:
            raise CredentialError(f"AWS: {type(e).__name__}.") from None
        items = data.get("authorizationData") if isinstance(data, dict) else None
        item = items[0] if isinstance(items, list) and items and isinstance(items[0], dict) else {}
        try:
            user, _, password = base64.b64decode(str(item.get("authorizationToken", "")),
                                                 validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            user, password = "", ""
        if not password:
            raise CredentialError("Amazon ECR answered without a usable authorization token.")
        expires = item.get("expiresAt")
        return Credential(user or "AWS", password, expires.timestamp() if isinstance(expires, datetime) else None)

    def repository_names(self, limit: int) -> list[str]:
        """The registry's repositories (DescribeRepositories; needs ecr:DescribeRepositories)."""
        from botocore import exceptions as aws  # noqa: PLC0415

        kwargs = {"registryId": self.registry_id} if self.registry_id else {}
        names: list[str] = []
        try:
            for page in self._client().get_paginator("describe_repositories").paginate(
                    **kwargs, PaginationConfig={"MaxItems": limit, "PageSize": 1000}):
                names += [r["repositoryName"] for r in page.get("repositories", [])
                          if isinstance(r, dict) and isinstance(r.get("repositoryName"), str)]
        except aws.ClientError as e:
            raise CredentialError(f"AWS refused to list repositories: {aws_message(e)}") from None
        except aws.BotoCoreError as e:
            raise CredentialError(f"AWS: {type(e).__name__}.") from None
        return names[:limit]


# -- Google Artifact Registry / Container Registry -----------------------------------------------
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
GOOGLE_SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)


def parse_service_account(text: str, token_uris: tuple[str, ...] = (GOOGLE_TOKEN_URI,)) -> dict:
    """The service-account key as a dict, or CredentialError saying what is wrong with it. Its
    token_uri must be Google's (or one the administrator configured): a key file decides where
    Berth sends a signed assertion, so a made-up one would be a way to make Berth call anywhere."""
    try:
        info = json.loads(text)
    except (ValueError, RecursionError):
        raise CredentialError("The service-account key is not JSON: paste the whole key file "
                              "(it starts with {\"type\": \"service_account\", …).") from None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise CredentialError("This JSON is not a service-account key (its \"type\" must be \"service_account\").")
    missing = [k for k in ("client_email", "private_key", "token_uri") if not isinstance(info.get(k), str)
               or not info.get(k)]
    if missing:
        raise CredentialError(f"The service-account key lacks {', '.join(missing)}.")
    if info["token_uri"] not in token_uris:
        raise CredentialError(f"The key's token_uri is {info['token_uri'][:100]!r}; Berth only sends "
                              f"service-account assertions to {token_uris[0]}.")
    return info


class GoogleCredentials(RenewingCredentials):
    """An OAuth2 access token (google-auth) used as the password of "oauth2accesstoken". With a
    service-account key: the JWT-bearer grant at the key's token URI; without: the default
    credentials (workload identity / the metadata server when Berth runs on GCP)."""

    LIFETIME = 3600.0
    username = "oauth2accesstoken"

    def __init__(self, key_json: str | None, timeout: float = 10.0,
                 token_uris: tuple[str, ...] = (GOOGLE_TOKEN_URI,), clock=time.time):
        super().__init__(clock)
        self.info = parse_service_account(key_json, token_uris) if key_json else None
        self.timeout = timeout

    def obtain(self) -> Credential:
        import google.auth  # noqa: PLC0415
        import google.auth.exceptions  # noqa: PLC0415
        import google.auth.transport.requests  # noqa: PLC0415
        from google.oauth2 import service_account  # noqa: PLC0415

        limit = self.timeout

        class Request(google.auth.transport.requests.Request):
            """google-auth's transport with Berth's timeout on every call (its own default is 120 s)."""

            def __call__(self, url, method="GET", body=None, headers=None, timeout=None, **kwargs):
                return super().__call__(url, method, body, headers, timeout=limit, **kwargs)
        session = requests.Session()
        session.trust_env = False
        try:
            if self.info is not None:
                creds = service_account.Credentials.from_service_account_info(self.info, scopes=GOOGLE_SCOPES)
            else:
                creds, _ = google.auth.default(scopes=GOOGLE_SCOPES)
            creds.refresh(Request(session))
        except google.auth.exceptions.RefreshError as e:
            raise CredentialError(f"Google refused the token: {_google_message(e)}") from None
        except google.auth.exceptions.DefaultCredentialsError:
            raise CredentialError("No Google credentials: paste a service-account key, or run Berth on GCP "
                                  "with workload identity.") from None
        except google.auth.exceptions.TransportError as e:
            cause = type(e.__cause__ or e).__name__
            raise CredentialError(f"Could not reach Google's token service ({cause}).") from None
        except ValueError as e:  # a private key that is not a key
            raise CredentialError(f"The service-account key cannot be used: {str(e)[:200]}") from None
        finally:
            session.close()
        expiry = creds.expiry.replace(tzinfo=UTC).timestamp() if creds.expiry else None
        return Credential(self.username, creds.token, expiry)


def _google_message(e: Exception) -> str:
    """"invalid_grant: Invalid JWT Signature." from a RefreshError's (message, response) args."""
    response = e.args[1] if len(e.args) > 1 and isinstance(e.args[1], dict) else {}
    if response.get("error"):
        text = str(response["error"])
        if response.get("error_description"):
            text += f": {response['error_description']}"
        return text[:400]
    return str(e.args[0] if e.args else e)[:400]


# -- Azure Container Registry ----------------------------------------------------------------------
AZURE_AUTHORITY = "https://login.microsoftonline.com"
ACR_USERNAME = "00000000-0000-0000-0000-000000000000"
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def jwt_expiry(token: str) -> float | None:
    """The `exp` claim of a JWT, read without checking the signature (the registry checks it)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        exp = claims.get("exp") if isinstance(claims, dict) else None
        return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None
    except (IndexError, ValueError, binascii.Error, RecursionError):
        return None


class AzureCredentials(RenewingCredentials):
    """A service principal's way into ACR: an Azure AD token (client-credentials grant), exchanged at
    the registry's /oauth2/exchange for an ACR refresh token, the password of the all-zero user
    (the registry's /oauth2/token turns it into access tokens, as for any token-auth registry)."""

    LIFETIME = 3 * 3600.0

    def __init__(self, registry_url: str, tenant: str, client_id: str, client_secret: str,
                 settings: HttpSettings, authority: str = AZURE_AUTHORITY, clock=time.time):
        super().__init__(clock)
        self.registry_url, self.tenant, self.client_id = registry_url.rstrip("/"), tenant, client_id
        self._secret, self.settings, self.authority = client_secret, settings, authority.rstrip("/")
        self.session = requests.Session()

    def _post(self, url: str, data: dict, who: str):
        try:
            response = send(self.session, self.settings, "POST", url, data=data, max_bytes=256 * 1024)
        except errors.RegistryError as e:
            raise CredentialError(f"{who}: {e.message}") from None
        try:
            body = json.loads(response.body)
        except (ValueError, RecursionError):
            body = None
        if not isinstance(body, dict):
            raise CredentialError(f"{who} answered {response.status} with something that is not JSON.")
        if response.status >= 400:
            # Azure AD: {"error", "error_description"}; ACR: {"errors": [{"code", "message"}]}.
            first = body["errors"][0] if isinstance(body.get("errors"), list) and body["errors"] else {}
            first = first if isinstance(first, dict) else {}
            parts = (body.get("error") or first.get("code"), body.get("error_description") or first.get("message"))
            text = ": ".join(str(x) for x in parts if x) or f"HTTP {response.status}"
            raise CredentialError(f"{who} refused: {text[:400]}")
        return body

    def obtain(self) -> Credential:
        aad = self._post(f"{self.authority}/{self.tenant}/oauth2/v2.0/token", {
            "grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self._secret,
            "scope": "https://management.azure.com/.default"}, "Azure AD")
        if not isinstance(aad.get("access_token"), str):
            raise CredentialError("Azure AD answered without an access token.")
        exchanged = self._post(f"{self.registry_url}/oauth2/exchange", {
            "grant_type": "access_token", "service": urlsplit(self.registry_url).netloc,
            "tenant": self.tenant, "access_token": aad["access_token"]}, "The registry's token exchange")
        refresh = exchanged.get("refresh_token")
        if not isinstance(refresh, str) or not refresh:
            raise CredentialError("The registry's token exchange answered without a refresh token.")
        return Credential(ACR_USERNAME, refresh, jwt_expiry(refresh))


@dataclass(frozen=True)
class Endpoints:
    """Where the cloud providers are reached: their public services unless an administrator (or a
    test) points Berth elsewhere (a VPC endpoint, a sovereign cloud, a local emulator)."""

    ecr: str | None = None
    google_token_uris: tuple[str, ...] = (GOOGLE_TOKEN_URI,)
    azure_authority: str = AZURE_AUTHORITY


def provider_for(kind: str, url: str, username: str | None, password: str | None, options: dict | None,
                 settings: HttpSettings, endpoints: Endpoints = Endpoints()):
    """The credential provider for a registry of this kind (CredentialError for unusable settings)."""
    options = options or {}
    if kind == "ecr":
        return EcrCredentials(options.get("region") or "", options.get("registry_id"), username, password,
                              endpoints.ecr, settings.timeout)
    if kind == "gar":
        return GoogleCredentials(password or None, settings.timeout, endpoints.google_token_uris)
    if kind == "acr" and options.get("tenant"):
        return AzureCredentials(url, options["tenant"], username or "", password or "", settings,
                                endpoints.azure_authority)
    return StaticCredentials(username, password)
