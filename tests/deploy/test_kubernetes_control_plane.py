"""The Kubernetes deployer against a real control plane (tests/fixtures/cluster.py: etcd,
kube-apiserver with TLS, RBAC and PodSecurity, the controller manager, the scheduler, and KWOK's
simulated node), as Berth's own ServiceAccount from the shipped manifest: the ClusterRole of
deploy/kubernetes/berth.yaml, applied server-side with kubectl, and a token from the TokenRequest API.

Pods are KWOK's: they become Running and Ready, except images whose name asks for a failure
(tests/data/kube/kwok-stages.yaml), which get the states a kubelet reports."""
from __future__ import annotations

import json
import time

import pytest

from services.deploy.drivers import kubewatch, manifests
from services.deploy.drivers.kubernetes import KubernetesDeployer
from services.deploy.drivers.spec import (
    ConfigFile,
    DeployError,
    DeploySpec,
    HealthCheck,
    Port,
    PullCredentials,
    Volume,
)
from tests.fixtures.cluster import MANIFEST, Cluster
from tests.helpers import wait_for

DIGEST = "sha256:" + "cd" * 32


def spec(namespace: str, **overrides) -> DeploySpec:
    values = dict(namespace=namespace, name="web", application="shop", image=f"127.0.0.1:5000/team/web@{DIGEST}",
                  release_id=7, replicas=2, memory_mb=64, cpu_millicores=250, env=[("FOO", "bar"), ("GREETING", "hi")],
                  ports=[Port(8080, "TCP", True), Port(9090, "TCP", True)],
                  credentials=PullCredentials("127.0.0.1:5000", "alice", "s3cret"))
    values.update(overrides)
    return DeploySpec(**values)


@pytest.fixture
def deployer(cluster, berth_token) -> KubernetesDeployer:
    return KubernetesDeployer(cluster.api_client(berth_token))


@pytest.fixture
def namespace(cluster):
    name = cluster.namespace()
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", "--ignore-not-found", check=False)


def _get(cluster, *args) -> dict:
    return json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)


def _pods(cluster, namespace: str) -> list[dict]:
    return _get(cluster, "pods", "-n", namespace, "-l", "app.kubernetes.io/name=web")["items"]


def _wait_status(deployer, s, want: str, timeout: float = 60):
    seen = []

    def reached():
        status = deployer.status(s)
        seen.append(status)
        return status.state == want
    try:
        wait_for(reached, timeout, 0.2)
    except AssertionError:
        raise AssertionError(f"wanted {want}, last statuses: {seen[-3:]}") from None
    return seen[-1]


def test_the_shipped_manifest_passes_a_server_side_dry_run(cluster, berth_token):
    """A server-side dry run checks each object against the real API (schemas, admission, RBAC
    objects); its namespaced objects need their namespace to exist, so it follows the real apply of
    the Namespace and RBAC (berth_token)."""
    result = cluster.kubectl("apply", "--server-side", "--dry-run=server", "-f", str(MANIFEST))
    assert "serverside-applied (server dry run)" in result.stdout, result.stdout


def test_create_becomes_available_on_the_real_controllers_with_berths_own_token(cluster, deployer, namespace):
    s = spec(namespace)
    deployer.apply(s)
    status = _wait_status(deployer, s, "running")
    assert status.reason == "Available"
    d = _get(cluster, "deployment", "web", "-n", namespace)
    assert d["status"]["availableReplicas"] == 2 and d["status"]["observedGeneration"] == d["metadata"]["generation"]
    assert {c["type"]: c["status"] for c in d["status"]["conditions"]} == {"Available": "True", "Progressing": "True"}
    pods = _pods(cluster, namespace)
    assert len(pods) == 2 and all(p["status"]["phase"] == "Running" for p in pods)
    assert pods[0]["spec"]["containers"][0]["image"] == s.image  # pinned by digest
    assert _get(cluster, "secret", "web-pull", "-n", namespace)["type"] == "kubernetes.io/dockerconfigjson"
    assert [p["port"] for p in _get(cluster, "service", "web", "-n", namespace)["spec"]["ports"]] == [8080, 9090]
    managed = json.loads(cluster.kubectl("get", "deployment", "web", "-n", namespace, "-o", "json",
                                         "--show-managed-fields").stdout)["metadata"]["managedFields"]
    assert [m["operation"] for m in managed if m["manager"] == "berth"] == ["Apply"]  # applied from the start


