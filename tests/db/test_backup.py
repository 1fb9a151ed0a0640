"""Backups restore to identical data, grants and policies (S30), files stay private and
roles get no passwords from a dump (S31), and S23 still holds after a restore.

The restore drill: rows in every schema, back up, restore, verify with 0 differences.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql
from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from medz1.auth.audit import verify_chain
from medz1.db.engine import make_engine, unit_of_work
from medz1.db.target import Target
from medz1.embedded import EmbeddedServer
from medz1.errors import CheckFailedError, DataError, NotFoundError, ServerError, UsageError
from medz1.ops.backup import _manifest as bm
from medz1.ops.backup import create, restore, verify
from medz1.ops.backup._tools import choose_tools
from medz1.ops.backup.archive import list_backups, open_backup
from medz1.ops.database import database_exists
from medz1.ops.grants import check_grants
from medz1.provision.connect import engine_for_role
from medz1.provision.credentials import RolePlan

pytestmark = pytest.mark.db

_USERS = [
    ("11111111-1111-4111-8111-111111111111", "ana@va.example"),
    ("22222222-2222-4222-8222-222222222222", "ben@va.example"),
]


def _has_column(conn: Connection, schema: str, table: str, column: str) -> bool:
    query = text(
        "SELECT count(*) FROM information_schema.columns "
        "WHERE table_schema = :s AND table_name = :t AND column_name = :c"
    )
    return bool(conn.execute(query, {"s": schema, "t": table, "c": column}).scalar())


def fill(engine: Engine) -> None:
    """A few patients with clinical rows, users with sessions and audit rows (inserted as
    the administrator: audit rows are append-only), and ai and admin rows.
    """
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO public.patient_demographics (patient_key, icn, name_last, dob) "
                "SELECT 'P' || g, 'P' || g, 'Doe ' || g, date '1950-01-01' + g "
                "FROM generate_series(1, 5) g"
            )
        )
        conn.execute(
            text(
                "INSERT INTO public.patient_vitals (patient_key, vital_sign_id, vital_type, "
                "vital_abbr, taken_datetime, numeric_value, qualifiers) "
                "SELECT 'P' || (g % 5 + 1), g, 'PULSE', 'P', now() - g * interval '1 hour', "
                '60 + g % 30, \'{"site": "radial"}\' FROM generate_series(1, 40) g'
            )
        )
        for user_id, email in _USERS:
            conn.execute(
                text(
                    "INSERT INTO auth.users (user_id, email, password_hash, display_name) "
                    "VALUES (:u, :e, '$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA', :e)"
                ),
                {"u": user_id, "e": email},
            )
        token = _has_column(conn, "auth", "sessions", "token_hash")
        conn.execute(
            text(
                "INSERT INTO auth.sessions (user_id, expires_at"
                + (", absolute_expires_at, token_hash" if token else "")
                + ") SELECT user_id, now() + interval '15 minutes'"
                + (
                    ", now() + interval '8 hours', "
                    "sha256(convert_to(gen_random_uuid()::text, 'UTF8'))"
                    if token
                    else ""
                )
                + " FROM auth.users"
            )
        )
        conn.execute(
            text(
                "INSERT INTO auth.audit_logs (user_id, event_type, email, success) "
                "SELECT user_id, 'login_success', email, true FROM auth.users, "
                "generate_series(1, 3)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO ai.patient_embeddings (patient_key, source_table, source_id, "
                "chunk_text, text_digest, embedding, model) SELECT 'P' || g, 'patient_vitals', "
                "g::text, 'pulse ' || g, repeat('b', 64), "
                "array_fill(g::real / 10, ARRAY[384])::vector, 'mini' "
                "FROM generate_series(1, 3) g"
            )
        )
        conn.execute(
            text(
                "INSERT INTO ai.chart_summaries (patient_key, model, summary_text, "
                "source_digest) VALUES ('P1', 'mini', 'stable', repeat('a', 64))"
            )
        )
        conn.execute(
            text(
                "INSERT INTO ai.ddi_cache (medication_set_digest, medications, source_version, "
                "result) VALUES (repeat('a', 64), ARRAY['x'], 1, '[]')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO admin.feature_flags (flag_key, enabled) VALUES ('ai.summaries', true);"
                "INSERT INTO admin.system_settings (setting_key, value) VALUES ('idle', '15');"
                "INSERT INTO admin.user_preferences (user_id, preference_key, value) "
                "SELECT user_id, 'vitals.range', '30' FROM auth.users"
            )
        )


def count(engine: Engine, table: str) -> int:
    """Rows in ``table`` (a trusted literal of the test)."""
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def on(target: Target, database: str) -> Target:
    """The same server as ``target``, another database."""
    return Target(url=target.url.set(database=database), embedded=True)


@pytest.fixture(scope="module")
def source(
    pg_server: EmbeddedServer, template_target: Target, role_plan: RolePlan
) -> Iterator[Target]:
    """One filled database shared by the tests that only read it."""
    from medz1.ops.grants import apply_grants

    name = f"medz1_backup_source_{os.getpid()}"
    _admin_sql(pg_server, sql.SQL("CREATE DATABASE {} TEMPLATE {}"), name, template_target.database)
    target = Target(url=template_target.url.set(database=name), embedded=True)
    apply_grants(target, role_plan)
    engine = make_engine(target.url, poolclass=NullPool)
    fill(engine)
    engine.dispose()
    yield target
    _admin_sql(pg_server, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)"), name)


def _admin_sql(server: EmbeddedServer, statement: sql.SQL, *names: str) -> None:
    engine = make_engine(server.url("postgres"), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(statement.format(*map(sql.Identifier, names)).as_string())
    engine.dispose()


@pytest.fixture(scope="module")
def full_backup(source: Target, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A backup of every schema of ``source``."""
    return create(source, root=tmp_path_factory.mktemp("backups")).path


