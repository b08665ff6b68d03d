"""schemathesis against the document the API serves (#29): every operation, a bounded number of
generated requests with a fixed seed (derandomized), each answered without a 5xx and as the
document says (status code, content type, headers, response schema), on both databases. The team
holds one of each object at id 1, so generated ids reach real rows as well as missing ones."""
from __future__ import annotations

from datetime import timedelta

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance

from blueprints.api.core import OPERATIONS, bp
from models import Approval, Component, Release, db, utcnow
from services.api import tokens
from tests.helpers import create_component, create_registry

EXAMPLES = 15


@pytest.fixture
def api_schema(app, api):
    app.config["BERTH_API_LONG_POLL_SECONDS"] = 1  # generated requests ask ?wait=60 too
    app.config["BERTH_API_TOKEN"] = api.token(tokens.SCOPES)
    cid = create_component(app, None, "registry.example.com/team/web", "v1", "web", release=False)
    create_registry(app, url="http://127.0.0.1:9", name="nowhere")
    with app.app_context():
        component = db.session.get(Component, cid)
        component.release_seq = 1
        db.session.add_all([
            Release(team_id=component.team_id, component_id=cid, seq=1, tag="v1", digest="sha256:" + "1" * 64,
                    trigger="manual", triggered_by="test", status="running", settings={}),
            Approval(team_id=component.team_id, component_id=cid, tag="v2", digest="sha256:" + "2" * 64,
                     required=1, requested_by="poll", expires_at=utcnow() + timedelta(hours=1))])
        db.session.commit()
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


CASES = [(op, mode) for op in OPERATIONS for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
         if mode == GenerationMode.POSITIVE or op.path_params or op.body or op.query]  # something to get wrong


@pytest.mark.parametrize("op, mode", CASES, ids=[f"{op.method} {op.rule} {mode.value}" for op, mode in CASES])
def test_every_operation_answers_as_its_document_says(app, api_schema, op, mode):
    """Requests the document allows (positive) and requests it forbids (negative: they must be refused
    with a 4xx, never a 5xx)."""
    operation = api_schema[bp.url_prefix + op.path][op.method]
    headers = {"Authorization": f"Bearer {app.config['BERTH_API_TOKEN']}"}

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def answers_as_documented(case):
        # Every check but "schema-valid data is accepted": whether a tag resolves, a name is free or a
        # registry answers is a 422 no schema can foresee (with the same field messages as the forms).
        case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance])
    answers_as_documented()
