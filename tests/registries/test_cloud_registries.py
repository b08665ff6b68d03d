"""Cloud registries: Amazon ECR (moto server + a real docker-registry holding moto's token as its
password), Google Artifact Registry and Azure Container Registry (FAKE token endpoints, real
registries), GHCR and GitLab (FAKE APIs for listing, real registry for images), rate limits (a proxy
answering like Docker Hub). Everything listens on 127.0.0.1; see tests/fixtures/cloud.py."""
from __future__ import annotations

import base64
import json
import logging
import socket
import time
import uuid

import pytest
from sqlalchemy import func, select

from models import Component, Registry, db
from services.delivery import polling
from services.registries import pullsecrets, registries
from services.registries.clients.credentials import Credential
from tests.fixtures.images import Image, Pusher
from tests.fixtures.registry import PASSWORD, USER
from tests.helpers import field_error, wait_for

HOUR = 3600


@pytest.fixture(autouse=True)
def only_loopback(monkeypatch):
    """Every name these tests resolve is 127.0.0.1 or localhost: no cloud service, no metadata
    server is ever asked (boto3, google-auth and Berth all resolve through getaddrinfo)."""
    resolve, asked = socket.getaddrinfo, set()

    def guarded(host, *args, **kwargs):
        asked.add(host.decode() if isinstance(host, bytes) else host)
        return resolve(host, *args, **kwargs)
    monkeypatch.setattr(socket, "getaddrinfo", guarded)
    yield
    assert asked <= {"127.0.0.1", "localhost", None}, asked


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
    # A key revoked at AWS later: the page says what AWS says, where the token state was.
    with ecr_app.app_context():
        db.session.get(Registry, registry.id).password_encrypted = registries.secret_box().encrypt("revoked")
        db.session.commit()
    page = client.get(f"/registries/{registry.id}/").get_data(as_text=True)
    assert "AWS refused the token: SignatureDoesNotMatch" in page and 'id="credential-state"' in page


@pytest.mark.podman
def test_ecr_image_deploys_on_podman_with_the_current_token(client, auth, ecr_app, aws, podman_deployer):
    from tests.fixtures.registry import free_port

    repo = f"team/web-{uuid.uuid4().hex[:8]}"
    Pusher(aws.registry.url, "AWS", aws.password).push(repo, "v1", Image(content="served from ecr"))
    auth.signed_in()
    assert client.post("/registries/new", data=ecr_form(aws)).status_code == 302
    registry = saved(ecr_app, "ecr")
    port = free_port()
    r = client.post("/components/new", data={
        "source": "registry", "registry_id": str(registry.id), "image": repo, "tag": "v1", "name": "web",
        "application": "shop", "replicas": "1", "memory_mb": "64", "ports-0-port": "8080",
        "ports-0-protocol": "TCP", "ports-0-expose": "y", "ports-0-host_port": str(port)})
    assert r.status_code == 302, r.get_data(as_text=True)[-2000:]
    from models import Release

    def done():
        with ecr_app.app_context():
            release = db.session.scalar(select(Release).order_by(Release.id.desc()))
            db.session.remove()
            return release if release and release.status in ("running", "failed") else None
    release = wait_for(done, 90)
    assert release.status == "running", release.message
    import requests
    assert requests.get(f"http://127.0.0.1:{port}/", timeout=5).text == "served from ecr"
    # 13 hours on, the token has been renewed: a redeploy pulls with the new one, unasked.
    provider_of(ecr_app, registry.id).clock = later(13)
    component_id = release.component_id
    assert client.post(f"/components/{component_id}/redeploy").status_code == 302
    release = wait_for(lambda: (r := done()) and r.id != release.id and r, 90)
    assert release.status == "running", release.message
    assert provider_of(ecr_app, registry.id).renewals == 2


def test_ecr_without_a_key_uses_the_default_credential_chain(client, auth, ecr_app, aws, monkeypatch):
    key, secret = aws.keys["reader"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key)  # what the environment of a Berth on AWS provides
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    auth.signed_in()
    r = client.post("/registries/new", data=ecr_form(aws, username="", password=""))
    assert r.status_code == 302, field_error(r.get_data(as_text=True), "password")
    registry = saved(ecr_app, "ecr")
    assert registry.username is None and registry.password_encrypted is None
    assert "team/demo" in client.get(f"/registries/{registry.id}/").get_data(as_text=True)


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


