"""Components from registry images: a real deploy on podman, failures, bad input."""
from __future__ import annotations

import re
import time
import uuid
from collections import Counter

import pytest
import requests
from sqlalchemy import func, select

from models import Application, Component, Registry, Release, db
from tests.fixtures.images import Image
from tests.fixtures.podman import berth_pods
from tests.fixtures.registry import PASSWORD, USER
from tests.fixtures.slots import chosen_host_port
from tests.helpers import field_error, wait_for


def component_form(registry_id, **overrides):
    data = {"source": "registry", "registry_id": str(registry_id), "image": "team/demo", "tag": "v1.0",
            "name": "web", "application": "shop", "replicas": "1", "memory_mb": "64",
            "env-0-name": "FOO", "env-0-value": "bar", "env-1-name": "GREETING", "env-1-value": "hi there",
            "ports-0-port": "8080", "ports-0-protocol": "TCP", "ports-0-expose": "y"}
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def release_of(app, component_id, index=0):
    with app.app_context():
        return db.session.scalars(select(Release).where(Release.component_id == component_id)
                                  .order_by(Release.id.desc())).all()[index]


def wait_release(app, component_id, timeout=90):
    def done():
        r = release_of(app, component_id)
        return r if r.status in ("running", "failed") else None
    return wait_for(done, timeout)


def component_id_of(app, name="web"):
    with app.app_context():
        return db.session.scalar(select(Component.id).where(Component.name == name))


def counts(app):
    with app.app_context():
        return tuple(db.session.scalar(select(func.count()).select_from(m)) for m in (Component, Release, Application))


@pytest.mark.podman
def test_deploy_on_podman_rollback_and_delete(client, app, registry_id, registries, podman_deployer):
    repo = f"team/web-{uuid.uuid4().hex[:8]}"
    pusher = registries.pusher(registries.basic)
    first = pusher.push(repo, "stable", Image(content="first build"))
    host_port = chosen_host_port()
    r = client.post("/components/new", data=component_form(registry_id, image=repo, tag="stable",
                                                           **{"ports-0-host_port": str(host_port)}))
    assert r.status_code == 302, r.get_data(as_text=True)
    cid = component_id_of(app)
    release = wait_release(app, cid)
    assert release.status == "running", release.message
    assert release.digest == first and release.image_ref.endswith("@" + first)
    assert requests.get(f"http://127.0.0.1:{host_port}/", timeout=5).text == "first build"
    (container,) = podman_deployer.inspect(component_spec(app, cid))
    assert "FOO=bar" in container["Config"]["Env"] and "GREETING=hi there" in container["Config"]["Env"]
    assert container["HostConfig"]["Memory"] == 64 * 1024 * 1024
    assert "running" in client.get(f"/components/{cid}").get_data(as_text=True)

    # The tag moves: a redeploy pins the new digest.
    second = pusher.push(repo, "stable", Image(content="second build"))
    assert client.post(f"/components/{cid}/redeploy").status_code == 302
    release2 = wait_release(app, cid)
    assert release2.status == "running" and release2.digest == second
    assert requests.get(f"http://127.0.0.1:{host_port}/", timeout=5).text == "second build"
    assert release_of(app, cid, 1).status == "superseded"

    # Roll back to the first release: its exact digest runs again.
    first_release = release_of(app, cid, 1)
    assert client.post(f"/components/{cid}/releases/{first_release.id}/rollback").status_code == 302
    release3 = wait_release(app, cid)
    assert release3.status == "running" and release3.digest == first and release3.trigger == "rollback"
    assert requests.get(f"http://127.0.0.1:{host_port}/", timeout=5).text == "first build"

    assert client.post(f"/components/{cid}/delete").status_code == 302
    key = podman_deployer.pod_prefix + "berth-alpha-web"
    assert not [p for p in berth_pods() if p["Labels"].get("berth.dev/key") == key]
    assert component_id_of(app) is None


