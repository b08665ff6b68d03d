"""The auto-deploy decision, shared by webhook deliveries and polling: does this push deploy to
this component (and make its release), or why not."""
from __future__ import annotations

import time
from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, select

from models import (
    Component,
    DeliveryOutcome,
    DeliveryStatus,
    Release,
    ReleaseStatus,
    TagSighting,
    WebhookDelivery,
    db,
    utcnow,
)
from services.components import releases
from services.delivery import triggers, webhooks
from services.oversight import approvals, notifications
from services.platform import queries
from services.registries import images
from services.registries.clients.errors import RegistryError, RegistryNotFound
from services.trust import gate, scans

# How often a decision is made again when another writer queued a release of its component meanwhile.
CONFLICT_ATTEMPTS = 3
TAG_SETTLE = (0.2, 0.5, 1.0)  # seconds between asks for a pushed tag the registry does not show yet


def _outcome(delivery, component, event, outcome, reason, release=None, digest=None) -> DeliveryOutcome:
    return DeliveryOutcome(team_id=delivery.team_id, delivery_id=delivery.id,
                           component_id=component.id if component is not None else None,
                           release_id=release.id if release is not None else None,
                           repository=(event.repository or "?")[:255], tag=(event.tag or None),
                           digest=digest or getattr(event, "digest", None), outcome=outcome, reason=reason[:500])


# Lock only this repository's components (Docker Hub's official images may be stored without library/).
_REPOSITORY_COMPONENTS = (select(Component).where(Component.registry_id == bindparam("registry_id"),
                                                  func.lower(Component.image).in_(bindparam("names", expanding=True)))
                          .order_by(Component.id).with_for_update())


def _targets(delivery, repository: str) -> list[Component]:
    if delivery.component_id is not None:
        return [db.session.get(Component, delivery.component_id, with_for_update=True)]
    candidates = db.session.scalars(_REPOSITORY_COMPONENTS, {
        "registry_id": delivery.registry_id, "names": sorted(images.candidate_names(repository))}).all()
    return [c for c in candidates if images.component_repository(c).lower() == repository.lower()]


def outcomes(delivery, source, event, targets: list[Component] | None = None):
    """One outcome per component this event is for; `targets` when already known."""
    if isinstance(event, webhooks.Ignored):
        return [_outcome(delivery, None, event, "ignored", event.reason)]
    if targets is None:
        targets = _targets(delivery, event.repository)
    if not targets:
        return [_outcome(delivery, None, event, "ignored", f"no component deploys repository {event.repository}")]
    return [decide(delivery, source, component, event) for component in targets]


def _reference_tag(component: Component) -> str:
    """The tag we compare against: the newest release in flight or running, else the component's."""
    latest = releases.newest(component, Release.status.in_(
        [ReleaseStatus.PENDING, ReleaseStatus.DEPLOYING, ReleaseStatus.RUNNING]))
    return latest.tag if latest is not None else component.tag