def test_an_edit_removes_env_and_port_from_the_deployment_and_the_new_pods(cluster, deployer, namespace):
    """An edit that drops an env var, a port and the probes: a server-side apply of the whole manifest
    takes them off the Deployment (a strategic-merge patch, or fields first written by a create, would
    keep them), and the new ReplicaSet's pods run without them."""
    health = HealthCheck("http", 8080, "/healthz", 3, 5, 4)
    first = spec(namespace, health=health)
    deployer.apply(first)
    container = _get(cluster, "deployment", "web", "-n", namespace)["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": 8080, "scheme": "HTTP"}
    _wait_status(deployer, first, "running")
    edited = spec(namespace, env=[("FOO", "bar")], ports=[Port(8080, "TCP", True)], replicas=2, memory_mb=128)
    deployer.apply(edited)
    container = _get(cluster, "deployment", "web", "-n", namespace)["spec"]["template"]["spec"]["containers"][0]
    assert container["env"] == [{"name": "FOO", "value": "bar"}]
    assert [p["containerPort"] for p in container["ports"]] == [8080]
    assert "readinessProbe" not in container and "livenessProbe" not in container
    assert container["resources"]["limits"]["memory"] == "128Mi"
    _wait_status(deployer, edited, "running")

    def new_pods_only():
        pods = [p for p in _pods(cluster, namespace) if not p["metadata"].get("deletionTimestamp")]
        return len(pods) == 2 and all(p["spec"]["containers"][0]["env"] == [{"name": "FOO", "value": "bar"}]
                                      for p in pods)
    wait_for(new_pods_only, 60, 0.2)
    assert [p["port"] for p in _get(cluster, "service", "web", "-n", namespace)["spec"]["ports"]] == [8080]


def test_restart_rolls_out_a_new_replica_set(cluster, deployer, namespace):
    s = spec(namespace, replicas=1)
    deployer.apply(s)
    _wait_status(deployer, s, "running")
    before = {rs["metadata"]["name"] for rs in _get(cluster, "replicasets", "-n", namespace)["items"]}
    deployer.restart(s)
    wait_for(lambda: len({rs["metadata"]["name"] for rs in
                          _get(cluster, "replicasets", "-n", namespace)["items"]} - before) == 1, 30, 0.2)
    _wait_status(deployer, s, "running")
    annotations = _get(cluster, "deployment", "web", "-n", namespace)["spec"]["template"]["metadata"]["annotations"]
    assert "kubectl.kubernetes.io/restartedAt" in annotations
    deployer.apply(s)  # the next apply keeps the restart (its annotation has a manager of its own)
    assert _get(cluster, "deployment", "web", "-n", namespace)["spec"]["template"]["metadata"]["annotations"] \
        == annotations


def test_scale_to_three_gives_three_ready_pods(cluster, deployer, namespace):
    deployer.apply(spec(namespace, replicas=1))
    s = spec(namespace, replicas=3)
    deployer.apply(s)
    _wait_status(deployer, s, "running")
    ready = [p for p in _pods(cluster, namespace) if any(
        c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))]
    assert len(ready) == 3


@pytest.mark.parametrize(("image", "reason", "words"), [
    ("team/crash-loop", "CrashLoopBackOff", "keeps failing to start"),
    ("team/pull-fail", "ErrImagePull", "could not be pulled"),
])
def test_failing_pods_end_the_rollout_with_the_kubelets_reason(deployer, namespace, image, reason, words):
    s = spec(namespace, image=f"127.0.0.1:5000/{image}@{DIGEST}", replicas=1)
    deployer.apply(s)
    status = _wait_status(deployer, s, "failed")
    assert status.reason == reason and words in status.message


