"""The JSON API: chart, search, domains, paging limits, ETag, problem details, OpenAPI."""

from __future__ import annotations

import pytest

from medz1.api.schemas import ChartOut
from medz1.dal.chart import patient_chart
from medz1.db.engine import unit_of_work
from tests.api.conftest import Site, a_patient, common_initial, logged_in

pytestmark = [pytest.mark.db, pytest.mark.api]

PATHS = [
    "demographics",
    "vitals",
    "flags",
    "allergies",
    "medications",
    "medications/inpatient",
    "encounters",
    "labs",
]


def test_chart_equals_the_read_layers_chart(clinic: Site) -> None:
    logged_in(clinic)
    icn, _, _ = a_patient(clinic)
    answer = clinic.client.get(f"/api/v1/patients/{icn}/chart")
    with unit_of_work(clinic.service.engine) as session:
        chart = patient_chart(session, patient_key=icn)
    assert answer.status_code == 200
    assert answer.json() == ChartOut.model_validate(chart).model_dump(mode="json")


def test_chart_etag_answers_304_when_unchanged_and_still_audits(clinic: Site) -> None:
    logged_in(clinic)
    icn, _, _ = a_patient(clinic)
    first = clinic.client.get(f"/api/v1/patients/{icn}/chart")
    etag = first.headers["etag"]
    before = clinic.audit_count("patient_view")
    again = clinic.client.get(f"/api/v1/patients/{icn}/chart", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.headers["etag"] == etag
    assert clinic.audit_count("patient_view") == before + 1


@pytest.mark.parametrize("path", PATHS)
def test_each_domain_path_answers_and_audits_once(clinic: Site, path: str) -> None:
    logged_in(clinic)
    icn, _, _ = a_patient(clinic)
    before = clinic.audit_count("patient_view")
    answer = clinic.client.get(f"/api/v1/patients/{icn}/{path}")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert clinic.audit_count("patient_view") == before + 1


def test_bearer_token_reads_the_api_without_a_cookie(clinic: Site) -> None:
    token = logged_in(clinic)["token"]
    clinic.client.cookies.clear()
    icn, _, _ = a_patient(clinic)
    headers = {"Authorization": f"Bearer {token}"}
    assert clinic.client.get(f"/api/v1/patients/{icn}/chart", headers=headers).status_code == 200


def test_api_without_a_session_answers_401_problem(clinic: Site) -> None:
    icn, _, _ = a_patient(clinic)
    answer = clinic.client.get(f"/api/v1/patients/{icn}/chart")
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["status"] == 401


def test_unknown_patient_answers_404_problem(clinic: Site) -> None:
    logged_in(clinic)
    for path in ("chart", *PATHS):
        answer = clinic.client.get(f"/api/v1/patients/ICN999999999/{path}")
        assert answer.status_code == 404, path
        assert answer.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("icn", ["ICN-1", "x" * 33, "ICN%201", "%00", "ICN1'--"])
def test_malformed_icn_answers_422(clinic: Site, icn: str) -> None:
    logged_in(clinic)
    answer = clinic.client.get(f"/api/v1/patients/{icn}/chart")
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    "query",
    [
        "size=0",
        "size=101",
        "size=-5",
        "page=0",
        "page=-1",
        "page=99999999999999999999999999",
        "size=1e3",
        "page=abc",
    ],
)
def test_bad_paging_answers_422_never_500(clinic: Site, query: str) -> None:
    logged_in(clinic)
    icn, _, _ = a_patient(clinic)
    for path in (f"/api/v1/patients/{icn}/encounters", "/api/v1/patients?q=a"):
        sep = "&" if "?" in path else "?"
        answer = clinic.client.get(f"{path}{sep}{query}")
        assert answer.status_code == 422, (path, query)
        assert "Traceback" not in answer.text


def test_unknown_query_parameter_is_refused(clinic: Site) -> None:
    logged_in(clinic)
    icn, _, _ = a_patient(clinic)
    answer = clinic.client.get(f"/api/v1/patients/{icn}/labs?limit=5")
    assert answer.status_code == 422
    assert "limit" in answer.json()["detail"]


def test_search_without_query_answers_422(clinic: Site) -> None:
    logged_in(clinic)
    assert clinic.client.get("/api/v1/patients").status_code == 422
    assert clinic.client.get("/api/v1/patients?q=%20").status_code == 422


def test_page_size_is_honoured_and_has_next_is_true_when_more_exist(clinic: Site) -> None:
    logged_in(clinic)
    initial, count = common_initial(clinic)
    first = clinic.client.get(f"/api/v1/patients?q={initial}&size={count - 1}").json()
    last = clinic.client.get(f"/api/v1/patients?q={initial}&size={count - 1}&page=2").json()
    exact = clinic.client.get(f"/api/v1/patients?q={initial}&size={count}").json()
    assert (len(first["items"]), first["has_next"]) == (count - 1, True)
    assert (len(last["items"]), last["has_next"]) == (1, False)
    assert (len(exact["items"]), exact["has_next"]) == (count, False)


def test_openapi_document_lists_every_path(clinic: Site) -> None:
    document = clinic.client.get("/api/v1/openapi.json").json()
    paths = set(document["paths"])
    assert "/api/v1/patients/{icn}/chart" in paths
    assert "/api/v1/patients" in paths
    assert "/api/auth/login" in paths
    assert {f"/api/v1/patients/{{icn}}/{p}" for p in PATHS} <= paths
