"""schemathesis (pinned) generates requests for every /api/v1 operation and parameter from
the OpenAPI document, valid and invalid, and calls the app in-process (WSGI, no network):
no answer may be a 5xx, and every answer must have a documented status, content type,
headers and body shape. Bounded: ``MAX_EXAMPLES`` requests per operation and mode."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from forum.threads import service
from tests import factories

MAX_EXAMPLES = 40
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]


@pytest.fixture
def api_schema(app):
    """The document the app serves, against the app itself, with a few real threads
    (ids 1-3) so thread lookups find something."""
    asker = factories.user("fuzz_asker")
    for n, condition in enumerate(("lupus", "crohns", "eczema")):
        t = factories.thread(asker, title=f"Fuzzing thread {n}", conditions=(condition,))
        service.add_reply(factories.user(f"fuzz_helper_{n}"), t, "A reply with **bold** text.")
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_api_never_fails_and_always_matches_its_document(case):
    case.call_and_validate(checks=CHECKS)