@pytest.fixture(scope="module")
def auth_backup(source: Target, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A backup of the auth schema of ``source``."""
    return create(source, root=tmp_path_factory.mktemp("backups"), schemas=["auth"]).path


def copy_of(backup: Path, folder: Path) -> Path:
    """A copy of a backup directory in ``folder``, for a test to damage."""
    copy = folder / "copy"
    copy.mkdir(mode=0o700)
    for item in backup.iterdir():
        (copy / item.name).write_bytes(item.read_bytes())
    return copy


def reseal(backup: Path, **changes: object) -> None:
    """Rewrite a backup's manifest with ``changes`` and a matching manifest digest."""
    path = backup / bm.MANIFEST_NAME
    manifest = bm.Manifest.model_validate(json.loads(path.read_text()))
    path.write_text(manifest.model_copy(update=changes).sealed().to_json())


# -- the drill ----------------------------------------------------------------------------


def test_restore_drill_every_schema_restores_with_zero_differences(
    source: Target, full_backup: Path, empty_target: Target, role_plan: RolePlan
) -> None:
    report = restore(source, role_plan, full_backup, into=empty_target.database)
    assert report.tables == len(open_backup(full_backup).manifest.tables)
    assert report.rows > 60
    assert check_grants(empty_target, role_plan) == []


def test_verify_restores_into_a_scratch_database_and_reports_zero_differences(
    source: Target, full_backup: Path, role_plan: RolePlan
) -> None:
    report = verify(source, role_plan, full_backup)
    assert report.differences == []
    assert report.rows == open_backup(full_backup).manifest.rows


def test_verify_drops_its_scratch_database(
    source: Target, full_backup: Path, role_plan: RolePlan
) -> None:
    verify(source, role_plan, full_backup)
    engine = make_engine(source.maintenance_url, poolclass=NullPool)
    with engine.connect() as conn:
        left = conn.execute(
            text("SELECT count(*) FROM pg_database WHERE datname LIKE 'medz1_verify_%'")
        )
        assert left.scalar() == 0
    engine.dispose()


def test_manifest_records_counts_digests_acls_extensions_and_roles(full_backup: Path) -> None:
    manifest = open_backup(full_backup).manifest
    counts = {t.name: t.rows for t in manifest.tables}
    assert counts["auth.users"] == 2
    assert counts["auth.audit_logs"] == 6
    assert counts["public.patient_vitals"] == 40
    assert all(len(t.sha256) == 64 for t in manifest.tables)
    assert "vector" in {e.name for e in manifest.extensions}
    assert "med_z1_user" in {r.name for r in manifest.roles}
    assert ("auth", "table auth.users: med_z1_user SELECT") in manifest.acl


def test_audit_rows_are_restored_verbatim_and_stay_append_only(
    source: Target, full_backup: Path, empty_target: Target, role_plan: RolePlan
) -> None:
    restore(source, role_plan, full_backup, into=empty_target.database)
    engine = make_engine(empty_target.url)
    query = (
        "SELECT array_agg(t::text ORDER BY audit_id) FROM auth.audit_logs t "
        "WHERE event_type <> 'backup_restored'"
    )
    with engine.connect() as restored, make_engine(source.url).connect() as original:
        assert restored.execute(text(query)).scalar() == original.execute(text(query)).scalar()
    with pytest.raises(DBAPIError) as refused, engine.begin() as conn:
        conn.execute(text("UPDATE auth.audit_logs SET success = false"))
    assert getattr(refused.value.orig, "sqlstate", None) == "42501"
    engine.dispose()


def test_after_a_restore_no_schema_grants_create_to_public_and_functions_are_pinned(
    source: Target, full_backup: Path, empty_target: Target, role_plan: RolePlan
) -> None:
    restore(source, role_plan, full_backup, into=empty_target.database)
    engine = make_engine(empty_target.url)
    with engine.connect() as conn:
        public_create = conn.execute(
            text(
                "SELECT count(*) FROM pg_namespace n, aclexplode(n.nspacl) a "
                "WHERE a.grantee = 0 AND a.privilege_type = 'CREATE'"
            )
        ).scalar()
        unsafe = conn.execute(
            text(
                "SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                "WHERE n.nspname IN ('auth', 'ai', 'admin') AND (p.proconfig IS NULL "
                "OR has_function_privilege('public', p.oid, 'EXECUTE'))"
            )
        ).scalar()
    engine.dispose()
    assert (public_create, unsafe) == (0, 0)


def test_restored_roles_log_in_with_the_configured_password_not_one_from_the_dump(
    source: Target, full_backup: Path, empty_target: Target, role_plan: RolePlan
) -> None:
    restore(source, role_plan, full_backup, into=empty_target.database)
    archive = (full_backup / bm.ARCHIVE_NAME).read_bytes()
    assert b"SCRAM-SHA-256" not in archive
    assert b"SCRAM-SHA-256" not in (full_backup / bm.MANIFEST_NAME).read_bytes()
    app = engine_for_role(empty_target, "app", role_plan.passwords)
    with app.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM auth.users")).scalar() == 2
    app.dispose()


# -- per schema -----------------------------------------------------------------------------


def test_auth_alone_restores_into_a_new_database(
    source: Target, auth_backup: Path, empty_target: Target, role_plan: RolePlan
) -> None:
    report = restore(source, role_plan, auth_backup, into=empty_target.database)
    engine = make_engine(empty_target.url)
    assert report.schemas == ("auth",)
    assert count(engine, "auth.users") == 2
    assert count(engine, "public.patient_vitals") == 0
    engine.dispose()
    assert check_grants(empty_target, role_plan) == []


def test_auth_alone_replaces_live_auth_while_clinical_data_stays(
    db_target: Target, engine: Engine, role_plan: RolePlan, tmp_path: Path
) -> None:
    fill(engine)
    backup = create(db_target, root=tmp_path, schemas=["auth"]).path
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM auth.sessions"))
        conn.execute(text("DELETE FROM public.patient_vitals WHERE vital_sign_id > 30"))
    restore(db_target, role_plan, backup, schemas=["auth"], replace=True)
    assert count(engine, "auth.sessions") == 2
    assert count(engine, "public.patient_vitals") == 30
    assert count(engine, "admin.user_preferences") == 2
    with engine.connect() as conn:
        fk = conn.execute(
            text("SELECT count(*) FROM pg_constraint WHERE conname LIKE 'fk_user_preferences%'")
        ).scalar()
    assert fk == 1
    assert check_grants(db_target, role_plan) == []


def test_replace_refuses_when_live_preferences_refer_to_users_not_in_the_backup(
    db_target: Target, engine: Engine, role_plan: RolePlan, tmp_path: Path
) -> None:
    fill(engine)
    backup = create(db_target, root=tmp_path, schemas=["auth"]).path
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO auth.users (email, password_hash, display_name) "
                "VALUES ('new@va.example', 'x', 'New');"
                "INSERT INTO admin.user_preferences (user_id, preference_key, value) "
                "SELECT user_id, 'k', '1' FROM auth.users WHERE email = 'new@va.example'"
            )
        )
    with pytest.raises(DataError, match=r"admin\.user_preferences"):
        restore(db_target, role_plan, backup, schemas=["auth"], replace=True)
    assert count(engine, "auth.users") == 3


