"""``grants check`` and ``medz1 check`` report station row security changed by hand, and
``grants apply`` repairs it; ``MEDZ1_STATION_SCOPING`` off is applied and checked too.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from medz1.db.engine import make_engine
from medz1.db.target import Target
from medz1.ops.check import catalog_finding
from medz1.ops.grants import apply_grants, check_grants
from medz1.provision.credentials import RolePlan
from tests.plugins.synthetic import scoped

pytestmark = pytest.mark.db


@pytest.fixture(autouse=True)
def _roles_repaired(db_target: Target, role_plan: RolePlan) -> Iterator[None]:
    """Roles are shared by the test session: repair them after each test."""
    yield
    apply_grants(db_target, role_plan)


def _run(engine: Engine, statement: str) -> None:
    with engine.begin() as conn:
        conn.execute(text(statement))


def _catalog_lines(target: Target, role_plan: RolePlan) -> list[str]:
    """What ``medz1 check`` reports against the declared catalog."""
    engine = make_engine(target.url)
    try:
        with engine.connect() as conn:
            return catalog_finding(conn, role_plan).differences
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("statement", "line"),
    [
        (
            "DROP POLICY station_scope ON public.patient_labs",
            "policy public.patient_labs.station_scope: missing",
        ),
        (
            "DROP POLICY reporting_all ON public.patient_vitals",
            "policy public.patient_vitals.reporting_all: missing",
        ),
        (
            "ALTER TABLE public.patient_encounters DISABLE ROW LEVEL SECURITY",
            "table public.patient_encounters: row level security is off "
            "(MEDZ1_STATION_SCOPING is on)",
        ),
        (
            "ALTER TABLE public.patient_demographics NO FORCE ROW LEVEL SECURITY",
            "table public.patient_demographics: row level security is not forced "
            "(the owner bypasses it)",
        ),
        (
            "CREATE POLICY everything ON public.patient_flags FOR SELECT TO med_z1_user "
            "USING (true)",
            "policy public.patient_flags.everything: not declared",
        ),
        (
            "ALTER POLICY station_scope ON public.patient_allergies TO med_z1_user, medz1_auditor",
            "policy public.patient_allergies.station_scope: differs (should be PERMISSIVE "
            "FOR SELECT TO med_z1_user)",
        ),
        (
            "ALTER ROLE medz1_loader NOBYPASSRLS",
            "role medz1_loader: attributes differ (should be BYPASSRLS)",
        ),
        (
            "ALTER ROLE reporting_user BYPASSRLS",
            "role reporting_user: attributes differ (should be NOBYPASSRLS)",
        ),
    ],
)
def test_row_security_changed_by_hand_is_reported_and_repaired(
    db_target: Target, engine: Engine, role_plan: RolePlan, statement: str, line: str
) -> None:
    assert check_grants(db_target, role_plan) == []
    _run(engine, statement)
    assert line in check_grants(db_target, role_plan)
    apply_grants(db_target, role_plan)
    assert check_grants(db_target, role_plan) == []
    # The repaired policies are the migration's own, expression for expression.
    assert _catalog_lines(db_target, role_plan) == []


def test_a_policy_whose_expression_was_changed_is_reported_by_check(
    db_target: Target, engine: Engine, role_plan: RolePlan
) -> None:
    _run(engine, "ALTER POLICY station_scope ON public.patient_labs USING (true)")
    assert "policy public.patient_labs.station_scope: differs from the declared one" in (
        _catalog_lines(db_target, role_plan)
    )


def test_scoping_off_disables_row_security_and_checks_clean(
    db_target: Target, engine: Engine, role_plan: RolePlan
) -> None:
    off = scoped(role_plan, station_scoping=False)
    lines = check_grants(db_target, off)
    assert "table public.patient_labs: row level security is on (MEDZ1_STATION_SCOPING is off)" in (
        lines
    )
    apply_grants(db_target, off)
    assert check_grants(db_target, off) == []
    assert _catalog_lines(db_target, off) == []
    with engine.connect() as conn:
        enabled = conn.execute(
            text(
                "SELECT count(*) FROM pg_class WHERE relname LIKE 'patient\\_%' "
                "AND relkind = 'r' AND relrowsecurity"
            )
        ).scalar_one()
    assert enabled == 0
    # Turned on again, the scoped role_plan's check is clean.
    apply_grants(db_target, role_plan)
    assert check_grants(db_target, role_plan) == []
    assert _catalog_lines(db_target, role_plan) == []
