"""Every generated manifest checked by kubernetes-validate against the real schemas, and what the
real control plane cannot produce on demand (arbitrary API error statuses, pod states, probe events,
pod logs) read by the deployer through the official client from kmock's emulator over HTTP. Applying,
rollouts, RBAC and field ownership are tested on the real control plane
(test_kubernetes_control_plane.py)."""
from __future__ import annotations

import base64
import json

import kubernetes_validate
import pytest

from services.deploy.drivers import manifests
from services.deploy.drivers.kubernetes import KubernetesDeployer
from services.deploy.drivers.spec import ConfigFile, DeployError, DeploySpec, HealthCheck, Port, PullCredentials, Volume

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
    {"command": ["/bin/sh", "-c"], "args": ["exec httpd -f"], "replicas_elsewhere": True, "version": "v1.2.3"},
    {"volumes": [Volume("data", "/var/lib/data", 2048), Volume("seed", "/srv/seed", 1, read_only=True)]},
    {"files": [ConfigFile("/etc/app.conf", "a=1\n", 0o640), ConfigFile("/run/token", "s3cret", 0o600, True)],
     "volumes": [Volume("data", "/data")]},
])
def test_manifests_pass_kubernetes_validate(variant):
    for manifest in manifests.build(spec(**variant), storage_class="fast") + [
            manifests.deployment(spec(**variant), host_ip="127.0.0.1", claim_prefix="p-berth-alpha-",
                                 host_files=[f"/var/lib/berth/f{i}" for i in range(len(variant.get("files", [])))])]:
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


KINDS = {"Deployment": "apps/v1/deployments", "Service": "v1/services", "Secret": "v1/secrets",
         "Ingress": "networking.k8s.io/v1/ingresses"}


def _seed(kube, s: DeploySpec) -> None:
    """The objects Berth applies, written into the emulator as a real API server would hold them
    (kmock has no server-side apply: applying and rollouts are tested on the real control plane, in
    test_kubernetes_control_plane.py; these tests read states no real part here produces on demand)."""
    for manifest in manifests.build(s):
        kube.emu.objects[KINDS[manifest["kind"]], s.namespace, manifest["metadata"]["name"]] = manifest


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
    _seed(kube, spec())
    _pod(kube, "web-abc", **seed)
    status = deployer.status(spec())
    assert (status.state, status.reason) == (state, reason)
    assert status.message


def test_status_from_deployment_conditions(kube):
    deployer = KubernetesDeployer(kube.api_client())
    _seed(kube, spec())
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
    _seed(kube, spec(credentials=None))
    kube.emu["patch /apis/apps/v1/namespaces/berth-alpha/deployments/web"] << code << _status(
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


@pytest.mark.parametrize("variant", [
    {"health": HealthCheck("http", 8080, "/healthz", 0, 10, 3)},
    {"health": HealthCheck("tcp", 8080)},
    {"ports": [Port(8080, "TCP", True, public_host="a.example.com"),
               Port(9090, "TCP", True, public_host="b.example.com")]},
])
def test_day_two_manifests_pass_kubernetes_validate(variant):
    for manifest in manifests.build(spec(**variant), "nginx", "tls"):
        kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)


def test_pod_logs_and_events_through_the_client(kube):
    deployer = KubernetesDeployer(kube.api_client())
    _seed(kube, spec())
    _pod(kube, "web-abc", container_state={"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}},
         last_state={"terminated": {"reason": "Error", "exitCode": 2}}, restarts=4)
    kube.proxy.logs["web-abc", False] = ""
    kube.proxy.logs["web-abc", True] = "\n".join(f"line {i}" for i in range(1, 51)) + "\npanic: no database"
    (stream,) = deployer.logs(spec(), tail=5, previous=True)
    assert stream.name == "web-abc" and stream.previous
    assert stream.lines == ["line 47", "line 48", "line 49", "line 50", "panic: no database"]
    assert kube.proxy.log_requests[-1]["previous"].lower() == "true" and kube.proxy.log_requests[-1]["tailLines"] == "5"
    assert kube.proxy.log_requests[-1]["container"] == "web"
    status = deployer.status(spec())
    assert status.reason == "CrashLoopBackOff" and "last exit code 2" in status.message

    kube.emu.objects["v1/events", "berth-alpha", "web-abc.1"] = {
        "apiVersion": "v1", "kind": "Event", "metadata": {"name": "web-abc.1", "namespace": "berth-alpha"},
        "involvedObject": {"kind": "Pod", "name": "web-abc", "namespace": "berth-alpha"},
        "reason": "BackOff", "message": "Back-off restarting failed container web", "type": "Warning",
        "count": 7, "lastTimestamp": "2026-11-28T10:00:00Z"}
    kube.emu.objects["v1/events", "berth-alpha", "other.1"] = {
        "apiVersion": "v1", "kind": "Event", "metadata": {"name": "other.1", "namespace": "berth-alpha"},
        "involvedObject": {"kind": "Pod", "name": "webhook-x", "namespace": "berth-alpha"},
        "reason": "Pulled", "message": "not ours", "type": "Normal", "count": 1,
        "lastTimestamp": "2026-11-28T10:00:00Z"}
    (event,) = deployer.events(spec())
    assert (event["reason"], event["object"], event["count"]) == ("BackOff", "Pod/web-abc", 7)


def test_failing_readiness_probe_ends_the_rollout_with_its_message(kube):
    deployer = KubernetesDeployer(kube.api_client())
    health = HealthCheck("http", 8080, "/healthz", 0, 5, 3)
    _seed(kube, spec(health=health))
    kube.emu.objects["v1/events", "berth-alpha", "web-abc.2"] = {
        "apiVersion": "v1", "kind": "Event", "metadata": {"name": "web-abc.2", "namespace": "berth-alpha"},
        "involvedObject": {"kind": "Pod", "name": "web-abc", "namespace": "berth-alpha"},
        "reason": "Unhealthy", "message": "Readiness probe failed: HTTP probe failed with statuscode: 500",
        "type": "Warning", "count": 3, "lastTimestamp": "2026-11-28T10:00:00Z"}
    status = deployer.status(spec(health=health))
    assert (status.state, status.reason) == ("failed", "Unhealthy")
    assert status.message == "Readiness probe failed: HTTP probe failed with statuscode: 500"


def test_closing_a_watch_that_ended_meanwhile_is_quiet():
    """The release ends its watches while a watch thread may be releasing the same response (found by
    bench/kube_deploy.py: 200 releases at once): urllib3's refusal must not crash the release."""
    import queue
    import threading

    from services.deploy.drivers import kubewatch

    class Released:
        def shutdown(self):
            raise RuntimeError("Cannot shutdown as connection has already been released to the pool")

    stream = kubewatch.Stream("pods", None, "berth-alpha", {}, queue.SimpleQueue(), threading.Event())
    stream.response = Released()
    stream.close()


def test_watch_lines_are_split_and_bounded():
    from services.deploy.drivers import kubewatch

    assert list(kubewatch.lines(iter([b'{"a":', b'1}\n{"b":2}\n\n{"c"', b":3}"]))) == [b'{"a":1}', b'{"b":2}',
                                                                                    b'{"c":3}']
    with pytest.raises(ValueError, match="over 10 bytes"):
        list(kubewatch.lines(iter([b"x" * 11]), limit=10))
