"""Settings read from BERTH_* environment variables."""
from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

INSTANCE_DIR = Path(__file__).resolve().parent / "instance"


class ConfigError(RuntimeError):
    """The environment does not describe a runnable Berth."""


def _int(environ, name, default, kind=int):
    raw = environ.get(name)
    if raw in (None, ""):
        return default
    try:
        return kind(raw)
    except ValueError as e:
        raise ConfigError(f"{name} must be a {'whole ' if kind is int else ''}number, got {raw!r}") from e


def _pod_prefix(raw: str) -> str:
    """podman: a prefix for pod names (lower-case letters, digits and dashes), so two Berths on one
    machine keep apart."""
    if raw and not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,19}", raw):
        raise ConfigError(f"BERTH_PODMAN_POD_PREFIX must be up to 20 lower-case letters, digits or dashes, got {raw!r}")
    return raw


def _namespace_prefix(raw: str) -> str:
    """Kubernetes: team namespaces are <prefix><team slug>; with the slug's 40 characters, a DNS label."""
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,22}", raw):
        raise ConfigError(f"BERTH_KUBERNETES_NAMESPACE_PREFIX must be 1-23 lower-case letters, digits or dashes, "
                          f"starting with a letter or digit, got {raw!r}")
    return raw


POD_SECURITY_LEVELS = ("restricted", "baseline", "privileged")


def _pod_security(raw: str) -> str:
    """Kubernetes: the Pod Security level Berth labels the namespaces it creates with (enforced)."""
    if raw not in POD_SECURITY_LEVELS:
        raise ConfigError(f"BERTH_KUBERNETES_POD_SECURITY must be one of {', '.join(POD_SECURITY_LEVELS)}, got {raw!r}")
    return raw


def _password_hash(raw: str) -> str:
    """Werkzeug's scrypt with its cost as N:r:p. The default is Werkzeug's own; the test suite lowers N
    (a cheaper hash is the same code path), and nothing below N=1024 is accepted."""
    match = re.fullmatch(r"scrypt:(\d+):(\d+):(\d+)", raw)
    n = int(match.group(1)) if match else 0
    if not match or n < 1024 or n & (n - 1) or not 1 <= int(match.group(2)) <= 64 or not 1 <= int(match.group(3)) <= 16:
        raise ConfigError(f"BERTH_PASSWORD_HASH must look like scrypt:32768:8:1 (N a power of two, at least 1024), "
                          f"got {raw!r}")
    return raw


def _port_range(raw: str) -> tuple[int, int]:
    try:
        low, high = (int(x) for x in raw.split("-", 1))
    except ValueError as e:
        raise ConfigError(f"BERTH_HOST_PORTS must look like 20000-29999, got {raw!r}") from e
    if not 1 <= low <= high <= 65535:
        raise ConfigError(f"BERTH_HOST_PORTS must be a range within 1-65535, got {raw!r}")
    return low, high


