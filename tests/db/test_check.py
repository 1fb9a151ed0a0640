"""``check`` passes on a migrated database and names each difference otherwise."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from medz1.db.target import Target
from medz1.ops.check import check
from medz1.provision.credentials import RolePlan

pytestmark = pytest.mark.db


def _alter(engine: Engine, statement: str) -> None:
    with engine.begin() as conn:
        conn.execute(text(statement))


def test_check_passes_on_a_fresh_database(db_target: Target, role_plan: RolePlan) -> None:
    report = check(db_target, role_plan)
    assert [f.name for f in report.findings][-1] == "grants"
    assert report.ok, report.differences


def test_column_added_by_hand_is_named(db_target: Target, engine: Engine) -> None:
    _alter(engine, "ALTER TABLE patient_vitals ADD COLUMN sneaky text")
    report = check(db_target)
    assert not report.ok
    assert any("patient_vitals.sneaky" in d for d in report.differences)


def test_dropped_index_is_named(db_target: Target, engine: Engine) -> None:
    _alter(engine, "DROP INDEX auth.ix_audit_logs_time")
    report = check(db_target)
    assert any("ix_audit_logs_time" in d for d in report.differences)


def test_changed_nullability_is_named(db_target: Target, engine: Engine) -> None:
    _alter(engine, "ALTER TABLE auth.users ALTER COLUMN first_name SET NOT NULL")
    report = check(db_target)
    assert any("auth.users.first_name" in d and "nullable" in d for d in report.differences)


def test_missing_extension_is_reported(db_target: Target, engine: Engine) -> None:
    _alter(engine, "DROP EXTENSION vector CASCADE")
    report = check(db_target)
    assert not report.ok
    assert any("vector" in d for d in report.differences)


def test_missing_database_is_reported_with_a_remedy(empty_target: Target) -> None:
    report = check(empty_target)
    assert not report.ok
    assert "medz1 up" in report.differences[0]


def test_database_behind_newest_revision_is_reported(db_target: Target, engine: Engine) -> None:
    _alter(engine, "UPDATE alembic_version SET version_num = 'ancient'")
    report = check(db_target)
    assert any(f.name == "migrations" and not f.ok for f in report.findings)


def test_grant_added_by_hand_fails_the_check(
    db_target: Target, engine: Engine, role_plan: RolePlan
) -> None:
    _alter(engine, "GRANT SELECT ON auth.sessions TO reporting_user")
    report = check(db_target, role_plan)
    assert not report.ok
    assert "SELECT on auth.sessions for reporting_user: granted but not declared" in (
        report.differences
    )
