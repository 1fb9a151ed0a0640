"""Schemathesis against the OpenAPI document: generated requests never get a 5xx (S32).

Every operation of ``/api/v1/openapi.json`` is called with requests generated from its
schema (valid and invalid paths, queries, headers and bodies), authenticated with a real
session's bearer token, on a database of synthetic patients; the session-ending calls get
no token, so the run keeps its session. ``MEDZ1_FUZZ_EXAMPLES`` sets the examples per
operation (default 1000: more than 10,000 requests over the document's operations).
"""

from __future__ import annotations

import logging
import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.core.result import Err
from schemathesis.generation.case import Case

from tests.api.conftest import PASSWORD, Site, a_patient
from tests.plugins.auth import report

pytestmark = [pytest.mark.db, pytest.mark.api, pytest.mark.slow]

EXAMPLES = int(os.environ.get("MEDZ1_FUZZ_EXAMPLES", "1000"))
CALLS: dict[str, int] = {"requests": 0}


@pytest.fixture
def fuzz_site(clinic: Site) -> Site:
    """The app on the synthetic patients, with a logged-in clinician (bearer, no cookie)."""
    email = clinic.create_user()
    answer = clinic.client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    clinic.client.headers["Authorization"] = "Bearer " + answer.json()["token"]
    clinic.client.cookies.clear()
    logging.getLogger("medz1.access").setLevel(logging.WARNING)  # 10,000 lines otherwise
    return clinic


def _operations(site: Site) -> list[Any]:
    loaded = schemathesis.openapi.from_asgi("/api/v1/openapi.json", site.client.app)
    operations = []
    for result in loaded.get_all_operations():
        assert not isinstance(result, Err), result.err()
        operations.append(result.ok())
    return operations


def _call(site: Site, case: Case[Any]) -> None:
    headers = {"Authorization": site.client.headers["Authorization"]}
    if case.operation.path.startswith("/api/auth/"):
        headers = {}  # a login or logout would end the run's session
    headers.update(dict(case.headers or {}))
    response = case.call(headers=headers)
    CALLS["requests"] += 1
    CALLS[str(response.status_code)] = CALLS.get(str(response.status_code), 0) + 1
    assert response.status_code < 500, (case.operation.path, response.status_code)
    assert "Traceback" not in response.text


def test_generated_requests_never_get_a_server_error(fuzz_site: Site) -> None:
    operations = _operations(fuzz_site)
    icn, _, _ = a_patient(fuzz_site)
    for operation in operations:

        @given(case=operation.as_strategy(), known=st.booleans())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            derandomize=bool(os.environ.get("CI")),  # CI's verdict never depends on luck
        )
        def run(case: Case[Any], known: bool) -> None:
            if known and case.path_parameters and "icn" in case.path_parameters:
                case.path_parameters["icn"] = icn  # half the calls name a real patient
            _call(fuzz_site, case)

        run()
    logging.getLogger("medz1.access").setLevel(logging.NOTSET)
    if "MEDZ1_FUZZ_EXAMPLES" not in os.environ:
        assert CALLS["requests"] >= 10_000
    report(
        f"schemathesis: {CALLS['requests']} requests over {len(operations)} operations, 0 5xx; statuses {CALLS}"
    )
