"""Kubernetes deployer: the official client, one namespace per team, create-or-patch."""
from __future__ import annotations

import json
import os

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException

from services.deploy import manifests
from services.deploy.spec import DeployError, DeploySpec, DeployStatus

REQUEST_TIMEOUT = (5, 30)
FIELD_MANAGER = "berth"
PULL_FAILURES = {"ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull"}
START_FAILURES = {"CrashLoopBackOff", "CreateContainerConfigError", "CreateContainerError", "RunContainerError"}


def load_api_client() -> client.ApiClient:
    """In-cluster config when running in a pod, else the kubeconfig; ConfigException if neither."""
    try:
        config.load_incluster_config()
    except ConfigException:
        # The client reads KUBECONFIG once at import; read it now so a changed setting counts.
        config.load_kube_config(config_file=os.environ.get("KUBECONFIG") or None)
    return client.ApiClient()


def _api_message(e: ApiException) -> str:
    try:
        return json.loads(e.body).get("message", "")[:400]
    except (TypeError, ValueError, AttributeError):
        return (e.reason or "")[:200]


class KubernetesDeployer:
    name = "kubernetes"

    def __init__(self, api_client: client.ApiClient):
        self.core = client.CoreV1Api(api_client)
        self.apps = client.AppsV1Api(api_client)

    @classmethod
    def from_environment(cls) -> KubernetesDeployer:
        return cls(load_api_client())

    def call(self, fn, *args, missing_ok: bool = False, **kwargs):
        """The one way Berth calls the API server: a timeout, errors in plain words."""
        try:
            return fn(*args, _request_timeout=REQUEST_TIMEOUT, **kwargs)
        except ApiException as e:
            if e.status == 404 and missing_ok:
                return None
            detail = _api_message(e)
            if e.status == 401:
                raise DeployError("Kubernetes rejected Berth's credentials (401 Unauthorized).", status=401) from e
            if e.status == 403:
                raise DeployError(f"Kubernetes refused the request (403 Forbidden): Berth's service account "
                                  f"lacks permission. {detail}", status=403) from e
            if e.status == 409:
                raise DeployError(f"Kubernetes reported a conflict (409): the object changed or already "
                                  f"exists. {detail}", status=409) from e
            if e.status == 422:
                raise DeployError(f"Kubernetes rejected the manifest as invalid (422). {detail}", status=422) from e
            if e.status == 404:
                raise DeployError(f"Kubernetes: not found (404). {detail}", status=404) from e
            raise DeployError(f"Kubernetes API error {e.status}. {detail}", status=e.status) from e
        except urllib3.exceptions.HTTPError as e:
            raise DeployError("The Kubernetes API server could not be reached.") from e

    def ensure_namespace(self, namespace: str) -> None:
        if self.call(self.core.read_namespace, namespace, missing_ok=True) is None:
            body = {"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": namespace, "labels": {"app.kubernetes.io/managed-by": manifests.MANAGED_BY}}}
            try:
                self.call(self.core.create_namespace, body, field_manager=FIELD_MANAGER)
            except DeployError as e:
                if e.status != 409:  # created meanwhile by another worker: fine
                    raise

    def _upsert(self, read, create, patch, manifest: dict) -> None:
        name, namespace = manifest["metadata"]["name"], manifest["metadata"]["namespace"]
        if self.call(read, name, namespace, missing_ok=True) is None:
            self.call(create, namespace, manifest, field_manager=FIELD_MANAGER)
        else:
            self.call(patch, name, namespace, manifest, field_manager=FIELD_MANAGER)

    def apply(self, spec: DeploySpec) -> None:
        self.ensure_namespace(spec.namespace)
        for manifest in manifests.build(spec):
            kind = manifest["kind"]
            if kind == "Secret":
                self._upsert(self.core.read_namespaced_secret, self.core.create_namespaced_secret,
                             self.core.patch_namespaced_secret, manifest)
            elif kind == "Deployment":
                self._upsert(self.apps.read_namespaced_deployment, self.apps.create_namespaced_deployment,
                             self.apps.patch_namespaced_deployment, manifest)
            elif kind == "Service":
                self._upsert(self.core.read_namespaced_service, self.core.create_namespaced_service,
                             self.core.patch_namespaced_service, manifest)
        if not any(p.expose for p in spec.ports):
            self.call(self.core.delete_namespaced_service, spec.name, spec.namespace, missing_ok=True)

    def status(self, spec: DeploySpec) -> DeployStatus:
        deployment = self.call(self.apps.read_namespaced_deployment, spec.name, spec.namespace, missing_ok=True)
        if deployment is None:
            return DeployStatus("stopped", "NotFound", "No Deployment exists for this component.")
        selector = ",".join(f"{k}={v}" for k, v in manifests.selector(spec).items())
        pods = self.call(self.core.list_namespaced_pod, spec.namespace, label_selector=selector)
        for pod in pods.items:
            found = pod_problem(pod)
            if found:
                return found
        return deployment_state(deployment)

    def delete(self, spec: DeploySpec) -> None:
        self.call(self.apps.delete_namespaced_deployment, spec.name, spec.namespace, missing_ok=True)
        self.call(self.core.delete_namespaced_service, spec.name, spec.namespace, missing_ok=True)
        self.call(self.core.delete_namespaced_secret, manifests.pull_secret_name(spec), spec.namespace,
                  missing_ok=True)


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
        if waiting and waiting.reason in START_FAILURES:
            return DeployStatus("failed", waiting.reason, f"The container keeps failing to start "
                                f"({cs.restart_count} restarts). {waiting.message or ''}".strip())
    for cond in status.conditions or []:
        if cond.type == "PodScheduled" and cond.status == "False" and cond.reason == "Unschedulable":
            return DeployStatus("failed", "Unschedulable", f"Pending: no node can run the pod. {cond.message or ''}"
                                .strip())
    return None


def deployment_state(deployment) -> DeployStatus:
    spec_replicas = deployment.spec.replicas if deployment.spec.replicas is not None else 1
    st = deployment.status
    for cond in (st.conditions if st else None) or []:
        if cond.type == "Progressing" and cond.status == "False" and cond.reason == "ProgressDeadlineExceeded":
            return DeployStatus("failed", "ProgressDeadlineExceeded", "The rollout timed out: new pods did not "
                                "become ready in time.")
    if spec_replicas == 0:
        return DeployStatus("stopped", "ScaledToZero", "Scaled to zero replicas.")
    if st is not None and (st.observed_generation or 0) >= (deployment.metadata.generation or 0) \
            and (st.updated_replicas or 0) >= spec_replicas and (st.available_replicas or 0) >= spec_replicas:
        return DeployStatus("running", "Available", "Rollout complete: all replicas are available.")
    return DeployStatus("deploying", "Progressing", "Rollout in progress.")