@pytest.mark.podman
def test_private_ca_registry_deploys_on_podman(client, app, auth, registries, podman_deployer):
    """TLS verified against the registry's own CA bundle: podman is handed the bundle for the pull."""
    auth.signed_in()
    r = client.post("/registries/new", data={"kind": "registry", "name": "private-ca", "url": registries.tls.url,
                                             "username": USER, "password": PASSWORD, "ca_bundle": registries.ca_pem})
    assert r.status_code == 302, r.get_data(as_text=True)
    with app.app_context():
        rid = db.session.scalar(select(Registry.id).where(Registry.name == "private-ca"))
    # Content no other test pushes, so podman has to pull it over TLS (nothing local to reuse).
    repo, content = f"team/tls-{uuid.uuid4().hex[:8]}", f"private ca {uuid.uuid4().hex}"
    registries.pusher(registries.tls).push(repo, "v1.0", Image(content=content))
    host_port = chosen_host_port()
    r = client.post("/components/new", data=component_form(rid, image=repo, tag="v1.0", name="tls-web",
                                                           **{"ports-0-host_port": str(host_port)}))
    assert r.status_code == 302, r.get_data(as_text=True)
    cid = component_id_of(app, "tls-web")
    release = wait_release(app, cid)
    assert release.status == "running", release.message
    spec = component_spec(app, cid)
    assert spec.tls_verify and "BEGIN CERTIFICATE" in spec.ca_bundle
    assert requests.get(f"http://127.0.0.1:{host_port}/", timeout=5).text == content


def component_spec(app, cid):
    from services.components import releases
    from services.registries import images

    with app.app_context():
        component = db.session.get(Component, cid)
        return images.deploy_spec(component, releases.current_release(component))


def test_missing_tag_is_a_field_error_and_saves_nothing(client, app, registry_id):
    before = counts(app)
    r = client.post("/components/new", data=component_form(registry_id, tag="does-not-exist"))
    assert r.status_code == 422
    assert "team/demo:does-not-exist does not exist in the registry" in field_error(r.get_data(as_text=True), "tag")
    assert counts(app) == before


@pytest.mark.podman
def test_a_tag_deleted_later_fails_the_release_with_reason(client, app, registry_id, registries, podman_deployer):
    repo = f"team/gone-{uuid.uuid4().hex[:8]}"
    digest = registries.pusher(registries.basic).push(repo, "v1", Image(content="soon gone"))
    assert client.post("/components/new", data=component_form(registry_id, image=repo, tag="v1")).status_code == 302
    assert wait_release(app, component_id_of(app)).status == "running"
    registries.pusher(registries.basic).delete(repo, digest)
    assert client.post(f"/components/{component_id_of(app)}/redeploy").status_code == 302
    release = wait_for(lambda: (lambda r: r if r.seq == 2 and r.status == "failed" else None)(
        release_of(app, component_id_of(app))), 60)
    assert "does not exist" in release.message


@pytest.mark.podman
def test_private_image_without_credentials_fails(client, app, auth, registries, podman_deployer):
    auth.signed_in()
    ref = f"{registries.basic.host}/team/demo:v1.0"  # a plain reference: Berth has no credentials for it
    data = component_form(None, source="reference", image=ref, tag="")
    data["registry_id"] = ""
    r = client.post("/components/new", data=data)
    assert r.status_code == 422
    assert "The registry refused access" in field_error(r.get_data(as_text=True), "tag")
    assert component_id_of(app) is None