def test_ecr_pull_secret_is_written_each_release_and_refreshed_before_expiry(client, auth, ecr_app, aws,
                                                                             deploy_to_cluster):
    """The renewed ECR token reaches the pull Secret on the real API server."""
    target = deploy_to_cluster(ecr_app)
    auth.signed_in()
    assert client.post("/registries/new", data=ecr_form(aws)).status_code == 302
    registry = saved(ecr_app, "ecr")
    r = client.post("/components/new", data={
        "source": "registry", "registry_id": str(registry.id), "image": "team/demo", "tag": "v1.0", "name": "web",
        "application": "shop", "replicas": "1", "memory_mb": "64", "ports-0-port": "8080",
        "ports-0-protocol": "TCP"})
    assert r.status_code == 302, r.get_data(as_text=True)[:3000]

    def secret_auth():
        secret = target.get("secret", "web-pull")
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
    deployment = target.get("deployment", "web")
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
        provider.clock = later(0.9)
        assert pullsecrets.refresh() == (1, [])
        assert provider.renewals == before + 1
    assert secret_auth()["password"] == aws.password
    # The key is revoked at AWS: the refresh says so (the Secret keeps the last token), and the
    # component's status, which never pulls, does not need a token at all.
    with ecr_app.app_context():
        db.session.get(Registry, registry.id).password_encrypted = registries.secret_box().encrypt("revoked")
        db.session.commit()
        rewritten, problems = pullsecrets.refresh()
        assert rewritten == 0 and "SignatureDoesNotMatch" in problems[0]
        from services.components import releases
        status = releases.live_status(db.session.scalar(select(Component)))
        assert status is not None and "AWS" not in status.message


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


# -- Google Artifact Registry (FAKE token endpoint, real registry) ------------------------------------
@pytest.fixture
def gar_app(app, google):
    app.config["BERTH_GOOGLE_TOKEN_URI"] = google.token_uri
    return app


def test_google_service_account_connects_browses_and_renews(client, auth, gar_app, google):
    auth.signed_in()
    key = google.key()
    r = client.post("/registries/new", data=registry_form("gar", name="gar", url=google.registry.url, password=key))
    assert r.status_code == 302, field_error(r.get_data(as_text=True), "password")
    registry = saved(gar_app, "gar")
    assert registry.username == "berth@project.iam.gserviceaccount.com"
    assert "PRIVATE KEY" not in (registry.password_encrypted or "")
    tags = client.get(f"/registries/{registry.id}/repository?repo=project/repo/app").get_data(as_text=True)
    assert "v1.0" in tags
    provider = provider_of(gar_app, registry.id)
    issued = google.issued
    page = client.get(f"/registries/{registry.id}/").get_data(as_text=True)
    assert "renewed automatically" in page and "PRIVATE KEY" not in page
    # Near the end of its hour (four minutes left) the access token is renewed before use...
    current = provider.get()
    provider._current = Credential(current.username, current.password, time.time() + 240)
    with gar_app.app_context():
        client_ = registries.client_for(db.session.get(Registry, registry.id))
        assert client_.manifest_digest("project/repo/app", "v1.0") == google.digest
    assert google.issued == issued + 1
    # ...and when Google has revoked every token early, the registry's 401 renews it once.
    google.revoke_all()
    with gar_app.app_context():
        client_._tokens.clear()  # registry tokens bought with the old access token end too
        assert client_.manifest_digest("project/repo/app", "v1.0") == google.digest
    assert google.issued == issued + 2


@pytest.mark.parametrize("make_key,words", [
    (lambda g: "{not json", "is not JSON"),
    (lambda g: json.dumps({"type": "authorized_user", "client_id": "x"}), "not a service-account key"),
    (lambda g: json.dumps({"type": "service_account", "client_email": "a@b"}), "lacks private_key, token_uri"),
    (lambda g: g.key(register=False), "invalid_grant"),  # a key Google does not know (deleted)
    (lambda g: g.key().replace(g.token_uri, "https://evil.example/token"), "Berth only sends"),
    (lambda g: json.dumps({**json.loads(g.key()), "private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n"
                           "-----END PRIVATE KEY-----\n"}), "cannot be used"),
])
def test_google_bad_key_says_why_and_saves_nothing(client, auth, gar_app, google, make_key, words):
    auth.signed_in()
    r = client.post("/registries/new", data=registry_form("gar", name="gar", url=google.registry.url,
                                                          password=make_key(google)))
    assert r.status_code == 422
    assert words in field_error(r.get_data(as_text=True), "password")
    assert registry_count(gar_app) == 0


