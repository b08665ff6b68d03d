"""/api/v1 operations: thin views over the same services as the pages, acting as the token's user
in the token's team (404 for another team's ids), audited under the token's name."""
from __future__ import annotations

import hashlib
import json
from dataclasses import replace

from flask import abort, current_app, request

from blueprints.api import schemas as s
from blueprints.api.core import ApiError, caller, document, operation
from blueprints.components.blueprint import may_act
from blueprints.scope import get_team_object_or_404
from models import Approval, Component, Environment, Promotion, Registry, Release, ReleaseStatus
from services.components import components, environments, listing, operations, promotions, releases, settings
from services.components.releases import TrustRefused
from services.deploy.drivers.spec import Port
from services.oversight import approvals
from services.registries import registries

DONE = {ReleaseStatus.RUNNING, ReleaseStatus.FAILED, ReleaseStatus.SUPERSEDED, ReleaseStatus.STOPPED,
        ReleaseStatus.CANCELLED}


def _release(r: Release) -> s.Release:
    return s.Release(id=r.id, component_id=r.component_id, seq=r.seq, tag=r.tag, digest=r.digest, status=r.status,
                     trigger=r.trigger, triggered_by=r.triggered_by, message=r.message, created_at=r.created_at,
                     finished_at=r.finished_at, done=r.status in DONE)


def _state(c: Component, latest: Release | None) -> str:
    if c.stopped:
        return "stopped"
    if latest is None:
        return "never deployed"
    return "deploying" if latest.status in (ReleaseStatus.PENDING, ReleaseStatus.DEPLOYING) else latest.status


def _component(c: Component, latest: Release | None) -> dict:
    target = c.env_target
    return dict(id=c.id, name=c.name, application=c.application.name, image=c.image, tag=c.tag,
                registry_id=c.registry_id, digest=c.digest, state=_state(c, latest),
                environment=target.environment.name if target is not None else None, base_id=c.base_id,
                auto_deploy=c.auto_deploy, replicas=c.replicas, memory_mb=c.memory_mb,
                cpu_millicores=c.cpu_millicores, latest_release=_release(latest) if latest is not None else None)


def etag_of(c: Component) -> str:
    """Changes whenever the component's settings, name or application do."""
    text = json.dumps([settings.snapshot(c), c.name, c.application.name, c.stopped], sort_keys=True, default=str)
    return '"' + hashlib.sha256(text.encode()).hexdigest()[:32] + '"'


def _detail(c: Component) -> tuple[s.ComponentDetail, dict]:
    etag = etag_of(c)
    return s.ComponentDetail(**_component(c, releases.latest_release(c)), env_names=[k for k, _v in c.env or []],
                             etag=etag), {"ETag": etag}


def _actionable(component_id: int) -> Component:
    """A component of the token's team that the token's user may deploy by hand."""
    component = get_team_object_or_404(Component, component_id)
    may_act(component)
    return component


def _pages(items: list, limit: int, key) -> tuple[list, int | None]:
    """(this page's items, the next cursor or None) from `limit` + 1 items read."""
    return items[:limit], key(items[limit - 1]) if len(items) > limit else None


# -- the document ----------------------------------------------------------------------------------
@operation("GET", "/openapi.json", summary="This API's OpenAPI 3.1 document", scope=None, tags=("meta",))
def openapi():
    return document(request.host_url.rstrip("/") + "/")


# -- components ------------------------------------------------------------------------------------
@operation("GET", "/components", summary="The team's components (environment rows too) with their latest release",
           query=s.ComponentQuery, response=s.ComponentList, tags=("components",))
def list_components(query: s.ComponentQuery):
    rows = listing.components_after(caller().team.id, query.cursor or 0, query.limit + 1, query.application or "")
    page, cursor = _pages(rows, query.limit, lambda row: row.component.id)
    return s.ComponentList(items=[_component(r.component, r.latest) for r in page], next_cursor=cursor)


@operation("POST", "/components", summary="Create a component from an image (its first release starts)",
           scope="admin", body=s.ComponentCreate, response=s.ComponentDetail, status=201, errors=(409, 502),
           tags=("components",))
def create_component(body: s.ComponentCreate):
    data = components.ComponentInput(
        name=body.name, application=body.application, registry_id=body.registry_id, image=body.image, tag=body.tag,
        replicas=body.replicas, memory_mb=body.memory_mb, cpu_millicores=body.cpu_millicores,
        env=sorted(body.env.items()), ports=[Port(p.port, p.protocol, p.expose) for p in body.ports])
    return _detail(components.create_component(caller().team, data, caller().actor))


@operation("GET", "/components/<int:component_id>", summary="One component, its settings' ETag and latest release",
           response=s.ComponentDetail, tags=("components",))
def get_component(component_id: int):
    return _detail(get_team_object_or_404(Component, component_id))


@operation("PATCH", "/components/<int:component_id>", summary="Change settings (If-Match: the ETag read)",
           scope="deploy", body=s.ComponentEdit, response=s.Edited, errors=(409, 412, 428), tags=("components",))
