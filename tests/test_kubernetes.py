"""The Kubernetes deployer with the official client against kmock's emulator over HTTP,
and every generated manifest checked by kubernetes-validate against the real schemas."""
from __future__ import annotations

import base64
import json

import kubernetes_validate
import pytest

from services.deploy import manifests
from services.deploy.kubernetes import KubernetesDeployer
from services.deploy.spec import DeployError, DeploySpec, Port, PullCredentials

DIGEST = "sha256:" + "ab" * 32
K8S_VERSION = "1.30.0"


def spec(**overrides) -> DeploySpec:
    values = dict(namespace="berth-alpha", name="web", application="shop", image=f"127.0.0.1:5000/team/web@{DIGEST}",
                  release_id=7, replicas=2, memory_mb=64, cpu_millicores=250, env=[("FOO", "bar"), ("GREETING", "hi")],
                  ports=[Port(8080, "TCP", True), Port(9090, "TCP", False)],
                  credentials=PullCredentials("127.0.0.1:5000", "alice", "s3cret"))
    values.update(overrides)
    return DeploySpec(**values)


@pytest.mark.parametrize("variant", [
    {}, {"credentials": None}, {"ports": []}, {"cpu_millicores": None, "env": []},
    {"ports": [Port(53, "UDP", True), Port(53, "TCP", True)]},
])
def test_manifests_pass_kubernetes_validate(variant):
    for host_ports in (False, True):
        for manifest in manifests.build(spec(**variant), host_ports=host_ports):
            kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)


def test_manifest_contents():
    secret, deployment, service = manifests.build(spec())
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    config = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))
    assert config["auths"]["127.0.0.1:5000"]["auth"] == base64.b64encode(b"alice:s3cret").decode()
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"].endswith("@" + DIGEST)
    assert container["resources"]["limits"] == {"memory": "64Mi", "cpu": "250m"}
    assert container["env"] == [{"name": "FOO", "value": "bar"}, {"name": "GREETING", "value": "hi"}]
    assert deployment["spec"]["template"]["spec"]["imagePullSecrets"] == [{"name": "web-pull"}]
    assert deployment["metadata"]["annotations"][manifests.RELEASE_ANNOTATION] == "7"
    assert deployment["metadata"]["labels"] == {
        "app.kubernetes.io/name": "web", "app.kubernetes.io/instance": "web",
        "app.kubernetes.io/part-of": "shop", "app.kubernetes.io/managed-by": "berth"}
    assert [p["port"] for p in service["spec"]["ports"]] == [8080]  # only exposed ports


def test_apply_creates_then_updates(kube):
    deployer = KubernetesDeployer(kube.api_client())
    deployer.apply(spec())
    assert kube.proxy.created == ["berth-alpha"]
    d = kube.obj("apps/v1/deployments", "berth-alpha", "web")
    assert d["spec"]["replicas"] == 2
    assert d["spec"]["template"]["spec"]["containers"][0]["image"].endswith(DIGEST)
    assert kube.obj("v1/services", "berth-alpha", "web")["spec"]["ports"][0]["port"] == 8080
    assert kube.obj("v1/secrets", "berth-alpha", "web-pull")["type"] == "kubernetes.io/dockerconfigjson"
    # A second apply patches the same objects and does not create the namespace again.
    deployer.apply(spec(replicas=3, release_id=8, image=f"127.0.0.1:5000/team/web@sha256:{'cd' * 32}"))
    d = kube.obj("apps/v1/deployments", "berth-alpha", "web")
    assert d["spec"]["replicas"] == 3 and d["metadata"]["annotations"][manifests.RELEASE_ANNOTATION] == "8"
    assert kube.proxy.created == ["berth-alpha"]
    deployer.delete(spec())
    assert kube.obj("apps/v1/deployments", "berth-alpha", "web") is None
    assert kube.obj("v1/services", "berth-alpha", "web") is None


