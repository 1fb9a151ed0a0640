"""Probes, database trouble answered 503 (S26), and the access log."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from psycopg import sql
from sqlalchemy import text

from medz1.db.target import Target
from medz1.provision.credentials import RolePlan
from medz1.provision.declared import APP
from tests.api.conftest import Site, a_patient, logged_in

pytestmark = [pytest.mark.db, pytest.mark.api]


def test_readyz_is_ready_on_a_migrated_database(site: Site) -> None:
    answer = site.client.get("/readyz")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ready"}


def test_readyz_is_not_ready_when_the_newest_schema_is_missing(site: Site) -> None:
    with site.admin.begin() as conn:
        conn.execute(text("DROP INDEX public.ix_patient_demographics_ssn_last4"))
    answer = site.client.get("/readyz")
    assert answer.status_code == 503
    assert answer.headers["retry-after"].isdigit()
    assert "medz1 migrate" in answer.json()["detail"]


def test_missing_database_answers_503_not_500(
    empty_target: Target, role_plan: RolePlan, site_factory: Any
) -> None:
    site: Site = site_factory(empty_target, role_plan)
    assert site.client.get("/healthz").status_code == 200
    answer = site.client.get("/readyz")
    assert answer.status_code == 503
    assert answer.headers["retry-after"].isdigit()


def test_exhausted_pool_answers_503_with_retry_after(
    db_target: Target, role_plan: RolePlan, site_factory: Any
) -> None:
    site: Site = site_factory(
        db_target, role_plan, service_pool_size="1", service_pool_timeout_seconds="0.2"
    )
    with site.service.engine.connect():  # the pool's only connection is busy
        answer = site.client.get(
            "/api/v1/patients?q=smith", headers={"Authorization": "Bearer " + "A" * 43}
        )
        ready = site.client.get("/readyz")
    assert answer.status_code == 503
    assert ready.status_code == 503
    assert answer.headers["retry-after"].isdigit()
    assert site.client.get("/readyz").status_code == 200


def test_statement_timeout_answers_503_instead_of_hanging(
    clinical_target: Target, role_plan: RolePlan, site_factory: Any
) -> None:
    database = clinical_target.url.database
    assert database is not None
    site: Site = site_factory(clinical_target, role_plan)
    logged_in(site)
    icn, _, _ = a_patient(site)
    statement = sql.SQL("ALTER ROLE {} IN DATABASE {} SET statement_timeout = '300ms'").format(
        sql.Identifier(APP), sql.Identifier(database)
    )
    with site.admin.begin() as conn:
        conn.exec_driver_sql(statement.as_string())
    site.service.engine.dispose()  # new connections read the new setting
    try:
        with site.admin.connect() as blocker:
            # The chart reads its document; the domain pages read demographics.
            blocker.execute(
                text(
                    "LOCK TABLE patient_demographics, patient_chart_documents "
                    "IN ACCESS EXCLUSIVE MODE"
                )
            )
            answer = site.client.get(f"/api/v1/patients/{icn}/chart")
            page = site.client.get(f"/patients/{icn}")
            blocker.rollback()
    finally:
        with site.admin.begin() as conn:
            reset = sql.SQL("ALTER ROLE {} IN DATABASE {} RESET statement_timeout").format(
                sql.Identifier(APP), sql.Identifier(database)
            )
            conn.exec_driver_sql(reset.as_string())
    assert answer.status_code == 503
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["retry-after"].isdigit()
    assert page.status_code == 503
    assert "Traceback" not in page.text


def test_access_log_is_json_without_names_tokens_or_query_strings(
    clinic: Site, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="medz1.access")
    body = logged_in(clinic)
    icn, last, _ = a_patient(clinic)
    clinic.client.get("/patients", params={"q": last})
    clinic.client.get(f"/api/v1/patients?q={last}")
    clinic.client.get(f"/patients/{icn}")
    clinic.client.get("/api/v1/patients?q=x", headers={"Authorization": "Bearer " + "Z" * 43})
    lines = [r.getMessage() for r in caplog.records if r.name == "medz1.access"]
    assert len(lines) == 5
    for line in lines:
        record = json.loads(line)
        assert "?" not in record["path"]
        for secret in (last, last.lower(), body["token"], body["csrf_token"], "Z" * 43):
            assert secret not in line
    assert json.loads(lines[-2])["user_id"] is not None
