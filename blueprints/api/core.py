"""The API's plumbing: an operation is a view declared with its scope and the pydantic models it
validates and answers with; the same declarations build the OpenAPI 3.1 document, so the document
cannot drift from what the views check.

Every request carries `Authorization: Bearer <token>` (services.api.tokens); no session cookie is
read under /api/, so a cookie alone never authenticates (and so needs no CSRF token). Errors have
one shape: {"error": {"code", "message", "fields"}}."""
from __future__ import annotations

import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from functools import wraps

from flask import Blueprint, g, jsonify, request
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema
from werkzeug.exceptions import HTTPException

from blueprints.access import api_endpoint
from models import MAX_ID
from services.api import tokens
from services.errors import BerthError, FieldErrors, NotAllowed
from services.registries.clients.errors import RegistryError

bp = Blueprint("api", __name__, url_prefix="/api/v1")
TITLE, VERSION = "Berth API", "1.0.0"
PER_MINUTE = 600  # requests per token and minute (per process)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, fields: dict[str, str] | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.fields, self.headers = status, code, message, fields or {}, headers


def error_body(code: str, message: str, fields: dict[str, str] | None = None) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
                409: "conflict", 412: "precondition_failed", 413: "too_large", 415: "unsupported_media_type",
                422: "invalid", 428: "precondition_required", 429: "throttled", 500: "server_error",
                502: "registry_error"}


@dataclass
class Operation:
    method: str
    rule: str
    name: str
    summary: str
    scope: str | None  # None: no token needed (the document itself)
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    errors: tuple[int, ...] = ()
    tags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def path(self) -> str:
        return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", self.rule)

    @property
    def path_params(self) -> list[str]:
        return re.findall(r"<(?:\w+:)?(\w+)>", self.rule)


OPERATIONS: list[Operation] = []


class _Throttle:
    """At most PER_MINUTE requests per token in any minute, in this process."""

    def __init__(self):
        self.lock, self.seen = threading.Lock(), {}

    def allow(self, key: str, now: float | None = None) -> float | None:
        """None when allowed, else the seconds until the next request would be."""
        now = time.monotonic() if now is None else now
        with self.lock:
            if len(self.seen) > 10_000:  # forget tokens quiet for a minute
                self.seen = {k: w for k, w in self.seen.items() if w and w[-1] > now - 60}
            window = self.seen.setdefault(key, deque())
            while window and window[0] <= now - 60:
                window.popleft()
            if len(window) >= PER_MINUTE:
                return max(window[0] + 60 - now, 0.1)
            window.append(now)
            return None


throttle = _Throttle()


def caller() -> tokens.Caller:
    return g.api_caller


def _authenticate(op: Operation) -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    found = tokens.caller(presented.strip()) if scheme.lower() == "bearer" else None
    if found is None:
        raise ApiError(401, "unauthorized", "Send a valid, unexpired API token: Authorization: Bearer <token>.",
                       headers={"WWW-Authenticate": 'Bearer realm="berth"'})
    wait = throttle.allow(found.token.token_hash)
    if wait is not None:
        raise ApiError(429, "throttled", f"Too many requests with this token: try again in {wait:.0f} s.",
                       headers={"Retry-After": str(int(wait) + 1)})
    if op.scope not in found.token.scopes:
        raise ApiError(403, "forbidden", f"This token lacks the {op.scope} scope.")
    g.api_caller, g.team, g.membership = found, found.team, found.membership


def _parse(model: type[BaseModel] | None, data, where: str):
    if model is None:
        return None
    try:
        return model.model_validate(data)
    except ValidationError as e:
        fields = {}
        for problem in e.errors()[:20]:
            name = ".".join(str(p) for p in problem["loc"]) or where
            fields.setdefault(name, problem["msg"])
        raise ApiError(422, "invalid", "Some fields are not valid.", fields) from None


def operation(method: str, rule: str, *, summary: str, scope: str | None = "read", body=None, query=None,
              response=None, status: int = 200, errors: tuple[int, ...] = (), tags: tuple[str, ...] = ()):
    """Declare and register an API view: `view(**path, body=…, query=…)` returns a model (or a dict)."""
    def register(view):
        op = Operation(method, rule, view.__name__, summary, scope, body, query, response, status, errors, tags)
        OPERATIONS.append(op)

        @wraps(view)
        def endpoint(**path):
            if op.scope is not None:
                _authenticate(op)
            kwargs = dict(path)
            if op.body is not None:
                data = request.get_json(silent=True)
                if not isinstance(data, dict):
                    raise ApiError(422, "invalid", "The body must be a JSON object.")
                kwargs["body"] = _parse(op.body, data, "body")
            if op.query is not None:
                kwargs["query"] = _parse(op.query, request.args.to_dict(), "query")
            result = view(**kwargs)
            headers = {}
            if isinstance(result, tuple):
                result, headers = result
            payload = result.model_dump(mode="json") if isinstance(result, BaseModel) else result
            return jsonify(payload), op.status, headers
        bp.add_url_rule(rule, view.__name__, api_endpoint(endpoint), methods=[method])
        return endpoint
    return register


