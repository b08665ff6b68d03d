"""Cloud registries: Amazon ECR (moto server + a real docker-registry holding moto's token as its
password), Google Artifact Registry and Azure Container Registry (FAKE token endpoints, real
registries), GHCR and GitLab (FAKE APIs for listing, real registry for images), rate limits (a proxy
answering like Docker Hub). Everything listens on 127.0.0.1; see tests/fixtures/cloud.py."""
from __future__ import annotations

import base64
import json
import time

import pytest
from sqlalchemy import func, select

from models import Component, Registry, db
from services import polling, pullsecrets, registries
from services.registry.credentials import Credential
from tests.fixtures.images import Image, Pusher
from tests.helpers import field_error, wait_for

HOUR = 3600


def registry_form(kind, **fields):
    data = {"kind": kind, "name": f"{kind}-reg", "url": "", "username": "", "password": "", "region": "",
            "registry_id": "", "tenant": "", "api_url": "", "namespace": "", "ca_bundle": "", "token_host": "",
            "poll_budget": ""}
    data.update(fields)
    return data


def saved(app, name):
    with app.app_context():
        return db.session.scalar(select(Registry).where(Registry.name == name))


def registry_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Registry))


def provider_of(app, registry_id):
    with app.app_context():
        return registries.client_for(db.session.get(Registry, registry_id)).credentials


def later(hours: float):
    return lambda: time.time() + hours * HOUR


# -- Amazon ECR ----------------------------------------------------------------------------------------
@pytest.fixture
def ecr_app(app, aws):
    app.config["BERTH_ECR_ENDPOINT_URL"] = aws.url
    return app


def ecr_form(aws, user="reader", **fields):
    key, secret = aws.keys[user]
    values = {"name": "ecr", "url": aws.registry.url, "region": aws.region, "registry_id": aws.account,
              "username": key, "password": secret, **fields}
    return registry_form("ecr", **values)


def test_ecr_connects_browses_and_renews_its_token(client, auth, ecr_app, aws):
    auth.signed_in()
    r = client.post("/registries/new", data=ecr_form(aws))
    assert r.status_code == 302, field_error(r.get_data(as_text=True), "password")
    registry = saved(ecr_app, "ecr")
    assert registry.options == {"region": aws.region, "registry_id": aws.account}
    assert aws.keys["reader"][1] not in json.dumps(registry.options) and registry.password_encrypted
    page = client.get(f"/registries/{registry.id}/").get_data(as_text=True)
    # Repositories from DescribeRepositories (moto), tags and details over v2 from the real registry.
    assert "team/demo" in page and "team/api" in page
    assert "renewed automatically" in page and aws.keys["reader"][1] not in page
    provider = provider_of(ecr_app, registry.id)
    assert provider.renewals == 1 and provider.state().expires_at > time.time() + 11 * HOUR
    tags = client.get(f"/registries/{registry.id}/repository?repo=team/demo").get_data(as_text=True)
    assert "v1.0" in tags
    # 13 hours later the 12-hour token is gone: the next request renews it, nobody does anything.
    provider.clock = later(13)
    tags = client.get(f"/registries/{registry.id}/repository?repo=team/demo&refresh=1").get_data(as_text=True)
    assert "v1.0" in tags and provider.renewals == 2
    # Renewed ahead of time, not at the last second: at 10 of 12 hours it is already renewed.
    provider.clock = later(13 + 10)
    assert provider.get().password == aws.password and provider.renewals == 3


def test_ecr_refused_token_is_renewed_once_on_401(ecr_app, aws, make_registry):
    key, secret = aws.keys["reader"]
    registry_id, _ = make_registry(url=aws.registry.url, kind="ecr", credentials=False, username=key,
                                   options={"region": aws.region, "registry_id": aws.account})
    with ecr_app.app_context():
        registry = db.session.get(Registry, registry_id)
        registry.password_encrypted = registries.secret_box().encrypt(secret)
        db.session.commit()
        client_ = registries.client_for(registry)
        provider = client_.credentials
        provider.get()
        # A token the registry no longer takes (revoked; or a clock far off), though not yet "expired".
        provider._current = Credential("AWS", "revoked-token", time.time() + 6 * HOUR)
        assert client_.manifest_digest("team/demo", "v1.0") == aws.digest
        assert provider.renewals == 2 and provider.get().password == aws.password


@pytest.mark.parametrize("change,field,words", [
    (dict(password="wrong-secret"), "password", "SignatureDoesNotMatch"),
    (dict(username="AKIAUNKNOWN0000000"), "password", "InvalidClientTokenId"),
    (dict(user="nobody"), "password", "is not authorized to perform: ecr:GetAuthorizationToken"),
    (dict(region="eu-mars-1"), "region", "is not an AWS region where ECR runs"),
    (dict(region=""), "region", "Enter the AWS region"),
    (dict(registry_id="12345"), "registry_id", "12 digits"),
    (dict(username="not a key"), "username", "access key ID"),
])
def test_ecr_bad_input_says_what_aws_said_and_saves_nothing(client, auth, ecr_app, aws, change, field, words):
    auth.signed_in()
    user = change.pop("user", "reader")
    r = client.post("/registries/new", data=ecr_form(aws, user=user, **change))
    assert r.status_code == 422
    assert words in field_error(r.get_data(as_text=True), field)
    assert registry_count(ecr_app) == 0