@pytest.mark.podman
def test_command_and_arguments_run_instead_of_the_images_until_cleared(client, app, registry_id, registries,
                                                                       podman_deployer):
    """The image serves "from the image" with busybox httpd; the component's command and arguments
    (shell-quoted in the form) run a script instead, then the image's own run again once cleared."""
    repo = f"team/cmd-{uuid.uuid4().hex[:8]}"
    registries.pusher(registries.basic).push(repo, "v1", Image(content="from the image"))
    host_port = chosen_host_port()
    script = "echo overridden > /www/index.html && exec /bin/busybox httpd -f -p 8080 -h /www"
    form = component_form(registry_id, image=repo, tag="v1", command="/bin/busybox sh -c", args=f"'{script}'",
                          **{"ports-0-host_port": str(host_port)})
    assert client.post("/components/new", data=form).status_code == 302
    cid = component_id_of(app)
    release = wait_release(app, cid)
    assert release.status == "running", release.message
    assert release.settings["command"] == ["/bin/busybox", "sh", "-c"] and release.settings["args"] == [script]
    assert requests.get(f"http://127.0.0.1:{host_port}/", timeout=5).text == "overridden\n"
    page = client.get(f"/components/{cid}/edit").get_data(as_text=True)
    assert 'value="/bin/busybox sh -c"' in page

    r = client.post(f"/components/{cid}/edit", data={**form, "command": "", "args": "", "action": "review"})
    assert "command /bin/busybox sh -c → the image&#39;s" in r.get_data(as_text=True)
    client.post(f"/components/{cid}/edit", data={**form, "command": "", "args": "", "action": "deploy"})
    wait_for(lambda: release_of(app, cid).seq == 2 and release_of(app, cid).status == "running", 60)
    assert requests.get(f"http://127.0.0.1:{host_port}/", timeout=5).text == "from the image"


@pytest.mark.parametrize(("field", "value", "words"), [
    ("command", "sh -c 'unclosed", "Check the quotes"),
    ("args", "x " * 65, "At most 64 words"),
])
def test_a_command_that_cannot_be_read_is_a_field_error(client, app, registry_id, field, value, words):
    r = client.post("/components/new", data=component_form(registry_id, **{field: value}))
    assert r.status_code == 422
    assert words in field_error(r.get_data(as_text=True), field)
    assert component_id_of(app) is None


def test_kubernetes_403_fails_the_release_and_keeps_the_component(client, app, registry_id, cluster,
                                                                  deploy_to_cluster):
    """On the real API server, as a ServiceAccount whose role lacks `patch` on Deployments: the release
    fails with the refusal naming the resource and verb, and the component stays."""
    token = cluster.token_for_rules("berth-no-patch", [
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "create"]},
        {"apiGroups": [""], "resources": ["secrets", "services"], "verbs": ["get", "create", "patch", "delete"]},
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list", "watch", "create"]}])
    target = deploy_to_cluster(app, token)
    assert client.post("/components/new", data=component_form(registry_id)).status_code == 302
    release = wait_release(app, component_id_of(app))
    assert release.status == "failed" and "403 Forbidden" in release.message
    assert 'cannot patch resource "deployments"' in release.message
    assert target.get("namespace", target.namespace(), team="") is not None  # Berth made its namespace
    assert target.get("deployment", "web") is None
    assert "403 Forbidden" in client.get(f"/components/{component_id_of(app)}").get_data(as_text=True)


def test_deploy_to_kubernetes_pins_digest_and_runs(client, app, registry_id, registries, deploy_to_cluster):
    """On the real control plane: the Deployment pins the digest, the pull Secret is written, and the
    release ends "running" once the controllers report the new ReplicaSet available (KWOK's pods)."""
    target = deploy_to_cluster(app)
    assert client.post("/components/new", data=component_form(registry_id)).status_code == 302
    release = wait_release(app, component_id_of(app))
    d = target.get("deployment", "web")
    digest = registries.digests[f"{registries.basic.port}/team/demo:v1.0"]
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == f"{registries.basic.host}/team/demo@{digest}"
    assert target.get("secret", "web-pull") is not None
    assert release.status == "running", release.message
    assert d["status"]["availableReplicas"] == d["spec"]["replicas"]


FULL_RULES = [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "create"]},
              {"apiGroups": ["", "apps", "networking.k8s.io"], "verbs": ["get", "list", "watch", "create", "patch",
                                                                        "delete"],
               "resources": ["secrets", "services", "pods", "events", "deployments", "ingresses"]}]


