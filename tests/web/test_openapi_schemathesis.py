"""schemathesis against /openapi.json: generated requests never get a 5xx, and every response
conforms to the document (status, content type, schema). Bounded to a few examples per
operation so the run stays well under a minute."""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from rollback_advisor.models import change_from_dict  # noqa: E402
from rollback_advisor.web import create_app  # noqa: E402
from rollback_advisor.web.credentials import create_token  # noqa: E402
from rollback_advisor.web.services import services  # noqa: E402

from .conftest import CHANGES, GRAPH, make_settings  # noqa: E402

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    app = create_app(make_settings(tmp_path_factory.mktemp("st")))
    with app.app_context():
        services().store.save_graph(GRAPH)
        services().store.add_changes(change_from_dict(c) for c in CHANGES)
        token = create_token(tables=services().tables, scope="admin")["token"]
    yield app, token
    app.extensions["rollback_advisor"].store.close()


def test_api_conforms_to_its_openapi_document(served):
    app, token = served
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    headers = {"Authorization": f"Bearer {token}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck),
                  derandomize=True, database=None)
        def run(case):
            response = case.call(headers=headers)
            case.validate_response(response, checks=CHECKS)

        run()


def test_api_conforms_statefully(served):
    """Stateful: sequences that follow the document's links (register a hook, then deliver to
    it or revoke it, ...) never get a 5xx or an undocumented answer either."""
    app, token = served
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    headers = {"Authorization": f"Bearer {token}"}
    base = schema.as_state_machine()
    registered: set[str] = set()
    followed: list[str] = []

    class Workflow(base):  # type: ignore[misc,valid-type]
        def get_call_kwargs(self, case):
            if (case.path_parameters or {}).get("hook_id") in registered:
                followed.append(case.operation.label)  # a link, not a generated id
            return {"headers": headers}

        def after_call(self, response, case):
            if case.operation.label == "POST /api/v1/hooks" and response.status_code == 201:
                registered.add(response.json()["id"])

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=CHECKS)

    Workflow.run(settings=settings(max_examples=25, stateful_step_count=4, deadline=None,
                                   suppress_health_check=list(HealthCheck), derandomize=True,
                                   database=None))
    assert followed, "no sequence followed a link from a registered hook"
