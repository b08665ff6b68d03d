"""Knowing and controlling what Berth does: notification channels, approvals, the audit trail."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from blueprints.access import safe_next
from blueprints.forms import EmptyForm
from blueprints.oversight.forms import ChannelForm
from blueprints.scope import current_team, get_team_object_or_404, owner_required
from models import Approval, NotificationChannel
from services.errors import FieldErrors, ServiceError, apply_to_form
from services.oversight import approvals, audit, notifications
from services.platform.pagination import page_number

bp = Blueprint("oversight", __name__)


def _channel_form(**kwargs) -> ChannelForm:
    form = ChannelForm(**kwargs)
    form.events.choices = [SelectChoice(k, label) for k, label in notifications.EVENTS.items()]
    return form


@bp.route("/team/notifications")
def channels():
    team = current_team()
    items = notifications.channels_of(team.id)
    return render_template("oversight/channels.html", channels=items, smtp=notifications.smtp_settings())


def _save(channel: NotificationChannel | None):
    team = current_team()
    form = _channel_form(obj=channel if request.method == "GET" else None)
    if request.method == "GET" and channel is None:
        form.events.data = list(notifications.DEFAULT_EVENTS)
        form.enabled.data = True
    if form.validate_on_submit():
        try:
            saved = notifications.save_channel(team, notifications.ChannelInput(
                name=form.name.data or "", kind=form.kind.data, url=form.url.data or "",
                email_to=form.email_to.data or "", secret=form.secret.data or "", events=form.events.data or [],
                enabled=bool(form.enabled.data)), channel, by=current_user.email)
        except FieldErrors as e:
            apply_to_form(form, e)
        else:
            flash(f"Saved the channel {saved.name}.", "success")
            return redirect(url_for("oversight.channel", channel_id=saved.id))
    return render_template("oversight/channel_form.html", form=form, channel=channel,
                           smtp=notifications.smtp_settings()), 422 if form.errors else 200


@bp.route("/team/notifications/new", methods=["GET", "POST"])
@owner_required
def new_channel():
    return _save(None)


@bp.route("/team/notifications/<int:channel_id>/edit", methods=["GET", "POST"])
@owner_required
def edit_channel(channel_id: int):
    return _save(get_team_object_or_404(NotificationChannel, channel_id))


@bp.route("/team/notifications/<int:channel_id>")
def channel(channel_id: int):
    item = get_team_object_or_404(NotificationChannel, channel_id)
    return render_template("oversight/channel.html", channel=item, messages=notifications.recent(item))


@bp.route("/team/notifications/<int:channel_id>/test", methods=["POST"])
@owner_required
def test_channel(channel_id: int):
    item = get_team_object_or_404(NotificationChannel, channel_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    notifications.send_test(item, current_user.email)
    flash("Test message queued; its result appears below within seconds.", "info")
    return redirect(url_for("oversight.channel", channel_id=item.id))


@bp.route("/team/notifications/<int:channel_id>/delete", methods=["POST"])
@owner_required
def delete_channel(channel_id: int):
    item = get_team_object_or_404(NotificationChannel, channel_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    notifications.delete_channel(item, current_user.email)
    flash(f"Deleted the channel {item.name}.", "success")
    return redirect(url_for("oversight.channels"))


@bp.route("/approvals")
def approvals_list():
    return render_template("oversight/approvals.html", approvals=approvals.team_approvals(current_team().id))


def _decide(approval_id: int, decide, done: str):
    approval = get_team_object_or_404(Approval, approval_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        decide(approval)
    except ServiceError as e:
        flash(str(e), "error")
    else:
        flash(done.format(a=approval), "success")
    return redirect(safe_next(url_for("components.detail", component_id=approval.component_id)))


@bp.route("/approvals/<int:approval_id>/approve", methods=["POST"])
def approve(approval_id: int):
    return _decide(approval_id, lambda a: approvals.approve(a, current_user),
                   "Approved {a.tag} ({a.approved_count} of {a.required}).")


@bp.route("/approvals/<int:approval_id>/reject", methods=["POST"])
def reject(approval_id: int):
    return _decide(approval_id, lambda a: approvals.reject(a, current_user, request.form.get("note", "")),
                   "Rejected {a.tag}; nothing was deployed.")


@bp.route("/team/audit")
def audit_log():
    action = request.args.get("action", "")[:64]
    rows = audit.page(current_team().id, page_number(request.args.get("page")), action=action)
    return render_template("oversight/audit.html", entries=rows.items, total=rows.total, page=rows.page,
                           action=action, pages=rows.pages)