def _faulty_client(cluster, fault: str):
    """A client to the test cluster that cannot work, as a user could misconfigure one."""
    from kubernetes import client as kube

    cfg = kube.Configuration()
    cfg.host, cfg.ssl_ca_cert = cluster.url, str(cluster.ca_path)
    account = f"berth-{fault.replace(' ', '-')}-{uuid.uuid4().hex[:6]}"
    if fault == "unreachable":
        cfg.host = f"https://127.0.0.1:{chosen_host_port()}"
    elif fault == "wrong CA":
        cfg.ssl_ca_cert = "/etc/ssl/certs/ca-certificates.crt"  # public CAs: not the cluster's own
    elif fault == "revoked token":
        token = cluster.token_for_rules(account, FULL_RULES)
        cluster.kubectl("delete", "serviceaccount", account, "-n", "berth-system")
    else:  # may not create namespaces
        token = cluster.token_for_rules(account, [{**FULL_RULES[0], "verbs": ["get"]}, FULL_RULES[1]])
    if fault in ("revoked token", "forbidden namespace"):
        cfg.api_key = {"authorization": f"Bearer {token}"}
    return kube.ApiClient(cfg)


@pytest.mark.parametrize(("fault", "words"), [
    ("unreachable", "could not be reached"),
    ("wrong CA", "certificate Berth does not trust"),
    ("revoked token", "rejected Berth's credentials (401 Unauthorized)"),
    ("forbidden namespace", 'cannot create resource "namespaces"')])
def test_a_cluster_berth_cannot_use_fails_the_release_in_plain_words(client, app, registry_id, cluster,
                                                                    deploy_to_cluster, fault, words):
    """An unreachable API server, one whose certificate is not the configured CA's, a token the
    cluster no longer accepts, a namespace Berth may not create: the release fails with that reason,
    the page shows it, the component stays, and nothing was written to the cluster."""
    from services.deploy.drivers.kubernetes import KubernetesDeployer

    target = deploy_to_cluster(app)
    app.extensions["berth"].deployer = KubernetesDeployer(_faulty_client(cluster, fault))
    assert client.post("/components/new", data=component_form(registry_id)).status_code == 302
    release = wait_release(app, component_id_of(app))
    assert release.status == "failed" and words in release.message, release.message
    page = client.get(f"/components/{component_id_of(app)}").get_data(as_text=True)
    assert words.replace('"', "&#34;").replace("'", "&#39;") in page
    assert target.get("namespace", target.namespace(), team="") is None
    assert counts(app)[0] == 1


def test_a_kubernetes_release_waits_on_watches_not_a_polling_loop(client, app, registries, registry_id,
                                                                 deploy_to_cluster):
    """A release whose pod takes 8 s to become ready (KWOK's slow-ready stage) writes at most 8 times,
    waits on watches of its Deployment and pods, and reads nothing while nothing changes."""
    registries.pusher(registries.basic).push("team/slow-ready", "v1.0")
    sent: list[tuple[float, str]] = []
    deploy_to_cluster(app, observe=lambda verb: sent.append((time.monotonic(), verb)))
    form = component_form(registry_id, image="team/slow-ready")
    assert client.post("/components/new", data=form).status_code == 302
    release = wait_release(app, component_id_of(app))
    assert release.status == "running", release.message
    verbs = Counter(verb for _, verb in sent)
    assert sum(verbs[v] for v in ("POST", "PUT", "PATCH", "DELETE")) <= 8, verbs
    assert verbs["WATCH"] >= 2, verbs
    reads = [at for at, verb in sent if verb == "GET"]
    assert max(b - a for a, b in zip(reads, reads[1:], strict=False)) >= 5, (verbs, reads)


def test_disabled_deployer_never_pretends(client, app, registry_id):
    assert "cannot deploy" in client.get("/components/new").get_data(as_text=True) or \
        "disabled" in client.get("/components/new").get_data(as_text=True)
    client.post("/components/new", data=component_form(registry_id))
    release = wait_release(app, component_id_of(app))
    assert release.status == "failed" and "disabled" in release.message


