"""Migrations: a full round trip, atomic failure, and revision checks."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from medz1.db.engine import make_engine
from medz1.db.target import Target
from medz1.errors import MigrationError
from medz1.ops import migrate
from medz1.ops.check import check
from medz1.ops.database import ensure_database, ensure_extensions

pytestmark = pytest.mark.db


def _tables(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT count(*) FROM pg_tables WHERE schemaname IN ('public','auth','ai','admin')"
                )
            ).scalar_one()
        )


def test_round_trip_upgrade_downgrade_upgrade_then_check_is_clean(
    db_target: Target, engine: Engine
) -> None:
    down = migrate.downgrade(engine, "base")
    assert down.after is None
    assert _tables(engine) == 1  # only alembic_version is left
    up = migrate.upgrade(engine)
    assert up.after == migrate.head_revision()
    assert check(db_target).ok


def test_failed_upgrade_leaves_nothing_behind(empty_target: Target) -> None:
    ensure_database(empty_target)
    engine = make_engine(empty_target.url)
    ensure_extensions(engine)
    with engine.begin() as conn:  # an object in the way of the first migration
        conn.execute(text("CREATE TABLE public.patient_vitals (x int)"))
    with pytest.raises(MigrationError, match="patient_vitals"):
        migrate.upgrade(engine)
    with engine.connect() as conn:
        assert migrate.current_revision(conn) is None
        schemas = set(conn.execute(text("SELECT nspname FROM pg_namespace")).scalars())
    assert "auth" not in schemas
    assert "ai" not in schemas
    assert _tables(engine) == 1  # just the table that was in the way
    engine.dispose()


def test_unknown_revision_is_refused_with_the_known_ones(engine: Engine) -> None:
    with pytest.raises(MigrationError, match="unknown revision 'nope'") as caught:
        migrate.upgrade(engine, "nope")
    assert migrate.head_revision() in caught.value.hint


def test_history_ends_at_head() -> None:
    revisions = migrate.history()
    assert revisions[-1].is_head
    assert revisions[0].down_revision is None
