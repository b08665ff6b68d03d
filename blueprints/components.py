"""Create components from registry images, watch their releases, redeploy, roll back, stop, delete."""
from __future__ import annotations

import re
import time
from contextlib import suppress

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from blueprints.access import safe_next
from blueprints.forms import BuildSourceForm, ComponentForm, EmptyForm, ScaleForm
from blueprints.render import is_htmx, page_or_block
from blueprints.scope import current_team, get_team_object_or_404
from models import Application, Component, Registry, Release, ReleaseStatus, WebhookDelivery, db
from services.components import components, listing, operations, releases
from services.delivery import deliveries, endpoints
from services.deploy.deployers import disabled_reason
from services.deploy.drivers.spec import DeployError, HealthCheck, Port
from services.oversight import approvals, audit
from services.platform.errors import FieldErrors, ServiceError, apply_to_form
from services.registries import registries
from services.registries.clients.errors import RegistryError

bp = Blueprint("components", __name__, url_prefix="/components")
FOLLOW_SECONDS = 600  # a followed log re-reads itself for at most this long, then offers to go on


def _team_registries():
    return db.session.scalars(db.select(Registry).where(Registry.team_id == current_team().id)
                              .order_by(Registry.name)).all()


def _team_applications():
    return db.session.scalars(db.select(Application).where(Application.team_id == current_team().id)
                              .order_by(Application.name)).all()


def _form(**kwargs) -> ComponentForm:
    form = ComponentForm(**kwargs)
    form.registry_id.choices = [SelectChoice("", "— choose —")] + [
        SelectChoice(str(r.id), r.name) for r in _team_registries()]
    return form


def _suggest_name(image: str) -> str:
    last = image.split("@")[0].rsplit("/", 1)[-1].split(":")[0].lower()
    return re.sub(r"[^a-z0-9-]+", "-", last).strip("-")[:63] or "app"


def _prefill(form: ComponentForm, details) -> None:
    while len(form.ports):
        form.ports.pop_entry()
    for port, proto in details.exposed_ports:
        form.ports.append_entry({"port": port, "protocol": proto, "expose": True})
    while len(form.env):
        form.env.pop_entry()
    for name, value in details.env:
        if name not in ("PATH", "HOME", "HOSTNAME"):
            form.env.append_entry({"name": name, "value": value})


def _input(form: ComponentForm) -> components.ComponentInput:
    from_registry = form.source.data == "registry"
    registry_id = form.registry_id.data if from_registry else None
    return components.ComponentInput(
        name=(form.name.data or "").strip(), application=form.application.data or "",
        registry_id=int(registry_id) if registry_id and registry_id.isdigit() else None,
        image=(form.image.data or "").strip(), tag=(form.tag.data or "").strip(),
        replicas=form.replicas.data, memory_mb=form.memory_mb.data, cpu_millicores=form.cpu_millicores.data,
        env=[(e.form.name.data.strip(), e.form.value.data or "") for e in form.env if (e.form.name.data or "").strip()
             or e.form.value.data],
        ports=[Port(p.form.port.data, p.form.protocol.data, bool(p.form.expose.data), p.form.host_port.data,
                    (p.form.public_host.data or "").strip().lower() or None)
               for p in form.ports if p.form.port.data],
        health=_health(form), create_anyway=bool(form.create_anyway.data))


def _health(form: ComponentForm) -> HealthCheck | None:
    if form.health_kind.data not in ("http", "tcp"):
        return None
    return HealthCheck(form.health_kind.data, form.health_port.data or 0, (form.health_path.data or "/").strip(),
                       form.health_initial_delay.data or 0, form.health_period.data or 10,
                       form.health_failure_threshold.data or 3)


