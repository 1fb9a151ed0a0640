"""Replace schemas of a database from a backup in one transaction, verified before commit.

``pg_restore --single-transaction`` owns its transaction, so nothing could run before or
after it in the same one. Here the script ``pg_restore`` prints runs on medz1's own
connection instead (:mod:`medz1.ops.backup_script`), between the steps that make the
result consistent: foreign keys from other schemas into the replaced ones
(``admin.user_preferences`` -> ``auth.users``) are dropped and re-created, which
re-validates them; roles and grants are repaired from the declared policy; counts, digests
and ACLs are compared with the manifest and the grant policy is checked. Only with 0
differences does it commit; any error or difference rolls everything back.

Data is restored with triggers disabled, so append-only and chaining triggers neither
refuse nor rewrite the audit rows: the stored chain values come back verbatim.
"""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from typing import Any, cast

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from medz1.db.engine import make_engine
from medz1.db.errors import translated
from medz1.db.target import Target
from medz1.errors import DataError, NotFoundError, ServerError, UsageError
from medz1.models import SCHEMAS
from medz1.ops import backup_manifest as bm
from medz1.ops import backup_state as state
from medz1.ops.backup import Backup
from medz1.ops.backup_script import ScriptRunner
from medz1.ops.backup_tools import PgTools, Reporter, clean_env, last_line
from medz1.provision import apply as provision
from medz1.provision.credentials import Policy

_MAX_GRANT_PASSES = 3


@dataclass(frozen=True)
class Outcome:
    """What a restore found and changed."""

    differences: list[str]
    roles_changed: list[str]
    grants_repaired: list[str]


@dataclass(frozen=True)
class Job:
    """One restore: which backup, which schemas, where to, with which programs."""

    backup: Backup
    schemas: tuple[str, ...]
    toc: str
    tools: PgTools
    policy: Policy
    reporter: Reporter

    @property
    def manifest(self) -> bm.Manifest:
        """The backup's manifest."""
        return self.backup.manifest

    @property
    def expected_tables(self) -> list[bm.TableState]:
        """The manifest's tables in the restored schemas."""
        return [t for t in self.manifest.tables if t.schema_name in self.schemas]

    @property
    def whole(self) -> bool:
        """True when every medz1 schema is restored (database-wide ACLs are compared too)."""
        return self.schemas == SCHEMAS


def replace_schemas(dest: Target, job: Job, *, check_revision: bool) -> Outcome:
    """Replace ``job.schemas`` in ``dest`` in one transaction; commit only with 0 differences."""
    job.reporter.step(f"replacing {', '.join(job.schemas)} in {dest.database}")
    engine = make_engine(dest.url, poolclass=NullPool)
    try:
        with translated(), engine.connect() as conn, conn.begin() as transaction:
            outcome = _replace_in(conn, job, dest.database, check_revision)
            if outcome.differences:
                transaction.rollback()
            return outcome
    except (sa_exc.DBAPIError, psycopg.Error) as exc:
        raise _restore_failed(exc) from exc
    finally:
        engine.dispose()


def _replace_in(conn: Connection, job: Job, database: str, check_revision: bool) -> Outcome:
    # Every name below is schema-qualified; pg_get_constraintdef then qualifies too.
    conn.execute(text("SELECT set_config('search_path', '', true)"))
    if check_revision:
        _check_revision(conn, job.manifest.revision, database)
    policy = job.policy
    roles = provision.execute(
        conn, provision.plan_roles(conn, policy.matrix, policy.specs, policy.passwords)
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
    for foreign_key in foreign_keys:
        _restore_foreign_key(conn, foreign_key, job.schemas)
    job.reporter.step("applying grants")
    repaired = _repair_grants(conn, policy)
    differences = _verify_in_transaction(conn, job)
    check = provision.plan(conn, policy.matrix, policy.specs, policy.passwords)
    differences += [f"grants: {d.description}" for d in check]
    return Outcome(differences, roles, repaired)


def _check_revision(conn: Connection, revision: str, database: str) -> None:
    current = state.migration_revision(conn)
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
    """Create the backup's extensions that are missing, in their schema if it exists."""
    for extension in extensions:
        if conn.execute(text("SELECT to_regnamespace(:s)"), {"s": extension.schema_name}).scalar():
            statement = sql.SQL("CREATE EXTENSION IF NOT EXISTS {} SCHEMA {}").format(
                sql.Identifier(extension.name), sql.Identifier(extension.schema_name)
            )
            conn.exec_driver_sql(statement.as_string())


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
        "--disable-triggers",
        "--file=-",
        *(f"--schema={s}" for s in job.schemas),
        str(job.backup.archive),
    ]
    raw = cast(psycopg.Connection[Any], conn.connection.dbapi_connection)
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(  # noqa: S603 - fixed program, arguments built here
            command, stdout=subprocess.PIPE, stderr=errors, env=clean_env()
        )
        assert process.stdout is not None
        try:
            ScriptRunner(raw, job.reporter).run(process.stdout)
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


def _repair_grants(conn: Connection, policy: Policy) -> list[str]:
    repaired: list[str] = []
    for _ in range(_MAX_GRANT_PASSES):
        differences = provision.plan(conn, policy.matrix, policy.specs, policy.passwords)
        done = provision.execute(conn, differences)
        if not done:
            break
        repaired.extend(done)
    return repaired


def _verify_in_transaction(conn: Connection, job: Job) -> list[str]:
    acl = state.acl_snapshot(conn, job.schemas, whole=job.whole)
    present = {t.qualified for t in state.list_tables(conn, job.schemas)}
    expected = job.expected_tables
    job.reporter.step(f"verifying {len(expected)} tables", total=len(expected))
    state.pin_output_settings(conn)
    tables = {}
    for entry in expected:
        if entry.name in present and (digest := state.digest_like(conn, entry)) is not None:
            tables[digest.name] = digest
        job.reporter.advance()
    installed = {e.name for e in state.extensions(conn)}
    observed = bm.Observed(state.migration_revision(conn), present, tables, acl, installed)
    return bm.compare(job.manifest, observed, schemas=job.schemas, whole=job.whole)


def _restore_failed(exc: BaseException) -> DataError:
    original = getattr(exc, "orig", exc)
    lines = str(original).strip().splitlines()
    detail = lines[0] if lines else type(original).__name__
    if isinstance(original, pg_errors.ForeignKeyViolation):
        detail += " (restore the schemas that refer to each other together)"
    return DataError(
        f"the restore failed and was rolled back, nothing was changed: {detail}",
        hint="see the message; the database is as it was before",
    )