@bp.errorhandler(ApiError)
def api_error(e: ApiError):
    return jsonify(error_body(e.code, e.message, e.fields)), e.status, e.headers or {}


@bp.errorhandler(FieldErrors)
def field_errors(e: FieldErrors):
    return jsonify(error_body("invalid", "Some fields are not valid.", dict(e.errors))), 422


@bp.errorhandler(RegistryError)
def registry_error(e: RegistryError):
    return jsonify(error_body("registry_error", e.message)), 502


@bp.errorhandler(NotAllowed)
def not_allowed(e: NotAllowed):
    return jsonify(error_body("forbidden", e.message)), 403


@bp.errorhandler(BerthError)
def refused(e: BerthError):
    return jsonify(error_body("conflict", e.message)), 409


def http_error(e: HTTPException):
    """Errors the app raises under /api/ (unknown ids, methods): the API's shape."""
    return jsonify(error_body(STATUS_CODES.get(e.code or 500, "error"), e.description or "")), e.code


# -- the OpenAPI document ---------------------------------------------------------------------------
class ErrorDetail(BaseModel):
    code: str
    message: str
    fields: dict[str, str]


class Error(BaseModel):
    """Every error: a stable code, a sentence, and the field errors (name → message) of a 422."""
    error: ErrorDetail


ERROR_TEXT = {
    401: "No valid token", 403: "The token lacks the scope, or its user the role",
    404: "Not found in the token's team", 405: "No such address for this method (an id beyond any stored)",
    409: "Refused (the message says why)", 412: "The ETag in If-Match is not the current one",
    422: "Invalid input (fields name the problems)", 428: "If-Match is required", 429: "Too many requests",
    502: "The registry could not be asked"}


def document(server_url: str = "/") -> dict:
    """The OpenAPI 3.1 document of every declared operation."""
    models = {m for op in OPERATIONS for m in (op.body, op.query, op.response) if m is not None} | {Error}
    pairs = [(m, mode) for m in sorted(models, key=lambda m: m.__name__) for mode in ("validation", "serialization")]
    keyed, top = models_json_schema(pairs, ref_template="#/components/schemas/{model}")
    schemas = top.get("$defs", {})

    def ref(model, mode):
        return keyed[(model, mode)]

    paths: dict = {}
    for op in OPERATIONS:
        parameters = [{"name": p, "in": "path", "required": True,
                       "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID}} for p in op.path_params]
        if op.query is not None:
            query_schema = op.query.model_json_schema(ref_template="#/components/schemas/{model}")
            required = set(query_schema.get("required", []))
            for name, prop in query_schema.get("properties", {}).items():
                parameters.append({"name": name, "in": "query", "required": name in required, "schema": prop,
                                   **({"description": prop["description"]} if "description" in prop else {})})
        if op.method == "PATCH":
            parameters.append({"name": "If-Match", "in": "header", "required": True, "schema": {"type": "string"},
                               "description": "The component's ETag, as its GET answered it"})
        answer = {"application/json": {"schema": ref(op.response, "serialization")}} if op.response else None
        responses = {str(op.status): {"description": "Accepted" if op.status == 202 else "Done",
                                      **({"content": answer} if answer else {})}}
        # An id beyond what Berth stores matches no route: 404, or 405 where the path has other methods.
        codes = set(op.errors) | ({401, 403, 429} if op.scope else set()) | ({404, 405} if op.path_params else set()) \
            | ({422} if op.body is not None or op.query is not None else set())
        for code in sorted(codes):
            responses[str(code)] = {"description": ERROR_TEXT.get(code, "Error"),
                                    "content": {"application/json": {"schema": ref(Error, "serialization")}}}
        entry = {"operationId": op.name, "summary": op.summary, "tags": list(op.tags), "responses": responses}
        if parameters:
            entry["parameters"] = parameters
        if op.body is not None:
            entry["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": ref(op.body, "validation")}}}
        if op.scope is not None:
            entry["security"] = [{"bearer": []}]
            entry["description"] = f"Scope: {op.scope}."
        else:
            entry["security"] = []
        paths.setdefault(bp.url_prefix + op.path, {})[op.method.lower()] = entry
    return {"openapi": "3.1.0", "info": {"title": TITLE, "version": VERSION, "description": (
        "Berth's JSON API for pipelines and scripts: the same services, access rules and audit trail as "
        "the pages. Authenticate with a token from Settings → API tokens.")},
        "servers": [{"url": server_url}], "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {"bearer": {
            "type": "http", "scheme": "bearer", "description": "An API token (berth_…)"}}},
        "security": [{"bearer": []}]}
