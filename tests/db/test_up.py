"""``up`` creates everything on an empty server and changes nothing the second time."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from medz1.db.engine import make_engine
from medz1.db.target import Target
from medz1.ops.up import up
from medz1.provision.credentials import RolePlan

pytestmark = pytest.mark.db

EXPECTED_TABLES = {"public": 11, "auth": 5, "ai": 5, "admin": 3}


def test_up_creates_database_extensions_and_all_24_tables(
    empty_target: Target, role_plan: RolePlan
) -> None:
    report = up(empty_target, role_plan)
    assert report.database_created
    assert report.extensions_installed == ["vector", "pg_trgm"]
    assert {s.name: s.tables for s in report.schemas} == EXPECTED_TABLES


def test_second_up_changes_nothing(empty_target: Target, role_plan: RolePlan) -> None:
    up(empty_target, role_plan)
    second = up(empty_target, role_plan)
    assert not second.changed
    assert second.migration.before == second.migration.after


def test_every_table_and_column_has_a_comment(db_target: Target) -> None:
    engine = make_engine(db_target.url)
    with engine.connect() as conn:
        missing = (
            conn.execute(
                text(
                    """
                SELECT c.table_schema || '.' || c.table_name || '.' || c.column_name
                FROM information_schema.columns c
                WHERE c.table_schema IN ('public', 'auth', 'ai', 'admin')
                  AND c.table_name <> 'alembic_version'
                  AND col_description(
                        (quote_ident(c.table_schema) || '.' || quote_ident(c.table_name))::regclass,
                        c.ordinal_position) IS NULL
                """
                )
            )
            .scalars()
            .all()
        )
    engine.dispose()
    assert missing == []
