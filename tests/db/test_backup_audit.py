"""A restore never silently removes audit rows written after the backup, and every restore
writes a ``backup_restored`` event into the audit chain of the database restored into.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from medz1.auth.audit import verify_chain
from medz1.db.engine import make_engine, unit_of_work
from medz1.db.target import Target
from medz1.errors import UsageError
from medz1.models import SCHEMAS
from medz1.ops.backup import create, restore
from medz1.provision.credentials import RolePlan
from tests.db.test_backup import count, fill

pytestmark = pytest.mark.db

_NEWER = (
    "INSERT INTO auth.audit_logs (event_type, email, success) "
    "SELECT 'login_failed', 'late@va.example', false FROM generate_series(1, :n)"
)


def write_newer_rows(engine: Engine, n: int) -> None:
    """``n`` audit rows written after the backup (chained by the trigger)."""
    with engine.begin() as conn:
        conn.execute(text(_NEWER), {"n": n})


def restored_events(engine: Engine) -> list[dict[str, Any]]:
    """The details of every ``backup_restored`` row, in chain order."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT details FROM auth.audit_logs WHERE event_type = 'backup_restored' "
                "ORDER BY chain_seq"
            )
        ).scalars()
        return [dict(row) for row in rows]


def chain_ok(engine: Engine) -> bool:
    """True when the audit chain verifies."""
    with unit_of_work(engine) as session:
        return verify_chain(session).ok


@pytest.mark.parametrize("schemas", [["auth"], None])
def test_replace_from_an_older_backup_refuses_to_remove_newer_audit_rows(
    db_target: Target,
    engine: Engine,
    role_plan: RolePlan,
    tmp_path: Path,
    schemas: list[str] | None,
) -> None:
    fill(engine)
    backup = create(db_target, root=tmp_path, schemas=schemas).path
    write_newer_rows(engine, 4)
    before = count(engine, "auth.audit_logs")
    with pytest.raises(UsageError, match="would remove 4 audit row") as refused:
        restore(db_target, role_plan, backup, schemas=schemas, replace=True)
    assert "--discard-newer-audit-rows 4" in (refused.value.hint or "")
    assert count(engine, "auth.audit_logs") == before
    assert restored_events(engine) == []


def test_replace_with_the_stated_count_discards_them_and_records_it(
    db_target: Target, engine: Engine, role_plan: RolePlan, tmp_path: Path
) -> None:
    fill(engine)
    backup = create(db_target, root=tmp_path, schemas=["auth"]).path
    before = count(engine, "auth.audit_logs")
    write_newer_rows(engine, 3)
    restore(db_target, role_plan, backup, replace=True, discard_newer_audit_rows=3)
    assert count(engine, "auth.audit_logs") == before + 1
    [event] = restored_events(engine)
    assert (event["discarded_audit_rows"], event["mode"]) == (3, "replace")
    assert chain_ok(engine)


@pytest.mark.parametrize("stated", [2, 5])
def test_replace_with_another_count_than_the_rows_it_removes_is_refused(
    db_target: Target, engine: Engine, role_plan: RolePlan, tmp_path: Path, stated: int
) -> None:
    fill(engine)
    backup = create(db_target, root=tmp_path, schemas=["auth"]).path
    write_newer_rows(engine, 3)
    with pytest.raises(UsageError, match="would remove 3 audit row"):
        restore(db_target, role_plan, backup, replace=True, discard_newer_audit_rows=stated)
    assert restored_events(engine) == []


def test_discard_count_without_newer_rows_is_refused(
    db_target: Target, engine: Engine, role_plan: RolePlan, tmp_path: Path
) -> None:
    fill(engine)
    backup = create(db_target, root=tmp_path, schemas=["auth"]).path
    with pytest.raises(UsageError, match="removes no audit row"):
        restore(db_target, role_plan, backup, replace=True, discard_newer_audit_rows=1)


@pytest.mark.parametrize("schemas", [["auth"], ["ai"], None])
def test_every_replace_writes_a_backup_restored_event(
    db_target: Target,
    engine: Engine,
    role_plan: RolePlan,
    tmp_path: Path,
    schemas: list[str] | None,
) -> None:
    fill(engine)
    backup = create(db_target, root=tmp_path, schemas=schemas).path
    restore(db_target, role_plan, backup, replace=True)
    [event] = restored_events(engine)
    assert event["mode"] == "replace"
    assert event["schemas"] == (schemas or list(SCHEMAS))
    assert event["backup"] == backup.name
    assert len(event["archive_sha256"]) == 64
    assert event["database_user"]
    assert chain_ok(engine)


def test_restore_into_a_new_database_writes_the_event_there(
    db_target: Target, engine: Engine, empty_target: Target, role_plan: RolePlan, tmp_path: Path
) -> None:
    fill(engine)
    backup = create(db_target, root=tmp_path, schemas=["auth"]).path
    restore(db_target, role_plan, backup, into=empty_target.database)
    restored = make_engine(empty_target.url)
    try:
        [event] = restored_events(restored)
        assert (event["mode"], event["schemas"]) == ("new database", ["auth"])
        assert chain_ok(restored)
    finally:
        restored.dispose()
    assert restored_events(engine) == []