def edit_component(component_id: int, body: s.ComponentEdit):
    component = _actionable(component_id)
    if component.base_id is not None:
        raise ApiError(409, "conflict", f"{component.name} is one environment's row of {component.base.name}: edit "
                                        f"{component.base.name} (or the environment's overrides on its page).")
    wanted = request.headers.get("If-Match")
    if not wanted:
        raise ApiError(428, "precondition_required", "Send If-Match with the component's ETag (GET it first).")
    components.lock_component(component)  # two edits at once: the second sees the first's ETag
    if wanted.strip() != etag_of(component):
        raise ApiError(412, "precondition_failed", "The component changed since you read it: GET it again.")
    data = components.input_of(component)
    changed = body.model_dump(exclude_unset=True, exclude={"deploy"})
    if "env" in changed:
        changed["env"] = sorted((body.env or {}).items())
    release, changes = components.update_component(component, replace(data, **changed), caller().actor,
                                                   deploy=body.deploy)
    detail, headers = _detail(component)
    return s.Edited(component=detail, changes=changes, release=_release(release) if release else None), headers


@operation("POST", "/components/<int:component_id>/deploy", summary="Deploy a tag or an exact digest", scope="deploy",
           body=s.Deploy, response=s.Release, status=202, errors=(409, 502), tags=("components",))
def deploy(component_id: int, body: s.Deploy):
    component = _actionable(component_id)
    by = caller().actor
    if body.tag is not None and body.tag != component.tag:
        retagged = replace(components.input_of(component), tag=body.tag)
        release, _changes = components.update_component(component, retagged, by, deploy=body.digest is None)
        if body.digest is None:
            return _release(release)
    if body.digest is not None:
        return _release(operations.deploy_digest(component, body.digest, by))
    return _release(operations.redeploy(component, by))


@operation("POST", "/components/<int:component_id>/rollback", summary="Roll back to one of its releases",
           scope="deploy", body=s.Rollback, response=s.Release, status=202, errors=(409,), tags=("components",))
def rollback(component_id: int, body: s.Rollback):
    component = _actionable(component_id)
    target = releases.of_component(component, body.release_id)
    if target is None:
        raise ApiError(422, "invalid", "Some fields are not valid.", {"release_id": "Not a release of this component."})
    override = body.override_reason.strip() if body.override_reason else None
    if override and not caller().is_owner:
        raise ApiError(403, "forbidden", "Only an owner may roll back to a digest the trust policy refuses.")
    try:
        return _release(operations.rollback(target, caller().actor, override=override))
    except TrustRefused as e:
        raise ApiError(409, "trust_refused", e.message + " An owner may send override_reason.") from None


@operation("POST", "/components/<int:component_id>/start", summary="Start a stopped component", scope="deploy",
           response=s.Release, status=202, errors=(409,), tags=("components",))
def start(component_id: int):
    return _release(operations.start(_actionable(component_id), caller().actor))


@operation("POST", "/components/<int:component_id>/stop", summary="Stop it (its release history stays)",
           scope="deploy", response=s.Done, errors=(409,), tags=("components",))
def stop(component_id: int):
    component = _actionable(component_id)
    operations.stop(component, caller().actor)
    return s.Done(message=f"Stopped {component.name}.")


@operation("POST", "/components/<int:component_id>/restart", summary="Restart what runs", scope="deploy",
           response=s.Done, errors=(409,), tags=("components",))
def restart(component_id: int):
    component = _actionable(component_id)
    operations.restart(component, caller().actor)
    return s.Done(message=f"Restarting {component.name}.")


@operation("POST", "/components/<int:component_id>/scale", summary="Run this many replicas of what runs",
           scope="deploy", body=s.Scale, response=s.Release, status=202, errors=(409,), tags=("components",))
def scale(component_id: int, body: s.Scale):
    return _release(operations.scale(_actionable(component_id), body.replicas, caller().actor))


# -- releases --------------------------------------------------------------------------------------
@operation("GET", "/components/<int:component_id>/releases", summary="Its releases, newest first",
           query=s.ListQuery, response=s.ReleaseList, tags=("releases",))
def list_releases(component_id: int, query: s.ListQuery):
    component = get_team_object_or_404(Component, component_id)
    found = listing.releases_after(component.id, query.cursor, query.limit + 1)
    page, cursor = _pages(found, query.limit, lambda r: r.id)
    return s.ReleaseList(items=[_release(r) for r in page], next_cursor=cursor)


@operation("GET", "/releases/<int:release_id>", summary="A release; with wait, answers once it ends (at most 60 s)",
           query=s.ReleaseQuery, response=s.Release, tags=("releases",))
def get_release(release_id: int, query: s.ReleaseQuery):
    seconds = min(query.wait, current_app.config["BERTH_API_LONG_POLL_SECONDS"])
    release = releases.wait_for_end(get_team_object_or_404(Release, release_id), seconds)
    if release is None:
        abort(404)
    return _release(release)


# -- deliveries, approvals, registries -------------------------------------------------------------
@operation("GET", "/deliveries", summary="What pushes and polls meant for each component, newest first",
           query=s.ListQuery, response=s.DeliveryList, tags=("deliveries",))
