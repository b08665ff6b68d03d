"""Public webhook endpoints: an unguessable token in the URL, answered fast, processed later."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from blueprints.access import webhook
from services.delivery import deliveries, endpoints, webhooks

bp = Blueprint("hooks", __name__, url_prefix="/hooks")
# Every webhook request writes one row at most, in autocommit, before anything else touches the
# database (see deliveries.begin_intake): a rule of this blueprint, not of each view.
bp.before_request(deliveries.begin_intake)


def _too_large():
    return jsonify(error=f"The body is larger than {deliveries.MAX_WEBHOOK_BODY // 1024} KiB."), 413


def _receive(kind: str, object_id: int, token: str):
    target = endpoints.find_endpoint(kind, object_id, token)
    if target is None:
        return jsonify(error="not found"), 404
    if (request.content_length or 0) > deliveries.MAX_WEBHOOK_BODY:
        return _too_large()
    body = request.get_data(cache=False)
    if len(body) > deliveries.MAX_WEBHOOK_BODY:
        return _too_large()
    try:
        webhooks.parse(request.headers, body)  # reject what can never be processed, before storing
    except webhooks.PayloadError as e:
        return jsonify(error=str(e)), 400
    delivery_id = deliveries.receive(target, request.headers, body)
    return jsonify(status="accepted", delivery=delivery_id), 202


@bp.route("/components/<int:component_id>/<token>", methods=["POST"])
@webhook
def component_hook(component_id: int, token: str):
    return _receive("component", component_id, token)


@bp.route("/registries/<int:registry_id>/<token>", methods=["POST"])
@webhook
def registry_hook(registry_id: int, token: str):
    return _receive("registry", registry_id, token)
