"""Replace schemas of a database from a backup in one transaction, verified before commit.

``pg_restore --single-transaction`` owns its transaction, so nothing could run before or
after it in the same one. Here the script ``pg_restore`` prints runs on medz1's own
connection instead (:mod:`medz1.ops.backup._script`), between the steps that make the
result consistent: foreign keys from other schemas into the replaced ones
(``admin.user_preferences`` -> ``auth.users``) are dropped and re-created, which
re-validates them; roles and grants are repaired from the declared role plan; counts, digests
and ACLs are compared with the manifest and the grant role_plan is checked. Only with 0
differences does it commit; any error or difference rolls everything back.

Triggers are created after the data (pg_dump's post-data section), so append-only and
chaining triggers neither refuse nor rewrite the audit rows: the stored chain values come
back verbatim.
"""

from __future__ import annotations

import getpass
import os
import subprocess
import tempfile
from typing import Any, cast

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from medz1.auth import audit, checkpoints
from medz1.auth.audit import AuditEvent
from medz1.db.engine import make_engine
from medz1.db.errors import describe, translated
from medz1.db.target import Target
from medz1.embedded import clean_env
from medz1.errors import CheckFailedError, DataError, NotFoundError, ServerError, UsageError
from medz1.ops.backup import _manifest as bm
from medz1.ops.backup import _observe as observe
from medz1.ops.backup._script import ScriptRunner
from medz1.ops.backup._tools import last_line
from medz1.ops.backup.archive import Job, Outcome
from medz1.ops.backup.contents import SKIPPED_PRIVILEGES
from medz1.ops.database import create_extension
from medz1.provision import apply as provision
from medz1.provision.credentials import RolePlan
from medz1.provision.declared import OWNER

_MAX_GRANT_PASSES = 3


def replace_schemas(
    dest: Target, job: Job, *, live: bool, discard_audit_rows: int | None = None
) -> Outcome:
    """Replace ``job.schemas`` in ``dest`` in one transaction; commit only with 0 differences.

    ``live`` is a ``--replace`` of a database in use: its revision must be the backup's, no
    audit row written after the backup may silently go (``discard_audit_rows`` must state
    their number), and a ``backup_restored`` event is written in the same transaction.

    Raises:
        DataError: the restored schemas differ from the manifest or the grants; nothing
            is committed.
        ServerError: pg_restore or the server failed; nothing is committed.
    """
    job.reporter.step(f"replacing {', '.join(job.schemas)} in {dest.database}")
    engine = make_engine(dest.url, poolclass=NullPool)
    try:
        with translated(), engine.connect() as conn, conn.begin() as transaction:
            outcome, audit_session = _replace_in(
                conn, job, dest.database, live=live, discard=discard_audit_rows
            )
            if outcome.differences:
                transaction.rollback()
    except (sa_exc.DBAPIError, psycopg.Error) as exc:
        raise _restore_failed(exc) from exc
    finally:
        engine.dispose()
    if audit_session is not None and not outcome.differences:
        audit.checkpoint_committed(audit_session)
    return outcome