def test_ecr_pull_secret_is_written_each_release_and_refreshed_before_expiry(client, auth, ecr_app, aws, kube):
    from services.deploy.kubernetes import KubernetesDeployer

    ecr_app.extensions["berth"].deployer = KubernetesDeployer(kube.api_client())
    ecr_app.config["BERTH_ROLLOUT_TIMEOUT"] = 0.5  # no controllers run in the emulator
    auth.signed_in()
    assert client.post("/registries/new", data=ecr_form(aws)).status_code == 302
    registry = saved(ecr_app, "ecr")
    r = client.post("/components/new", data={
        "source": "registry", "registry_id": str(registry.id), "image": "team/demo", "tag": "v1.0", "name": "web",
        "application": "shop", "replicas": "1", "memory_mb": "64", "ports-0-port": "8080",
        "ports-0-protocol": "TCP"})
    assert r.status_code == 302, r.get_data(as_text=True)[:3000]

    def secret_auth():
        secret = kube.obj("v1/secrets", "berth-alpha", "web-pull")
        if secret is None:
            return None
        config = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))
        return config["auths"][aws.registry.host]
    with ecr_app.app_context():
        from models import Release
        wait_for(lambda: db.session.scalar(select(Release.status).where(Release.status.in_(("running", "failed")))),
                 60)
        db.session.remove()
    assert secret_auth()["username"] == "AWS" and secret_auth()["password"] == aws.password
    deployment = kube.obj("apps/v1/deployments", "berth-alpha", "web")
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == f"{aws.registry.host}/team/demo@{aws.digest}"
    with ecr_app.app_context():
        db.session.execute(db.update(Component).values(stopped=False))
        from models import Release, ReleaseStatus
        db.session.execute(db.update(Release).values(status=ReleaseStatus.RUNNING))
        db.session.commit()
        assert pullsecrets.refresh() == (1, [])  # this process never wrote it: written once
        assert pullsecrets.refresh()[0] == 0  # the same token: nothing to do
        # A token issued an hour before it expires is in the Secret (moto issues the same token each
        # time, so this one stands in for an earlier one)...
        provider = registries.client_for(db.session.get(Registry, registry.id)).credentials
        provider._current = Credential("AWS", "token-of-the-morning", time.time() + HOUR)
        provider._obtained_at = time.time()
        assert pullsecrets.refresh()[0] == 1
        assert secret_auth()["password"] == "token-of-the-morning"
        # ...54 minutes later it is renewed ahead of its expiry, and the Secret rewritten with it.
        before = provider.renewals
        kube.proxy.requests.clear()
        provider.clock = later(0.9)
        assert pullsecrets.refresh() == (1, [])
        assert provider.renewals == before + 1
    assert secret_auth()["password"] == aws.password
    assert [m for m, p, *_ in kube.proxy.requests if p.endswith("/secrets/web-pull")][-1] == "PATCH"


def test_ecr_polling_keeps_deploying_after_the_token_expires(app, aws, make_registry, make_component):
    app.config["BERTH_ECR_ENDPOINT_URL"] = aws.url
    key, secret = aws.keys["reader"]
    registry_id, _ = make_registry(url=aws.registry.url, kind="ecr", credentials=False, username=key,
                                   options={"region": aws.region, "registry_id": aws.account})
    with app.app_context():
        registry = db.session.get(Registry, registry_id)
        registry.password_encrypted = registries.secret_box().encrypt(secret)
        db.session.commit()
    component_id = make_component(registry_id, image="team/api", tag="latest", release=False, auto_deploy=True,
                                  digest="sha256:" + "0" * 64)
    pusher = Pusher(aws.registry.url, "AWS", aws.password)
    first = pusher.push("team/api", "latest", Image(content="api-1"))
    with app.app_context():
        report = polling.poll_cycle()
        assert report.errors == [] and report.events == 1
        provider = registries.client_for(db.session.get(Registry, registry_id)).credentials
        provider.clock = later(13)
        second = pusher.push("team/api", "latest", Image(content="api-2"))
        db.session.execute(db.update(Component).values(last_polled_at=None))
        db.session.commit()
        report = polling.poll_cycle()
        assert report.errors == [] and report.events == 1 and provider.renewals == 2
        from models import Release
        digests = db.session.scalars(select(Release.digest).where(Release.component_id == component_id)
                                     .order_by(Release.id)).all()
        assert digests == [first, second]
