"""Rule options against the real registry: "only when the image has my platform" (an OCI index
without it waits, a re-push that adds it deploys) and a cooldown (a tag waits until it has been
seen for N minutes, then polling deploys it); the preview says the same."""
from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select, update

from models import Component, DeliveryOutcome, Registry, Release, TagSighting, db
from services.delivery import deliveries, endpoints
from services.delivery.polling import poll_cycle
from tests.fixtures.images import Image
from tests.helpers import create_component, create_registry


def _push_event(app, registry_id: int, repository: str, tag: str) -> None:
    """A registry webhook delivery for this push, received and processed as the worker would."""
    body = json.dumps({"repository": repository, "tag": tag}).encode()
    with app.app_context(), app.test_request_context():
        token = db.session.get(Registry, registry_id).webhook_token
        endpoint = endpoints.find_endpoint("registry", registry_id, token)
        delivery_id = deliveries.receive(endpoint, {"Content-Type": "application/json"}, body)
        db.session.commit()
    with app.app_context():
        deliveries.process([delivery_id])


def _outcomes(app, cid):
    with app.app_context():
        return [(o.tag, o.outcome, o.reason) for o in db.session.scalars(
            select(DeliveryOutcome).where(DeliveryOutcome.component_id == cid).order_by(DeliveryOutcome.id))]


def _release_tags(app, cid):
    with app.app_context():
        return [r.tag for r in db.session.scalars(select(Release).where(Release.component_id == cid)
                                                  .order_by(Release.seq))]


def test_a_tag_without_the_required_platform_waits_until_a_push_adds_it(app, registries):
    rid, _ = create_registry(app, registries.basic.url)
    pusher = registries.pusher(registries.basic)
    pusher.push_index("team/multi-arch", "v1.0", arches=("amd64", "arm64"))
    cid = create_component(app, rid, "team/multi-arch", "v1.0", "arm", release=False, auto_deploy=True,
                           trigger_kind="semver", trigger_pattern="^1", require_platform="linux/arm64")
    amd_only = pusher.push_index("team/multi-arch", "v1.1", arches=("amd64",))
    _push_event(app, rid, "team/multi-arch", "v1.1")
    ((tag, outcome, reason),) = _outcomes(app, cid)
    assert (tag, outcome) == ("v1.1", "ignored")
    assert reason == (f"waiting: v1.1 ({amd_only[:19]}) has no linux/arm64 image (it has linux/amd64); "
                      "it deploys when a push adds one")
    assert _release_tags(app, cid) == []

    pusher.push_index("team/multi-arch", "v1.1", arches=("amd64", "arm64"))
    _push_event(app, rid, "team/multi-arch", "v1.1")
    assert _outcomes(app, cid)[-1][1] == "deployed"
    assert _release_tags(app, cid) == ["v1.1"]


def test_a_tag_in_its_cooldown_waits_and_polling_deploys_it_when_the_cooldown_ends(app, client, auth, registries):
    rid, _ = create_registry(app, registries.basic.url)
    pusher = registries.pusher(registries.basic)
    first = pusher.push("team/cool", "v2.0", Image(content="2.0"))
    cid = create_component(app, rid, "team/cool", "v2.0", "cool", release=False, auto_deploy=True,
                           trigger_kind="semver", trigger_pattern="^2", digest=first, cooldown_minutes=30)

    def poll():
        with app.app_context():
            db.session.execute(update(Component).where(Component.id == cid).values(last_polled_at=None))
            db.session.commit()
            return poll_cycle()
    pusher.push("team/cool", "v2.1", Image(content="2.1"))
    poll()
    ((tag, outcome, reason),) = _outcomes(app, cid)
    assert (tag, outcome) == ("v2.1", "ignored") and reason.startswith("waiting: v2.1 was first seen at ")
    assert "(cooldown 30 min)" in reason
    poll()
    assert len(_outcomes(app, cid)) == 1  # the same wait found again records nothing new

    auth.signed_in()
    html = client.get(f"/components/{cid}/build-source/preview?trigger_kind=semver&trigger_pattern=%5E2"
                      "&cooldown_minutes=30").get_data(as_text=True)
    assert "none would deploy now" in html and "waiting: v2.1 was first seen" in html

    with app.app_context():  # the cooldown ends: the sighting is 31 minutes old
        sighting = db.session.scalar(select(TagSighting).where(TagSighting.component_id == cid))
        sighting.first_seen -= timedelta(minutes=31)
        db.session.commit()
    poll()
    assert _outcomes(app, cid)[-1][:2] == ("v2.1", "deployed")
    assert _release_tags(app, cid) == ["v2.1"]


def test_preview_lists_every_tag_with_its_reason_and_pages(app, client, auth, registries):
    auth.signed_in()
    rid, _ = create_registry(app, registries.basic.url)
    pusher = registries.pusher(registries.basic)
    for tag in ["v5.0", "v5.1-rc.1", "v5.1", "v6.0", "latest"] + [f"v4.{i}" for i in range(60)]:
        pusher.push("team/preview-many", tag, Image(content=tag))
    cid = create_component(app, rid, "team/preview-many", "v5.0", "many", release=False)
    r = client.get(f"/components/{cid}/build-source/preview?trigger_kind=semver&trigger_pattern=%5E5")
    html = r.get_data(as_text=True)
    assert "2 of 65 current tags match" in html and '<strong class="mono">v5.1</strong> would deploy' in html
    assert "tag v5.1-rc.1 is a pre-release and the rule does not include pre-releases" in html
    assert "version v6.0 is not in range ^5" in html and "matches, but the newer v5.1 comes first" in html
    assert "Page 1 of 2" in html and "page=2" in html
    page2 = client.get(f"/components/{cid}/build-source/preview?trigger_kind=semver&trigger_pattern=%5E5&page=2")
    later = page2.get_data(as_text=True)
    assert "Page 2 of 2" in later and "tag latest is not a semantic version" in later  # non-versions last
    # A stale pattern error is replaced out of band by the next preview.
    bad = client.get(f"/components/{cid}/build-source/preview?trigger_kind=regex&trigger_pattern=v5.(")
    assert 'id="trigger_pattern-errors" hx-swap-oob="true"><li>This is not a regular expression RE2 accepts: ' \
           "missing ): v5.(</li>" in bad.get_data(as_text=True)
    assert 'id="trigger_pattern-errors" hx-swap-oob="true"></ul>' in html