def decide(delivery, source: str, component: Component, event: webhooks.PushEvent,
           trigger: str = "webhook") -> DeliveryOutcome:
    """Deploy this push to this component, or say why not."""
    def ignored(reason, digest=None):
        return _outcome(delivery, component, event, "ignored", reason, digest=digest)

    seen = component.release_seq  # read before anything is decided: see releases.queue_release
    if not component.auto_deploy:
        return ignored("auto-deploy is off for this component")
    if component.paused_reason:
        return ignored(f"auto-deploy paused: {component.paused_reason}")
    expected = images.component_repository(component)
    if event.repository.lower() != expected.lower():
        return ignored(f"repository {event.repository} differs from the component's {expected}")
    rule = triggers.Rule.of(component)
    ok, why = triggers.matches(rule, event.tag, component.tag)
    if not ok:
        return ignored(why)
    # Payloads are not trusted blindly: ask the registry what the tag points to now. A registry may
    # notify before the tag answers (Distribution stores the manifest, notifies, then links the tag),
    # so a pushed tag that is not there yet is asked for again a few times first.
    pauses = list(TAG_SETTLE if trigger == "webhook" else ())
    while True:
        try:
            source_ = images.source_for(component.team_id, component.source_registry, component.image)
            digest = source_.client.manifest_digest(source_.repository, event.tag)
            break
        except RegistryNotFound:
            if not pauses:
                return ignored(f"tag {event.tag} is not in the registry (any more)")
            time.sleep(pauses.pop(0))
        except RegistryError as e:
            return ignored(f"could not check the tag with the registry, so nothing was deployed: {e.message}")
    bad = releases.is_bad(component, digest)
    if bad is not None:
        return ignored(f"{digest[:19]} is marked bad (release #{bad['release']} of {bad['tag']} failed and was "
                       "rolled back); a person must clear the mark before it deploys again", digest)
    # A redelivered event (or a poll finding the same change again) makes no second release;
    # only an explicit replay retries a digest whose release failed.
    blocking = [ReleaseStatus.PENDING, ReleaseStatus.DEPLOYING, ReleaseStatus.RUNNING]
    if not (delivery.headers or {}).get("X-Berth-Replay-Of"):
        blocking.append(ReleaseStatus.FAILED)
    same = releases.newest(component, Release.digest == digest, Release.tag == event.tag,
                           Release.status.in_(blocking))
    if same is not None:
        return ignored(f"duplicate: release #{same.id} already has {event.tag} at {digest[:19]} ({same.status})",
                       digest)
    reference_tag = _reference_tag(component)
    if rule.kind != "same_tag" and rule.no_downgrade and component.digest and event.tag != reference_tag:
        is_older = triggers.older(event.tag, reference_tag)
        if is_older is None:
            try:
                created = (source_.client.image_details(source_.repository, event.tag).created,
                           source_.client.image_details(source_.repository, reference_tag).created)
                is_older = triggers.older(event.tag, reference_tag, created)
            except RegistryError:
                is_older = None
        if is_older:
            return ignored(f"{event.tag} is older than {reference_tag}, which is running or deploying "
                           "(never deploy an older version)", digest)
    wait = waiting(component.id, component.require_platform, component.cooldown_minutes, source_, event.tag,
                   digest)
    if wait:
        return ignored(wait, digest)
    refused = gate.refusal(component, digest, source_, scans.START)
    if refused is not None:
        return _outcome(delivery, component, event, "refused", refused, digest=digest)
    if component.approvals_required > 0 and trigger in ("webhook", "poll"):
        asked = next((a for a in approvals.pending(component) if a.digest == digest and a.tag == event.tag), None)
        if asked is not None:
            return ignored(f"duplicate: approval #{asked.id} for {event.tag} is pending", digest)
        approval = approvals.request(component, event.tag, digest, f"{trigger} ({source})")
        return _outcome(delivery, component, event, "awaiting", f"awaiting approval #{approval.id} "
                        f"({approval.required} needed, until {approval.expires_at:%Y-%m-%d %H:%M} UTC): {why}",
                        digest=digest)
    release = releases.queue_release(component, trigger, f"{trigger} ({source})", tag=event.tag, digest=digest,
                                       expected_seq=seen)
    if digest != event.digest and event.digest:
        why += f"; the registry says the tag is now {digest[:19]}, which was deployed"
    return _outcome(delivery, component, event, "deployed", f"deployed: {why}", release=release, digest=digest)




