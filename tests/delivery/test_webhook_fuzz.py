"""Fuzzing the webhook endpoints (hypothesis, fixed seed, bounded examples): random and mutated
bodies, content types, nesting, sizes and secrets never get a 5xx, and whatever is stored can be
processed to an end (done or failed, never stuck)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from sqlalchemy import select

from models import Registry, WebhookDelivery, db
from services.delivery import deliveries, endpoints

# Every vendor sample (ECR through EventBridge, JFrog Artifactory and the rest), mutated byte-wise and
# retyped value-wise.
PAYLOADS = sorted((Path(__file__).resolve().parents[1] / "data" / "webhook-payloads").glob("*.json"))
SEEDS = [p.read_bytes() for p in PAYLOADS]
CONTENT_TYPES = ["application/json", "application/x-www-form-urlencoded", "text/plain",
                 "application/vnd.docker.distribution.events.v2+json", "application/cloudevents+json", ""]
SECRET = "fuzz-secret-value"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=25)


@pytest.fixture
def app_config(app_config):
    """No background delivery workers: the test processes what was stored itself, so a worker that
    claimed a delivery a moment earlier cannot leave it "processing" when the test looks."""
    app_config["BERTH_DEPLOY_WORKERS"] = 0
    return app_config


@st.composite
def bodies(draw) -> bytes:
    kind = draw(st.sampled_from(["bytes", "json", "mutated", "nested", "form", "retyped"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    if kind == "nested":
        depth = draw(st.sampled_from([1, 10, 999, 1_001, 5_000, 100_000]))  # around and past the parser
        return b'{"events": ' + b"[" * depth + b"]" * draw(st.integers(0, depth)) + b"}"
    if kind == "retyped":  # a vendor sample with a few values swapped for others of any type
        data = json.loads(draw(st.sampled_from(SEEDS)))
        for _ in range(draw(st.integers(1, 3))):
            node = data
            while isinstance(node, (dict, list)) and node and draw(st.booleans()):
                key = draw(st.sampled_from(sorted(node) if isinstance(node, dict) else range(len(node))))
                if not isinstance(node[key], (dict, list)) or not node[key]:
                    node[key] = draw(json_values)
                    break
                node = node[key]
        return json.dumps(data).encode()
    if kind == "form":
        return draw(st.binary(max_size=120)).replace(b"&", b"&repository=") + b"&tag=" + draw(st.binary(max_size=8))
    original = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 8))):  # flip, drop or insert a few bytes
        at = draw(st.integers(0, max(0, len(original) - 1)))
        action = draw(st.sampled_from(["flip", "drop", "insert"]))
        if action == "flip" and original:
            original[at] ^= 1 << draw(st.integers(0, 7))
        elif action == "drop" and original:
            del original[at]
        else:
            original[at:at] = draw(st.binary(min_size=1, max_size=4))
    return bytes(original)


@seed(20261128)
@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(body=bodies(), content_type=st.sampled_from(CONTENT_TYPES), target=st.sampled_from(["registry", "component"]),
       token_ok=st.booleans(), auth=st.sampled_from([None, f"Bearer {SECRET}", "Bearer wrong", "Bearer " + "x" * 600]))
def test_webhook_endpoints_never_answer_5xx(app, client, make_registry, make_component, body, content_type, target,
                                            token_ok, auth):
    with app.app_context():
        registry = db.session.scalar(select(Registry).where(Registry.name == "fuzz"))
    if registry is None:
        rid, _ = make_registry(name="fuzz", credentials=False)
        make_component(rid, name="fuzzed", release=False, auto_deploy=True)
        with app.app_context():
            registry = db.session.get(Registry, rid)
            endpoints.set_webhook_secret(registry, SECRET, clear=False)
            db.session.commit()
    with app.app_context():
        registry = db.session.scalar(select(Registry).where(Registry.name == "fuzz"))
        component = registry and db.session.scalar(select(endpoints.Component).where(
            endpoints.Component.registry_id == registry.id))
        obj = registry if target == "registry" else component
        url = f"/hooks/{target}s/{obj.id}/{obj.webhook_token if token_ok else obj.webhook_token[::-1] + 'x'}"
    headers = {"Authorization": auth} if auth else {}
    r = client.post(url, data=body, content_type=content_type, headers=headers)
    assert r.status_code < 500, (r.status_code, body[:200])
    assert r.is_json
    if not token_ok:
        assert r.status_code == 404
    with app.app_context():
        pending = list(db.session.scalars(select(WebhookDelivery.id).where(WebhookDelivery.status == "pending")))
        deliveries.process(pending)  # the registry at 127.0.0.1:9 refuses: outcomes say so, nothing crashes
        stuck = db.session.scalars(select(WebhookDelivery.status).where(
            WebhookDelivery.status.in_(["pending", "processing"]))).all()
    assert not stuck