def _pod(kube, name, container_state=None, last_state=None, conditions=None, restarts=0):
    status = {"phase": "Pending", "conditions": conditions or []}
    if container_state is not None:
        status["containerStatuses"] = [{"name": "web", "ready": False, "restartCount": restarts, "image": "x",
                                        "imageID": "", "state": container_state, "lastState": last_state or {}}]
    kube.emu.objects["v1/pods", "berth-alpha", name] = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "berth-alpha",
                     "labels": {"app.kubernetes.io/instance": "web", "app.kubernetes.io/managed-by": "berth"}},
        "spec": {"containers": [{"name": "web", "image": "x"}]}, "status": status}


@pytest.mark.parametrize("seed,state,reason", [
    (dict(container_state={"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}}),
     "failed", "ImagePullBackOff"),
    (dict(container_state={"waiting": {"reason": "ErrImagePull", "message": "manifest unknown"}}),
     "failed", "ErrImagePull"),
    (dict(container_state={"waiting": {"reason": "CrashLoopBackOff", "message": "back-off restarting"}},
          restarts=5), "failed", "CrashLoopBackOff"),
    (dict(container_state={"running": {}}, last_state={"terminated": {"reason": "OOMKilled", "exitCode": 137}}),
     "failed", "OOMKilled"),
    (dict(conditions=[{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                       "message": "0/3 nodes are available: insufficient memory."}]), "failed", "Unschedulable"),
])
def test_status_words_for_pod_states(kube, seed, state, reason):
    deployer = KubernetesDeployer(kube.api_client())
    deployer.apply(spec())
    _pod(kube, "web-abc", **seed)
    status = deployer.status(spec())
    assert (status.state, status.reason) == (state, reason)
    assert status.message


def test_status_from_deployment_conditions(kube):
    deployer = KubernetesDeployer(kube.api_client())
    deployer.apply(spec())
    assert deployer.status(spec()).reason == "Progressing"
    d = kube.obj("apps/v1/deployments", "berth-alpha", "web")
    # No controllers run in the emulator: the test writes the status a controller would.
    d.update({"status": {"observedGeneration": 5, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2,
                         "conditions": [{"type": "Available", "status": "True"}]}})
    assert deployer.status(spec()).state == "running"
    d.update({"status": {"conditions": [{"type": "Progressing", "status": "False",
                                         "reason": "ProgressDeadlineExceeded"}]}})
    st = deployer.status(spec())
    assert st.state == "failed" and "timed out" in st.message
    deployer.delete(spec())
    assert deployer.status(spec()).state == "stopped"


def _status(code, reason, message):
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "message": message,
            "code": code}


@pytest.mark.parametrize("code,reason,words", [
    (403, "Forbidden", "403 Forbidden"),
    (409, "Conflict", "conflict (409)"),
    (422, "Invalid", "invalid (422)"),
])
def test_api_errors_in_plain_words(kube, code, reason, words):
    kube.emu["post /apis/apps/v1/namespaces/berth-alpha/deployments"] << code << _status(
        code, reason, f"deployments.apps is {reason.lower()}")
    with pytest.raises(DeployError) as info:
        KubernetesDeployer(kube.api_client()).apply(spec(credentials=None))
    assert words in info.value.message and info.value.status == code


def test_unreachable_api_server():
    from kubernetes import client

    cfg = client.Configuration()
    cfg.host = "http://127.0.0.1:1"
    cfg.retries = 0
    with pytest.raises(DeployError, match="could not be reached"):
        KubernetesDeployer(client.ApiClient(cfg)).apply(spec())


def test_kubeconfig_is_loaded_from_the_environment(kube, tmp_path, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", kube.kubeconfig(tmp_path / "config"))
    deployer = KubernetesDeployer.from_environment()
    deployer.apply(spec(credentials=None))
    assert kube.obj("apps/v1/deployments", "berth-alpha", "web") is not None


@pytest.mark.parametrize("application", ["Shop & Co", "x" * 100, "-edge-", "ünïcode app", "&&&", "a.b_c-d"])
def test_application_names_become_valid_label_values(application):
    import re

    label = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
    for manifest in manifests.build(spec(application=application)):
        for labels in (manifest["metadata"]["labels"], manifest.get("spec", {}).get("template", {})
                       .get("metadata", {}).get("labels", {})):
            for value in labels.values():
                assert len(value) <= 63 and label.match(value), (application, value)
    assert manifests.label_value("Shop & Co") == "Shop-Co"
