"""Berth's own Kubernetes manifests pass kubernetes-validate; RBAC covers what the deployer calls."""
from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import yaml

MANIFESTS = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes" / "berth.yaml"


def docs():
    return [d for d in yaml.safe_load_all(MANIFESTS.read_text()) if d]


def test_manifests_validate():
    kinds = []
    for doc in docs():
        kubernetes_validate.validate(doc, "1.30.0", strict=True)
        kinds.append(doc["kind"])
    assert {"Deployment", "Service", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Secret",
            "ConfigMap"} <= set(kinds)


def test_probes_and_rbac():
    by_kind = {d["kind"]: d for d in docs()}
    container = by_kind["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    rules = {(g, r): set(rule["verbs"]) for rule in by_kind["ClusterRole"]["rules"]
             for g in rule["apiGroups"] for r in rule["resources"]}
    assert {"get", "create", "patch", "delete"} <= rules[("apps", "deployments")]
    assert {"get", "create", "patch", "delete"} <= rules[("", "secrets")]
    assert {"get", "create"} <= rules[("", "namespaces")] and "delete" not in rules[("", "namespaces")]
    assert {"list"} <= rules[("", "pods")]
