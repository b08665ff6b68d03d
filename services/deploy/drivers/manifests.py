"""One builder for the Kubernetes objects of a component: Secret, PersistentVolumeClaims, Deployment,
Service, Ingress."""
from __future__ import annotations

import base64
import json
import re

from services.deploy.drivers.spec import DeploySpec

MANAGED_BY = "berth"
RELEASE_ANNOTATION = "berth.dev/release-id"


_NOT_IN_LABELS = re.compile(r"[^A-Za-z0-9._-]+")


def label_value(text: str) -> str:
    """A Kubernetes label value for a name people typed ("Shop & Co" -> "Shop-Co"): at most 63 of
    letters, digits, '-', '_' and '.', starting and ending with a letter or digit ("" if none)."""
    return _NOT_IN_LABELS.sub("-", text)[:63].strip("-_.")


def labels(spec: DeploySpec) -> dict[str, str]:
    """The recommended labels; `version` is the release's tag (never part of the selector)."""
    found = {"app.kubernetes.io/name": spec.name, "app.kubernetes.io/instance": spec.name,
             "app.kubernetes.io/part-of": label_value(spec.application), "app.kubernetes.io/managed-by": MANAGED_BY}
    if label_value(spec.version):
        found["app.kubernetes.io/version"] = label_value(spec.version)
    return found


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


def probe(spec: DeploySpec) -> dict | None:
    """The health check as a Kubernetes probe (readiness and liveness use the same one)."""
    h = spec.health
    if h is None:
        return None
    action = {"httpGet": {"path": h.path, "port": h.port}} if h.kind == "http" else {"tcpSocket": {"port": h.port}}
    return {**action, "initialDelaySeconds": h.initial_delay, "periodSeconds": h.period,
            "failureThreshold": h.failure_threshold, "timeoutSeconds": h.timeout}


def security(spec: DeploySpec) -> tuple[dict, dict]:
    """(pod, container) security contexts. A component that need not run as root meets Pod Security
    "restricted": seccomp RuntimeDefault, no privilege escalation, every capability dropped, and
    runAsNonRoot (the kubelet refuses an image whose user is root). One that must run as root keeps
    the runtime's default capabilities, which "baseline" allows."""
    pod = {"seccompProfile": {"type": "RuntimeDefault"}}
    if spec.run_as_root:
        return pod, {}
    return {**pod, "runAsNonRoot": True}, {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def files_name(spec: DeploySpec) -> str:
    return f"{spec.name}-files"


def secret_files_name(spec: DeploySpec) -> str:
    return f"{spec.name}-secret-files"


def file_key(index: int) -> str:
    return f"file-{index}"


def files_config_map(spec: DeploySpec) -> dict | None:
    """The component's config files (not the secret ones) as one ConfigMap, a key per file."""
    plain = {file_key(i): f.content for i, f in enumerate(spec.files) if not f.secret}
    if not plain:
        return None
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": files_name(spec), "namespace": spec.namespace, "labels": labels(spec)},
            "data": plain}


def files_secret(spec: DeploySpec) -> dict | None:
    """The component's secret files as one Secret, a key per file."""
    hidden = {file_key(i): base64.b64encode(f.content.encode()).decode() for i, f in enumerate(spec.files) if f.secret}
    if not hidden:
        return None
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": secret_files_name(spec), "namespace": spec.namespace, "labels": labels(spec)},
            "data": hidden}


def _file_mounts(spec: DeploySpec, host_files: list[str] | None) -> tuple[list[dict], list[dict]]:
    """(pod volumes, container mounts) of the config files: on Kubernetes each file is its key of the
    ConfigMap or Secret, mounted alone (subPath) so the rest of its directory stays the image's; on
    podman (`host_files`: where Berth wrote each) each is a file on the host, mounted read-only."""
    if host_files is not None:
        return ([{"name": file_key(i), "hostPath": {"path": host_files[i], "type": "File"}}
                 for i in range(len(spec.files))],
                [{"name": file_key(i), "mountPath": f.path, "readOnly": True} for i, f in enumerate(spec.files)])
    volumes, mounts = [], []
    for secret, volume in ((False, "files"), (True, "secret-files")):
        chosen = [(i, f) for i, f in enumerate(spec.files) if f.secret == secret]
        if not chosen:
            continue
        items = [{"key": file_key(i), "path": file_key(i), "mode": f.mode} for i, f in chosen]
        source = {"secret": {"secretName": secret_files_name(spec), "items": items}} if secret else \
            {"configMap": {"name": files_name(spec), "items": items}}
        volumes.append({"name": volume, **source})
        mounts += [{"name": volume, "mountPath": f.path, "subPath": file_key(i), "readOnly": True} for i, f in chosen]
    return volumes, mounts


VOLUME_LABEL = "berth.dev/volume"


def claim(spec: DeploySpec, volume, storage_class: str | None = None) -> dict:
    """A volume's PersistentVolumeClaim (ReadWriteOnce): named as the volume, labelled by its
    application but not by the component, whose deletion it outlives."""
    body = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": f"{volume.size_mb}Mi"}}}
    if storage_class:
        body["storageClassName"] = storage_class
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": volume.name, "namespace": spec.namespace,
                         "labels": {"app.kubernetes.io/part-of": label_value(spec.application),
                                    "app.kubernetes.io/managed-by": MANAGED_BY, VOLUME_LABEL: volume.name}},
            "spec": body}


