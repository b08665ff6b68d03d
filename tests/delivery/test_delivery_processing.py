"""Processing a batch of stored deliveries: each decided on its own, and those that can deploy nothing
(pushes to repositories no component deploys, ignored events, bodies not understood) written together."""
from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError

from models import Component, DeliveryOutcome, Registry, Release, WebhookDelivery, db
from services.delivery import deliveries, endpoints
from tests.helpers import create_component, create_registry, wait_for

NOTIFICATIONS = Path(__file__).resolve().parents[1] / "data" / "distribution-notifications"


def _registry_with_component(make_registry, make_component) -> tuple[int, int]:
    """A registry and one component on it deploying team/demo:v1 ("same tag only")."""
    rid, _ = make_registry(credentials=False)
    return rid, make_component(rid, name="demo", release=False, auto_deploy=True)


def _store(app, kind: str, object_id: int, body: bytes, content_type="application/json") -> int:
    with app.app_context(), app.test_request_context(headers={"Content-Type": content_type}):
        table = Registry if kind == "registry" else Component
        obj = db.session.get(table, object_id)
        target = endpoints.find_endpoint(kind, object_id, obj.webhook_token)
        delivery_id = deliveries.receive(target, {"Content-Type": content_type}, body)
        db.session.commit()
        return delivery_id


def _push(repository: str, tag: str) -> bytes:
    return json.dumps({"repository": repository, "tag": tag}).encode()


def _ended(app, delivery_id: int) -> tuple[str, str, list[tuple[str, str]]]:
    with app.app_context():
        d = db.session.get(WebhookDelivery, delivery_id)
        return d.status, d.summary, [(o.outcome, o.reason) for o in d.outcomes]


def _count_commits(app):
    commits = []
    with app.app_context():
        event.listen(db.engine, "commit", lambda conn: commits.append(1))
    return commits


def test_a_batch_decides_every_kind_of_delivery(app, make_registry, make_component):
    rid, cid = _registry_with_component(make_registry, make_component)
    pull = (NOTIFICATIONS / "15-pull-oci.image.manifest.v1-v5.2.json").read_bytes()
    ids = {
        "unwatched": _store(app, "registry", rid, _push("team/other", "v1")),
        "watched": _store(app, "registry", rid, _push("Team/Demo", "v2")),  # case differs: still watched
        "pull": _store(app, "registry", rid, pull, "application/vnd.docker.distribution.events.v1+json"),
        "component": _store(app, "component", cid, _push("team/other", "v9")),
    }
    with app.app_context():  # a body intake would refuse, as an older Berth may have stored it
        garbage = WebhookDelivery(team_id=db.session.get(Registry, rid).team_id, registry_id=rid, source="webhook",
                                  headers={"Content-Type": "application/json"}, body="{not json")
        db.session.add(garbage)
        db.session.commit()
        ids["garbage"] = garbage.id

    with app.app_context():
        deliveries.process(list(ids.values()))

    status, summary, outcomes = _ended(app, ids["unwatched"])
    assert status == "done" and summary == "generic: 1 event(s); 0 deploy(s), 1 ignored."
    assert outcomes == [("ignored", "no component deploys repository team/other")]
    status, _, outcomes = _ended(app, ids["watched"])
    assert status == "done" and len(outcomes) == 1 and outcomes[0][0] == "ignored"
    assert "v2" in outcomes[0][1] and "no component" not in outcomes[0][1]  # the component's rule said no
    status, _, outcomes = _ended(app, ids["pull"])
    assert status == "done" and outcomes and all(o == "ignored" and "pull" in r for o, r in outcomes)
    status, _, outcomes = _ended(app, ids["component"])
    assert status == "done" and outcomes == [
        ("ignored", "repository team/other differs from the component's team/demo")]
    status, summary, outcomes = _ended(app, ids["garbage"])
    assert status == "done" and summary.startswith("Not understood") and outcomes == []


def test_deliveries_that_deploy_nothing_share_one_write(app, make_registry, make_component):
    rid, _ = _registry_with_component(make_registry, make_component)
    ids = [_store(app, "registry", rid, _push(f"team/other{i}", "v1")) for i in range(20)]
    commits = _count_commits(app)
    with app.app_context():
        deliveries.process(ids)
        done = db.session.scalar(select(func.count()).where(WebhookDelivery.status == "done"))
        recorded = db.session.scalar(select(func.count(DeliveryOutcome.id)))
    assert done == 20 and recorded == 20
    assert len(commits) == 2  # the claim (with the look-up of watched repositories), the outcomes and finishes


