"""A team's Kubernetes clusters besides this Berth's own deployer: saved with their API server, CA
and a ServiceAccount token (encrypted), checked with "Test connection" (what the token may not do,
asked of the API server), and the deployer each component on them uses."""
from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import yaml
from flask import current_app
from sqlalchemy import func, select

from models import ClusterTarget, Component, Team, db, utcnow
from services.errors import FieldErrors, ServiceError
from services.oversight import audit
from services.platform import metrics, runtime, tls
from services.platform.crypto import secret_box
from services.registries.clients import http

NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
KUBECONFIG_BYTES = 64 * 1024


@dataclass
class TargetInput:
    name: str
    server: str = ""
    ca_pem: str = ""
    token: str = ""  # empty when editing: keep the saved one
    kubeconfig: str = ""  # instead of the three above: its current context's


def _from_kubeconfig(text: str) -> tuple[str, str, str]:
    """(server, CA PEM, token) of a kubeconfig's current context; FieldErrors naming what is wrong."""
    def refuse(message: str):
        return FieldErrors({"kubeconfig": message})
    if len(text.encode()) > KUBECONFIG_BYTES:
        raise refuse(f"A kubeconfig of at most {KUBECONFIG_BYTES // 1024} KiB, please.")
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError:
        raise refuse("This is not YAML: paste the kubeconfig file as it is.") from None
    if not isinstance(config, dict):
        raise refuse("This is not a kubeconfig (no clusters, users and contexts).")

    def named(kind: str, name) -> dict:
        for entry in config.get(kind) or []:
            if isinstance(entry, dict) and entry.get("name") == name and isinstance(entry.get(kind[:-1]), dict):
                return entry[kind[:-1]]
        raise refuse(f"The kubeconfig has no {kind[:-1]} named {str(name)[:60]!r} for its current context.")
    context = named("contexts", config.get("current-context"))
    cluster, user = named("clusters", context.get("cluster")), named("users", context.get("user"))
    token = user.get("token")
    if not isinstance(token, str) or not token.strip():
        raise refuse("Its user signs in without a token (a client certificate or a plugin): create a "
                     "ServiceAccount token for Berth (kubectl create token …) and use that.")
    ca = ""
    if cluster.get("certificate-authority-data"):
        try:
            ca = base64.b64decode(str(cluster["certificate-authority-data"]), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            raise refuse("Its certificate-authority-data is not base64 PEM.") from None
    elif cluster.get("certificate-authority"):
        raise refuse("Its CA is a file path on another machine: use certificate-authority-data "
                     "(kubectl config view --raw --flatten).")
    return str(cluster.get("server") or ""), ca, token.strip()


def _private(server: str) -> str | None:
    """Why Berth may not call this API server under the private-address policy, or None."""
    if current_app.config["BERTH_ALLOW_PRIVATE_CLUSTERS"]:
        return None
    parts = urlsplit(server)
    try:
        return http.refusal(parts.hostname, parts.port or 443, "BERTH_ALLOW_PRIVATE_CLUSTERS")[1]
    except (OSError, UnicodeError):
        return None  # the connection test says it cannot be reached


def save_target(team: Team, data: TargetInput, target: ClusterTarget | None = None, *, by: str) -> ClusterTarget:
    """Create or update a target; every problem is a field error and nothing is written."""
    server, ca, token = data.server.strip(), data.ca_pem.strip(), data.token.strip()
    if data.kubeconfig.strip():
        server, ca, token = _from_kubeconfig(data.kubeconfig)
    errors = {}
    name = data.name.strip()
    if not NAME.match(name):
        errors["name"] = "Use lowercase letters, digits and dashes (at most 63), e.g. production-eu."
    elif db.session.scalar(select(func.count(ClusterTarget.id)).where(
            ClusterTarget.team_id == team.id, func.lower(ClusterTarget.name) == name,
            ClusterTarget.id != (target.id if target else -1))):
        errors["name"] = f"Your team already has a cluster named {name}."
    parts = urlsplit(server)
    if parts.scheme != "https" or not parts.hostname or parts.path not in ("", "/") or parts.query:
        errors["server"] = "The API server's https:// address, e.g. https://203.0.113.10:6443."
    elif problem := _private(server):
        errors["server"] = problem
    if problem := tls.check_ca_bundle(ca):
        errors["ca_pem"] = problem
    if not token and target is None:
        errors["token"] = "A ServiceAccount token for Berth (kubectl create token berth -n berth-system)."
    elif token and (len(token) > 8192 or not token.isprintable() or " " in token):
        errors["token"] = "A token is one line of at most 8 KiB."
    if errors:
        if data.kubeconfig.strip():  # what came from the kubeconfig is wrong there, not in empty fields
            errors = {"kubeconfig" if k in ("server", "ca_pem", "token") else k: v for k, v in errors.items()}
        raise FieldErrors(errors)
    created = target is None
    if target is None:
        target = ClusterTarget(team=team)
        db.session.add(target)
    target.name, target.server, target.ca_pem = name, server.rstrip("/"), ca or None
    if token:
        target.token_encrypted = secret_box().encrypt(token)
    target.updated_at = utcnow()
    db.session.flush()
    audit.record(team.id, by, "cluster.created" if created else "cluster.saved", f"cluster {target.name}",
                 target.server + ("; token changed" if token and not created else ""))
    return target


def team_targets(team_id: int) -> list[ClusterTarget]:
    return list(db.session.scalars(select(ClusterTarget).where(ClusterTarget.team_id == team_id)
                                   .order_by(ClusterTarget.name)))


def delete_target(target: ClusterTarget, by: str) -> None:
    users = db.session.scalars(select(Component.name).where(Component.target_id == target.id).limit(6)).all()
    if users:
        raise ServiceError(f"{target.name} still runs {', '.join(users[:5])}{' …' if len(users) > 5 else ''}: "
                           f"delete those components first.")
    audit.record(target.team_id, by, "cluster.deleted", f"cluster {target.name}")
    db.session.delete(target)
    db.session.flush()


def api_client(target: ClusterTarget):
    from kubernetes import client  # noqa: PLC0415 - the kubernetes client is slow to import

    configuration = client.Configuration()
    configuration.host = target.server
    configuration.ssl_ca_cert = tls.ca_file(target.ca_pem) if target.ca_pem else None
    configuration.api_key = {"authorization": f"Bearer {secret_box().decrypt(target.token_encrypted)}"}
    from services.deploy.drivers.kubernetes import CONNECTIONS  # noqa: PLC0415 - slow import

    configuration.connection_pool_maxsize = CONNECTIONS
    return client.ApiClient(configuration)


def kubernetes_deployer(api_client_, config):
    """A Kubernetes deployer on this client with the process's settings (ingress, Pod Security,
    request metrics): the same for this Berth's own cluster and a team's."""
    from services.deploy.drivers.kubernetes import KubernetesDeployer  # noqa: PLC0415 - slow import

    return KubernetesDeployer(api_client_, config.get("BERTH_INGRESS_CLASS"), config.get("BERTH_INGRESS_TLS_SECRET"),
                              config.get("BERTH_KUBERNETES_POD_SECURITY", "baseline"), metrics.kubernetes_observer,
                              config.get("BERTH_KUBERNETES_STORAGE_CLASS"))


def deployer_for(target: ClusterTarget):
    """The target's Kubernetes deployer, kept per process until the target is saved again."""
    cache = runtime.of().target_deployers
    key = (target.id, target.updated_at)
    found = cache.get(key)
    if found is None:
        for old in [k for k in cache if k[0] == target.id]:
            cache.pop(old, None)
        found = cache[key] = kubernetes_deployer(api_client(target), current_app.config)
    return found


def test_connection(target: ClusterTarget, namespace: str) -> list[str]:
    """Ask the cluster what Berth's token may not do in the team's namespace; records the outcome.
    Raises DeployError (unreachable, untrusted certificate, rejected token) in plain words."""
    from services.deploy.drivers.spec import DeployError  # noqa: PLC0415 - next to the slow import

    target.last_checked_at = utcnow()
    try:
        missing = deployer_for(target).missing_access(namespace)
    except DeployError as e:
        target.last_check_ok, target.last_check_message = False, e.message[:1000]
        raise
    target.last_check_ok = not missing
    target.last_check_message = ("Berth may do everything it needs." if not missing else
                                 f"Berth's token may not: {', '.join(missing)}.")[:1000]
    return missing