def _replace_in(
    conn: Connection, job: Job, database: str, *, live: bool, discard: int | None
) -> tuple[Outcome, Session | None]:
    # Every name below is schema-qualified; pg_get_constraintdef then qualifies too.
    conn.execute(text("SELECT set_config('search_path', '', true)"))
    guard_audit = live and "auth" in job.schemas
    if live:
        _check_revision(conn, job.manifest.revision, database)
    if guard_audit:
        _refuse_a_tampered_trail(conn)
        conn.execute(text(_KEEP_LIVE_AUDIT))
    role_plan = job.role_plan
    roles = provision.execute(
        conn, provision.plan_roles(conn, role_plan.matrix, role_plan.specs, role_plan.passwords)
    )
    create_extensions(conn, job.manifest.extensions)
    foreign_keys = _foreign_keys_into(conn, job.schemas)
    for schema, table, name, _ in foreign_keys:
        conn.exec_driver_sql(
            sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}")
            .format(sql.Identifier(schema, table), sql.Identifier(name))
            .as_string()
        )
    _run_script(conn, job)
    conn.execute(text("SELECT set_config('search_path', '', true)"))
    discarded = _check_newer_audit_rows(conn, database, job, discard) if guard_audit else 0
    for foreign_key in foreign_keys:
        _restore_foreign_key(conn, foreign_key, job.schemas)
    job.reporter.step("applying grants")
    # The grant plan names functions as regprocedure prints them under the default
    # search_path (those in public unqualified), as `grants apply` sees them.
    conn.execute(text("SELECT set_config('search_path', '\"$user\", public', true)"))
    repaired = _repair_grants(conn, role_plan)
    differences = _verify_in_transaction(conn, job)
    conn.execute(text("SELECT set_config('search_path', '\"$user\", public', true)"))
    # Passwords are not the archive's (S31) and a restore never sets an existing role's:
    # they are left out of the restore's own comparison (``grants check`` reports them).
    check = provision.plan(conn, role_plan.matrix, role_plan.specs)
    differences += [f"grants: {d.description}" for d in check]
    audit_session = None
    if live and not differences:
        audit_session = record_restore(conn, job, mode="replace", discarded=discarded)
    return Outcome(differences, roles, repaired), audit_session


#: The live audit rows, kept aside in the transaction to find those a restore would remove.
_KEEP_LIVE_AUDIT = """
CREATE TEMPORARY TABLE medz1_live_audit ON COMMIT DROP AS
SELECT audit_id, chain_seq, row_hash FROM auth.audit_logs
"""
_REMOVED_AUDIT = """
SELECT count(*), min(l.chain_seq), max(l.chain_seq) FROM pg_temp.medz1_live_audit l
WHERE NOT EXISTS (SELECT 1 FROM auth.audit_logs a WHERE a.audit_id = l.audit_id
                  AND a.row_hash IS NOT DISTINCT FROM l.row_hash)
"""


def _refuse_a_tampered_trail(conn: Connection) -> None:
    """Refuse to replace ``auth`` over an audit trail that does not verify (S19).

    Replacing the audit rows starts a new checkpoint epoch; over a trail that fails its
    chain or its signed checkpoints, that would erase the evidence of the tampering.

    Raises:
        CheckFailedError: the live trail fails verification (exit 5), naming the fault.
    """
    session = Session(bind=conn)
    report = audit.verify_chain(session, checkpoints=checkpoints.active())
    # No checkpoint of this database yet (its rows were written only by other writers) is
    # no evidence to keep; a deleted log stays visible, since the restore's line then
    # starts the file again marked "file-missing".
    if report.first_break is not None and report.first_break.kind != "checkpoints_missing":
        raise CheckFailedError(
            "the live audit trail does not verify, so replacing auth would erase the evidence: "
            + report.first_break.describe(),
            hint="investigate with `medz1 audit verify`; once explained, accept the trail with "
            "`medz1 audit checkpoint --new-epoch` and restore again",
        )


def _check_newer_audit_rows(conn: Connection, database: str, job: Job, discard: int | None) -> int:
    """Refuse a restore that removes audit rows unless ``discard`` states how many (S18).

    Returns the number of rows removed (then recorded in the ``backup_restored`` event).
    """
    removed, first, last = conn.execute(text(_REMOVED_AUDIT)).one()
    removed = int(removed)
    if removed == (discard or 0):
        return removed
    if removed == 0:
        raise UsageError(
            f"--discard-newer-audit-rows {discard} was given, but restoring "
            f"{', '.join(job.schemas)} removes no audit row of {database}; nothing was restored",
            hint="run the restore without --discard-newer-audit-rows",
        )
    raise UsageError(
        f"the backup is older than the audit log of {database}: restoring "
        f"{', '.join(job.schemas)} would remove {removed} audit row(s) written since "
        f"(chain_seq {first} to {last}); nothing was restored",
        hint="keep them: restore into a new database (without --replace) and compare; or "
        f"accept their loss with --discard-newer-audit-rows {removed} (the count must match; "
        "the restore's audit event records it)",
    )


