"""Kubernetes deployer: the official client, one namespace per team, create-or-patch."""
from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from datetime import UTC, datetime

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from services.deploy.drivers import kubewatch, manifests
from services.deploy.drivers.spec import DeployError, DeploySpec, DeployStatus, LogStream

REQUEST_TIMEOUT = (5, 30)
CONNECTIONS = 64  # kept open to the API server: two watches per release in progress, and the calls
FIELD_MANAGER = "berth"
PULL_FAILURES = {"ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull"}
LOG_BYTES = 1_000_000  # at most this much log per container per read
START_FAILURES = {"CrashLoopBackOff", "CreateContainerConfigError", "CreateContainerError", "RunContainerError"}


def load_api_client() -> client.ApiClient:
    """In-cluster config when running in a pod, else the kubeconfig; ConfigException if neither."""
    try:
        config.load_incluster_config()
    except ConfigException:
        # The client reads KUBECONFIG once at import; read it now so a changed setting counts.
        config.load_kube_config(config_file=os.environ.get("KUBECONFIG") or None)
    configuration = client.Configuration.get_default_copy()
    configuration.connection_pool_maxsize = CONNECTIONS
    return client.ApiClient(configuration)


def _api_message(e: ApiException) -> str:
    try:
        return json.loads(e.body).get("message", "")[:400]
    except (TypeError, ValueError, AttributeError):
        return (e.reason or "")[:200]


APPLY = "application/apply-patch+yaml"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
ADOPT_ATTEMPTS = 5  # folds tried when a controller keeps changing the object meanwhile
# A restart's annotation has a manager of its own (kubectl's is kubectl-rollout): Berth's applies
# neither own nor remove it, so the next apply does not roll the pods again.
RESTART_MANAGER = "berth-restart"


# What Berth asks of a cluster (deploy/kubernetes/berth.yaml's ClusterRole grants exactly this):
# (API group, resource, verbs); namespaces are cluster-wide, the rest in the team's namespace.
ACCESS = (("", "namespaces", ("get", "create")),
          ("apps", "deployments", ("get", "list", "watch", "create", "patch", "delete")),
          ("", "services", ("get", "create", "patch", "delete")),
          ("", "secrets", ("get", "create", "patch", "delete")),
          ("", "configmaps", ("get", "create", "patch", "delete")),
          ("", "persistentvolumeclaims", ("get", "create", "patch", "delete")),
          ("", "pods", ("get", "list", "watch")),
          ("", "pods/log", ("get", "list", "watch")),
          ("", "events", ("get", "list", "watch")),
          ("networking.k8s.io", "ingresses", ("get", "create", "patch", "delete")))