# -- Azure Container Registry (FAKE Azure AD and ACR token endpoints, real registry) ------------------
@pytest.fixture
def acr_app(app, azure):
    app.config["BERTH_AZURE_AUTHORITY_URL"] = azure.aad.url
    return app


def acr_form(azure, **fields):
    values = {"name": "acr", "url": azure.login.url, "tenant": azure.tenant, "username": azure.client_id,
              "password": azure.secret, **fields}
    return registry_form("acr", **values)


def test_azure_service_principal_connects_browses_and_renews(client, auth, acr_app, azure, caplog):
    caplog.set_level(logging.DEBUG)
    auth.signed_in()
    r = client.post("/registries/new", data=acr_form(azure))
    assert r.status_code == 302, field_error(r.get_data(as_text=True), "password")
    registry = saved(acr_app, "acr")
    assert registry.options == {"tenant": azure.tenant}
    tags = client.get(f"/registries/{registry.id}/repository?repo=team/web").get_data(as_text=True)
    assert "v1.0" in tags
    provider = provider_of(acr_app, registry.id)
    exchanges = azure.exchanges
    # The ACR refresh token lives 3 hours (its JWT's exp): renewed ahead of it...
    assert provider.state().expires_at == pytest.approx(time.time() + 3 * HOUR, abs=60)
    provider.clock = later(2.5)
    with acr_app.app_context():
        client_ = registries.client_for(db.session.get(Registry, registry.id))
        assert client_.manifest_digest("team/web", "v1.0") == azure.digest
        assert azure.exchanges == exchanges + 1
        # ...and on the registry's 401 when it was revoked early.
        azure.revoke_all()
        client_._tokens.clear()
        assert client_.manifest_digest("team/web", "v1.0") == azure.digest
        assert azure.exchanges == exchanges + 2
        username, refresh_token = registries.pull_credential(db.session.get(Registry, registry.id))
        assert username == "00000000-0000-0000-0000-000000000000"
    # Neither the secret nor any token it bought reaches a log line or a page.
    page = client.get(f"/registries/{registry.id}/").get_data(as_text=True)
    assert "renewed automatically" in page
    for secret in (azure.secret, refresh_token, *azure.aad_tokens):
        assert secret not in caplog.text and secret not in page


@pytest.mark.parametrize("change,field,words", [
    (dict(password="wrong"), "password", "AADSTS7000215: Invalid client secret provided"),
    (dict(username="11111111-2222-3333-4444-555555555555"), "password", "AADSTS700016"),
    (dict(tenant="00000000-1111-2222-3333-444444444444"), "password", "AADSTS90002"),
    (dict(tenant="not a tenant"), "tenant", "directory ID"),
    (dict(username=""), "username", "client (application) ID"),
])
def test_azure_bad_input_says_what_azure_said_and_saves_nothing(client, auth, acr_app, azure, change, field, words):
    auth.signed_in()
    r = client.post("/registries/new", data=acr_form(azure, **change))
    assert r.status_code == 422
    assert words in field_error(r.get_data(as_text=True), field)
    assert registry_count(acr_app) == 0


# -- GHCR and GitLab: repositories from their APIs (FAKES), images from the real registry ------------
@pytest.mark.parametrize("kind,api_path,namespace", [("ghcr", "", "team"), ("ghcr", "", ""),
                                                     ("gitlab", "/api/v4", "team")])
def test_forge_registries_list_through_their_api(client, auth, app, registries, forges, kind, api_path, namespace):
    auth.signed_in()
    api = (forges.github if kind == "ghcr" else forges.gitlab).url + api_path
    r = client.post("/registries/new", data=registry_form(kind, name=kind, url=registries.basic.url, username=USER,
                                                          password=PASSWORD, api_url=api, namespace=namespace))
    assert r.status_code == 302, r.get_data(as_text=True)[-3000:]
    registry = saved(app, kind)
    page = client.get(f"/registries/{registry.id}/").get_data(as_text=True)
    assert "team/demo" in page and "team/multi" in page and "other/app0" not in page  # not the v2 catalog
    tags = client.get(f"/registries/{registry.id}/repository?repo=team/demo").get_data(as_text=True)
    assert "v1.0" in tags and "latest" in tags
    if kind == "ghcr":  # GitHub's API reports its rate limit: shown on the page
        assert "4,990 of 5,000 pulls left" in page


