"""Replaying a stored delivery, processed like the first."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, url_for
from flask_login import current_user

from blueprints.access import safe_next
from blueprints.forms import EmptyForm
from blueprints.scope import get_team_object_or_404
from models import WebhookDelivery
from services.delivery import deliveries
from services.errors import ServiceError

bp = Blueprint("deliveries", __name__, url_prefix="/components")


@bp.route("/deliveries/<int:delivery_id>/replay", methods=["POST"])
def replay_delivery(delivery_id: int):
    delivery = get_team_object_or_404(WebhookDelivery, delivery_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        copy = deliveries.replay(delivery, current_user.email)
    except ServiceError as e:
        flash(e.message, "error")
    else:
        flash(f"Replaying delivery #{delivery.id} as #{copy.id}.", "info")
    return redirect(safe_next(url_for("components.index")))