def test_a_conflict_on_the_shared_write_leaves_nothing_half_written(app, make_registry, make_component):
    rid, _ = _registry_with_component(make_registry, make_component)
    ids = [_store(app, "registry", rid, _push(f"team/other{i}", "v1")) for i in range(5)]
    conflicts = []

    def locked_once(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("UPDATE webhook_deliveries") and "processed_at" in statement and not conflicts:
            conflicts.append(statement)
            raise OperationalError(statement, parameters, Exception("database is locked"))

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", locked_once)
        deliveries.process(ids)  # the outcomes were inserted, then the finish failed: all rolled back
        assert conflicts
        assert db.session.scalar(select(func.count(DeliveryOutcome.id))) == 0
        statuses = set(db.session.scalars(select(WebhookDelivery.status)))
        assert statuses == {"pending"}  # the sweep picks them up again
        db.session.remove()
        deliveries.process(ids)
        assert set(db.session.scalars(select(WebhookDelivery.status))) == {"done"}
        assert db.session.scalar(select(func.count(DeliveryOutcome.id))) == 5


def _batched_notification(watched_event: dict, others: int) -> bytes:
    """One Distribution notification envelope of `others` real captured events for repositories no
    component deploys (pulls and pushes, as a busy registry batches them) and the watched push last."""
    captured = [json.loads((NOTIFICATIONS / name).read_text())["events"][0] for name in (
        "11-push-oci.image.manifest.v1-v5.2.json", "12-push-docker.distribution.manifest.v2-latest.json",
        "15-pull-oci.image.manifest.v1-v5.2.json")]
    events = []
    for i in range(others):
        event = json.loads(json.dumps(captured[i % len(captured)]))
        event["id"] = f"batched-{i}"
        event["target"]["repository"] = f"team/other-{i}"
        events.append(event)
    return json.dumps({"events": [*events, watched_event]}, indent=3).encode()


def test_a_100_event_notification_is_stored_whole_and_deploys(app, client, registries):
    """A notification of 100 events is well over 64 KiB: intake accepts it (202), stores it whole, and
    the push at its end deploys the exact digest."""
    digest = registries.digests[f"{registries.basic.port}/team/demo:v1.0"]
    rid, token = create_registry(app, registries.basic.url)
    cid = create_component(app, rid, "team/demo", "v1.0", "demo", release=False, auto_deploy=True)
    push = json.loads((NOTIFICATIONS / "11-push-oci.image.manifest.v1-v5.2.json").read_text())["events"][0]
    push["target"].update(repository="team/demo", tag="v1.0", digest=digest)
    body = _batched_notification(push, 99)
    assert len(json.loads(body)["events"]) == 100 and len(body) > 128 * 1024
    r = client.post(f"/hooks/registries/{rid}/{token}", data=body,
                    content_type="application/vnd.docker.distribution.events.v1+json")
    assert r.status_code == 202
    delivery_id = r.get_json()["delivery"]
    with app.app_context():
        assert db.session.get(WebhookDelivery, delivery_id).body.encode() == body
    # The app's delivery worker was handed it after the commit; wait until it is processed.
    status, _, outcomes = wait_for(lambda: (ended := _ended(app, delivery_id))[0] == "done" and ended, 60)
    assert [o for o in outcomes if o[0] == "deployed"], outcomes
    with app.app_context():
        release = db.session.scalars(select(Release).where(Release.component_id == cid)).one()
        assert release.digest == digest and release.trigger == "webhook"


def test_a_body_over_the_one_limit_is_refused_at_intake(app, client):
    rid, token = create_registry(app)
    body = b'{"repository": "team/demo", "tag": "v1", "pad": "' + b"x" * deliveries.MAX_WEBHOOK_BODY + b'"}'
    r = client.post(f"/hooks/registries/{rid}/{token}", data=body, content_type="application/json")
    assert r.status_code == 413 and "1024 KiB" in r.get_json()["error"]
    with app.app_context():
        assert db.session.scalar(select(func.count(WebhookDelivery.id))) == 0
