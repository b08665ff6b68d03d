"""Berth's Helm chart (deploy/helm/berth), with helm built from its Go module (scripts/go-tool.sh):
`helm lint`, what it renders (the plain manifest's RBAC, Pod Security "restricted", the values a
user must give named when missing), and `helm install` into the real API server of the test
control plane, in a namespace enforcing "restricted", until its Deployment is available on KWOK's
simulated node."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from tests.fixtures.cluster import MANIFEST

CHART = Path(__file__).resolve().parents[2] / "deploy" / "helm" / "berth"
VALUES = ["--set=database.url=postgresql+psycopg://berth:pw@postgres:5432/berth",
          "--set=secrets.secretKey=" + "s" * 40, "--set=secrets.encryptionKey=" + "e" * 40]


@pytest.fixture(scope="session")
def helm() -> str:
    """The helm binary make test built (BERTH_HELM), or built now (once, cached)."""
    built = os.environ.get("BERTH_HELM")
    if built:
        return built
    script = Path(__file__).resolve().parents[2] / "scripts" / "go-tool.sh"
    return subprocess.run([str(script), "helm"], capture_output=True, text=True, check=True,
                          timeout=1800).stdout.strip().splitlines()[-1]


def run(helm: str, *args: str, home: Path, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "HELM_CACHE_HOME": str(home / "cache"), "HELM_CONFIG_HOME": str(home / "config"),
           "HELM_DATA_HOME": str(home / "data")}
    result = subprocess.run([helm, *args], capture_output=True, text=True, timeout=300, env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def render(helm: str, home: Path, *args: str) -> list[dict]:
    out = run(helm, "template", "demo", str(CHART), "--namespace", "tools", *VALUES, *args, home=home).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def test_the_chart_lints(helm, tmp_path):
    result = run(helm, "lint", "--strict", str(CHART), *VALUES, home=tmp_path)
    assert "1 chart(s) linted, 0 chart(s) failed" in result.stdout, result.stdout


@pytest.mark.parametrize(("unset", "named"), [
    ("database.url", "database.url (or database.existingSecret)"),
    ("secrets.encryptionKey", "secrets.encryptionKey (or secrets.existingSecret)")])
def test_a_value_the_chart_cannot_do_without_is_named(helm, tmp_path, unset, named):
    values = [v for v in VALUES if not v.startswith(f"--set={unset}=")]
    result = run(helm, "template", "demo", str(CHART), *values, home=tmp_path, check=False)
    assert result.returncode != 0 and named in result.stderr, result.stderr


def test_what_it_renders_is_valid_restricted_and_grants_what_the_plain_manifest_grants(helm, tmp_path):
    docs = render(helm, tmp_path, "--set", "ingress.enabled=true", "--set", "ingress.className=nginx",
                  "--set", "ingress.tlsSecretName=berth-tls", "--set", "metrics.token=scrape-me",
                  "--set", "database.existingSecret=pg", "--set", "database.url=")
    for doc in docs:
        kubernetes_validate.validate(doc, "1.30.0", strict=True)
    by_kind = {d["kind"]: d for d in docs}
    plain = {d["kind"]: d for d in yaml.safe_load_all(MANIFEST.read_text()) if d}
    assert by_kind["ClusterRole"]["rules"] == plain["ClusterRole"]["rules"]
    pod = by_kind["Deployment"]["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"]
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for container in pod["initContainers"] + pod["containers"]:
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]}
        assert env["BERTH_DATABASE_URL"] == {"name": "pg", "key": "BERTH_DATABASE_URL"}
        assert env["BERTH_METRICS_TOKEN"]["name"] == "demo-berth"
    assert "BERTH_DATABASE_URL" not in by_kind["Secret"]["stringData"]
    assert by_kind["Ingress"]["spec"]["tls"] == [{"hosts": ["berth.example.com"], "secretName": "berth-tls"}]
    assert by_kind["ConfigMap"]["data"]["BERTH_EXTERNAL_URL"] == "https://berth.example.com"


def test_helm_install_into_the_real_api_server_in_a_restricted_namespace(helm, cluster, tmp_path):
    namespace = cluster.namespace("helm")
    cluster.kubectl("create", "namespace", namespace)
    cluster.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
    try:
        result = run(helm, "install", "berth", str(CHART), "--namespace", namespace, "--kubeconfig",
                     str(cluster.admin), *VALUES, "--wait", "--timeout", "120s", home=tmp_path)
        assert "STATUS: deployed" in result.stdout, result.stdout
        deployment = cluster.get("deployment", "berth", namespace)
        assert deployment["status"]["availableReplicas"] == 2
        assert cluster.get("serviceaccount", "berth", namespace) is not None
        assert cluster.kubectl("get", "clusterrole", f"berth-{namespace}", check=False).returncode == 0
    finally:
        run(helm, "uninstall", "berth", "--namespace", namespace, "--kubeconfig", str(cluster.admin), home=tmp_path,
            check=False)
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