@pytest.mark.parametrize("kind,api_path,change,field,words", [
    ("ghcr", "", dict(password="no-scope"), "password", "You need at least read:packages scope"),
    ("ghcr", "", dict(password="wrong"), "password", "Bad credentials (401)"),
    ("ghcr", "", dict(namespace="nobody"), "namespace", "Check the organization name"),
    ("gitlab", "/api/v4", dict(password="no-scope"), "password", "requires higher privileges"),
    ("gitlab", "/api/v4", dict(namespace="nobody"), "namespace", "Not Found"),
    ("gitlab", "/api/v4", dict(namespace="a b"), "namespace", "Enter a name or path"),
])
def test_forge_bad_token_or_scope_says_so_and_saves_nothing(client, auth, app, registries, forges, kind, api_path,
                                                            change, field, words):
    auth.signed_in()
    api = (forges.github if kind == "ghcr" else forges.gitlab).url + api_path
    if change.get("password") == "no-scope":
        change["password"] = forges.github_no_scope if kind == "ghcr" else forges.gitlab_no_scope
    data = registry_form(kind, name=kind, url=registries.basic.url, username=USER, password=PASSWORD, api_url=api,
                         namespace="team")
    data.update(change)
    r = client.post("/registries/new", data=data)
    assert r.status_code == 422
    assert words in field_error(r.get_data(as_text=True), field)
    assert registry_count(app) == 0


# -- rate limits: a registry answering like Docker Hub ----------------------------------------------
def test_rate_limits_are_shown_and_polling_keeps_within_budget_and_reserve(client, auth, app, rate_limited,
                                                                          registries, make_registry, make_component):
    registry_id, _ = make_registry(url=rate_limited.url, name="limited")
    auth.signed_in()
    # Tag details GET the manifest: each costs a pull; the page shows what the registry reported.
    for _ in range(3):
        assert client.get(f"/registries/{registry_id}/tag?repo=team/demo&tag=v1.0").status_code == 200
    page = client.get(f"/registries/{registry_id}/").get_data(as_text=True)
    assert "7 of 10 pulls left per 6 h" in page
    # Out of pulls: 429 with Retry-After, shown as the registry said it.
    rate_limited.remaining = 0
    client.get(f"/registries/{registry_id}/tag?repo=team/demo&tag=v1.0")
    page = client.get(f"/registries/{registry_id}/").get_data(as_text=True)
    assert "0 of 10 pulls left" in page and "asked to wait 120 s" in page

    # Polling: a budget of 3 requests an hour is never exceeded, and polling resumes an hour later.
    rate_limited.remaining = 10
    app.extensions["berth"].rate_limits.pop(registry_id)  # as if the 429's two minutes had passed
    digest = registries.digests[f"{registries.basic.port}/team/demo:v1.0"]
    make_component(registry_id, image="team/demo", tag="v1.0", release=False, auto_deploy=True, digest=digest)
    with app.app_context():
        db.session.get(Registry, registry_id).poll_budget = 3
        db.session.commit()

        def cycle():
            db.session.execute(db.update(Component).values(last_polled_at=None))
            db.session.commit()
            before = rate_limited.requests
            polling.poll_cycle()
            db.session.expire_all()
            return rate_limited.requests - before
        assert [cycle() for _ in range(5)] == [1, 1, 1, 0, 0]
        assert "budget of 3 registry requests an hour is spent" in db.session.get(Registry, registry_id).last_poll_error
        polling.budget().clock = later(1.01)
        assert cycle() == 1
        assert db.session.get(Registry, registry_id).last_poll_error is None
        polling.budget().clock = time.time

        # The share of the limit kept for the runtime's pulls (20 %: 2 of 10) is never polled away.
        db.session.get(Registry, registry_id).poll_budget = 1000
        db.session.commit()
        rate_limited.remaining = 2
        assert cycle() == 1  # this answer reports 2 left
        assert cycle() == 0
        assert "kept for pulls" in db.session.get(Registry, registry_id).last_poll_error
        stored = db.session.get(Registry, registry_id).rate_limit
        assert stored["remaining"] == 2 and stored["limit"] == 10 and stored["window"] == 21600
        # Once the window resets (here: a 429 that asks for one second), polling resumes.
        registry = db.session.get(Registry, registry_id)
        registry.rate_limit = {**stored, "reset_at": time.time() + 1}
        app.extensions["berth"].rate_limits.pop(registry_id, None)
        db.session.commit()
        assert cycle() == 0
        time.sleep(1.1)
        rate_limited.remaining = 10
        assert cycle() == 1
        assert db.session.get(Registry, registry_id).rate_limit["remaining"] == 10
