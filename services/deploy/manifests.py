"""One builder for the Kubernetes objects of a component: Secret, Deployment, Service."""
from __future__ import annotations

import base64
import json
import re

from services.deploy.spec import DeploySpec

MANAGED_BY = "berth"
RELEASE_ANNOTATION = "berth.dev/release-id"


_NOT_IN_LABELS = re.compile(r"[^A-Za-z0-9._-]+")


def label_value(text: str) -> str:
    """A Kubernetes label value for a name people typed ("Shop & Co" -> "Shop-Co"): at most 63 of
    letters, digits, '-', '_' and '.', starting and ending with a letter or digit ("" if none)."""
    return _NOT_IN_LABELS.sub("-", text)[:63].strip("-_.")


def labels(spec: DeploySpec) -> dict[str, str]:
    return {"app.kubernetes.io/name": spec.name, "app.kubernetes.io/instance": spec.name,
            "app.kubernetes.io/part-of": label_value(spec.application), "app.kubernetes.io/managed-by": MANAGED_BY}


def selector(spec: DeploySpec) -> dict[str, str]:
    return {"app.kubernetes.io/instance": spec.name, "app.kubernetes.io/managed-by": MANAGED_BY}


def pull_secret_name(spec: DeploySpec) -> str:
    return f"{spec.name}-pull"


def dockerconfigjson(host: str, username: str, password: str) -> str:
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    return json.dumps({"auths": {host: {"username": username, "password": password, "auth": auth}}})


def secret(spec: DeploySpec) -> dict | None:
    if spec.credentials is None:
        return None
    c = spec.credentials
    return {
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
        "metadata": {"name": pull_secret_name(spec), "namespace": spec.namespace, "labels": labels(spec)},
        "data": {".dockerconfigjson": base64.b64encode(
            dockerconfigjson(c.host, c.username, c.password).encode()).decode()},
    }


def deployment(spec: DeploySpec, host_ports: bool = False) -> dict:
    limits = {"memory": f"{spec.memory_mb}Mi"}
    if spec.cpu_millicores:
        limits["cpu"] = f"{spec.cpu_millicores}m"
    container = {
        "name": spec.name,
        "image": spec.image,
        "imagePullPolicy": "IfNotPresent",
        "env": [{"name": k, "value": v} for k, v in spec.env],
        "resources": {"limits": limits, "requests": dict(limits)},
    }
    ports = []
    for p in spec.ports:
        entry = {"containerPort": p.port, "protocol": p.protocol, "name": f"p{p.port}-{p.protocol.lower()}"}
        if host_ports and p.expose:
            entry["hostPort"] = p.host_port or p.port
            entry["hostIP"] = "127.0.0.1"
        ports.append(entry)
    if ports:
        container["ports"] = ports
    pod_spec = {"containers": [container]}
    if spec.credentials is not None:
        pod_spec["imagePullSecrets"] = [{"name": pull_secret_name(spec)}]
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": spec.name, "namespace": spec.namespace, "labels": labels(spec),
                     "annotations": {RELEASE_ANNOTATION: str(spec.release_id)}},
        "spec": {
            "replicas": spec.replicas,
            "selector": {"matchLabels": selector(spec)},
            "progressDeadlineSeconds": 600,
            "template": {"metadata": {"labels": labels(spec),
                                      "annotations": {RELEASE_ANNOTATION: str(spec.release_id)}},
                         "spec": pod_spec},
        },
    }


def service(spec: DeploySpec) -> dict | None:
    exposed = [p for p in spec.ports if p.expose]
    if not exposed:
        return None
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": spec.name, "namespace": spec.namespace, "labels": labels(spec)},
        "spec": {"type": "ClusterIP", "selector": selector(spec),
                 "ports": [{"name": f"p{p.port}-{p.protocol.lower()}", "port": p.port, "targetPort": p.port,
                            "protocol": p.protocol} for p in exposed]},
    }


def build(spec: DeploySpec, host_ports: bool = False) -> list[dict]:
    """Secret (when the registry needs credentials), Deployment, Service (when a port is exposed)."""
    return [m for m in (secret(spec), deployment(spec, host_ports), service(spec)) if m is not None]
