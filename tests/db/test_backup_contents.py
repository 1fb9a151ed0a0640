"""A restore never runs SQL from an archive holding objects medz1 does not declare (S35).

Each case adds one kind of object to a medz1 database, dumps it into an otherwise valid
backup (manifest resealed over the new archive), and checks that restore, ``--replace`` and
``verify`` refuse it before restoring anything, and that ``backup create`` refuses to back
such a database up.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from medz1.db.target import Target
from medz1.errors import DataError
from medz1.ops.backup import _manifest as bm
from medz1.ops.backup import create, restore, verify
from medz1.ops.backup._tools import choose_tools, libpq_env
from medz1.ops.backup.archive import file_digest
from medz1.ops.database import database_exists
from medz1.provision.credentials import RolePlan
from tests.db.test_backup import count, fill

pytestmark = pytest.mark.db

#: A function that would write a file on the server's machine if it ever ran.
_EVIL = """
CREATE FUNCTION public.medz1_evil(value integer) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    IF current_database() <> '{source}' THEN
        EXECUTE 'COPY (SELECT 1) TO PROGRAM ''touch {marker}''';
    END IF;
    RETURN true;
END $$;
"""

#: (objects added, what the refusal must name); each needs ``_EVIL`` unless noted.
CASES = {
    "check constraint calling a function": (
        _EVIL + "ALTER TABLE ai.ddi_cache ADD CONSTRAINT ck_evil CHECK (public.medz1_evil(1))",
        "FUNCTION public.medz1_evil(integer)",
    ),
    "trigger": (
        _EVIL.replace("(value integer) RETURNS boolean", "() RETURNS trigger").replace(
            "RETURN true", "RETURN NEW"
        )
        + "; CREATE TRIGGER evil BEFORE INSERT ON auth.users FOR EACH ROW "
        "EXECUTE FUNCTION public.medz1_evil()",
        "TRIGGER auth.users evil",
    ),
    "declared function with another body": (
        "CREATE OR REPLACE FUNCTION auth.refuse_audit_change() RETURNS trigger "
        "LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$ BEGIN "
        "EXECUTE 'COPY (SELECT 1) TO PROGRAM ''touch {marker}'''; RETURN NULL; END $$",
        "FUNCTION auth.refuse_audit_change() (its definition differs",
    ),
    "declared check constraint with another definition": (
        _EVIL + "ALTER TABLE auth.users DROP CONSTRAINT ck_users_failed_login_attempts_nonnegative;"
        "ALTER TABLE auth.users ADD CONSTRAINT ck_users_failed_login_attempts_nonnegative "
        "CHECK (public.medz1_evil(failed_login_attempts))",
        "TABLE auth.users (its definition differs",
    ),
    "column default calling a function": (
        _EVIL + "ALTER TABLE admin.feature_flags ALTER COLUMN enabled "
        "SET DEFAULT public.medz1_evil(1)",
        "admin",
    ),
    "expression index": (
        _EVIL.replace("plpgsql AS", "plpgsql IMMUTABLE AS")
        + "CREATE INDEX ix_evil ON admin.feature_flags ((public.medz1_evil(1)))",
        "INDEX admin.ix_evil",
    ),
    "view": ("CREATE VIEW admin.v_evil AS SELECT 1 AS one", "VIEW admin.v_evil"),
    "rule": (
        "CREATE RULE r_evil AS ON INSERT TO admin.feature_flags DO ALSO NOTIFY evil",
        "RULE admin.feature_flags r_evil",
    ),
    "row security policy": (
        "CREATE POLICY p_evil ON admin.feature_flags USING (true)",
        "POLICY admin.feature_flags p_evil",
    ),
    "domain": ("CREATE DOMAIN admin.d_evil AS integer CHECK (VALUE > 0)", "DOMAIN admin.d_evil"),
    "type": ("CREATE TYPE auth.t_evil AS (a integer)", "TYPE auth.t_evil"),
    "aggregate": (
        "CREATE AGGREGATE admin.a_evil(integer) (SFUNC = int4pl, STYPE = integer)",
        "AGGREGATE admin.a_evil(integer)",
    ),
    "operator": (
        "CREATE OPERATOR admin.=== (LEFTARG = integer, RIGHTARG = integer, FUNCTION = int4eq)",
        "OPERATOR admin.===",
    ),
    "sequence": ("CREATE SEQUENCE ai.s_evil", "SEQUENCE ai.s_evil"),
    "procedure": (
        "CREATE PROCEDURE auth.p_evil() LANGUAGE sql AS 'SELECT 1'",
        "PROCEDURE auth.p_evil()",
    ),
}


def _dump(target: Target, archive: Path) -> None:
    tools = choose_tools(18)
    with archive.open("wb") as out:
        subprocess.run(  # noqa: S603 - the bundled pg_dump
            [str(tools.pg_dump), "--format=custom", "--no-password"],
            stdout=out,
            check=True,
            env=libpq_env(target.url),
        )


def crafted_backup(target: Target, engine: Engine, folder: Path, ddl: str, marker: Path) -> Path:
    """A valid backup of ``target`` whose archive also holds the objects ``ddl`` adds
    (``{marker}`` and ``{source}`` in it are replaced by the marker file and the database).
    """
    fill(engine)
    backup = create(target, root=folder).path
    with engine.begin() as conn:
        conn.exec_driver_sql(
            ddl.replace("{marker}", str(marker)).replace("{source}", target.database)
        )
    archive = backup / bm.ARCHIVE_NAME
    _dump(target, archive)
    size, sha256 = file_digest(archive)
    path = backup / bm.MANIFEST_NAME
    manifest = bm.Manifest.model_validate(json.loads(path.read_text()))
    update = {"archive": bm.ArchiveFile(file=bm.ARCHIVE_NAME, size=size, sha256=sha256)}
    path.write_text(manifest.model_copy(update=update).sealed().to_json())
    return backup


@pytest.fixture
def marker() -> Iterator[Path]:
    """A file the crafted functions would create if the restore ran them (in the shared
    temporary folder, which the server's user may write).
    """
    path = Path(tempfile.gettempdir()) / f"medz1-ran-{uuid.uuid4().hex}"
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


#: Run in the fast loop; the other kinds only in the full (slow) run.
_FAST = ("check constraint calling a function", "declared function with another body")


@pytest.mark.parametrize(
    "case", [pytest.param(c, marks=() if c in _FAST else pytest.mark.slow) for c in CASES]
)
def test_restore_refuses_an_archive_with_an_undeclared_object_before_restoring(
    db_target: Target,
    engine: Engine,
    empty_target: Target,
    role_plan: RolePlan,
    tmp_path: Path,
    marker: Path,
    case: str,
) -> None:
    ddl, listed = CASES[case]
    backup = crafted_backup(db_target, engine, tmp_path, ddl, marker)
    with pytest.raises(DataError, match="medz1 does not declare") as refused:
        restore(db_target, role_plan, backup, into=empty_target.database)
    assert listed in refused.value.message
    assert not database_exists(empty_target)
    assert not marker.exists()


def test_replace_refuses_a_crafted_archive_and_changes_nothing(
    db_target: Target, engine: Engine, role_plan: RolePlan, tmp_path: Path, marker: Path
) -> None:
    ddl = CASES["check constraint calling a function"][0]
    backup = crafted_backup(db_target, engine, tmp_path, ddl, marker)
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM ai.ddi_cache"))
    with pytest.raises(DataError, match=r"FUNCTION public\.medz1_evil"):
        restore(db_target, role_plan, backup, replace=True)
    assert count(engine, "ai.ddi_cache") == 0
    assert not marker.exists()


def test_verify_refuses_a_crafted_archive(
    db_target: Target, engine: Engine, role_plan: RolePlan, tmp_path: Path, marker: Path
) -> None:
    ddl = CASES["check constraint calling a function"][0]
    backup = crafted_backup(db_target, engine, tmp_path, ddl, marker)
    with pytest.raises(DataError, match="medz1 does not declare"):
        verify(db_target, role_plan, backup)
    assert not marker.exists()


def test_backup_create_refuses_a_database_with_an_undeclared_object(
    db_target: Target, engine: Engine, tmp_path: Path
) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE VIEW auth.v_extra AS SELECT 1 AS one")
    with pytest.raises(DataError, match=r"VIEW auth\.v_extra") as refused:
        create(db_target, root=tmp_path, schemas=["auth"])
    assert "no backup was written" in refused.value.message
    assert list(tmp_path.iterdir()) == []


def test_a_manifest_naming_an_undeclared_extension_is_refused(
    db_target: Target, empty_target: Target, role_plan: RolePlan, tmp_path: Path
) -> None:
    backup = create(db_target, root=tmp_path, schemas=["admin"]).path
    path = backup / bm.MANIFEST_NAME
    manifest = bm.Manifest.model_validate(json.loads(path.read_text()))
    extra = bm.Extension(name="plperlu", version="1.0", schema_name="pg_catalog")
    update = {"extensions": (*manifest.extensions, extra)}
    path.write_text(manifest.model_copy(update=update).sealed().to_json())
    with pytest.raises(DataError, match="extension 'plperlu'"):
        restore(db_target, role_plan, backup, into=empty_target.database)
    assert not database_exists(empty_target)


def reseal_archive(backup: Path) -> None:
    """Rewrite the manifest's archive size and digest after the archive was changed."""
    archive = backup / bm.ARCHIVE_NAME
    size, sha256 = file_digest(archive)
    path = backup / bm.MANIFEST_NAME
    manifest = bm.Manifest.model_validate(json.loads(path.read_text()))
    update = {"archive": bm.ArchiveFile(file=bm.ARCHIVE_NAME, size=size, sha256=sha256)}
    path.write_text(manifest.model_copy(update=update).sealed().to_json())


@pytest.mark.parametrize(
    "statement",
    [
        rb"COPY ai\.ddi_cache \([^)]*\) FROM stdin;",  # a TABLE DATA entry's statement
        rb"SELECT pg_catalog\.setval\('auth\.[a-z_]+', \d+, true\);",  # a SEQUENCE SET entry
    ],
)
def test_a_data_entry_carrying_other_sql_is_refused_before_restoring(
    db_target: Target,
    engine: Engine,
    empty_target: Target,
    role_plan: RolePlan,
    tmp_path: Path,
    statement: bytes,
) -> None:
    fill(engine)
    backup = create(db_target, root=tmp_path).path
    archive = backup / bm.ARCHIVE_NAME
    data = archive.read_bytes()
    found = re.search(statement, data)
    assert found is not None
    evil = b"CHECKPOINT;".ljust(len(found[0]))  # the same length keeps the archive readable
    archive.write_bytes(data[: found.start()] + evil + data[found.end() :])
    reseal_archive(backup)
    with pytest.raises(
        DataError, match="data statement medz1 does not write, so nothing was restored: CHECKPOINT"
    ):
        restore(db_target, role_plan, backup, into=empty_target.database)
    assert not database_exists(empty_target)