def test_replace_of_every_schema_in_one_transaction_restores_the_deleted_rows(
    db_target: Target, engine: Engine, role_plan: RolePlan, tmp_path: Path
) -> None:
    fill(engine)
    backup = create(db_target, root=tmp_path).path
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM public.patient_vitals; DELETE FROM ai.ddi_cache"))
    restore(db_target, role_plan, backup, replace=True)
    assert (count(engine, "public.patient_vitals"), count(engine, "ai.ddi_cache")) == (40, 1)


def test_one_schema_of_a_full_backup_replaces_only_that_schema(
    db_target: Target, engine: Engine, role_plan: RolePlan, tmp_path: Path
) -> None:
    fill(engine)
    backup = create(db_target, root=tmp_path).path
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM public.patient_vitals; DELETE FROM ai.ddi_cache"))
    restore(db_target, role_plan, backup, schemas=["ai"], replace=True)
    assert (count(engine, "public.patient_vitals"), count(engine, "ai.ddi_cache")) == (0, 1)


def test_the_password_reaches_pg_dump_through_the_environment_only(
    db_target: Target, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The bundled server trusts its superuser on the socket (a made-up password is
    # ignored); the managed-style server needs the administrator's own.
    secret = db_target.url.password or "sentinel-password-4b1d"
    seen: list[tuple[list[str], dict[str, str]]] = []
    real_popen = subprocess.Popen

    def spy(args: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        seen.append((list(args), dict(kwargs.get("env") or {})))
        return real_popen(args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", spy)
    with_password = Target(url=db_target.url.set(password=secret), embedded=db_target.embedded)
    create(with_password, root=tmp_path, schemas=["admin"])
    # The archive's dump reads the exported snapshot; the reference schema's does not.
    dumps = [(a, env) for a, env in seen if any(arg.startswith("--snapshot=") for arg in a)]
    assert len(dumps) == 1
    assert not any(secret in arg for args, _ in seen for arg in args)
    assert dumps[0][1]["PGPASSWORD"] == secret


# -- refusals -------------------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["flip a byte", "truncate"])
def test_damaged_archive_is_refused_and_no_database_is_created(
    source: Target,
    full_backup: Path,
    empty_target: Target,
    role_plan: RolePlan,
    tmp_path: Path,
    damage: str,
) -> None:
    backup = copy_of(full_backup, tmp_path)
    archive = backup / bm.ARCHIVE_NAME
    data = bytearray(archive.read_bytes())
    if damage == "truncate":
        del data[len(data) // 2 :]
    else:
        data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))
    with pytest.raises(DataError, match="archive"):
        restore(source, role_plan, backup, into=empty_target.database)
    assert not database_exists(empty_target)


def test_truncated_archive_with_a_matching_digest_is_refused_by_pg_restore(
    source: Target, full_backup: Path, empty_target: Target, role_plan: RolePlan, tmp_path: Path
) -> None:
    from medz1.ops.backup.archive import file_digest

    backup = copy_of(full_backup, tmp_path)
    archive = backup / bm.ARCHIVE_NAME
    archive.write_bytes(archive.read_bytes()[:2000])
    size, sha256 = file_digest(archive)
    reseal(backup, archive=bm.ArchiveFile(file=bm.ARCHIVE_NAME, size=size, sha256=sha256))
    with pytest.raises(DataError, match="cannot be read"):
        restore(source, role_plan, backup, into=empty_target.database)
    assert not database_exists(empty_target)


def test_tampered_manifest_is_refused(
    source: Target, full_backup: Path, empty_target: Target, role_plan: RolePlan, tmp_path: Path
) -> None:
    backup = copy_of(full_backup, tmp_path)
    path = backup / bm.MANIFEST_NAME
    path.write_text(path.read_text().replace('"rows": 2,', '"rows": 3,', 1))
    with pytest.raises(DataError, match="modified after the backup"):
        restore(source, role_plan, backup, into=empty_target.database)
    assert not database_exists(empty_target)


def test_manifest_that_does_not_match_the_archive_is_refused(
    source: Target,
    full_backup: Path,
    auth_backup: Path,
    role_plan: RolePlan,
    tmp_path: Path,
    empty_target: Target,
) -> None:
    backup = copy_of(full_backup, tmp_path)
    reseal(backup, tables=open_backup(auth_backup).manifest.tables)
    with pytest.raises(DataError, match="does not match the archive"):
        restore(source, role_plan, backup, into=empty_target.database)
    assert not database_exists(empty_target)


def test_resealed_manifest_with_a_wrong_digest_fails_verification_and_keeps_nothing(
    source: Target, full_backup: Path, empty_target: Target, role_plan: RolePlan, tmp_path: Path
) -> None:
    backup = copy_of(full_backup, tmp_path)
    manifest = open_backup(backup).manifest
    tables = tuple(
        t.model_copy(update={"sha256": "0" * 64}) if t.name == "auth.users" else t
        for t in manifest.tables
    )
    reseal(backup, tables=tables)
    assert verify(source, role_plan, backup).differences == [
        "table auth.users: content digest differs (2 rows)"
    ]
    with pytest.raises(CheckFailedError, match="content digest differs"):
        restore(source, role_plan, backup, into=empty_target.database)
    assert not database_exists(empty_target)


def test_replace_into_a_database_at_another_revision_is_refused_and_changes_nothing(
    db_target: Target, engine: Engine, role_plan: RolePlan, tmp_path: Path
) -> None:
    fill(engine)
    backup = create(db_target, root=tmp_path, schemas=["auth"]).path
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM auth.sessions"))
        conn.execute(text("UPDATE public.alembic_version SET version_num = 'elsewhere'"))
    with pytest.raises(UsageError, match="revision elsewhere"):
        restore(db_target, role_plan, backup, replace=True)
    assert count(engine, "auth.sessions") == 0


def test_restore_refuses_an_existing_database_without_replace(
    source: Target, full_backup: Path, db_target: Target, role_plan: RolePlan
) -> None:
    with pytest.raises(UsageError, match="exists"):
        restore(source, role_plan, full_backup, into=db_target.database)


def test_restore_of_a_missing_path_is_refused(
    source: Target, role_plan: RolePlan, tmp_path: Path
) -> None:
    with pytest.raises(NotFoundError, match="no backup"):
        restore(source, role_plan, tmp_path / "nothing")


def test_restore_of_a_schema_not_in_the_backup_is_refused(
    source: Target, auth_backup: Path, role_plan: RolePlan
) -> None:
    with pytest.raises(UsageError, match="unknown schema public"):
        restore(source, role_plan, auth_backup, schemas=["public"])


def test_no_pg_dump_of_the_server_version_is_a_clear_error() -> None:
    with pytest.raises(ServerError, match="no pg_dump fits the server"):
        choose_tools(9)


# -- files and listing ------------------------------------------------------------------------


def test_backup_files_are_0600_in_a_0700_directory(full_backup: Path) -> None:
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in full_backup.iterdir()}
    assert stat.S_IMODE(full_backup.stat().st_mode) == 0o700
    assert modes == {bm.ARCHIVE_NAME: 0o600, bm.MANIFEST_NAME: 0o600}


def test_list_shows_the_backup_with_its_manifest(auth_backup: Path) -> None:
    entries = list_backups(auth_backup.parent)
    assert [(e.path, e.manifest.schemas if e.manifest else None) for e in entries] == [
        (auth_backup, ("auth",))
    ]


def test_backup_into_an_existing_non_empty_directory_is_refused(
    source: Target, tmp_path: Path
) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("x")
    with pytest.raises(UsageError, match="not an empty directory"):
        create(source, root=tmp_path, out=tmp_path / "taken")


@pytest.mark.parametrize("which", ["full", "auth"])
def test_audit_chain_still_verifies_after_a_restore(
    source: Target,
    full_backup: Path,
    auth_backup: Path,
    empty_target: Target,
    role_plan: RolePlan,
    which: str,
) -> None:
    backup = full_backup if which == "full" else auth_backup
    restore(source, role_plan, backup, into=empty_target.database)
    engine = make_engine(empty_target.url)
    try:
        with unit_of_work(engine) as session:
            report = verify_chain(session)
    finally:
        engine.dispose()
    assert report.ok
    assert report.rows_checked >= 3
