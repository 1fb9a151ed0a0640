"""Privileges on the ``admin`` tables: the application creates and changes rows, never
deletes them; the reporting, loader and auditor roles see nothing there.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from medz1.db.target import Target
from medz1.provision.connect import engine_for_role
from medz1.provision.credentials import RolePlan

pytestmark = pytest.mark.db

TABLES = ("admin.feature_flags", "admin.system_settings", "admin.user_preferences")


@pytest.fixture
def roles(db_target: Target, role_plan: RolePlan) -> Iterator[dict[str, Engine]]:
    engines = {
        role: engine_for_role(db_target, role, role_plan.passwords)
        for role in ("app", "reporting", "loader", "auditor")
    }
    try:
        yield engines
    finally:
        for engine in engines.values():
            engine.dispose()


def _privileges(engine: Engine, role: str, table: str) -> set[str]:
    with engine.connect() as conn:
        return {
            privilege
            for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "MAINTAIN")
            if conn.execute(
                text("SELECT has_table_privilege(:r, :t, :p)"),
                {"r": role, "t": table, "p": privilege},
            ).scalar()
        }


def test_the_application_may_create_and_change_admin_rows_but_not_delete(
    engine: Engine,
) -> None:
    for table in TABLES:
        assert _privileges(engine, "med_z1_user", table) == {"SELECT", "INSERT", "UPDATE"}
    for role in ("reporting_user", "medz1_loader", "medz1_auditor"):
        for table in TABLES:
            assert _privileges(engine, role, table) == set(), (role, table)


@pytest.mark.parametrize("role", ["reporting", "loader", "auditor"])
def test_other_roles_cannot_read_admin_tables(roles: dict[str, Engine], role: str) -> None:
    for table in TABLES:
        with roles[role].connect() as conn, pytest.raises(DBAPIError) as refused:
            conn.execute(text(f"SELECT 1 FROM {table} LIMIT 1"))
        assert getattr(refused.value.orig, "sqlstate", None) == "42501"