def _fill(form: ComponentForm, component: Component) -> None:
    """The edit form, filled with the component's saved settings (secret-like values left out)."""
    form.source.data = "registry" if component.registry_id else "reference"
    form.registry_id.data = str(component.registry_id or "")
    form.image.data, form.tag.data = component.image, component.tag
    form.name.data, form.application.data = component.name, component.application.name
    form.replicas.data, form.memory_mb.data = component.replicas, component.memory_mb
    form.cpu_millicores.data = component.cpu_millicores
    for name, value in component.env or []:
        form.env.append_entry({"name": name, "value": "" if components.SECRET_NAME.search(name) else value})
    for p in component.ports or []:
        form.ports.append_entry({"port": p["port"], "protocol": p.get("protocol", "TCP"),
                                 "expose": p.get("expose", True), "host_port": p.get("host_port"),
                                 "public_host": p.get("public_host") or ""})
    h = component.health or {}
    form.health_kind.data = h.get("kind", "none")
    form.health_port.data, form.health_path.data = h.get("port"), h.get("path") or "/"
    form.health_initial_delay.data = h.get("initial_delay", 0)
    form.health_period.data = h.get("period", 10)
    form.health_failure_threshold.data = h.get("failure_threshold", 3)


def _apply_errors(form: ComponentForm, error: FieldErrors, keep_existing: bool = False) -> None:
    """Service errors name list rows as env-0-name / ports-1-port; put them on those inputs. With
    `keep_existing`, a field the form already found wrong keeps its own message (one per field)."""
    rest = {}
    for key, message in error.errors.items():
        m = re.fullmatch(r"(env|ports)-(\d+)-(\w+)", key)
        if m and int(m.group(2)) < len(getattr(form, m.group(1))):
            sub = getattr(form, m.group(1))[int(m.group(2))].form[m.group(3)]
            if not (keep_existing and sub.errors):
                sub.errors = list(sub.errors) + [message]
        elif keep_existing and getattr(getattr(form, key, None), "errors", None):
            continue
        else:
            rest[key] = message
    if rest:
        apply_to_form(form, FieldErrors(rest))


@bp.route("/")
def index():
    """The team's components, 50 a page, filtered by name, application and state."""
    team_id = current_team().id
    args = request.args
    rows = listing.components(team_id, listing.page_number(args.get("page")), name=args.get("name", "")[:63].strip(),
                              application=args.get("application", "")[:63], state=args.get("state", ""))
    return page_or_block("components/index.html", "results", rows=rows, first_link=operations.first_link,
                         applications=listing.application_names(team_id), states=listing.STATES)


TAGS_PER_PAGE = 20


def _pickers(registry_id: str) -> dict:
    """The registry -> repository -> tag pickers, rendered by the server (the page works without
    JavaScript; HTMX only swaps the same fragments in place)."""
    if not registry_id.isdigit():
        return {}
    registry = get_team_object_or_404(Registry, int(registry_id))
    query, pick = request.args.get("q", "")[:200], request.args.get("pick", "")[:255]
    out = {"picker_registry": registry, "repo_q": query, "pick": pick}
    try:
        out["repo_result"] = registries.repositories(registry, query, 1, 20)
    except RegistryError as e:
        out["repo_error"] = e.message
    if pick:
        out.update(_tag_choices(registry, pick))
    return out