def list_deliveries(query: s.ListQuery):
    found = listing.outcomes_before(caller().team.id, query.cursor, query.limit + 1)
    page, cursor = _pages(found, query.limit, lambda o: o.id)
    return s.DeliveryList(items=[s.Delivery(id=o.id, component_id=o.component_id, tag=o.tag, digest=o.digest,
                                            outcome=o.outcome, reason=o.reason, at=o.created_at) for o in page],
                          next_cursor=cursor)


def _approval(a: Approval) -> s.Approval:
    return s.Approval(id=a.id, component_id=a.component_id, tag=a.tag, digest=a.digest, status=a.status,
                      required=a.required, approvers=list(a.approvers or []), owners_only=a.owners_only,
                      expires_at=a.expires_at, release_id=a.release_id)


@operation("GET", "/approvals", summary="The team's approvals, newest first", query=s.ApprovalQuery,
           response=s.ApprovalList, tags=("approvals",))
def list_approvals(query: s.ApprovalQuery):
    found = approvals.approvals_before(caller().team.id, query.cursor, query.limit + 1, query.status)
    page, cursor = _pages(found, query.limit, lambda a: a.id)
    return s.ApprovalList(items=[_approval(a) for a in page], next_cursor=cursor)


@operation("POST", "/approvals/<int:approval_id>/approve", summary="Approve a deploy waiting for people",
           scope="approve", response=s.Approval, errors=(409,), tags=("approvals",))
def approve(approval_id: int):
    approval = get_team_object_or_404(Approval, approval_id)
    return _approval(approvals.approve(approval, caller().user, actor=caller().actor))


@operation("POST", "/approvals/<int:approval_id>/reject", summary="Reject a deploy waiting for people",
           scope="approve", body=s.Reject, response=s.Approval, errors=(409,), tags=("approvals",))
def reject(approval_id: int, body: s.Reject):
    approval = get_team_object_or_404(Approval, approval_id)
    return _approval(approvals.reject(approval, caller().user, body.note, actor=caller().actor))


@operation("GET", "/registries", summary="The team's registries", response=s.RegistryList, tags=("registries",))
def list_registries():
    return s.RegistryList(items=[s.Registry(id=r.id, name=r.name, kind=r.kind, url=r.url)
                                 for r in registries.of_team(caller().team.id)])


@operation("GET", "/registries/<int:registry_id>/tags", summary="A repository's tags, newest first",
           query=s.TagQuery, response=s.TagList, errors=(502,), tags=("registries",))
def list_tags(registry_id: int, query: s.TagQuery):
    registry = get_team_object_or_404(Registry, registry_id)
    shown, matched, _total = registries.search_tags(registry, query.repository, query.q, query.limit)
    return s.TagList(items=[s.TagItem(name=t.name, digest=t.digest, created=t.created) for t in shown],
                     matched=matched)


# -- environments and promotions -------------------------------------------------------------------
@operation("GET", "/environments", summary="The team's environments", response=s.EnvironmentList,
           tags=("environments",))
def list_environments():
    return s.EnvironmentList(items=[s.Environment(
        id=e.id, name=e.name, upstream_id=e.upstream_id, auto_deploy=e.auto_deploy, auto_promote=e.auto_promote,
        approvals_required=e.approvals_required, owners_only=e.owners_only)
        for e in environments.team_environments(caller().team.id)])


def _promotion(p: Promotion) -> s.Promotion:
    return s.Promotion(id=p.id, component_id=p.component_id, environment_id=p.environment_id, tag=p.tag,
                       digest=p.digest, status=p.status, required=p.required, approvers=list(p.approvers or []),
                       message=p.message, release_ids=list(p.release_ids or []), expires_at=p.expires_at)


@operation("POST", "/releases/<int:release_id>/promote", summary="Promote exactly this release's digest to the "
           "next environment (its gates decide when)", scope="deploy", body=s.Promote, response=s.Promotion,
           status=202, errors=(409,), tags=("environments",))
def promote(release_id: int, body: s.Promote):
    release = get_team_object_or_404(Release, release_id)
    environment = get_team_object_or_404(Environment, body.environment_id)
    return _promotion(promotions.request(release, environment, caller().actor, user=caller().user))


@operation("POST", "/promotions/<int:promotion_id>/approve", summary="Approve a promotion waiting for people",
           scope="approve", response=s.Promotion, errors=(409,), tags=("environments",))
def approve_promotion(promotion_id: int):
    promotion = get_team_object_or_404(Promotion, promotion_id)
    return _promotion(promotions.approve(promotion, caller().user, actor=caller().actor))


@operation("POST", "/promotions/<int:promotion_id>/reject", summary="Reject a promotion waiting for people",
           scope="approve", response=s.Promotion, errors=(409,), tags=("environments",))
def reject_promotion(promotion_id: int):
    promotion = get_team_object_or_404(Promotion, promotion_id)
    return _promotion(promotions.reject(promotion, caller().user, actor=caller().actor))
