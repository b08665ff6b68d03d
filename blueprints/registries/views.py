"""Connect registries, test them, browse repositories and tags."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from blueprints.forms import EmptyForm
from blueprints.registries.forms import RegistryForm, WebhookSecretForm
from blueprints.render import is_htmx, page_or_block
from blueprints.scope import current_team, get_team_object_or_404, is_owner, owner_required
from models import Registry
from services.components import components, listing
from services.delivery import endpoints
from services.errors import FieldErrors, ServiceError, apply_to_form
from services.platform.pagination import page_number
from services.registries import registries
from services.registries.clients.errors import RegistryError

bp = Blueprint("registries", __name__, url_prefix="/registries")


def _input(form: RegistryForm) -> registries.RegistryInput:
    return registries.RegistryInput(
        kind=form.kind.data, name=form.name.data or "", url=form.url.data or "",
        username=form.username.data or "", password=form.password.data or "",
        insecure=bool(form.insecure.data), ca_bundle=form.ca_bundle.data or "", token_host=form.token_host.data or "",
        region=form.region.data or "", registry_id=form.registry_id.data or "", tenant=form.tenant.data or "",
        api_url=form.api_url.data or "", namespace=form.namespace.data or "", poll_budget=form.poll_budget.data)


@bp.route("/")
def index():
    """The team's registries, 50 a page, filtered by name or URL."""
    rows = listing.registries(current_team().id, page_number(request.args.get("page")),
                              name=request.args.get("name", "")[:63].strip())
    return page_or_block("registries/index.html", "results", rows=rows)


@bp.route("/new", methods=["GET", "POST"])
@owner_required
def new():
    form = RegistryForm()
    if form.validate_on_submit():
        try:
            registry = registries.save_registry(current_team(), _input(form), by=current_user.email)
        except FieldErrors as e:
            apply_to_form(form, e)
        else:
            flash(f"Connected {registry.name}. {registry.last_check_message}", "success")
            return redirect(url_for("registries.browse", registry_id=registry.id))
    return render_template("registries/form.html", form=form, registry=None), 422 if form.errors else 200


@bp.route("/<int:registry_id>/edit", methods=["GET", "POST"])
@owner_required
def edit(registry_id: int):
    registry = get_team_object_or_404(Registry, registry_id)
    form = RegistryForm(obj=registry if request.method == "GET" else None)
    if request.method == "GET":
        form.password.data = ""
        for name, value in (registry.options or {}).items():
            if name in form and isinstance(value, str):
                form[name].data = value
    if form.validate_on_submit():
        try:
            registries.save_registry(current_team(), _input(form), registry, by=current_user.email)
        except FieldErrors as e:
            apply_to_form(form, e)
        else:
            flash(f"Saved {registry.name}. {registry.last_check_message}", "success")
            return redirect(url_for("registries.index"))
    return render_template("registries/form.html", form=form, registry=registry), \
        422 if form.errors else 200