@pytest.mark.parametrize("overrides,field,message", [
    ({"name": ""}, "name", "lowercase"),
    ({"name": "Web_App"}, "name", "lowercase"),
    ({"name": "a" * 64}, "name", "lowercase"),
    ({"memory_mb": "0"}, "memory_mb", "from 4 MiB"),
    ({"memory_mb": "-5"}, "memory_mb", "from 4 MiB"),
    ({"memory_mb": "lots"}, "memory_mb", "memory limit"),
    ({"memory_mb": "999999999"}, "memory_mb", "from 4 MiB"),
    ({"replicas": "0"}, "replicas", "1 to 50"),
    ({"env-0-name": "1BAD"}, "env-0-name", "not starting with a digit"),
    ({"env-1-name": "FOO"}, "env-1-name", "set twice"),
    ({"ports-0-port": "70000"}, "ports-0-port", "1 to 65535"),
    ({"ports-0-port": "0"}, "ports-0-port", "1 to 65535"),
    ({"tag": "bad tag!"}, "tag", "A tag has"),
    ({"image": "Team/Demo"}, "image", "lowercase"),
    ({"application": ""}, "application", "Choose an application"),
])
def test_bad_input_shows_messages_and_saves_nothing(client, app, registry_id, overrides, field, message):
    before = counts(app)
    r = client.post("/components/new", data=component_form(registry_id, **overrides))
    assert r.status_code == 422
    assert message in field_error(r.get_data(as_text=True), field), r.get_data(as_text=True)[-3000:]
    assert counts(app) == before


def test_duplicate_name(client, app, registry_id):
    assert client.post("/components/new", data=component_form(registry_id)).status_code == 302
    before = counts(app)
    r = client.post("/components/new", data=component_form(registry_id, application="other"))
    assert "already has a component" in field_error(r.get_data(as_text=True), "name")
    assert counts(app) == before


def test_registry_in_use_cannot_be_deleted(client, app, registry_id):
    client.post("/components/new", data=component_form(registry_id))
    r = client.post(f"/registries/{registry_id}/delete", follow_redirects=True)
    assert "used by 1 component" in r.get_data(as_text=True)


def test_prefill_from_image_config(client, registry_id):
    html = client.get(f"/components/new?registry_id={registry_id}&repo=team/demo&tag=v1.0").get_data(as_text=True)
    assert 'value="8080"' in html and 'value="GREETING"' in html and 'value="hello"' in html
    assert 'name="name" type="text" value="demo"' in html


@pytest.mark.parametrize("ref,expected", [
    ("nginx:1.27", ("docker.io", "library/nginx", "1.27", None)),
    ("ghcr.io/org/app:tag", ("ghcr.io", "org/app", "tag", None)),
    ("127.0.0.1:5000/team/app@sha256:" + "a" * 64, ("127.0.0.1:5000", "team/app", None, "sha256:" + "a" * 64)),
    ("localhost/app", ("localhost", "app", "latest", None)),
    ("docker.io/user/app", ("docker.io", "user/app", "latest", None)),
    ("index.docker.io/nginx", ("docker.io", "library/nginx", "latest", None)),
])
def test_reference_parsing(ref, expected):
    from services.registries.clients.reference import parse

    r = parse(ref)
    assert (r.host, r.repository, r.tag, r.digest) == expected


@pytest.mark.parametrize("ref", ["", "upper/Case", "nginx:bad tag", "https://x.io/a", "a@sha256:short"])
def test_reference_parsing_rejects(ref):
    from services.registries.clients.reference import parse

    with pytest.raises(ValueError):
        parse(ref)


def test_a_form_with_every_field_wrong_shows_every_error_at_once(client, registry_id):
    data = component_form(registry_id, name="Bad Name!", application="", image="", tag="",
                          replicas="0", memory_mb="1", cpu_millicores="5",
                          **{"env-0-name": "1BAD", "env-1-name": "1BAD", "ports-0-port": "99999",
                             "ports-0-host_port": "0", "health_kind": "http", "health_port": "",
                             "health_period": "0"})
    r = client.post("/components/new", data=data)
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    wrong = ["name", "application", "image", "tag", "replicas", "memory_mb", "cpu_millicores", "env-0-name",
             "env-1-name", "ports-0-port", "ports-0-host_port", "health_port", "health_period"]
    missing = [f for f in wrong if not field_error(html, f)]
    assert not missing, missing
    assert len(re.findall(r'<ul class="errors" id="[^"]+"><li>', html)) == len(wrong)