def test_pods_that_never_become_ready_stay_deploying_until_the_deadline(cluster, deployer, namespace):
    s = spec(namespace, image=f"127.0.0.1:5000/team/never-ready@{DIGEST}", replicas=1)
    deployer.apply(s)
    wait_for(lambda: _pods(cluster, namespace), 30, 0.2)
    time.sleep(1)  # KWOK has had its turn: the pod runs, unready
    assert deployer.status(s).state == "deploying"


def test_an_update_whose_new_pods_never_become_ready_is_not_done_while_the_old_pod_serves(cluster, deployer,
                                                                                       namespace):
    """The real rolling update keeps the old pod available while the new one starts: available
    replicas alone would say "running" (a bug kmock could not show). A tag naming never-ready gets
    KWOK's unready pods (the version label)."""
    good = spec(namespace, replicas=1, credentials=None, version="v1")
    deployer.apply(good)
    _wait_status(deployer, good, "running")
    bad = spec(namespace, replicas=1, credentials=None, release_id=8, version="v2-never-ready")
    deployer.apply(bad)
    wait_for(lambda: len(_pods(cluster, namespace)) == 2, 30, 0.2)  # the new pod beside the old
    time.sleep(1)  # KWOK has had its turn: the new pod runs, unready
    assert _get(cluster, "deployment", "web", "-n", namespace)["status"]["availableReplicas"] == 1
    assert deployer.status(bad).state == "deploying"


def test_events_come_from_the_real_controllers_and_the_simulated_kubelet(deployer, namespace):
    """The Events Berth shows: the deployment controller's ScalingReplicaSet, and the BackOff a
    kubelet reports for a crashing container (KWOK's crash-loop stage records it)."""
    s = spec(namespace, replicas=1, credentials=None)
    deployer.apply(s)
    _wait_status(deployer, s, "running")
    events = deployer.events(s)
    assert any(e["reason"] == "ScalingReplicaSet" and e["object"] == "Deployment/web" for e in events), events
    crash = spec(namespace, replicas=1, credentials=None, release_id=8,
                 image=f"127.0.0.1:5000/team/crash-loop@{DIGEST}")
    deployer.apply(crash)
    backoff = wait_for(lambda: [e for e in deployer.events(crash) if e["reason"] == "BackOff"], 30, 0.3)
    assert backoff[-1]["type"] == "Warning" and backoff[-1]["object"].startswith("Pod/web-")


def test_a_verb_missing_from_the_role_is_named_in_the_refusal(cluster, namespace):
    """A role without `patch` on deployments: the message says which resource and verb were refused,
    and nothing of the Deployment was written."""
    rules = [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "create"]},
             {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list", "watch", "create",
                                                                              "delete"]},
             {"apiGroups": [""], "resources": ["services", "secrets"], "verbs": ["get", "create", "patch", "delete"]},
             {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": ["get", "create", "patch",
                                                                                      "delete"]}]
    account = f"limited-{namespace}"
    limited = KubernetesDeployer(cluster.api_client(cluster.token_for_rules(account, rules)))
    with pytest.raises(DeployError) as refused:
        limited.apply(spec(namespace, ports=[]))  # a server-side apply is a patch, even when it creates
    assert refused.value.status == 403
    assert 'cannot patch resource "deployments"' in refused.value.message, refused.value.message
    assert cluster.kubectl("get", "deployment", "web", "-n", namespace, check=False).returncode != 0
    cluster.kubectl("delete", "clusterrolebinding,clusterrole", account, check=False)


def test_an_expired_or_wrong_token_is_a_401_message(cluster, namespace):
    with pytest.raises(DeployError) as refused:
        KubernetesDeployer(cluster.api_client("not-a-token")).apply(spec(namespace))
    assert refused.value.status == 401 and "credentials" in refused.value.message


