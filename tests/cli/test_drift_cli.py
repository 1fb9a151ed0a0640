"""``medz1 check`` and ``medz1 grants check`` name drift one line each, exit 5, keep the
JSON shape, and never print a password hash or an e-mail.
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Engine, text

from tests.cli.conftest import Invoke

pytestmark = pytest.mark.db

_BCRYPT = "$2b$12$" + "D" * 53


def test_check_json_names_each_drift_and_prints_no_hash(
    cli: Invoke, database_url_env: str, engine: Engine
) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO auth.users (email, password_hash, display_name) "
                "VALUES ('legacy@example.org', :h, 'L')"
            ),
            {"h": _BCRYPT},
        )
        conn.execute(text("ALTER TABLE auth.audit_logs DISABLE TRIGGER audit_logs_chain"))
    result = cli("check", "--json")
    assert result.code == 5
    report = json.loads(result.out)
    assert set(report) == {"ok", "findings"}
    assert report["ok"] is False
    by_name = {f["name"]: f for f in report["findings"]}
    assert set(by_name["catalog"]) == {"name", "ok", "detail", "differences"}
    assert by_name["catalog"]["differences"] == [
        "trigger auth.audit_logs.audit_logs_chain: disabled, declared enabled"
    ]
    assert by_name["passwords"]["differences"] == [
        "1 user(s) with a legacy password hash (not argon2id; replaced at their next login)"
    ]
    assert "$2b$" not in result.out
    assert "legacy@example.org" not in result.out


def test_grants_check_prints_a_column_grant_and_exits_5(
    cli: Invoke, database_url_env: str, engine: Engine
) -> None:
    with engine.begin() as conn:
        conn.execute(
            text("GRANT UPDATE (name_last) ON public.patient_demographics TO reporting_user")
        )
    result = cli("grants", "check")
    assert result.code == 5
    assert (
        "- UPDATE (name_last) on public.patient_demographics for reporting_user: "
        "granted but not declared"
    ) in result.out
    assert "1 difference(s)" in result.out
