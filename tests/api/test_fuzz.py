"""Schemathesis fuzzes the JSON API from its own OpenAPI document, against the app served by a
real HTTP server on 127.0.0.1 with the fund's demo data and an API token: no 5xx, and every
answer matches the document (status, content type, headers, body)."""

from __future__ import annotations

import threading

import hypothesis
import hypothesis.errors
import pytest
import requests
import schemathesis
from schemathesis import GenerationMode
from werkzeug.serving import make_server

from tests.api.conftest import london_today

pytestmark = pytest.mark.slow  # schemathesis against a real server

#: examples per operation and generation mode; enough to find a crash, quick enough for CI
MAX_EXAMPLES = 50


@pytest.fixture
def live_api(make_app):
    """(base URL, token) of the app served on a free port, with the fund demo data loaded."""
    from coop.api import services
    from coop.cli import load_seed_file
    from coop.extensions import db
    from coop.fund import seed

    app = make_app()
    with app.app_context():
        seed.load(db.session, load_seed_file("fund"), london_today())
        _token, secret = services.create_token(db.session, "fuzzer")
        db.session.commit()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", secret
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture
def api_schema(live_api):
    base_url, secret = live_api
    config = schemathesis.Config.from_dict({
        "seed": 20221113,
        "base-url": base_url,
        "headers": {"Authorization": f"Bearer {secret}"},
        "generation": {"max-examples": MAX_EXAMPLES, "mode": "all"},
        "phases": {"stateful": {"enabled": False}},
        "checks": {
            "not_a_server_error": {"enabled": True},
            "status_code_conformance": {"enabled": True},
            "content_type_conformance": {"enabled": True},
            "response_headers_conformance": {"enabled": True},
            "response_schema_conformance": {"enabled": True},
            "negative_data_rejection": {"enabled": True},
            # A request that follows the document may still break a business rule (a date
            # outside the campaign, a reused key): 422. It must never be a 400.
            "positive_data_acceptance": {
                "enabled": True,
                "expected-statuses": ["2XX", "304", "401", "404", "422"],
            },
            "missing_required_header": {"enabled": True},
            "ignored_auth": {"enabled": True},
        },
    })
    return schemathesis.openapi.from_url(f"{base_url}/api/openapi.json", config=config)


def _operations(api_schema) -> list:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {(op.method.upper(), op.path) for op in operations} >= {
        ("GET", "/api/fund"), ("GET", "/api/fund/{slug}"), ("POST", "/api/fund/entries"),
    }
    return operations


def _fuzz(operation, mode: GenerationMode, session: requests.Session) -> int:
    """Send generated requests to one operation; returns how many were sent."""
    sent = []

    @hypothesis.settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
                         derandomize=True, print_blob=False,
                         suppress_health_check=list(hypothesis.HealthCheck))
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def run(case):
        sent.append(case)
        case.call_and_validate(session=session)

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        # Nothing in this operation can be made invalid (e.g. GET /api/fund has only an
        # optional free-text header): there are no invalid requests to send.
        if mode is not GenerationMode.NEGATIVE:
            raise
    return len(sent)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
                         ids=["valid-requests", "invalid-requests"])
def test_the_api_survives_fuzzing_and_matches_its_document(api_schema, mode):
    """Every operation in the document, with requests that follow it and requests that don't.

    (Schemathesis' own pytest plugin doesn't run under pytest 9 yet, so each operation's
    strategy is driven with Hypothesis directly.)
    """
    failures = []
    sent = {}
    with requests.Session() as session:  # keep-alive: the time goes on the app, not on TCP
        for operation in _operations(api_schema):
            label = f"{operation.method.upper()} {operation.path}"
            try:
                sent[label] = _fuzz(operation, mode, session)
            except Exception as err:  # noqa: BLE001 - collected so every operation is tried
                failures.append(f"{label}: {err}")
    assert not failures, "\n\n".join(failures)
    if mode is GenerationMode.POSITIVE:  # every operation was really exercised
        assert all(n >= MAX_EXAMPLES // 2 for n in sent.values()), sent
