"""A component's pages: the list, the component, its status fragment, releases, deliveries and logs."""
from __future__ import annotations

import time

from flask import Response, render_template, request

from blueprints.components.blueprint import (
    RECENT,
    bp,
    detail_context,
)
from blueprints.render import is_htmx, page_or_block
from blueprints.scope import current_team, get_team_object_or_404
from models import Component, ReleaseStatus
from services.components import components, listing, operations
from services.deploy.deployers import disabled_reason
from services.platform.pagination import page_number


@bp.route("/")
def index():
    """The team's components, 50 a page, filtered by name, application and state."""
    team_id = current_team().id
    args = request.args
    rows = listing.components(team_id, page_number(args.get("page")), name=args.get("name", "")[:63].strip(),
                              application=args.get("application", "")[:63], state=args.get("state", ""))
    return page_or_block("components/index.html", "results", rows=rows, first_link=operations.first_link,
                         applications=listing.application_names(team_id), states=listing.STATES)


FOLLOW_SECONDS = 600  # a followed log re-reads itself for at most this long, then offers to go on


@bp.route("/<int:component_id>")
def detail(component_id: int):
    component = get_team_object_or_404(Component, component_id, components.PAGE_LOADS)
    return render_template("components/detail.html", **detail_context(component),
                           outcomes=listing.outcomes(component_id=component.id, per_page=RECENT),
                           deploy_disabled=disabled_reason(component))


@bp.route("/<int:component_id>/status")
def status(component_id: int):
    """The card, the status and the releases together (one self-polling fragment)."""
    component = get_team_object_or_404(Component, component_id, components.PAGE_LOADS)
    outcomes = None if is_htmx() else listing.outcomes(component_id=component.id, per_page=RECENT)
    return page_or_block("components/detail.html", "live", **detail_context(component), outcomes=outcomes,
                         deploy_disabled=disabled_reason(component))


@bp.route("/<int:component_id>/releases")
def release_list(component_id: int):
    """Every release of the component, 50 a page, filtered by status."""
    component = get_team_object_or_404(Component, component_id)
    rows = listing.releases(component.id, page_number(request.args.get("page")),
                            status=request.args.get("status", ""))
    return page_or_block("components/releases.html", "results", component=component, rows=rows,
                         statuses=list(ReleaseStatus))


@bp.route("/<int:component_id>/deliveries")
def delivery_list(component_id: int):
    """What every delivery meant for the component, 50 a page, filtered by outcome and repository."""
    component = get_team_object_or_404(Component, component_id)
    rows = listing.outcomes(page_number(request.args.get("page")), component_id=component.id,
                            outcome=request.args.get("outcome", ""),
                            repository=request.args.get("repository", "")[:255])
    return page_or_block("components/deliveries.html", "results", component=component, outcomes=rows,
                         choices=listing.OUTCOMES)


@bp.route("/<int:component_id>/logs")
def logs(component_id: int):
    """The last lines of each replica; `follow` re-reads them every 2 s for a bounded time."""
    component = get_team_object_or_404(Component, component_id)
    tail = max(1, min(request.args.get("tail", 200, type=int), 5000))
    follow_until = request.args.get("until", 0, type=float)
    if request.args.get("follow") and not follow_until:
        follow_until = time.time() + FOLLOW_SECONDS
    following = follow_until > time.time()
    streams, error = operations.logs(component, tail)
    return page_or_block("components/logs.html", "streams", component=component, streams=streams, error=error,
                         tail=tail, following=following, follow_until=follow_until)


@bp.route("/<int:component_id>/logs/download")
def download_logs(component_id: int):
    component = get_team_object_or_404(Component, component_id)
    tail = max(1, min(request.args.get("tail", 5000, type=int), 100_000))
    streams, error = operations.logs(component, tail)
    text = "\n".join(f"==> {s.name} <==\n" + "\n".join(s.lines) for s in streams) if streams else (error or "")
    return Response(text + "\n", mimetype="text/plain", headers={
        "Content-Disposition": f'attachment; filename="{component.name}.log"'})
