"""The read layer calls PostgreSQL's own functions, whatever ``public`` holds.

A function in ``public`` whose argument types match better than the built-in's (here
``public.lower(varchar)`` against ``pg_catalog.lower(text)`` for a varchar column) is
chosen by unqualified SQL; ``medz1 check`` reports such a function, but until someone
runs it every read would go through it. The reads name ``pg_catalog`` explicitly.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from medz1.clinical.load import load, prepare
from medz1.clinical.synthetic import generate, write_parquet
from medz1.dal import labs
from medz1.db.target import Target
from medz1.ops.grants import apply_grants
from medz1.provision.connect import engine_for_role
from medz1.provision.credentials import RolePlan
from tests.plugins.synthetic import scoped

pytestmark = pytest.mark.db


@pytest.fixture
def app(db_target: Target, role_plan: RolePlan, engine: Engine, tmp_path: Path) -> Iterator[Engine]:
    # The test reads patients of every station: station scoping off in this database.
    apply_grants(db_target, scoped(role_plan, station_scoping=False))
    write_parquet(generate(2, seed=4), tmp_path)
    loader = engine_for_role(db_target, "loader", role_plan.passwords)
    try:
        load(loader, prepare(tmp_path))
    finally:
        loader.dispose()
    application = engine_for_role(db_target, "app", role_plan.passwords)
    yield application
    application.dispose()


def test_a_lower_of_varchar_in_public_does_not_change_the_lab_trend(
    app: Engine, engine: Engine
) -> None:
    with Session(app) as session:
        key = session.execute(text("SELECT min(patient_key) FROM patient_labs")).scalar_one()
        name = session.execute(
            text("SELECT min(lab_test_name) FROM patient_labs WHERE patient_key = :k"), {"k": key}
        ).scalar_one()
        before = labs.lab_trend(session, patient_key=key, test=name.lower())
    assert before
    with engine.begin() as conn:
        conn.execute(
            text(
                "CREATE FUNCTION public.lower(character varying) RETURNS text "
                "LANGUAGE sql IMMUTABLE AS $$ SELECT 'shadowed' $$"
            )
        )
        conn.execute(text("GRANT EXECUTE ON FUNCTION public.lower(character varying) TO PUBLIC"))
    with Session(app) as session:
        # The shadow is really chosen by unqualified SQL on this connection...
        shadowed = session.execute(text("SELECT lower(CAST('ABC' AS varchar))")).scalar_one()
        assert shadowed == "shadowed"
        # ...and not by the read layer.
        assert labs.lab_trend(session, patient_key=key, test=name.lower()) == before