def record_restore(conn: Connection, job: Job, *, mode: str, discarded: int) -> Session | None:
    """Write the ``backup_restored`` event into the audit chain of the restored database.

    Who (operating-system user and database user), which backup (folder name, archive and
    manifest SHA-256), which schemas, the mode and how many newer audit rows were
    discarded. Written in the caller's transaction; skipped only when the database has no
    audit table (a revision before it). The event starts a new checkpoint epoch (the chain
    was rewound on purpose): the caller passes the returned session to
    :func:`medz1.auth.audit.checkpoint_committed` once its transaction has committed.
    """
    if not conn.execute(text("SELECT to_regclass('auth.audit_logs') IS NOT NULL")).scalar():
        return None
    manifest = job.manifest
    details = {
        "os_user": _os_user(),
        "database_user": str(conn.execute(text("SELECT session_user")).scalar_one()),
        "backup": job.backup.path.name,
        "backup_created_at": manifest.created_at,
        "archive_sha256": manifest.archive.sha256,
        "manifest_sha256": manifest.manifest_sha256,
        "revision": manifest.revision,
        "schemas": list(job.schemas),
        "mode": mode,
        "discarded_audit_rows": discarded,
    }
    session = Session(bind=conn)
    # Only a restore that replaces the audit rows (or builds a new database) rewinds the
    # chain on purpose; any other restore is checkpointed like every audit write, so the
    # earlier checkpoints keep guarding the live rows.
    rewinds = mode != "replace" or "auth" in job.schemas
    audit.record(
        session,
        [audit.Event(AuditEvent.BACKUP_RESTORED, details=details)],
        new_epoch="restore" if rewinds else None,
    )
    session.flush()
    return session


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no user name in the environment or the password file
        return f"uid {os.getuid()}"


def _check_revision(conn: Connection, revision: str, database: str) -> None:
    current = observe.migration_revision(conn)
    if current is None:
        raise NotFoundError(
            f"database {database} holds no medz1 schema (no migration revision)",
            hint="restore into a new database instead (without --replace)",
        )
    if current != revision:
        raise UsageError(
            f"database {database} is at migration revision {current}, the backup at "
            f"{revision}; nothing was restored",
            hint=f"restore into a new database (without --replace), or migrate {database} "
            f"to {revision} first (`medz1 migrate upgrade|downgrade {revision}`)",
        )


def create_extensions(conn: Connection, extensions: tuple[bm.Extension, ...]) -> None:
    """Create the backup's extensions that are missing, in their schema if it exists.

    Raises:
        PrivilegeError: this administrator may not create one (see
            :func:`medz1.ops.database.create_extension`).
    """
    for extension in extensions:
        if conn.execute(text("SELECT to_regnamespace(:s)"), {"s": extension.schema_name}).scalar():
            create_extension(conn, extension.name, extension.schema_name)


_ForeignKey = tuple[str, str, str, str]