def announce(outcomes: list[DeliveryOutcome]) -> None:
    """Tell the channels that want it of each push ignored for a component (recorded outcomes only),
    and of each push the trust policy refused. A push to a repository many components deploy is
    ignored by most of them: the channels are read once per team, and nothing more is read when none
    wants the event."""
    for o in outcomes:
        if o.outcome == "refused" and o.component_id is not None:
            component = db.session.get(Component, o.component_id)
            notifications.notify(o.team_id, "autodeploy.refused", f"{component.name}: push of {o.tag} refused",
                                 {"component": component.name, "tag": o.tag, "digest": o.digest,
                                  "outcome": "refused", "reason": o.reason},
                                 notifications.external_link("components.detail", component_id=component.id))
    ignored = [o for o in outcomes if o.outcome == "ignored" and o.component_id is not None]
    wanting = {team_id: bool(notifications.channels_wanting(team_id, "autodeploy.ignored"))
               for team_id in {o.team_id for o in ignored}}
    for o in ignored:
        if wanting[o.team_id]:
            component = db.session.get(Component, o.component_id)
            notifications.notify(o.team_id, "autodeploy.ignored", f"{component.name}: push of {o.tag} ignored",
                                 {"component": component.name, "tag": o.tag, "digest": o.digest,
                                  "outcome": "ignored", "reason": o.reason},
                                 notifications.external_link("components.detail", component_id=component.id))


def first_seen(component_id: int, tag: str, digest: str, record: bool = True) -> datetime | None:
    """When Berth first saw this tag at this digest for the component (now, if this is the first
    time; with `record=False`, None). One row per sighting on any database: an insert that yields
    to an existing row."""
    if record:
        db.session.execute(queries.upsert(TagSighting).values(
            component_id=component_id, tag=tag[:128], digest=digest, first_seen=utcnow()).on_conflict_do_nothing())
    return db.session.scalar(select(TagSighting.first_seen).where(
        TagSighting.component_id == component_id, TagSighting.tag == tag[:128], TagSighting.digest == digest))


def waiting(component_id: int, platform: str | None, cooldown: int | None, source_, tag: str, digest: str,
            record: bool = True) -> str | None:
    """Why a tag the rule accepts must wait (the platform is missing, the cooldown runs), or None.
    Reasons are stable sentences: a poll that finds the same wait again records nothing new."""
    if platform:
        try:
            platforms = source_.client.image_details(source_.repository, tag).platforms
        except RegistryError as e:
            return f"waiting: could not read the platforms of {tag} ({e.message})"
        if platform not in platforms:
            return (f"waiting: {tag} ({digest[:19]}) has no {platform} image (it has "
                    f"{', '.join(platforms) or 'no platform listed'}); it deploys when a push adds one")
    if cooldown:
        seen = first_seen(component_id, tag, digest, record)
        if seen is None:
            return f"waiting: Berth has not seen {tag} pushed yet; its {cooldown}-minute cooldown starts when it does"
        until = seen + timedelta(minutes=cooldown)
        if utcnow() < until:
            return (f"waiting: {tag} was first seen at {seen:%Y-%m-%d %H:%M} UTC; it deploys after "
                    f"{until:%H:%M} UTC (cooldown {cooldown} min)")
    return None


def reevaluate(component: Component, by: str) -> DeliveryOutcome | None:
    """After auto-deploy resumes: decide once for the newest tag the rule picks now (or the
    component's tag when it follows one tag), recorded as a delivery like any push."""
    source_ = images.source_for(component.team_id, component.source_registry,
                                component.image if component.source_registry else f"{component.image}:{component.tag}")
    rule = triggers.Rule.of(component)
    if rule.kind == "same_tag":
        tag = component.tag
    else:
        tags = source_.client.tag_list(source_.repository).names
        tag = triggers.newest([t for t in tags if triggers.matches(rule, t, component.tag)[0]])
        if tag is None:
            return None
    digest = source_.client.manifest_digest(source_.repository, tag)
    if digest == component.digest and tag == component.tag:
        return None
    delivery = WebhookDelivery(team_id=component.team_id, registry_id=component.registry_id,
                               component_id=component.id, source="resume", headers={}, body="",
                               status=DeliveryStatus.DONE, processed_at=utcnow(),
                               summary=f"auto-deploy resumed by {by}: newest matching tag {tag}"[:1000])
    db.session.add(delivery)
    db.session.flush()
    outcome = decide(delivery, "resume", component, webhooks.PushEvent(source_.repository, tag, digest),
                     trigger="resume")
    db.session.add(outcome)
    return outcome