@bp.route("/<int:registry_id>/delete", methods=["POST"])
@owner_required
def delete(registry_id: int):
    registry = get_team_object_or_404(Registry, registry_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        registries.delete_registry(registry, current_user.email)
    except ServiceError as e:
        flash(str(e), "error")
        return redirect(url_for("registries.index"))
    flash(f"Deleted registry {registry.name}.", "success")
    return redirect(url_for("registries.index"))


@bp.route("/test", methods=["POST"])
def test_unsaved():
    """HTMX: test the settings in the form without saving them."""
    form = RegistryForm()
    existing = None
    if request.form.get("registry_id", "").isdigit():
        existing = get_team_object_or_404(Registry, int(request.form["registry_id"]))
    ok, message = False, ""
    if form.validate():
        try:
            message, ok = registries.try_connection(_input(form), existing), True
        except FieldErrors as e:
            message = " ".join(e.errors.values())
    else:
        message = " ".join(f"{form[k].label.text}: {v[0]}" for k, v in form.errors.items())
    if not is_htmx():  # without JavaScript: the whole form again, with the result under it
        return render_template("registries/form.html", form=form, registry=existing, test_ok=ok,
                               test_message=message)
    return render_template("registries/_test_result.html", ok=ok, message=message)


@bp.route("/<int:registry_id>/test", methods=["POST"])
def test_saved(registry_id: int):
    registry = get_team_object_or_404(Registry, registry_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    ok, message = registries.check_saved(registry)
    return render_template("registries/_test_result.html", ok=ok, message=message)


@bp.route("/<int:registry_id>/")
def browse(registry_id: int):
    registry = get_team_object_or_404(Registry, registry_id)
    query = request.args.get("q", "")[:200]
    page = max(1, min(request.args.get("page", 1, type=int) or 1, 10000))
    context = {"registry": registry, "q": query, "page": page, "error": None, "result": None}
    try:
        context["result"] = registries.repositories(registry, query, page)
    except RegistryError as e:
        context["error"] = e.message
    if not is_htmx():  # the credential's state and the rate limit head the full page
        context["credential"] = registries.credential_state(registry)
        context["limit"] = registries.rate_limit_of(registry)
    return page_or_block("registries/browse.html", "repo_results", **context)


@bp.route("/<int:registry_id>/repository")
def repository(registry_id: int):
    registry = get_team_object_or_404(Registry, registry_id)
    repo = request.args.get("repo", "").strip()[:255]
    if not repo:
        abort(404)
    query = request.args.get("q", "")[:128]
    more = max(1, min(request.args.get("more", 1, type=int), 200))
    context = {"registry": registry, "repo": repo, "q": query, "error": None, "more": more,
               "tags": [], "matched": 0, "total": 0, "edit_urls": _edit_urls(registry, repo)}
    try:
        context["tags"], context["matched"], context["total"] = registries.search_tags(
            registry, repo, query, limit=50 * more, refresh=bool(request.args.get("refresh")))
    except RegistryError as e:
        context["error"] = e.message
    return page_or_block("registries/repository.html", "tag_results", **context)


@bp.route("/<int:registry_id>/tag")
def tag(registry_id: int):
    """HTMX: one tag's row with digest, size, created and platforms."""
    registry = get_team_object_or_404(Registry, registry_id)
    repo, name = request.args.get("repo", "")[:255], request.args.get("tag", "")[:128]
    if not repo or not name:
        abort(404)
    try:
        info, error = registries.tag_details(registry, repo, name), None
    except RegistryError as e:
        info, error = None, e.message
    return render_template("registries/_tag_row.html", registry=registry, repo=repo, name=name,
                           t=info, error=error, edit_urls=_edit_urls(registry, repo))


def _edit_urls(registry: Registry, repo: str) -> list[tuple]:
    """The components deployed from this repository, each with its edit page's URL (a row adds
    ?tag=…): built once per page, not once per row."""
    return [(c, url_for("components.edit", component_id=c.id)) for c in components.using_repository(registry, repo)]



@bp.route("/<int:registry_id>/webhook", methods=["GET", "POST"])
def webhook(registry_id: int):
    """The registry-wide webhook (fans out to components by repository), polling state, deliveries."""
    registry = get_team_object_or_404(Registry, registry_id)
    if request.method == "POST" and not is_owner():
        abort(404)
    form = WebhookSecretForm()
    if form.validate_on_submit():
        try:
            endpoints.set_webhook_secret(registry, form.webhook_secret.data or "", bool(form.clear_secret.data),
                                         by=current_user.email)
        except FieldErrors as e:
            apply_to_form(form, e)
        else:
            flash("Saved the webhook secret.", "success")
            return redirect(url_for("registries.webhook", registry_id=registry.id))
    hook_url = current_app.config["BERTH_EXTERNAL_URL"] + url_for(
        "hooks.registry_hook", registry_id=registry.id, token=registry.webhook_token)
    outcomes = listing.outcomes(page_number(request.args.get("page")), registry_id=registry.id,
                                outcome=request.args.get("outcome", ""),
                                repository=request.args.get("repository", "")[:255])
    return page_or_block("registries/webhook.html", "results", 422 if form.errors else 200, registry=registry,
                         form=form, hook_url=hook_url, outcomes=outcomes, choices=listing.OUTCOMES)


@bp.route("/<int:registry_id>/webhook-token", methods=["POST"])
@owner_required
def regenerate_token(registry_id: int):
    registry = get_team_object_or_404(Registry, registry_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    endpoints.regenerate_token(registry, current_user.email)
    flash("New webhook URL generated; the old one no longer works.", "success")
    return redirect(url_for("registries.webhook", registry_id=registry.id))
