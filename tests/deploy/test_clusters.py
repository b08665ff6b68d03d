"""A team's Kubernetes clusters (Clusters page) against the real control plane: added by server, CA
and token or by a kubeconfig, the token encrypted at rest and never shown back, "Test connection"
asking the API server what the token may not do (a SelfSubjectAccessReview per verb), bad input as
field errors with nothing written, and a component created on a second cluster deploying there."""
from __future__ import annotations

import base64
import json
import uuid

import pytest
import yaml
from sqlalchemy import func, select

from models import ClusterTarget, Component, Release, db
from services.deploy.drivers.kubernetes import ACCESS
from tests.components.test_create_and_deploy import component_form, component_id_of, wait_release
from tests.fixtures.cluster import MANIFEST, other_ca_pem, shipped_rbac
from tests.helpers import field_error


def _form(cluster, token: str, /, **overrides) -> dict:
    data = {"name": "production", "server": cluster.url, "ca_pem": cluster.ca_pem, "token": token, "kubeconfig": ""}
    return {**data, **overrides}


def _target(app, name="production") -> ClusterTarget | None:
    with app.app_context():
        return db.session.scalar(select(ClusterTarget).where(ClusterTarget.name == name))


def _count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(ClusterTarget.id)))


def test_the_access_berth_asks_for_is_what_the_shipped_role_grants():
    role = next(d for d in yaml.safe_load_all(MANIFEST.read_text()) if d and d["kind"] == "ClusterRole")
    granted = {(g, r, v) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]
               for v in rule["verbs"]}
    assert granted == {(g, r, v) for g, r, verbs in ACCESS for v in verbs}


def test_a_cluster_is_saved_with_its_token_encrypted_and_tested_with_access_reviews(client, app, auth, cluster,
                                                                                   berth_token):
    auth.signed_in()
    r = client.post("/clusters/new", data=_form(cluster, berth_token))
    assert r.status_code == 302, r.get_data(as_text=True)
    target = _target(app)
    assert berth_token not in target.token_encrypted and target.server == cluster.url
    page = client.get("/clusters/").get_data(as_text=True)
    assert "production" in page and berth_token not in page
    assert berth_token not in client.get(f"/clusters/{target.id}/edit").get_data(as_text=True)
    r = client.post(f"/clusters/{target.id}/test", follow_redirects=True)
    assert "Berth may do everything it needs." in r.get_data(as_text=True)
    assert _target(app).last_check_ok is True


def test_test_connection_lists_what_a_narrower_token_may_not_do(client, app, auth, cluster):
    account = f"narrow-{uuid.uuid4().hex[:6]}"
    token = cluster.token_for_rules(account, [
        {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]},
        {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list", "watch", "create", "delete"]},
        {"apiGroups": [""], "resources": ["services", "secrets", "configmaps", "persistentvolumeclaims", "pods",
                                           "pods/log", "events"],
         "verbs": ["get", "list", "watch", "create", "patch", "delete"]}])
    auth.signed_in()
    assert client.post("/clusters/new", data=_form(cluster, token)).status_code == 302
    page = client.post(f"/clusters/{_target(app).id}/test", follow_redirects=True).get_data(as_text=True)
    assert "Berth&#39;s token may not: create namespaces, patch deployments.apps, get ingresses.networking.k8s.io" \
        in page, page
    assert _target(app).last_check_ok is False
    cluster.kubectl("delete", "clusterrolebinding,clusterrole", account, check=False)


def test_a_kubeconfig_gives_server_ca_and_token(client, app, auth, cluster, berth_token):
    kubeconfig = json.loads(cluster.kubeconfig("berth-paste", token=berth_token).read_text())
    kubeconfig["clusters"][0]["cluster"] = {"server": cluster.url, "certificate-authority-data":
                                            base64.b64encode(cluster.ca_pem.encode()).decode()}
    auth.signed_in()
    r = client.post("/clusters/new", data={"name": "pasted", "kubeconfig": yaml.safe_dump(kubeconfig)})
    assert r.status_code == 302, r.get_data(as_text=True)
    target = _target(app, "pasted")
    assert target.server == cluster.url and target.ca_pem.strip() == cluster.ca_pem.strip()
    page = client.post(f"/clusters/{target.id}/test", follow_redirects=True).get_data(as_text=True)
    assert "Berth may do everything it needs." in page