def test_create_then_update_then_delete(cluster, deployer, namespace):
    deployer.apply(spec(namespace))
    assert _get(cluster, "namespace", namespace)["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "berth"
    deployer.apply(spec(namespace, replicas=3, release_id=8, image=f"127.0.0.1:5000/team/web@sha256:{'ef' * 32}"))
    d = _get(cluster, "deployment", "web", "-n", namespace)
    assert d["spec"]["replicas"] == 3 and d["metadata"]["annotations"][manifests.RELEASE_ANNOTATION] == "8"
    deployer.delete(spec(namespace))
    for kind in ("deployment", "service", "secret"):
        name = "web-pull" if kind == "secret" else "web"
        assert cluster.kubectl("get", kind, name, "-n", namespace, check=False).returncode != 0


def test_replicas_someone_else_scaled_are_not_overwritten_and_the_refusal_says_why(cluster, deployer, namespace):
    """Berth applies without force: replicas `kubectl scale` changed are another manager's now, so the
    next apply is refused naming the field, the manager and the setting, and the number stays."""
    deployer.apply(spec(namespace, replicas=2))
    cluster.kubectl("scale", "deployment", "web", "-n", namespace, "--replicas=5")
    with pytest.raises(DeployError) as refused:
        deployer.apply(spec(namespace, replicas=2, env=[("FOO", "changed")]))
    message = refused.value.message
    assert refused.value.status == 409 and ".spec.replicas" in message and '"kubectl' in message, message
    assert "Replicas managed elsewhere" in message
    d = _get(cluster, "deployment", "web", "-n", namespace)
    assert d["spec"]["replicas"] == 5
    assert d["spec"]["template"]["spec"]["containers"][0]["env"][0] == {"name": "FOO", "value": "bar"}


def test_replicas_managed_elsewhere_are_left_to_the_other_manager(cluster, deployer, namespace):
    """With the setting, Berth leaves replicas out of its apply: the number kubectl (or an autoscaler)
    set stays through the next release, whose other changes land."""
    deployer.apply(spec(namespace, replicas=2))
    cluster.kubectl("scale", "deployment", "web", "-n", namespace, "--replicas=4")
    deployer.apply(spec(namespace, replicas=2, replicas_elsewhere=True, env=[("FOO", "changed")]))
    d = json.loads(cluster.kubectl("get", "deployment", "web", "-n", namespace, "-o", "json",
                                   "--show-managed-fields").stdout)
    assert d["spec"]["replicas"] == 4
    assert d["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "FOO", "value": "changed"}]
    berth = next(m for m in d["metadata"]["managedFields"] if m["manager"] == "berth")
    assert "f:replicas" not in berth["fieldsV1"]["f:spec"]
    cluster.kubectl("scale", "deployment", "web", "-n", namespace, "--replicas=1")
    deployer.apply(spec(namespace, replicas=2, replicas_elsewhere=True, release_id=9))
    assert _get(cluster, "deployment", "web", "-n", namespace)["spec"]["replicas"] == 1


def test_an_annotation_another_manager_added_is_not_fought_over(cluster, deployer, namespace):
    deployer.apply(spec(namespace))
    cluster.kubectl("annotate", "deployment", "web", "-n", namespace, "example.com/owner=payments")
    deployer.apply(spec(namespace, env=[("FOO", "changed")], release_id=8))
    d = _get(cluster, "deployment", "web", "-n", namespace)
    assert d["metadata"]["annotations"]["example.com/owner"] == "payments"
    assert d["metadata"]["annotations"][manifests.RELEASE_ANNOTATION] == "8"


def test_objects_created_by_an_older_berth_are_adopted_so_edits_remove_fields(cluster, deployer, namespace):
    """Berth used to create objects (a POST) before applying: those fields belong to a `berth` entry
    with operation Update, which no apply can remove. The next apply folds that entry into its own."""
    deployer.ensure_namespace(namespace)
    old = next(m for m in manifests.build(spec(namespace)) if m["kind"] == "Deployment")
    deployer.apps.create_namespaced_deployment(namespace, old, field_manager="berth")
    deployer.apply(spec(namespace, env=[("FOO", "bar")]))
    d = json.loads(cluster.kubectl("get", "deployment", "web", "-n", namespace, "-o", "json",
                                   "--show-managed-fields").stdout)
    assert d["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "FOO", "value": "bar"}]
    assert [m["operation"] for m in d["metadata"]["managedFields"] if m["manager"] == "berth"] == ["Apply"]


def test_the_kubeconfig_is_read_from_the_environment(cluster, namespace, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(cluster.admin))
    KubernetesDeployer.from_environment().apply(spec(namespace, credentials=None))
    assert _get(cluster, "deployment", "web", "-n", namespace)["metadata"]["name"] == "web"


def test_an_ingress_for_a_public_host_with_class_and_tls(cluster, berth_token, namespace):
    deployer = KubernetesDeployer(cluster.api_client(berth_token), ingress_class="nginx", tls_secret="wildcard-tls")
    deployer.apply(spec(namespace, ports=[Port(8080, "TCP", True, public_host="shop.example.com")]))
    ingress = _get(cluster, "ingress", "web", "-n", namespace)
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [{"hosts": ["shop.example.com"], "secretName": "wildcard-tls"}]
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "shop.example.com"
    assert rule["http"]["paths"][0]["backend"] == {"service": {"name": "web", "port": {"number": 8080}}}
    deployer.apply(spec(namespace, ports=[Port(8080, "TCP", True)]))  # the public host removed: the Ingress goes
    assert cluster.kubectl("get", "ingress", "web", "-n", namespace, check=False).returncode != 0


def _pod_security_level(cluster, namespace: str) -> str:
    return _get(cluster, "namespace", namespace)["metadata"]["labels"].get("pod-security.kubernetes.io/enforce")


def test_a_restricted_namespace_admits_berths_deployment(cluster, berth_token, namespace):
    """Berth creates the namespace at the configured level; a component that need not run as root
    meets "restricted": its pods are admitted and become ready."""
    deployer = KubernetesDeployer(cluster.api_client(berth_token), pod_security="restricted")
    s = spec(namespace)
    deployer.apply(s)
    assert _pod_security_level(cluster, namespace) == "restricted"
    _wait_status(deployer, s, "running")
    pod = _pods(cluster, namespace)[0]["spec"]
    assert pod["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    assert pod["containers"][0]["securityContext"] == {"allowPrivilegeEscalation": False,
                                                       "capabilities": {"drop": ["ALL"]}}


def test_a_root_component_is_refused_by_a_restricted_namespace_in_plain_words(cluster, berth_token, namespace):
    deployer = KubernetesDeployer(cluster.api_client(berth_token), pod_security="restricted")
    s = spec(namespace, run_as_root=True, replicas=1)
    deployer.apply(s)  # the Deployment is admitted (with a warning); its pods are not
    status = _wait_status(deployer, s, "failed")
    assert status.reason == "PodSecurity", status
    assert 'Pod Security admission (restricted:latest) refused the pods' in status.message, status.message
    assert "runAsNonRoot" in status.message and "baseline" in status.message
    assert _pods(cluster, namespace) == []


def test_a_root_component_runs_in_a_namespace_berth_makes_by_default(cluster, deployer, namespace):
    s = spec(namespace, image=f"127.0.0.1:5000/team/root-user@{DIGEST}", run_as_root=True, replicas=1)
    deployer.apply(s)
    assert _pod_security_level(cluster, namespace) == "baseline"
    _wait_status(deployer, s, "running")
    assert "runAsNonRoot" not in _pods(cluster, namespace)[0]["spec"]["securityContext"]


def test_an_image_that_runs_as_root_without_the_setting_names_the_setting(deployer, namespace):
    """The kubelet refuses a root image under runAsNonRoot (simulated by the root-user stage)."""
    s = spec(namespace, image=f"127.0.0.1:5000/team/root-user@{DIGEST}", replicas=1)
    deployer.apply(s)
    status = _wait_status(deployer, s, "failed")
    assert status.reason == "RunsAsRoot" and '"Run as root"' in status.message, status


@pytest.fixture
def cluster_without_watch_cache(tmp_path_factory):
    """A control plane whose API server serves watches from etcd itself (--watch-cache=false): there,
    compacting etcd's history makes an older resourceVersion expire at once. (The shared cluster's
    watch cache keeps its own window, which a test cannot age on demand.)"""
    c = Cluster(tmp_path_factory.mktemp("uncached"), name="berth-uncached", apiserver_args=("--watch-cache=false",))
    yield c
    c.stop()


def test_a_watch_resumed_from_a_version_too_old_starts_again_from_now(cluster_without_watch_cache):
    """A watch resumed from a resourceVersion etcd compacted away gets 410 Gone; it starts again from
    now and still reports the next change."""
    cluster = cluster_without_watch_cache
    deployer = KubernetesDeployer(cluster.api_client())
    namespace = cluster.namespace()
    deployer.ensure_namespace(namespace)
    cluster.compact()
    watcher = kubewatch.Watcher([("deployment", deployer.apps.list_namespaced_deployment, namespace,
                                  {"field_selector": "metadata.name=web"})])
    watcher.streams[0].resource_version = "5"
    with watcher:
        wait_for(lambda: watcher.streams[0].gone >= 1, 30, 0.1)
        while watcher.wait(0.5):  # the wake-up the expiry gave
            pass
        deployer.apply(spec(namespace, replicas=1, credentials=None))
        assert watcher.wait(20)
        assert watcher.streams[0].resource_version not in (None, "5")


def test_command_and_arguments_reach_the_deployment_and_its_pods(cluster, deployer, namespace):
    s = spec(namespace, replicas=1, credentials=None, command=["/bin/busybox", "sh", "-c"], args=["echo hi; sleep 1d"])
    deployer.apply(s)
    _wait_status(deployer, s, "running")
    (pod,) = _pods(cluster, namespace)
    for container in (_get(cluster, "deployment", "web", "-n", namespace)["spec"]["template"]["spec"]["containers"][0],
                      pod["spec"]["containers"][0]):
        assert container["command"] == ["/bin/busybox", "sh", "-c"] and container["args"] == ["echo hi; sleep 1d"]
    deployer.apply(spec(namespace, replicas=1, credentials=None, release_id=8))  # back to the image's own
    container = _get(cluster, "deployment", "web", "-n", namespace)["spec"]["template"]["spec"]["containers"][0]
    assert "command" not in container and "args" not in container


def _persistent_volumes(cluster, storage_class: str, count: int, size: str = "2Gi") -> None:
    """Static PersistentVolumes of a class of their own (what an administrator or a provisioner
    provides; the test cluster has neither), for the controller manager's binder to match claims to."""
    for i in range(count):
        cluster.kubectl("apply", "-f", "-", stdin=json.dumps({
            "apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": f"{storage_class}-{i}"},
            "spec": {"capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"],
                     "storageClassName": storage_class, "persistentVolumeReclaimPolicy": "Retain",
                     "hostPath": {"path": f"/tmp/{storage_class}-{i}"}}}))


def test_volumes_are_claims_mounted_with_recreate_and_outlive_the_component(cluster, berth_token, namespace):
    """A volume becomes a PersistentVolumeClaim of its size and the deployer's storage class, bound
    by the real controller manager; the Deployment mounts it and rolls out with Recreate. Removing
    the volume from the settings goes back to a rolling update; deleting the component keeps the
    claim; delete_volume removes it."""
    storage_class = f"berth-{namespace}"
    _persistent_volumes(cluster, storage_class, 2)
    deployer = KubernetesDeployer(cluster.api_client(berth_token), storage_class=storage_class)
    s = spec(namespace, replicas=1, credentials=None,
             volumes=[Volume("web-data", "/var/lib/web", 512), Volume("web-seed", "/srv/seed", 100, read_only=True)])
    deployer.apply(s)
    _wait_status(deployer, s, "running")
    claim = _get(cluster, "pvc", "web-data", "-n", namespace)
    assert claim["spec"]["resources"]["requests"]["storage"] == "512Mi"
    assert claim["spec"]["storageClassName"] == storage_class and claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    claims = lambda: _get(cluster, "pvc", "-n", namespace)["items"]  # noqa: E731
    wait_for(lambda: {c["status"].get("phase") for c in claims()} == {"Bound"}, 30)
    d = _get(cluster, "deployment", "web", "-n", namespace)
    assert d["spec"]["strategy"] == {"type": "Recreate"}
    pod_spec = d["spec"]["template"]["spec"]
    assert pod_spec["volumes"] == [
        {"name": "volume-0", "persistentVolumeClaim": {"claimName": "web-data"}},
        {"name": "volume-1", "persistentVolumeClaim": {"claimName": "web-seed", "readOnly": True}}]
    assert pod_spec["containers"][0]["volumeMounts"] == [
        {"name": "volume-0", "mountPath": "/var/lib/web"},
        {"name": "volume-1", "mountPath": "/srv/seed", "readOnly": True}]
    (pod,) = _pods(cluster, namespace)
    assert {"name": "volume-0", "persistentVolumeClaim": {"claimName": "web-data"}} in pod["spec"]["volumes"]

    deployer.apply(spec(namespace, replicas=1, credentials=None, release_id=8))  # the volume taken out
    d = _get(cluster, "deployment", "web", "-n", namespace)
    assert d["spec"]["strategy"]["type"] == "RollingUpdate" and "volumes" not in d["spec"]["template"]["spec"]
    deployer.delete(s)
    wait_for(lambda: not _get(cluster, "deployment", "-n", namespace)["items"], 30)
    assert _get(cluster, "pvc", "web-data", "-n", namespace)["metadata"]["name"] == "web-data"  # data kept
    deployer.delete_volume(namespace, "web-data")
    wait_for(lambda: [c["metadata"]["name"] for c in claims()] == ["web-seed"], 30)


def test_config_files_are_a_config_map_and_a_secret_mounted_file_by_file(cluster, deployer, namespace):
    s = spec(namespace, replicas=1, credentials=None, files=[
        ConfigFile("/etc/app/app.conf", "level=1\n", 0o640), ConfigFile("/run/secrets/token", "s3cret", 0o600, True)])
    deployer.apply(s)
    _wait_status(deployer, s, "running")
    assert _get(cluster, "configmap", "web-files", "-n", namespace)["data"] == {"file-0": "level=1\n"}
    secret = _get(cluster, "secret", "web-secret-files", "-n", namespace)
    assert secret["type"] == "Opaque" and secret["data"] == {"file-1": "czNjcmV0"}
    (pod,) = _pods(cluster, namespace)
    assert {"name": "files", "configMap": {"name": "web-files", "items": [
        {"key": "file-0", "path": "file-0", "mode": 0o640}], "defaultMode": 0o644}} in pod["spec"]["volumes"]
    assert {"name": "secret-files", "secret": {"secretName": "web-secret-files", "items": [
        {"key": "file-1", "path": "file-1", "mode": 0o600}], "defaultMode": 0o644}} in pod["spec"]["volumes"]
    mounts = pod["spec"]["containers"][0]["volumeMounts"]
    assert {"name": "files", "mountPath": "/etc/app/app.conf", "subPath": "file-0", "readOnly": True} in mounts
    assert {"name": "secret-files", "mountPath": "/run/secrets/token", "subPath": "file-1", "readOnly": True} in mounts
    deployer.apply(spec(namespace, replicas=1, credentials=None, release_id=8))  # the files taken out
    assert not _get(cluster, "configmap,secret", "-n", namespace, "-l", "app.kubernetes.io/instance=web")["items"]
