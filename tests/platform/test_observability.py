"""Metrics in Prometheus format that move, and logs that never carry a secret."""
from __future__ import annotations

import io
import json
import logging

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from models import Component, Registry, WebhookDelivery, db
from services.components import releases
from tests.fixtures.registry import PASSWORD, USER
from tests.helpers import wait_for


def scrape(client) -> dict[tuple, float]:
    r = client.get("/metrics")
    assert r.status_code == 200 and r.content_type.startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(r.get_data(as_text=True)):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def total(samples, name, **labels):
    return sum(v for (n, lab), v in samples.items() if n == name and all((k, v2) in lab for k, v2 in labels.items()))


@pytest.mark.registry
def test_metrics_move_with_deliveries_and_releases(client, auth, app, registries):
    auth.signed_in()
    before = scrape(client)
    r = client.post("/registries/new", data={"kind": "registry", "name": "m", "url": registries.basic.url,
                                             "username": USER, "password": PASSWORD})
    assert r.status_code == 302
    with app.app_context():
        reg = db.session.scalar(select(Registry))
        rid, token = reg.id, reg.webhook_token
    assert client.get(f"/registries/{rid}/").status_code == 200  # browsing: the saved registry's client
    r = client.post("/components/new", data={"source": "registry", "registry_id": str(rid), "image": "team/demo",
                                             "tag": "v1.0", "name": "m", "application": "a", "replicas": "1",
                                             "memory_mb": "64"})
    assert r.status_code == 302
    client.post(f"/hooks/registries/{rid}/{token}", data=json.dumps({"repository": "team/demo", "tag": "v1.0"}),
                content_type="application/json")

    def settled():
        with app.app_context():
            return db.session.scalar(select(WebhookDelivery.status)) == "done" and \
                releases.latest_release(db.session.scalar(select(Component))).status == "failed"
    wait_for(settled, 30)
    after = scrape(client)
    assert total(after, "berth_webhook_deliveries_total") == total(before, "berth_webhook_deliveries_total") + 1
    assert total(after, "berth_releases_total", trigger="manual", status="failed") == \
        total(before, "berth_releases_total", trigger="manual", status="failed") + 1
    # A saved registry's series carry its id; the connection test before saving counts as "unsaved".
    for label in (str(rid), "unsaved"):
        assert total(after, "berth_registry_requests_total", registry=label) > \
            total(before, "berth_registry_requests_total", registry=label), label
        assert total(after, "berth_registry_request_seconds_count", registry=label) > 0, label
    hosts = {lab for (n, labels), _ in after.items() if n == "berth_registry_requests_total"
             for k, lab in labels if k == "registry"}
    assert registries.basic.host not in hosts


@pytest.mark.registry
def test_logs_of_a_full_run_carry_no_secret(client, auth, app, registries, caplog):
    caplog.set_level(logging.DEBUG)
    handler = next(h for h in logging.getLogger().handlers if getattr(h, "_berth", False))
    buffer = io.StringIO()
    old_stream = handler.setStream(buffer)
    old_level = logging.getLogger().level
    logging.getLogger().setLevel(logging.DEBUG)
    try:
        auth.signed_in()
        client.post("/registries/new", data={"kind": "registry", "name": "s", "url": registries.token.url,
                                             "username": USER, "password": PASSWORD})
        with app.app_context():
            reg = db.session.scalar(select(Registry))
            rid, token = reg.id, reg.webhook_token
        client.post(f"/registries/{rid}/webhook", data={"webhook_secret": "hook-secret-value"})
        client.get(f"/registries/{rid}/repository?repo=team/demo")
        client.post("/components/new", data={"source": "registry", "registry_id": str(rid), "image": "team/demo",
                                             "tag": "v1.0", "name": "s", "application": "a", "replicas": "1",
                                             "memory_mb": "64"})
        body = json.dumps({"repository": "team/demo", "tag": "v1.0"})
        client.post(f"/hooks/registries/{rid}/{token}", data=body, content_type="application/json",
                    headers={"Authorization": "Bearer hook-secret-value"})
        client.post(f"/hooks/registries/{rid}/{token}", data=body, content_type="application/json",
                    headers={"Authorization": "Bearer wrong-guess"})
        logging.getLogger("berth.test").info("request to /hooks/registries/%s/%s with Authorization: Bearer %s "
                                             "and password=%s", rid, token, "hook-secret-value", PASSWORD)

        def processed():
            with app.app_context():
                return all(d.status == "done" for d in db.session.scalars(select(WebhookDelivery)))
        wait_for(processed, 30)
    finally:
        handler.setStream(old_stream)
        logging.getLogger().setLevel(old_level)
    text = buffer.getvalue()
    assert "registry" in text  # the run did log
    for secret in (PASSWORD, token, "hook-secret-value"):
        assert secret not in text, secret
    assert "[redacted]" in text


def test_json_log_format_is_one_object_per_line():
    from services.platform.logs import JsonFormatter

    record = logging.LogRecord("berth", logging.INFO, __file__, 1, "token=%s", ("abc123",), None)
    line = JsonFormatter().format(record)
    data = json.loads(line)
    assert data["message"] == "token=[redacted]" and "\n" not in line


def test_metrics_need_the_token_when_one_is_set(app, client):
    app.config["BERTH_METRICS_TOKEN"] = "scrape-token-123"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    r = client.get("/metrics", headers={"Authorization": "Bearer scrape-token-123"})
    assert r.status_code == 200 and b"berth_" in r.data


def test_metrics_are_off_in_production_without_a_token(app, client):
    app.config["BERTH_ENV"] = "production"
    assert client.get("/metrics").status_code == 404


def test_records_are_redacted_before_any_handler_sees_them(app):
    """gunicorn's access log has its own handler and formatter: the record itself must be clean."""
    import logging

    seen = []

    class Keep(logging.Handler):
        def emit(self, record):
            seen.append(logging.Formatter("%(message)s").format(record))
    access = logging.getLogger("gunicorn.access")
    handler = Keep()
    access.addHandler(handler)
    old_level, access.level = access.level, logging.INFO
    try:
        access.info('%(h)s "%(r)s" %(s)s', {"h": "127.0.0.1", "s": "202",
                                            "r": "POST /hooks/registries/7/AbCdEf0123456789-_token HTTP/1.1"})
        access.info("Authorization: Bearer %s", "eyJhbGciOi.secret")
    finally:
        access.removeHandler(handler)
        access.level = old_level
    assert seen and all("AbCdEf0123456789" not in line and "eyJhbGciOi" not in line for line in seen), seen
    assert "/hooks/registries/7/[redacted]" in seen[0]