def _foreign_keys_into(conn: Connection, schemas: tuple[str, ...]) -> list[_ForeignKey]:
    """Foreign keys of other schemas' tables that refer to tables in ``schemas``."""
    rows = conn.execute(
        text(
            """
            SELECT cn.nspname, cl.relname, con.conname, pg_get_constraintdef(con.oid)
            FROM pg_constraint con
            JOIN pg_class cl ON cl.oid = con.conrelid
            JOIN pg_namespace cn ON cn.oid = cl.relnamespace
            JOIN pg_class rf ON rf.oid = con.confrelid
            JOIN pg_namespace rn ON rn.oid = rf.relnamespace
            WHERE con.contype = 'f' AND rn.nspname = ANY(:s) AND NOT cn.nspname = ANY(:s)
            ORDER BY 1, 2, 3
            """
        ),
        {"s": list(schemas)},
    ).all()
    return [(str(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]


def _restore_foreign_key(
    conn: Connection, foreign_key: _ForeignKey, schemas: tuple[str, ...]
) -> None:
    schema, table, name, definition = foreign_key
    statement = (
        sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ")
        .format(sql.Identifier(schema, table), sql.Identifier(name))
        .as_string()
        + definition
    )  # the server's own text of the constraint
    try:
        conn.exec_driver_sql(statement)
    except sa_exc.IntegrityError as exc:
        raise DataError(
            f"rows of {schema}.{table} refer to rows the restored {', '.join(schemas)} "
            f"do not have ({name}); nothing was restored",
            hint=f"restore {schema} together with it (--schema {schema}), or restore into "
            "a new database",
        ) from exc


def _run_script(conn: Connection, job: Job) -> None:
    tables = len(job.expected_tables)
    job.reporter.step(f"restoring {tables} tables (one transaction)", total=tables)
    command = [
        str(job.tools.pg_restore),
        "--clean",
        "--if-exists",
        "--no-owner",
        "--file=-",
        *(f"--schema={s}" for s in job.schemas),
        str(job.backup.archive),
    ]
    raw = cast(psycopg.Connection[Any], conn.connection.dbapi_connection)
    listing = "".join(
        line + "\n" for line in job.toc.splitlines() if not SKIPPED_PRIVILEGES.match(line)
    )
    with (
        tempfile.TemporaryFile() as errors,
        tempfile.NamedTemporaryFile("w", suffix=".list", encoding="utf-8") as list_file,
    ):
        list_file.write(listing)
        list_file.flush()
        command.insert(-1, f"--use-list={list_file.name}")
        process = subprocess.Popen(  # noqa: S603 - fixed program, arguments built here
            command, stdout=subprocess.PIPE, stderr=errors, env=clean_env()
        )
        assert process.stdout is not None
        try:
            # The archive's SQL runs as the schema owner, not as the administrator.
            conn.exec_driver_sql(
                sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(OWNER)).as_string()
            )
            ScriptRunner(raw, job.reporter).run(process.stdout)
            conn.exec_driver_sql("RESET ROLE")
        except BaseException:
            process.kill()
            raise
        finally:
            process.stdout.close()
            process.wait()
        if process.returncode != 0:
            errors.seek(0)
            raise ServerError(
                f"pg_restore failed: {last_line(errors.read().decode(errors='replace'))}",
                hint="nothing was restored",
            )


def _repair_grants(conn: Connection, role_plan: RolePlan) -> list[str]:
    repaired: list[str] = []
    for _ in range(_MAX_GRANT_PASSES):
        differences = provision.plan(conn, role_plan.matrix, role_plan.specs, role_plan.passwords)
        done = provision.execute(conn, differences)
        if not done:
            break
        repaired.extend(done)
    return repaired


def _verify_in_transaction(conn: Connection, job: Job) -> list[str]:
    acl = observe.acl_snapshot(conn, job.schemas, whole=job.whole)
    present = {t.qualified for t in observe.list_tables(conn, job.schemas)}
    expected = job.expected_tables
    job.reporter.step(f"verifying {len(expected)} tables", total=len(expected))
    observe.pin_output_settings(conn)
    tables = {}
    for entry in expected:
        if entry.name in present and (digest := observe.digest_like(conn, entry)) is not None:
            tables[digest.name] = digest
        job.reporter.advance()
    installed = {e.name for e in observe.extensions(conn)}
    observed = bm.Observed(observe.migration_revision(conn), present, tables, acl, installed)
    return bm.compare(job.manifest, observed, schemas=job.schemas, whole=job.whole)


def _restore_failed(exc: BaseException) -> DataError:
    original = getattr(exc, "orig", exc)
    detail = describe(exc)  # condition and names only: never row values
    if isinstance(original, pg_errors.ForeignKeyViolation):
        detail += " (restore the schemas that refer to each other together)"
    return DataError(
        f"the restore failed and was rolled back, nothing was changed: {detail}",
        hint="see the message; the database is as it was before",
    )