class KubernetesDeployer:
    name = "kubernetes"
    publishes_host_ports = False  # Services and Ingresses, not host ports
    probes_itself = True  # the kubelet runs readiness and liveness probes
    max_replicas = None
    shares_volumes = False  # a ReadWriteOnce claim serves one component

    def __init__(self, api_client: client.ApiClient, ingress_class: str | None = None,
                 tls_secret: str | None = None, pod_security: str = "baseline",
                 observe: Callable[[str], None] | None = None, storage_class: str | None = None):
        if observe is not None:
            _count_requests(api_client, observe)
        self.core = client.CoreV1Api(api_client)
        self.apps = client.AppsV1Api(api_client)
        self.networking = client.NetworkingV1Api(api_client)
        self.ingress_class, self.tls_secret = ingress_class or None, tls_secret or None
        self.pod_security = pod_security  # the level enforced in namespaces Berth creates
        self.storage_class = storage_class or None  # of the claims for volumes (None: the cluster's default)

    @classmethod
    def from_environment(cls, ingress_class: str | None = None, tls_secret: str | None = None,
                         pod_security: str = "baseline", observe: Callable[[str], None] | None = None,
                         ) -> KubernetesDeployer:
        return cls(load_api_client(), ingress_class, tls_secret, pod_security, observe)

    def call(self, fn, *args, missing_ok: bool = False, **kwargs):
        """The one way Berth calls the API server: a timeout, errors in plain words."""
        try:
            return fn(*args, _request_timeout=REQUEST_TIMEOUT, **kwargs)
        except ApiException as e:
            if e.status == 404 and missing_ok:
                return None
            detail = _api_message(e)
            if e.status == 0 and "SSLError" in str(e.reason):  # how the client wraps a TLS failure
                raise DeployError(unreachable(urllib3.exceptions.SSLError(e.reason),
                                              self.core.api_client.configuration.host)) from e
            if e.status == 401:
                raise DeployError("Kubernetes rejected Berth's credentials (401 Unauthorized).", status=401) from e
            if e.status == 403:
                raise DeployError(f"Kubernetes refused the request (403 Forbidden): Berth's service account "
                                  f"lacks permission. {detail}", status=403) from e
            if e.status == 409 and (conflicts := field_conflicts(e.body)):
                raise DeployError(conflict_message(conflicts), status=409, conflicts=conflicts) from e
            if e.status == 409:
                raise DeployError(f"Kubernetes reported a conflict (409): the object changed or already "
                                  f"exists. {detail}", status=409) from e
            if e.status == 422:
                raise DeployError(f"Kubernetes rejected the manifest as invalid (422). {detail}", status=422) from e
            if e.status == 404:
                raise DeployError(f"Kubernetes: not found (404). {detail}", status=404) from e
            raise DeployError(f"Kubernetes API error {e.status}. {detail}", status=e.status) from e
        except urllib3.exceptions.HTTPError as e:
            raise DeployError(unreachable(e, self.core.api_client.configuration.host)) from e

    def missing_access(self, namespace: str) -> list[str]:
        """What Berth's credentials may not do, asked of the API server itself (a SelfSubjectAccessReview
        per verb, as `kubectl auth can-i` does): "create namespaces", "patch deployments.apps" in
        `namespace`…; empty when everything is allowed."""
        authorization = client.AuthorizationV1Api(self.core.api_client)
        missing = []
        for group, resource, verbs in ACCESS:
            name, _, subresource = resource.partition("/")
            for verb in verbs:
                attributes = {"group": group, "resource": name, "verb": verb}
                if subresource:
                    attributes["subresource"] = subresource
                if name != "namespaces":
                    attributes["namespace"] = namespace
                review = self.call(authorization.create_self_subject_access_review, {
                    "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                    "spec": {"resourceAttributes": attributes}})
                if not (review.status and review.status.allowed):
                    missing.append(f"{verb} {resource}{'.' + group if group else ''}")
        return missing

    def ensure_namespace(self, namespace: str) -> None:
        if self.call(self.core.read_namespace, namespace, missing_ok=True) is None:
            # A namespace someone else made keeps its labels; one Berth makes enforces the configured
            # Pod Security level and warns about anything short of "restricted".
            labels = {"app.kubernetes.io/managed-by": manifests.MANAGED_BY,
                      "pod-security.kubernetes.io/enforce": self.pod_security,
                      "pod-security.kubernetes.io/warn": "restricted"}
            body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": labels}}
            try:
                self.call(self.core.create_namespace, body, field_manager=FIELD_MANAGER)
            except DeployError as e:
                if e.status != 409:  # created meanwhile by another worker: fine
                    raise

    def _apply(self, patch, manifest: dict) -> None:
        """Server-side apply (field manager berth), which also creates: the object becomes exactly the
        manifest for the fields Berth owns, so an env var, port or probe removed from the settings goes
        away (a strategic-merge patch, or fields first written by a create, would keep them). Fields
        another manager changed since (replicas by `kubectl scale`, an image by `kubectl set image`)
        are not overwritten: the apply is refused with a message naming them."""
        name, namespace = manifest["metadata"]["name"], manifest["metadata"]["namespace"]
        for attempt in range(ADOPT_ATTEMPTS):
            try:
                applied = self.call(patch, name, namespace, manifest, field_manager=FIELD_MANAGER,
                                    _content_type=APPLY)
            except DeployError as e:
                # Fields only an older Berth wrote (its Update entry) are Berth's own to take back.
                if not e.conflicts or any(manager != FIELD_MANAGER for manager, _ in e.conflicts):
                    raise
                applied = self.call(patch, name, namespace, manifest, field_manager=FIELD_MANAGER, force=True,
                                    _content_type=APPLY)
            if not _created_by_update(applied):
                return
            try:
                self._adopt(patch, applied)
            except DeployError as e:
                # The object changed after the apply (a controller writing status): its
                # resourceVersion no longer matches, so the fold is refused; apply and fold again.
                if e.status not in (409, 422) or attempt == ADOPT_ATTEMPTS - 1:
                    raise

    def _adopt(self, patch, obj) -> None:
        """Objects Berth created before it applied from the start carry a second `berth` entry with
        operation Update, whose fields an apply can never remove. Fold it into the Apply entry (the
        union of both field sets), once, guarded by the resourceVersion."""
        serialize = self.core.api_client.sanitize_for_serialization
        entries = serialize(obj.metadata.managed_fields)
        mine = [e for e in entries if e.get("manager") == FIELD_MANAGER]
        union: dict = {}
        for entry in mine:
            _merge_fields(union, entry.get("fieldsV1") or {})
        folded = {**mine[0], "operation": "Apply", "fieldsV1": union, "fieldsType": "FieldsV1"}
        folded.pop("subresource", None)
        others = [e for e in entries if e.get("manager") != FIELD_MANAGER]
        body = [{"op": "test", "path": "/metadata/resourceVersion", "value": obj.metadata.resource_version},
                {"op": "replace", "path": "/metadata/managedFields", "value": [*others, folded]}]
        self.call(patch, obj.metadata.name, obj.metadata.namespace, body,
                  _content_type="application/json-patch+json")

    def apply(self, spec: DeploySpec) -> None:
        self.ensure_namespace(spec.namespace)
        kinds = {"Secret": self.core.patch_namespaced_secret, "Deployment": self.apps.patch_namespaced_deployment,
                 "Service": self.core.patch_namespaced_service, "Ingress": self.networking.patch_namespaced_ingress,
                 "PersistentVolumeClaim": self.core.patch_namespaced_persistent_volume_claim,
                 "ConfigMap": self.core.patch_namespaced_config_map}
        built = manifests.build(spec, self.ingress_class, self.tls_secret, self.storage_class)
        for manifest in built:
            self._apply(kinds[manifest["kind"]], manifest)
        present = {m["kind"] for m in built}
        if "Service" not in present:
            self.call(self.core.delete_namespaced_service, spec.name, spec.namespace, missing_ok=True)
        if "Ingress" not in present:
            self.call(self.networking.delete_namespaced_ingress, spec.name, spec.namespace, missing_ok=True)
        if "ConfigMap" not in present:
            self.call(self.core.delete_namespaced_config_map, manifests.files_name(spec), spec.namespace,
                      missing_ok=True)
        if not any(f.secret for f in spec.files):
            self.call(self.core.delete_namespaced_secret, manifests.secret_files_name(spec), spec.namespace,
                      missing_ok=True)

    def refresh_pull_secret(self, spec: DeploySpec) -> bool:
        """Rewrite the image pull Secret alone with the spec's (current) credentials."""
        manifest = manifests.secret(spec)
        if manifest is None:
            return False
        self.ensure_namespace(spec.namespace)
        self._apply(self.core.patch_namespaced_secret, manifest)
        return True

    def restart(self, spec: DeploySpec) -> None:
        """A rolling restart, as `kubectl rollout restart` does it: a new pod template annotation."""
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
        self.call(self.apps.patch_namespaced_deployment, spec.name, spec.namespace, body,
                  field_manager=RESTART_MANAGER, _content_type="application/strategic-merge-patch+json")

    def _pods(self, spec: DeploySpec):
        selector = ",".join(f"{k}={v}" for k, v in manifests.selector(spec).items())
        return self.call(self.core.list_namespaced_pod, spec.namespace, label_selector=selector).items

    def logs(self, spec: DeploySpec, tail: int = 200, since_seconds: int | None = None,
             previous: bool = False) -> list[LogStream]:
        """Each replica's log through the pod log API; with `previous`, a crashed container's last run
        is read where the current one has not printed anything yet."""
        streams = []
        for pod in self._pods(spec):
            name = pod.metadata.name
            kwargs = {"container": spec.name, "tail_lines": tail, "limit_bytes": LOG_BYTES}
            if since_seconds:
                kwargs["since_seconds"] = since_seconds
            try:
                text = self._log(name, spec.namespace, **kwargs)
                crashed = any(cs.restart_count for cs in (pod.status.container_statuses or [])) \
                    if pod.status else False
                if previous and crashed:
                    text = self._log(name, spec.namespace, previous=True, **kwargs)
                    streams.append(LogStream(name, (text or "").splitlines()[-tail:], previous=True))
                else:
                    streams.append(LogStream(name, (text or "").splitlines()[-tail:]))
            except DeployError as e:
                streams.append(LogStream(name, [], error=e.message))
        return streams

    def _log(self, pod: str, namespace: str, **kwargs) -> str:
        """One container's log as text, at most LOG_BYTES of it whatever the server sends (read raw:
        the client's own decoding of a plain-text answer differs between its versions)."""
        response = self.call(self.core.read_namespaced_pod_log, pod, namespace, _preload_content=False, **kwargs)
        try:
            return response.read(LOG_BYTES).decode("utf-8", "replace")
        finally:
            response.release_conn()

    def events(self, spec: DeploySpec, limit: int = 30) -> list[dict]:
        """Events of the Deployment, its ReplicaSets and pods, newest last: what Kubernetes says went wrong."""
        items = self.call(self.core.list_namespaced_event, spec.namespace, limit=500).items
        prefix = f"{spec.name}-"
        mine = [e for e in items if e.involved_object and (e.involved_object.name == spec.name or (
            e.involved_object.name or "").startswith(prefix)) and e.involved_object.kind in
            ("Deployment", "ReplicaSet", "Pod")]
        mine.sort(key=lambda e: _event_time(e))
        return [{"type": e.type or "", "reason": e.reason or "", "object": f"{e.involved_object.kind}/"
                 f"{e.involved_object.name}", "message": (e.message or "")[:500], "count": e.count or 1,
                 "at": _event_time(e)} for e in mine[-limit:]]

    def status(self, spec: DeploySpec) -> DeployStatus:
        deployment = self.call(self.apps.read_namespaced_deployment, spec.name, spec.namespace, missing_ok=True)
        if deployment is None:
            return DeployStatus("stopped", "NotFound", "No Deployment exists for this component.")
        for pod in self._pods(spec):
            found = pod_problem(pod)
            if found:
                return found
        state = deployment_state(deployment)
        if state.state == "deploying" and spec.health is not None:
            unhealthy = [e for e in self.events(spec) if e["reason"] == "Unhealthy"]
            if unhealthy and unhealthy[-1]["count"] >= spec.health.failure_threshold:
                return DeployStatus("failed", "Unhealthy", unhealthy[-1]["message"])
        return state

    def follow(self, spec: DeploySpec) -> kubewatch.Watcher:
        """A watch on the Deployment and one on its pods: the release reads the status when either changes."""
        selector = ",".join(f"{k}={v}" for k, v in manifests.selector(spec).items())
        return kubewatch.Watcher([
            ("deployment", self.apps.list_namespaced_deployment, spec.namespace,
             {"field_selector": f"metadata.name={spec.name}"}),
            ("pods", self.core.list_namespaced_pod, spec.namespace, {"label_selector": selector})])

    def host_port_free(self, port: int) -> bool:
        """No host ports on Kubernetes: any number may be recorded."""
        return True

    def probe_address(self, spec: DeploySpec) -> tuple[str, int] | None:
        """The kubelet probes; Berth never does."""
        return None

    def delete(self, spec: DeploySpec) -> None:
        self.call(self.apps.delete_namespaced_deployment, spec.name, spec.namespace, missing_ok=True)
        self.call(self.core.delete_namespaced_service, spec.name, spec.namespace, missing_ok=True)
        self.call(self.networking.delete_namespaced_ingress, spec.name, spec.namespace, missing_ok=True)
        self.call(self.core.delete_namespaced_secret, manifests.pull_secret_name(spec), spec.namespace,
                  missing_ok=True)
        self.call(self.core.delete_namespaced_config_map, manifests.files_name(spec), spec.namespace, missing_ok=True)
        self.call(self.core.delete_namespaced_secret, manifests.secret_files_name(spec), spec.namespace,
                  missing_ok=True)

    def address_of(self, namespace: str, name: str) -> str:
        """The host name other components of the team (same namespace) reach this one by: its Service."""
        return name

    def delete_volume(self, namespace: str, name: str) -> None:
        """Delete a volume's claim and with it its data (the cluster frees it once no pod uses it)."""
        self.call(self.core.delete_namespaced_persistent_volume_claim, name, namespace, missing_ok=True)


CONFLICT = re.compile(r'conflicts? with "([^"]{1,253})"')


def field_conflicts(body) -> tuple[tuple[str, str], ...]:
    """The (manager, field) pairs of a refused server-side apply, from the 409's Status causes."""
    try:
        causes = (json.loads(body).get("details") or {}).get("causes") or []
    except (TypeError, ValueError, AttributeError):
        return ()
    found = []
    for cause in causes[:50]:
        if not isinstance(cause, dict) or cause.get("reason") != "FieldManagerConflict":
            continue
        manager = CONFLICT.search(str(cause.get("message", "")))
        found.append((manager.group(1) if manager else "another manager", str(cause.get("field", ""))[:200]))
    return tuple(found)


def conflict_message(conflicts) -> str:
    changed = ", ".join(f"{field} (changed by \"{manager}\")" for manager, field in conflicts[:10])
    advice = ("Tick \"Replicas managed elsewhere\" in the component's settings when an autoscaler or "
              "kubectl scale sets them, or undo the change in the cluster."
              if any(field == ".spec.replicas" for _, field in conflicts) else
              "Undo the change in the cluster (or remove that tool's ownership of the field), then deploy again.")
    return (f"Kubernetes refused the apply (409 conflict): Berth does not overwrite fields another tool "
            f"changed: {changed}. {advice}")


def unreachable(e: urllib3.exceptions.HTTPError, host: str) -> str:
    """Why the API server at `host` did not answer, in plain words (its certificate, or the network)."""
    cause = getattr(e, "reason", None) or e
    if isinstance(cause, urllib3.exceptions.SSLError) or "CERTIFICATE_VERIFY_FAILED" in str(cause):
        return (f"The Kubernetes API server at {host} answered with a certificate Berth does not trust: "
                f"check the cluster's CA certificate in the kubeconfig.")
    if isinstance(cause, urllib3.exceptions.NewConnectionError):  # a ConnectTimeoutError subclass, oddly
        return f"The Kubernetes API server at {host} could not be reached (is the address right, is it running?)."
    if isinstance(cause, urllib3.exceptions.TimeoutError):
        return f"The Kubernetes API server at {host} did not answer in time."
    return f"The Kubernetes API server at {host} could not be reached (is the address right, is it running?)."


def _count_requests(api_client: client.ApiClient, observe: Callable[[str], None]) -> None:
    """Tell `observe` the verb of every request this client sends: the HTTP method, or WATCH."""
    send = api_client.request

    def request(method, url, query_params=None, *args, **kwargs):
        watching = method == "GET" and any(k == "watch" and v for k, v in (query_params or []))
        observe("WATCH" if watching else method)
        return send(method, url, query_params, *args, **kwargs)
    api_client.request = request


def _created_by_update(obj) -> bool:
    return any(e.manager == FIELD_MANAGER and e.operation == "Update" for e in (obj.metadata.managed_fields or []))


def _merge_fields(into: dict, fields: dict) -> None:
    """Union of two FieldsV1 sets (nested maps of field keys)."""
    for key, value in fields.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge_fields(into[key], value)
        else:
            into[key] = value if not isinstance(value, dict) else dict(value)


def _event_time(event) -> str:
    at = event.last_timestamp or event.event_time or event.first_timestamp or \
        (event.metadata.creation_timestamp if event.metadata else None)
    return at.isoformat() if at else ""


def pod_problem(pod) -> DeployStatus | None:
    """A failing pod's state in plain words, or None when nothing is wrong with it."""
    status = pod.status
    if status is None:
        return None
    for cs in status.container_statuses or []:
        waiting = cs.state.waiting if cs.state else None
        if waiting and waiting.reason in PULL_FAILURES:
            return DeployStatus("failed", waiting.reason, f"The image could not be pulled: {waiting.message or ''}"
                                .strip())
        terminated = (cs.state.terminated if cs.state else None) or \
            (cs.last_state.terminated if cs.last_state else None)
        if terminated and terminated.reason == "OOMKilled":
            return DeployStatus("failed", "OOMKilled", "The container ran out of memory and was killed; raise the "
                                "memory limit.")
        if waiting and waiting.reason == "CreateContainerConfigError" and "runAsNonRoot" in (waiting.message or ""):
            return DeployStatus("failed", "RunsAsRoot", "The image runs as root, and Berth runs containers as "
                                "non-root unless the component says otherwise: tick \"Run as root\" in its settings "
                                f"(the namespace's Pod Security level must then allow it). {waiting.message}")
        if waiting and waiting.reason in START_FAILURES:
            last = cs.last_state.terminated if cs.last_state else None
            code = f", last exit code {last.exit_code}" if last is not None and last.exit_code is not None else ""
            return DeployStatus("failed", waiting.reason, f"The container keeps failing to start "
                                f"({cs.restart_count} restarts{code}). {waiting.message or ''}".strip())
    for cond in status.conditions or []:
        if cond.type == "PodScheduled" and cond.status == "False" and cond.reason == "Unschedulable":
            return DeployStatus("failed", "Unschedulable", f"Pending: no node can run the pod. {cond.message or ''}"
                                .strip())
    return None


def replica_failure(message: str) -> DeployStatus:
    """The controller could not create the pods: admission refused them (Pod Security, a quota)."""
    found = re.search(r'violates PodSecurity "([^"]+)": (.*)', message)
    if found:
        return DeployStatus("failed", "PodSecurity", f"The namespace's Pod Security admission ({found.group(1)}) "
                            f"refused the pods: {found.group(2)}. A component that must run as root needs a "
                            "namespace at \"baseline\" or below.")
    return DeployStatus("failed", "ReplicaFailure", f"Kubernetes could not create the pods: {message}")


def deployment_state(deployment) -> DeployStatus:
    spec_replicas = deployment.spec.replicas if deployment.spec.replicas is not None else 1
    st = deployment.status
    for cond in (st.conditions if st else None) or []:
        if cond.type == "Progressing" and cond.status == "False" and cond.reason == "ProgressDeadlineExceeded":
            return DeployStatus("failed", "ProgressDeadlineExceeded", "The rollout timed out: new pods did not "
                                "become ready in time.")
        if cond.type == "ReplicaFailure" and cond.status == "True":
            return replica_failure(cond.message or "")
    if spec_replicas == 0:
        return DeployStatus("stopped", "ScaledToZero", "Scaled to zero replicas.")
    # As `kubectl rollout status` decides: the controller saw this spec, every replica is of the new
    # ReplicaSet, no old pod is left, and the new ones are available. (Counting available replicas
    # alone would call a rollout done while the old pods still serve and the new ones are not ready.)
    if st is not None and (st.observed_generation or 0) >= (deployment.metadata.generation or 0):
        updated = st.updated_replicas or 0
        if updated >= spec_replicas and (st.replicas or 0) <= updated and (st.available_replicas or 0) >= updated:
            return DeployStatus("running", "Available", "Rollout complete: all replicas are available.")
    return DeployStatus("deploying", "Progressing", "Rollout in progress.")
