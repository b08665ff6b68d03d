"""Creating a component from a registry image (with pickers that work without JavaScript) and editing it."""
from __future__ import annotations

from contextlib import suppress

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from blueprints.components.blueprint import bp
from blueprints.components.forms import (
    add_row,
    apply_errors,
    component_form,
    component_input,
    fill,
    prefill,
    team_applications,
)
from blueprints.render import is_htmx
from blueprints.scope import current_team, get_team_object_or_404
from models import Component, Registry
from services.components import components, stages
from services.components.imports.docker_run import suggest_name
from services.deploy.deployers import disabled_reason
from services.errors import FieldErrors
from services.registries import registries
from services.registries.clients.errors import RegistryError

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


@bp.route("/new", methods=["GET", "POST"])
def new():
    form = component_form()
    preview, preview_error, status, pickers = None, None, 200, {}
    if request.method == "GET":
        registry_id, repo = request.args.get("registry_id", ""), request.args.get("repo", "")
        tag, ref = request.args.get("tag", ""), request.args.get("ref", "").strip()
        if ref or (registry_id and repo and tag):
            form.source.data = "reference" if ref else "registry"
            form.registry_id.data = registry_id
            form.image.data, form.tag.data = (ref, "") if ref else (repo, tag)
            form.name.data = suggest_name(ref or repo)
            apps = team_applications()
            form.application.data = apps[0].name if apps else "default"
            try:
                preview = components.image_preview(current_team(), int(registry_id) if registry_id.isdigit()
                                                   else None, ref or repo, "" if ref else tag)
                prefill(form, preview)
            except FieldErrors as e:
                preview_error = " ".join(e.errors.values())
            except RegistryError as e:
                preview_error = e.message
        elif registry_id:
            form.registry_id.data = registry_id
            pickers = _pickers(registry_id)
    elif add_row(form):
        status = 200
    else:
        valid = form.validate_on_submit()
        try:
            if not valid:
                components.check_input(current_team(), component_input(form))
            else:
                component = components.create_component(current_team(), component_input(form), current_user.email)
        except FieldErrors as e:
            apply_errors(form, e, keep_existing=True)
            status = 422
        else:
            if valid:
                flash(f"Created {component.name}; deploying {component.image}:{component.tag}.", "success")
                return redirect(url_for("components.detail", component_id=component.id))
    return render_template("components/new.html", form=form, preview=preview, preview_error=preview_error,
                           applications=team_applications(), deploy_disabled=disabled_reason(), **pickers), \
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
    """HTMX: one more env var, port, volume or config file row."""
    if kind not in ("env", "ports", "volumes", "files"):
        abort(404)
    index = max(0, min(request.args.get("index", 0, type=int), 999_999))
    form = component_form()
    entry = getattr(form, kind).append_entry()
    entry.id = f"{kind}-{index}"
    for sub in entry.form:
        sub.id = sub.name = f"{kind}-{index}-{sub.short_name}"
        sub.label.field_id = sub.id  # else the row's labels name the first row's inputs
    return render_template(f"components/_{kind}_row.html", row=entry, index=index)


@bp.route("/<int:component_id>/edit", methods=["GET", "POST"])
def edit(component_id: int):
    """Edit the settings; "Review changes" shows the diff against what runs, "Save" stores them for the
    next release, "Save and deploy" releases them now."""
    component = get_team_object_or_404(Component, component_id)
    stage = stages.stage_of(component)
    if stage is not None:  # one environment's row: its settings are the component's plus overrides
        flash(f"{component.name} runs {component.base.name}'s settings with {stage.environment.name}'s overrides: "
              f"edit {component.base.name}, or these overrides.", "info")
        return redirect(url_for("environments.overrides", stage_id=stage.id))
    form = component_form()
    changes, status = None, 200
    if request.method == "GET":
        fill(form, component)
        if request.args.get("tag"):  # "Update <component>" from the registry browser
            form.tag.data = request.args["tag"][:128]
        with suppress(FieldErrors):
            changes = components.edit_changes(component, component_input(form))
    elif add_row(form):
        pass
    elif not form.validate_on_submit():
        try:  # every problem at once: the form's own and the service's
            components.check_input(component.team, component_input(form), component)
        except FieldErrors as e:
            apply_errors(form, e, keep_existing=True)
    else:
        action = request.form.get("action", "review")
        try:
            if action in ("save", "deploy"):
                staged = stages.in_environments(component)  # its first environments deploy it
                release, changes = components.update_component(component, component_input(form), current_user.email,
                                                               deploy=action == "deploy" and not staged)
                if staged and action == "deploy":
                    release = next(iter(stages.deploy_first(component, current_user.email)), None)
                if release is not None:
                    flash(f"Saved; deploying release #{release.seq}: " + ("; ".join(changes) or "no changes"),
                          "success")
                else:
                    flash("Saved; the changes deploy with the next release: " + ("; ".join(changes) or
                                                                                "no changes"), "success")
                return redirect(url_for("components.detail", component_id=component.id))
            changes = components.edit_changes(component, component_input(form))
        except FieldErrors as e:
            apply_errors(form, e)
    if is_htmx() and request.method == "POST":
        return render_template("components/_changes.html", changes=changes), 200
    return render_template("components/edit.html", form=form, component=component, changes=changes,
                           applications=team_applications(), deploy_disabled=disabled_reason(component)), \
        422 if form.errors else status
