"""Render a page, or one of its blocks for HTMX requests (same URL, so Vary: HX-Request)."""
from __future__ import annotations

from flask import make_response, render_template, request
from jinja2_fragments.flask import render_block


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def page_or_block(template: str, block: str, status: int = 200, **context):
    body = render_block(template, block, **context) if is_htmx() else render_template(template, **context)
    response = make_response(body, status)
    response.vary.add("HX-Request")
    return response