@pytest.mark.parametrize(("overrides", "field", "words"), [
    ({"name": "Prod EU"}, "name", "lowercase letters"),
    ({"server": "http://127.0.0.1:6443"}, "server", "https://"),
    ({"server": "https://127.0.0.1:6443/api?x=1"}, "server", "https://"),
    ({"ca_pem": "not a certificate"}, "ca_pem", "not a PEM certificate"),
    ({"token": ""}, "token", "ServiceAccount token"),
    ({"kubeconfig": "clusters: [unclosed"}, "kubeconfig", "not YAML"),
    ({"kubeconfig": "apiVersion: v1\nkind: Config\ncurrent-context: x\ncontexts: [{name: x, context: {cluster: c, "
                    "user: u}}]\nclusters: [{name: c, cluster: {server: 'https://a.example:6443'}}]\n"
                    "users: [{name: u, user: {client-certificate-data: abc}}]"}, "kubeconfig", "without a token"),
])
def test_bad_cluster_input_is_a_field_error_and_nothing_is_saved(client, app, auth, cluster, overrides, field, words):
    auth.signed_in()
    r = client.post("/clusters/new", data=_form(cluster, "some-token", **overrides))
    assert r.status_code == 422
    assert words in field_error(r.get_data(as_text=True), field)
    assert _count(app) == 0


def test_a_private_cluster_address_is_refused_unless_allowed(client, app, auth, cluster):
    app.config["BERTH_ALLOW_PRIVATE_CLUSTERS"] = False
    auth.signed_in()
    r = client.post("/clusters/new", data=_form(cluster, "some-token"))
    assert r.status_code == 422 and "BERTH_ALLOW_PRIVATE_CLUSTERS=on" in field_error(r.get_data(as_text=True), "server")
    assert _count(app) == 0


def test_a_wrong_ca_is_named_by_test_connection(client, app, auth, cluster, berth_token):
    auth.signed_in()
    assert client.post("/clusters/new", data=_form(cluster, berth_token, ca_pem=other_ca_pem())).status_code == 302
    page = client.post(f"/clusters/{_target(app).id}/test", follow_redirects=True).get_data(as_text=True)
    assert "certificate Berth does not trust" in page
    assert _target(app).last_check_ok is False


def test_a_component_created_on_a_second_cluster_deploys_there(client, app, auth, registry_id, cluster,
                                                               second_cluster, deploy_to_cluster):
    """The app's own deployer is the first cluster; the component chose the second, so its
    Deployment is there and not on the first, and the page says where it runs. Deleting the
    cluster is refused while the component uses it."""
    target = deploy_to_cluster(app)
    second_cluster.kubectl("apply", "--server-side", "-f", "-", stdin=shipped_rbac())
    token = second_cluster.token("berth", "berth-system")
    assert client.post("/clusters/new", data=_form(second_cluster, token, name="second")).status_code == 302
    second = _target(app, "second")
    r = client.post("/components/new", data=component_form(registry_id, target_id=str(second.id)))
    assert r.status_code == 302, r.get_data(as_text=True)
    release = wait_release(app, component_id_of(app))
    assert release.status == "running", release.message
    assert second_cluster.get("deployment", "web", target.namespace()) is not None
    assert target.get("deployment", "web") is None
    page = client.get(f"/components/{component_id_of(app)}").get_data(as_text=True)
    assert "Kubernetes cluster second" in page
    r = client.post(f"/clusters/{second.id}/delete", follow_redirects=True)
    assert "still runs web" in r.get_data(as_text=True) and _target(app, "second") is not None


def test_another_teams_cluster_cannot_be_chosen(client, app, auth, registry_id, cluster, berth_token):
    auth.signed_in()
    assert client.post("/clusters/new", data=_form(cluster, berth_token)).status_code == 302
    theirs = _target(app)
    with app.app_context():
        from services.accounts import accounts

        other = accounts.get_or_create_team("beta")
        db.session.get(ClusterTarget, theirs.id).team_id = other.id
        db.session.commit()
    r = client.post("/components/new", data=component_form(registry_id, target_id=str(theirs.id)))
    assert r.status_code == 422
    assert "Choose one of your team" in field_error(r.get_data(as_text=True), "target_id")
    with app.app_context():
        assert db.session.scalar(select(func.count(Component.id))) == 0
        assert db.session.scalar(select(func.count(Release.id))) == 0
    assert client.get(f"/clusters/{theirs.id}/edit").status_code == 404