def _secret_key(environ, env):
    key = environ.get("BERTH_SECRET_KEY")
    if key:
        return key
    if env == "production":
        raise ConfigError("BERTH_SECRET_KEY must be set when BERTH_ENV=production")
    # Development: generate once and keep it, so sessions survive restarts.
    INSTANCE_DIR.mkdir(exist_ok=True)
    path = INSTANCE_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def load(environ=None) -> dict:
    """Return Flask config values from the environment."""
    environ = os.environ if environ is None else environ
    env = environ.get("BERTH_ENV", "development")
    database_url = environ.get("BERTH_DATABASE_URL") or f"sqlite:///{INSTANCE_DIR / 'berth.db'}"
    if env == "production" and not environ.get("BERTH_DATABASE_URL"):
        raise ConfigError("BERTH_DATABASE_URL must be set when BERTH_ENV=production")
    return {
        "BERTH_ENV": env,
        "SECRET_KEY": _secret_key(environ, env),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "BERTH_EXTERNAL_URL": environ.get("BERTH_EXTERNAL_URL", "http://127.0.0.1:5000").rstrip("/"),
        "BERTH_ENCRYPTION_KEY": environ.get("BERTH_ENCRYPTION_KEY", ""),
        "BERTH_DEPLOYER": environ.get("BERTH_DEPLOYER", "auto"),
        "BERTH_POLL_INTERVAL": _int(environ, "BERTH_POLL_INTERVAL", 60),
        "BERTH_SCHEDULER": environ.get("BERTH_SCHEDULER", "on") != "off",
        # Docker Hub's API (its tag search, login): another address only for a mirror or a test double.
        "BERTH_DOCKERHUB_API_URL": environ.get("BERTH_DOCKERHUB_API_URL", ""),
        # Cloud registries (services/registries/clients/credentials.py): their public services unless pointed
        # elsewhere (a VPC endpoint, a sovereign cloud, a local emulator in tests).
        "BERTH_ECR_ENDPOINT_URL": environ.get("BERTH_ECR_ENDPOINT_URL", ""),
        "BERTH_GOOGLE_TOKEN_URI": environ.get("BERTH_GOOGLE_TOKEN_URI", ""),
        "BERTH_AZURE_AUTHORITY_URL": environ.get("BERTH_AZURE_AUTHORITY_URL", ""),
        # Kubernetes pull Secrets of registries with short-lived tokens are rewritten this often.
        "BERTH_PULL_SECRET_REFRESH_EVERY": _int(environ, "BERTH_PULL_SECRET_REFRESH_EVERY", 600),
        "BERTH_PROMOTE_EVERY": _int(environ, "BERTH_PROMOTE_EVERY", 15),
        # Registry requests polling may make per registry per hour (a registry's own setting wins;
        # 0: the kind's default, see services/delivery/polling.py KIND_BUDGETS), and the share of a reported
        # rate limit it leaves to the runtime's pulls.
        "BERTH_POLL_BUDGET_PER_HOUR": _int(environ, "BERTH_POLL_BUDGET_PER_HOUR", 0),
        "BERTH_POLL_RATE_RESERVE": _int(environ, "BERTH_POLL_RATE_RESERVE", 0.2, float),
        # Replicas share polling on PostgreSQL: a watch key a process claimed (services/delivery/leases.py)
        # goes to another process this long after that one stopped answering.
        "BERTH_POLL_LEASE_SECONDS": _int(environ, "BERTH_POLL_LEASE_SECONDS", 120),
        "BERTH_TAG_CACHE_SECONDS": _int(environ, "BERTH_TAG_CACHE_SECONDS", 30),
        "BERTH_REGISTRY_TIMEOUT": _int(environ, "BERTH_REGISTRY_TIMEOUT", 10),
        "BERTH_REGISTRY_MAX_BYTES": _int(environ, "BERTH_REGISTRY_MAX_BYTES", 16 * 1024 * 1024),
        "BERTH_DEPLOY_WORKERS": _int(environ, "BERTH_DEPLOY_WORKERS", 4),
        "BERTH_ROLLOUT_TIMEOUT": _int(environ, "BERTH_ROLLOUT_TIMEOUT", 300),
        "BERTH_STALE_SECONDS": _int(environ, "BERTH_STALE_SECONDS", 120),
        # The API's long poll (GET /api/v1/releases/<id>?wait=N) holds a request at most this long.
        "BERTH_API_LONG_POLL_SECONDS": _int(environ, "BERTH_API_LONG_POLL_SECONDS", 60),
        # Seconds between the notification sender's looks for due messages (it is also woken at once
        # when a message is stored in this process).
        "BERTH_NOTIFY_EVERY": _int(environ, "BERTH_NOTIFY_EVERY", 1.0, float),
        "BERTH_LOG_FORMAT": environ.get("BERTH_LOG_FORMAT", "text"),
        # podman: exposed ports without a chosen host port get one from this range; they are
        # published on BERTH_PUBLISH_ADDRESS and linked at BERTH_ACCESS_HOST (default: the host of
        # BERTH_EXTERNAL_URL).
        "BERTH_HOST_PORTS": _port_range(environ.get("BERTH_HOST_PORTS", "20000-29999")),
        "BERTH_PUBLISH_ADDRESS": environ.get("BERTH_PUBLISH_ADDRESS", "127.0.0.1"),
        "BERTH_ACCESS_HOST": environ.get("BERTH_ACCESS_HOST", ""),
        "BERTH_KUBERNETES_NAMESPACE_PREFIX": _namespace_prefix(environ.get("BERTH_KUBERNETES_NAMESPACE_PREFIX",
                                                                           "berth-")),
        "BERTH_KUBERNETES_POD_SECURITY": _pod_security(environ.get("BERTH_KUBERNETES_POD_SECURITY", "baseline")),
        "BERTH_PASSWORD_HASH": _password_hash(environ.get("BERTH_PASSWORD_HASH", "scrypt:32768:8:1")),
        "BERTH_PODMAN_POD_PREFIX": _pod_prefix(environ.get("BERTH_PODMAN_POD_PREFIX", "")),
        # Retention (services/platform/retention.py): pruned by the leader every BERTH_PRUNE_EVERY seconds.
        "BERTH_DELIVERY_RETENTION_DAYS": _int(environ, "BERTH_DELIVERY_RETENTION_DAYS", 30.0, float),
        "BERTH_DELIVERIES_KEPT": _int(environ, "BERTH_DELIVERIES_KEPT", 1000),
        "BERTH_UNWATCHED_RETENTION_HOURS": _int(environ, "BERTH_UNWATCHED_RETENTION_HOURS", 24.0, float),
        "BERTH_RELEASES_KEPT": _int(environ, "BERTH_RELEASES_KEPT", 1000),
        "BERTH_PRUNE_EVERY": _int(environ, "BERTH_PRUNE_EVERY", 600),
        "BERTH_PRUNE_BATCH": _int(environ, "BERTH_PRUNE_BATCH", 10_000),
        "BERTH_PRUNE_PAUSE": _int(environ, "BERTH_PRUNE_PAUSE", 0.25, float),
        # Notifications: the first retry waits this many seconds, each next one twice as long (5 tries).
        "BERTH_NOTIFY_BACKOFF": _int(environ, "BERTH_NOTIFY_BACKOFF", 30.0, float),
        # Email channels: off while BERTH_SMTP_HOST is unset.
        "BERTH_SMTP_HOST": environ.get("BERTH_SMTP_HOST", ""),
        "BERTH_SMTP_PORT": _int(environ, "BERTH_SMTP_PORT", 587),
        "BERTH_SMTP_USER": environ.get("BERTH_SMTP_USER", ""),
        "BERTH_SMTP_PASSWORD": environ.get("BERTH_SMTP_PASSWORD", ""),
        "BERTH_SMTP_FROM": environ.get("BERTH_SMTP_FROM", ""),
        "BERTH_SMTP_STARTTLS": environ.get("BERTH_SMTP_STARTTLS", "on") != "off",
        # Kubernetes: the class and TLS secret of the Ingress made for ports with a public host.
        "BERTH_INGRESS_CLASS": environ.get("BERTH_INGRESS_CLASS", ""),
        "BERTH_INGRESS_TLS_SECRET": environ.get("BERTH_INGRESS_TLS_SECRET", ""),
        # Kubernetes: the storage class of the claims made for volumes (empty: the cluster's default).
        "BERTH_KUBERNETES_STORAGE_CLASS": environ.get("BERTH_KUBERNETES_STORAGE_CLASS", ""),
        # /metrics: with a token, scrapers send it as a Bearer token; without one it is open only
        # outside production (in production it answers 404 until a token is set).
        "BERTH_METRICS_TOKEN": environ.get("BERTH_METRICS_TOKEN") or None,
        # Registry URLs (and their token services and redirects) on loopback, private or link-local
        # addresses: allowed for local development, refused in production unless switched on.
        "BERTH_ALLOW_PRIVATE_REGISTRIES": environ.get(
            "BERTH_ALLOW_PRIVATE_REGISTRIES", "off" if env == "production" else "on") != "off",
        "BERTH_ALLOW_PRIVATE_CLUSTERS": environ.get(
            "BERTH_ALLOW_PRIVATE_CLUSTERS", "off" if env == "production" else "on") != "off",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": env == "production"
        and environ.get("BERTH_EXTERNAL_URL", "").startswith("https://"),
        "WTF_CSRF_TIME_LIMIT": None,
        "MAX_CONTENT_LENGTH": 2 * 1024 * 1024,
        # One form field may be as large as the whole body (Werkzeug's default is 500 kB), so a config
        # file over its own limit gets the form's message, not a bare 413.
        "MAX_FORM_MEMORY_SIZE": 2 * 1024 * 1024,
    }