# A rolling update starts the new pod beside the old one, which still holds its ReadWriteOnce
# volume; with volumes the old pod goes first. Both are written out so that Berth owns the fields
# and a switch between them leaves no `rollingUpdate` behind (which Recreate refuses).
ROLLING = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}
RECREATE = {"type": "Recreate"}


def deployment(spec: DeploySpec, host_ip: str | None = None, probes: bool = True, pod_security: bool = False,
               claim_prefix: str = "", host_files: list[str] | None = None) -> dict:
    """The Deployment. `host_ip` (podman) publishes exposed ports on the host at that address;
    `probes=False` leaves the health check to Berth (podman runs no probes without systemd);
    `pod_security` (Kubernetes) adds the security contexts of `security`; `claim_prefix` (podman)
    is put before each volume's name to name the claim (there: the named volume); `host_files`
    (podman) are where the config files were written on the host."""
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
        entry = {"containerPort": p.port, "protocol": p.protocol, "name": port_name(p)}
        if host_ip and p.expose:
            entry["hostPort"] = p.host_port or p.port
            entry["hostIP"] = host_ip
        ports.append(entry)
    if ports:
        container["ports"] = ports
    check = probe(spec) if probes else None
    if check:
        container["readinessProbe"] = check
        container["livenessProbe"] = dict(check)
    # As Kubernetes (and podman kube play) read them: a command without arguments drops the image's Cmd too.
    if spec.command is not None:
        container["command"] = list(spec.command)
    if spec.args is not None:
        container["args"] = list(spec.args)
    pod_spec = {"containers": [container]}
    file_volumes, file_mounts = _file_mounts(spec, host_files)
    pod_volumes = [{"name": f"volume-{i}", "persistentVolumeClaim": {
        "claimName": claim_prefix + v.name, "readOnly": v.read_only}} for i, v in enumerate(spec.volumes)]
    mounts = [{"name": f"volume-{i}", "mountPath": v.path, "readOnly": v.read_only} for i, v in enumerate(spec.volumes)]
    if pod_volumes or file_volumes:
        pod_spec["volumes"] = pod_volumes + file_volumes
        container["volumeMounts"] = mounts + file_mounts
    if pod_security:
        pod_context, container_context = security(spec)
        pod_spec["securityContext"] = pod_context
        if container_context:
            container["securityContext"] = container_context
    if spec.credentials is not None:
        pod_spec["imagePullSecrets"] = [{"name": pull_secret_name(spec)}]
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": spec.name, "namespace": spec.namespace, "labels": labels(spec),
                     "annotations": {RELEASE_ANNOTATION: str(spec.release_id)}},
        "spec": {
            **({} if spec.replicas_elsewhere else {"replicas": spec.replicas}),
            "selector": {"matchLabels": selector(spec)},
            "progressDeadlineSeconds": 600,
            "strategy": RECREATE if spec.volumes else ROLLING,
            "template": {"metadata": {"labels": labels(spec),
                                      "annotations": {RELEASE_ANNOTATION: str(spec.release_id)}},
                         "spec": pod_spec},
        },
    }


def port_name(p) -> str:
    return f"p{p.port}-{p.protocol.lower()}"


def service(spec: DeploySpec) -> dict | None:
    exposed = [p for p in spec.ports if p.expose]
    if not exposed:
        return None
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": spec.name, "namespace": spec.namespace, "labels": labels(spec)},
        "spec": {"type": "ClusterIP", "selector": selector(spec),
                 "ports": [{"name": port_name(p), "port": p.port, "targetPort": p.port,
                            "protocol": p.protocol} for p in exposed]},
    }


def ingress(spec: DeploySpec, ingress_class: str | None = None, tls_secret: str | None = None) -> dict | None:
    """An Ingress for the exposed TCP ports that have a public host name."""
    public = [p for p in spec.ports if p.expose and p.public_host and p.protocol == "TCP"]
    if not public:
        return None
    body: dict = {"rules": [{"host": p.public_host, "http": {"paths": [{
        "path": "/", "pathType": "Prefix",
        "backend": {"service": {"name": spec.name, "port": {"number": p.port}}}}]}} for p in public]}
    if ingress_class:
        body["ingressClassName"] = ingress_class
    if tls_secret:
        body["tls"] = [{"hosts": sorted({p.public_host for p in public}), "secretName": tls_secret}]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": spec.name, "namespace": spec.namespace, "labels": labels(spec)},
            "spec": body}


def build(spec: DeploySpec, ingress_class: str | None = None, tls_secret: str | None = None,
          storage_class: str | None = None) -> list[dict]:
    """Secret (when the registry needs credentials), a claim per volume, the config files' ConfigMap
    and Secret (when there are some), Deployment, Service (when a port is exposed), Ingress (when an
    exposed port has a public host)."""
    return [m for m in (secret(spec), *(claim(spec, v, storage_class) for v in spec.volumes),
                        files_config_map(spec), files_secret(spec),
                        deployment(spec, pod_security=True), service(spec), ingress(spec, ingress_class, tls_secret))
            if m is not None]