def _tag_choices(registry: Registry, repo: str) -> dict:
    tq = request.args.get("tq", request.args.get("q", "") if request.endpoint == "components.pick_tag" else "")[:128]
    shown = max(1, min(request.args.get("more", 1, type=int), 500)) * TAGS_PER_PAGE
    try:
        tags, matched, total = registries.search_tags(registry, repo, tq, limit=shown)
        error = None
    except RegistryError as e:
        tags, matched, total, error = [], 0, 0, e.message
    return {"tag_registry": registry, "tag_repo": repo, "tags": tags, "matched": matched, "total": total,
            "tag_error": error, "tq": tq, "more": shown // TAGS_PER_PAGE}


def _add_row(form: ComponentForm) -> bool:
    """"Add variable" / "Add port" without JavaScript: the form comes back with one more row."""
    action = request.form.get("action", "")
    if action not in ("add-env", "add-port"):
        return False
    (form.env if action == "add-env" else form.ports).append_entry()
    for field_ in form:
        field_.errors = [] if not isinstance(field_.errors, dict) else {}
    return True


@bp.route("/new", methods=["GET", "POST"])
def new():
    form = _form()
    preview, preview_error, status, pickers = None, None, 200, {}
    if request.method == "GET":
        registry_id, repo = request.args.get("registry_id", ""), request.args.get("repo", "")
        tag, ref = request.args.get("tag", ""), request.args.get("ref", "").strip()
        if ref or (registry_id and repo and tag):
            form.source.data = "reference" if ref else "registry"
            form.registry_id.data = registry_id
            form.image.data, form.tag.data = (ref, "") if ref else (repo, tag)
            form.name.data = _suggest_name(ref or repo)
            apps = _team_applications()
            form.application.data = apps[0].name if apps else "default"
            try:
                preview = components.image_preview(current_team(), int(registry_id) if registry_id.isdigit()
                                                   else None, ref or repo, "" if ref else tag)
                _prefill(form, preview)
            except FieldErrors as e:
                preview_error = " ".join(e.errors.values())
            except RegistryError as e:
                preview_error = e.message
        elif registry_id:
            form.registry_id.data = registry_id
            pickers = _pickers(registry_id)
    elif _add_row(form):
        status = 200
    else:
        valid = form.validate_on_submit()
        try:
            if not valid:
                components.check_input(current_team(), _input(form))
            else:
                component = components.create_component(current_team(), _input(form), current_user.email)
        except FieldErrors as e:
            _apply_errors(form, e, keep_existing=True)
            status = 422
        else:
            if valid:
                _audit(component, "component.created", f"{component.image}:{component.tag}")
                flash(f"Created {component.name}; deploying {component.image}:{component.tag}.", "success")
                return redirect(url_for("components.detail", component_id=component.id))
    return render_template("components/new.html", form=form, preview=preview, preview_error=preview_error,
                           applications=_team_applications(), deploy_disabled=disabled_reason(), **pickers), \
        422 if form.errors else status


@bp.route("/new/repositories")
def pick_repository():
    registry = get_team_object_or_404(Registry, request.args.get("registry_id", 0, type=int))
    query = request.args.get("q", "")[:200]
    try:
        result, error = registries.repositories(registry, query, 1, 20), None
    except RegistryError as e:
        result, error = None, e.message
    return render_template("components/_repo_picker.html", picker_registry=registry, repo_result=result,
                           repo_error=error, repo_q=query)


@bp.route("/new/tags")
def pick_tag():
    registry = get_team_object_or_404(Registry, request.args.get("registry_id", 0, type=int))
    return render_template("components/_tag_picker.html", **_tag_choices(registry, request.args.get("repo", "")[:255]))


@bp.route("/new/row/<kind>")
def new_row(kind: str):
    """HTMX: one more env var or port row."""
    if kind not in ("env", "ports"):
        abort(404)
    index = max(0, min(request.args.get("index", 0, type=int), 999_999))
    form = _form()
    entry = getattr(form, kind).append_entry()
    entry.id = f"{kind}-{index}"
    for sub in entry.form:
        sub.id = sub.name = f"{kind}-{index}-{sub.short_name}"
    return render_template(f"components/_{kind}_row.html", row=entry, index=index)


RECENT = 10  # releases and deliveries on the component page; the rest on their own pages


def _detail_context(component: Component) -> dict:
    return {"component": component, "view": operations.view(component, RECENT),
            "scale_form": ScaleForm(replicas=component.replicas), "approvals": approvals.pending(component)}


@bp.route("/<int:component_id>")
def detail(component_id: int):
    component = get_team_object_or_404(Component, component_id)
    return render_template("components/detail.html", **_detail_context(component),
                           outcomes=listing.outcomes(component_id=component.id, per_page=RECENT),
                           deploy_disabled=disabled_reason())


@bp.route("/<int:component_id>/status")
def status(component_id: int):
    """The card, the status and the releases together (one self-polling fragment)."""
    component = get_team_object_or_404(Component, component_id)
    outcomes = None if is_htmx() else listing.outcomes(component_id=component.id, per_page=RECENT)
    return page_or_block("components/detail.html", "live", **_detail_context(component), outcomes=outcomes,
                         deploy_disabled=disabled_reason())


@bp.route("/<int:component_id>/releases")
def release_list(component_id: int):
    """Every release of the component, 50 a page, filtered by status."""
    component = get_team_object_or_404(Component, component_id)
    rows = listing.releases(component.id, listing.page_number(request.args.get("page")),
                            status=request.args.get("status", ""))
    return page_or_block("components/releases.html", "results", component=component, rows=rows,
                         statuses=list(ReleaseStatus))


@bp.route("/<int:component_id>/deliveries")
def delivery_list(component_id: int):
    """What every delivery meant for the component, 50 a page, filtered by outcome and repository."""
    component = get_team_object_or_404(Component, component_id)
    rows = listing.outcomes(listing.page_number(request.args.get("page")), component_id=component.id,
                            outcome=request.args.get("outcome", ""),
                            repository=request.args.get("repository", "")[:255])
    return page_or_block("components/deliveries.html", "results", component=component, outcomes=rows,
                         choices=listing.OUTCOMES)


@bp.route("/<int:component_id>/edit", methods=["GET", "POST"])
def edit(component_id: int):
    """Edit the settings; "Review changes" shows the diff against what runs, "Save" stores them for the
    next release, "Save and deploy" releases them now."""
    component = get_team_object_or_404(Component, component_id)
    form = _form()
    changes, status = None, 200
    if request.method == "GET":
        _fill(form, component)
        if request.args.get("tag"):  # "Update <component>" from the registry browser
            form.tag.data = request.args["tag"][:128]
        with suppress(FieldErrors):
            changes = components.edit_changes(component, _input(form))
    elif _add_row(form):
        pass
    elif not form.validate_on_submit():
        try:  # every problem at once: the form's own and the service's
            components.check_input(component.team, _input(form), component)
        except FieldErrors as e:
            _apply_errors(form, e, keep_existing=True)
    else:
        action = request.form.get("action", "review")
        try:
            if action in ("save", "deploy"):
                release, changes = components.update_component(component, _input(form), current_user.email,
                                                               deploy=action == "deploy")
                done = f"deployed as release #{release.seq}: " if release else "saved: "
                _audit(component, "component.edited", done + ("; ".join(changes) or "no changes"))
                if release is not None:
                    flash(f"Saved; deploying release #{release.seq}: " + ("; ".join(changes) or "no changes"),
                          "success")
                else:
                    flash("Saved; the changes deploy with the next release: " + ("; ".join(changes) or
                                                                                "no changes"), "success")
                return redirect(url_for("components.detail", component_id=component.id))
            changes = components.edit_changes(component, _input(form))
        except FieldErrors as e:
            _apply_errors(form, e)
    if is_htmx() and request.method == "POST":
        return render_template("components/_changes.html", changes=changes), 200
    return render_template("components/edit.html", form=form, component=component, changes=changes,
                           applications=_team_applications(), deploy_disabled=disabled_reason()), \
        422 if form.errors else status


@bp.route("/<int:component_id>/start", methods=["POST"])
def start(component_id: int):
    component = _action(component_id)
    return _queue(component, lambda: releases.start(component, current_user.email), f"Starting {component.name}.",
                  "component.started")


@bp.route("/<int:component_id>/restart", methods=["POST"])
def restart(component_id: int):
    component = _action(component_id)
    try:
        releases.restart(component)
    except (DeployError, ServiceError) as e:
        flash(f"Could not restart {component.name}: {getattr(e, 'message', str(e))}", "error")
    else:
        _audit(component, "component.restarted")
        flash(f"Restarting {component.name}.", "success")
    return redirect(url_for("components.detail", component_id=component.id))


@bp.route("/<int:component_id>/scale", methods=["POST"])
def scale(component_id: int):
    component = get_team_object_or_404(Component, component_id)
    form = ScaleForm()
    if form.validate_on_submit():
        try:
            release = operations.scale(component, form.replicas.data, current_user.email)
        except FieldErrors as e:
            apply_to_form(form, e)
        else:
            _audit(component, "component.scaled", f"{form.replicas.data} replicas, release #{release.seq}")
            flash(f"Scaling {component.name} to {form.replicas.data}: release #{release.seq}.", "info")
            return redirect(url_for("components.detail", component_id=component.id))
    context = _detail_context(component)
    context["scale_form"] = form
    return render_template("components/detail.html", **context, deploy_disabled=disabled_reason(),
                           outcomes=listing.outcomes(component_id=component.id, per_page=RECENT)), 422


@bp.route("/<int:component_id>/resume", methods=["POST"])
def resume(component_id: int):
    component = _action(component_id)
    _audit(component, "component.resumed", "auto-deploy resumed")
    try:
        outcome = operations.resume(component, current_user.email)
    except RegistryError as e:
        flash(f"Auto-deploy resumed; the registry could not be asked for the newest tag: {e.message}", "warning")
    else:
        flash("Auto-deploy resumed. " + (f"Newest matching tag {outcome.tag}: {outcome.reason}." if outcome
                                         else "Nothing newer to deploy."), "success")
    return redirect(url_for("components.detail", component_id=component.id))


@bp.route("/<int:component_id>/bad-digests/clear", methods=["POST"])
def clear_bad(component_id: int):
    component = _action(component_id)
    digest = request.form.get("digest", "")[:100]
    releases.clear_bad(component, digest)
    _audit(component, "component.cleared_bad_digest", digest[:100])
    flash(f"{digest[:19]} may be auto-deployed again.", "success")
    return redirect(url_for("components.detail", component_id=component.id))


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


def _action(component_id: int):
    component = get_team_object_or_404(Component, component_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    return component


def _audit(component: Component, action: str, summary: str = "") -> None:
    audit.record(component.team_id, current_user.email, action, f"component {component.name}", summary)


def _queue(component: Component, start, done: str, action: str):
    """Queue a release (redeploy, rollback) and say so, or say why not; back to the component."""
    try:
        release = start()
    except ServiceError as e:
        flash(str(e), "error")
    else:
        _audit(component, action, f"release #{release.seq} of {release.tag}")
        flash(done, "info")
    return redirect(url_for("components.detail", component_id=component.id))


@bp.route("/<int:component_id>/redeploy", methods=["POST"])
def redeploy(component_id: int):
    component = _action(component_id)
    return _queue(component, lambda: releases.redeploy(component, current_user.email),
                  f"Redeploying {component.name} from {component.image}:{component.tag}.", "component.redeployed")


@bp.route("/<int:component_id>/releases/<int:release_id>/rollback", methods=["POST"])
def rollback(component_id: int, release_id: int):
    component = _action(component_id)
    release = get_team_object_or_404(Release, release_id)
    if release.component_id != component.id:
        abort(404)
    return _queue(component, lambda: releases.rollback(release, current_user.email),
                  f"Rolling back to release #{release.seq} ({release.tag}, {(release.digest or '')[:19]}) "
                  "with its settings.", "component.rolled_back")


@bp.route("/<int:component_id>/stop", methods=["POST"])
def stop(component_id: int):
    component = _action(component_id)
    try:
        releases.stop_component(component)
    except DeployError as e:
        flash(f"Could not stop {component.name}: {e.message}", "error")
        return redirect(url_for("components.detail", component_id=component.id))
    _audit(component, "component.stopped")
    flash(f"Stopped {component.name}.", "success")
    return redirect(url_for("components.detail", component_id=component.id))


@bp.route("/<int:component_id>/delete", methods=["POST"])
def delete(component_id: int):
    component = _action(component_id)
    name = component.name
    try:
        releases.delete_component(component)
    except DeployError as e:
        flash(f"Could not remove {name} from the runtime, so it was kept: {e.message}", "error")
        return redirect(url_for("components.detail", component_id=component.id))
    audit.record(current_team().id, current_user.email, "component.deleted", f"component {name}")
    flash(f"Deleted {name} and what it ran.", "success")
    return redirect(url_for("components.index"))


def webhook_url(endpoint: str, **values) -> str:
    """Absolute URL registries should call, built from BERTH_EXTERNAL_URL."""
    return current_app.config["BERTH_EXTERNAL_URL"] + url_for(endpoint, **values)


@bp.route("/<int:component_id>/build-source", methods=["GET", "POST"])
def build_source(component_id: int):
    component = get_team_object_or_404(Component, component_id)
    form = BuildSourceForm(obj=component if request.method == "GET" else None)
    if request.method == "GET":
        form.trigger_pattern.data = component.trigger_pattern or ""
        form.platform_only.data = bool(component.require_platform)
        form.platform.data = component.require_platform or "linux/amd64"
        form.require_approval.data = component.approvals_required > 0
        form.approvals_required.data = component.approvals_required or 1
    if form.validate_on_submit():
        try:
            components.update_build_source(component, components.BuildSourceInput(
                auto_deploy=bool(form.auto_deploy.data), trigger_kind=form.trigger_kind.data,
                trigger_pattern=form.trigger_pattern.data or "",
                include_prereleases=bool(form.include_prereleases.data), no_downgrade=bool(form.no_downgrade.data),
                poll_interval=form.poll_interval.data,
                webhook_secret=form.webhook_secret.data or "", clear_secret=bool(form.clear_secret.data),
                require_platform=(form.platform.data or "").strip().lower() if form.platform_only.data else None,
                cooldown_minutes=form.cooldown_minutes.data,
                approvals_required=(form.approvals_required.data or 1) if form.require_approval.data else 0,
                approval_hours=form.approval_hours.data or component.approval_hours or 24,
                approvals_owners_only=bool(form.approvals_owners_only.data)))
        except FieldErrors as e:
            apply_to_form(form, e)
        else:
            audit.record(component.team_id, current_user.email, "component.build_source", f"component {component.name}",
                         f"auto-deploy {'on' if component.auto_deploy else 'off'}, rule {component.trigger_kind}"
                         f"{' ' + component.trigger_pattern if component.trigger_pattern else ''}, approvals "
                         f"{component.approvals_required}")
            flash("Saved the build source.", "success")
            return redirect(url_for("components.build_source", component_id=component.id))
    return render_template("components/build_source.html", component=component, form=form,
                           hook_url=webhook_url("hooks.component_hook", component_id=component.id,
                                                token=component.webhook_token),
                           outcomes=listing.outcomes(component_id=component.id, per_page=RECENT),
                           default_interval=current_app.config["BERTH_POLL_INTERVAL"]), 422 if form.errors else 200


@bp.route("/<int:component_id>/build-source/preview")
def trigger_preview(component_id: int):
    """HTMX: every current tag with what the rule in the form would make of it (paged). The
    pattern's field error is replaced out of band, so an old error never sits beside a new preview."""
    component = get_team_object_or_404(Component, component_id)
    preview, error, pattern_error = None, None, ""
    platform = (request.args.get("platform") or "").strip().lower()[:64] if request.args.get("platform_only") else None
    cooldown = request.args.get("cooldown_minutes", type=int)
    try:
        preview = components.preview_rule(component, request.args.get("trigger_kind", "same_tag"),
                                          request.args.get("trigger_pattern", ""),
                                          bool(request.args.get("include_prereleases")), platform,
                                          cooldown if cooldown and 0 < cooldown <= 10080 else None,
                                          page=max(1, min(request.args.get("page", 1, type=int), 10_000)))
    except FieldErrors as e:
        error = pattern_error = next(iter(e.errors.values()))
    except RegistryError as e:
        error = e.message
    return render_template("components/_trigger_preview.html", preview=preview, error=error,
                           pattern_error=pattern_error, component=component)


@bp.route("/<int:component_id>/webhook-token", methods=["POST"])
def regenerate_token(component_id: int):
    component = _action(component_id)
    endpoints.regenerate_token(component)
    _audit(component, "component.webhook_token_regenerated")
    flash("New webhook URL generated; the old one no longer works. Update it in your registry.", "success")
    return redirect(url_for("components.build_source", component_id=component.id))


@bp.route("/deliveries/<int:delivery_id>/replay", methods=["POST"])
def replay_delivery(delivery_id: int):
    delivery = get_team_object_or_404(WebhookDelivery, delivery_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        copy = deliveries.replay(delivery)
    except ServiceError as e:
        flash(str(e), "error")
    else:
        audit.record(delivery.team_id, current_user.email, "delivery.replayed", f"delivery #{delivery.id}",
                     f"as #{copy.id}")
        flash(f"Replaying delivery #{delivery.id} as #{copy.id}.", "info")
    return redirect(safe_next(url_for("components.index")))
