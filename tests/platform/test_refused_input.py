"""Input Berth must refuse cleanly: ids beyond 64 bits, a registry image with no registry, a replay
of a delivery that never authenticated."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from models import Component, Registry, WebhookDelivery, db
from services.delivery import endpoints
from tests.helpers import field_error

HUGE = 2**64 + 1


@pytest.mark.parametrize("path", [f"/components/{HUGE}", f"/registries/{HUGE}/", f"/registries/{HUGE}/edit",
                                  f"/components/{HUGE}/build-source",
                                  f"/components/new/repositories?registry_id={HUGE}",
                                  f"/components/new/tags?registry_id={HUGE}&repo=x",
                                  f"/components/new?registry_id={HUGE}&repo=team/demo&tag=v1"])
def test_ids_beyond_64_bits_are_not_found_or_a_field_error(client, auth, path):
    auth.signed_in()
    r = client.get(path)
    assert r.status_code in (200, 404, 422), (path, r.status_code)
    if r.status_code != 404:
        assert "Choose one of your team" in r.get_data(as_text=True)


def test_webhook_ids_beyond_64_bits_are_404(client):
    for kind in ("components", "registries"):
        r = client.post(f"/hooks/{kind}/{HUGE}/token", json={"repository": "a/b", "tag": "v1"})
        assert r.status_code == 404 and r.is_json


def test_registry_source_without_a_registry_is_a_field_error(client, auth, app):
    auth.signed_in()
    r = client.post("/components/new", data={"source": "registry", "registry_id": "", "image": "team/demo",
                                             "tag": "v1", "name": "demo", "application": "shop",
                                             "replicas": "1", "memory_mb": "64"})
    assert r.status_code == 422
    assert "Choose one of your team" in field_error(r.get_data(as_text=True), "registry_id")
    with app.app_context():
        assert db.session.scalar(select(func.count(Component.id))) == 0  # not a docker.io/team/demo


def test_a_delivery_without_the_secret_cannot_be_replayed(client, auth, app, make_registry, make_component):
    auth.signed_in()
    rid, token = make_registry()
    with app.app_context():
        endpoints.set_webhook_secret(db.session.get(endpoints.Registry, rid), "s3cret-value", clear=False)
        db.session.commit()
    r = client.post(f"/hooks/registries/{rid}/{token}", json={"repository": "team/demo", "tag": "v1"})
    assert r.status_code == 202
    with app.app_context():
        delivery = db.session.scalar(select(WebhookDelivery))
        assert not delivery.authenticated and "signature wrong" in delivery.summary
        delivery_id = delivery.id
    r = client.post(f"/components/deliveries/{delivery_id}/replay", follow_redirects=True)
    assert "cannot be replayed" in r.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(WebhookDelivery.id))) == 1


def test_private_addresses_are_refused_unless_allowed(client, auth, app, misbehaving):
    """With BERTH_ALLOW_PRIVATE_REGISTRIES off (production's default), "test connection" cannot make
    Berth reach loopback or link-local services (cloud metadata), and nothing is sent there."""
    from config import load

    assert load({"BERTH_ENV": "production", "BERTH_SECRET_KEY": "k" * 40,
                 "BERTH_DATABASE_URL": "sqlite://"})["BERTH_ALLOW_PRIVATE_REGISTRIES"] is False
    assert load({})["BERTH_ALLOW_PRIVATE_REGISTRIES"] is True  # make run: local registries work
    app.config["BERTH_ALLOW_PRIVATE_REGISTRIES"] = False
    auth.signed_in()
    calls = len(misbehaving.server.calls)
    for url in (misbehaving.url + "/html", "http://169.254.169.254", "http://[::1]:9", "http://10.0.0.1:5000"):
        r = client.post("/registries/test", data={"kind": "registry", "name": "x", "url": url})
        assert r.status_code < 500
        assert "private or local address" in r.get_data(as_text=True), url
    assert len(misbehaving.server.calls) == calls  # not one request reached the loopback service
    assert "Welcome" not in r.get_data(as_text=True)


FAULTS = ["html", "huge", "badlink", "limited", "soon", "deep", "longtag", "looplink", "junktags", "odd"]


@pytest.mark.parametrize("fault", FAULTS)
def test_every_page_that_asks_a_broken_registry_answers_with_a_message(client, auth, app, misbehaving,
                                                                        make_registry, make_component, fault):
    """Test connection, browse, tag search, a tag's row, the create form's prefill and the rule preview,
    against a registry that answers HTML, 50 MB, broken or looping Links, 429s, deep JSON, junk tags
    or manifests of the wrong types: never a 5xx."""
    auth.signed_in()
    url = f"{misbehaving.url}/{fault}"
    rid, _ = make_registry(url=url, name=fault)
    cid = make_component(rid, image="team/x", tag="size", name=f"c-{fault}", release=False,
                         trigger_kind="regex", trigger_pattern=".*")
    pages = [("post", "/registries/test", {"kind": "registry", "name": "t", "url": url}),
             ("post", f"/registries/{rid}/test", {}),
             ("get", f"/registries/{rid}/?q=team", None),
             ("get", f"/registries/{rid}/repository?repo=team/x&q=1", None),
             ("get", f"/registries/{rid}/tag?repo=team/x&tag=size", None),
             ("get", f"/components/new?registry_id={rid}&repo=team/x&tag=size", None),
             ("get", f"/components/new/tags?registry_id={rid}&repo=team/x", None),
             ("get", f"/components/{cid}/build-source/preview?trigger_kind=semver&trigger_pattern=%3E%3D1", None)]
    for method, path, data in pages:
        r = getattr(client, method)(path, data=data) if data is not None else getattr(client, method)(path)
        assert r.status_code < 500, (fault, path, r.status_code)


@pytest.mark.registry
def test_a_poll_cycle_over_every_broken_registry_still_deploys_the_healthy_one(app, misbehaving, registries,
                                                                              make_registry, make_component):
    from services.components import releases
    from services.delivery.polling import poll_cycle
    from tests.fixtures.images import Image

    broken = {}
    for fault in FAULTS:
        rid, _ = make_registry(url=f"{misbehaving.url}/{fault}", name=fault)
        make_component(rid, image="team/x", tag="size", name=f"same-{fault}", release=False, auto_deploy=True,
                       digest="sha256:" + "0" * 64)
        make_component(rid, image="team/x", tag="1.0.0", name=f"semver-{fault}", release=False, auto_deploy=True,
                       trigger_kind="semver", trigger_pattern=">=1.0.0", digest="sha256:" + "0" * 64)
        broken[fault] = rid
    good, _ = make_registry(url=registries.basic.url, name="good")
    pusher = registries.pusher(registries.basic)
    first = pusher.push("team/allfaults", "latest", Image(content="all faults 1"))
    cid = make_component(good, image="team/allfaults", tag="latest", name="healthy", release=False,
                         auto_deploy=True, digest=first)
    second = pusher.push("team/allfaults", "latest", Image(content="all faults 2"))
    with app.app_context():
        report = poll_cycle()  # some broken registries do name a digest (they answer 200 to anything)
        assert releases.latest_release(db.session.get(Component, cid)).digest == second, report
        for fault, rid in broken.items():
            assert db.session.get(Registry, rid).last_poll_at is not None, fault
