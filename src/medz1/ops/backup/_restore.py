"""``medz1 backup restore | verify``: restore a backup, then prove it restored identically.

Two ways in, both ending with the same verification (row counts, content digests and ACLs
against the manifest, then the declared grant matrix with 0 differences, S23/S30):

- **A new database** (the default, and ``verify``'s scratch database). A backup of every
  schema is restored with ``pg_restore --jobs``; a per-schema backup goes into a database
  migrated to the backup's revision first, so the other schemas exist, empty. Whatever
  fails or differs, the new database is dropped again.
- **``--replace``**: the restored schemas of an existing database at the backup's
  revision are replaced in one transaction (:mod:`medz1.ops.backup._replace`), committed
  only when everything matches.

Roles are created from the declared role plan with the passwords from medz1's settings; a
dump never carries roles or passwords (S31). The archive's SQL runs as ``medz1_owner``
and only after :mod:`medz1.ops.backup.contents` found it identical to medz1's own (S35).
Triggers are created after the data (pg_dump's post-data section), so the append-only and
chaining triggers neither refuse nor rewrite the restored audit rows.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import tempfile
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.pool import NullPool

from medz1.auth import audit
from medz1.db.engine import make_engine
from medz1.db.errors import translated
from medz1.db.target import Target
from medz1.errors import CheckFailedError, DataError, NotFoundError, UsageError
from medz1.ops import migrate
from medz1.ops.backup import _manifest as bm
from medz1.ops.backup import _observe as observe
from medz1.ops.backup._replace import (
    create_extensions,
    record_restore,
    replace_schemas,
)
from medz1.ops.backup._tools import (
    NullReporter,
    Reporter,
    choose_tools,
    dbname_conninfo,
    last_line,
    libpq_env,
    toc_data_items,
)
from medz1.ops.backup.archive import Job, Outcome, check_archive, normalize_schemas, open_backup
from medz1.ops.backup.contents import (
    SKIPPED_PRIVILEGES,
    check_data_statements,
    check_declared,
    declared_contents,
    read_contents,
)
from medz1.ops.backup.scratch import ScratchDatabase
from medz1.ops.database import database_exists
from medz1.ops.grants import apply_grants, apply_roles, check_grants
from medz1.provision.credentials import RolePlan
from medz1.provision.declared import OWNER

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
#: TOC entries a new database already has (``public`` comes with every database).
_SKIP_IN_NEW = re.compile(r"^\d+; \d+ \d+ (SCHEMA - public|COMMENT - SCHEMA public) ")
_SHOWN_DIFFERENCES = 3
#: The name verify's scratch database is built for (it is always dropped, never renamed).
_VERIFY = "medz1_verify"
#: pg_restore jobs, and connections digesting meanwhile.
_JOBS = max(2, min(4, os.cpu_count() or 1))
#: pg_restore --verbose with several jobs, when the data of a table is committed.
_FINISHED_DATA = re.compile(r"finished item (\d+) TABLE DATA ")


@dataclass(frozen=True)
class RestoreReport:
    """What a restore did; it only returns when the verification found 0 differences."""

    database: str
    schemas: tuple[str, ...]
    replaced: bool
    tables: int
    rows: int
    roles_changed: list[str]
    grants_repaired: list[str]
    duration: float


def restore(
    target: Target,
    role_plan: RolePlan,
    path: Path,
    *,
    schemas: list[str] | tuple[str, ...] | None = None,
    into: str | None = None,
    replace: bool = False,
    discard_newer_audit_rows: int | None = None,
    reporter: Reporter | None = None,
) -> RestoreReport:
    """Restore the backup at ``path`` into a new database, or with ``replace`` into an
    existing one; verify it; write a ``backup_restored`` audit event into it.

    Args:
        target: the server (and, for ``replace``, the database) to restore into, as the
            administrator.
        role_plan: the declared roles; the restored database gets their grants.
        path: the backup's directory or its manifest.
        schemas: the schemas of the backup to restore; None for all it holds.
        into: the new database's name (lower-case letters, digits and ``_``); None for a
            generated name, or the target database with ``replace``.
        replace: replace the restored schemas in an existing database, in one transaction.
        discard_newer_audit_rows: with ``replace``, the number of audit rows written after
            the backup that the caller accepts to lose (S18: never silently).
        reporter: told of each step; None reports nothing.

    Returns:
        The database restored into, the schemas, the tables and rows restored, the roles
        and grants repaired on the way, and the duration in seconds.

    Raises:
        CheckFailedError: the restored database differs from the manifest (nothing kept).
        DataError: the backup is damaged or its archive holds objects medz1 does not
            declare (S35; nothing restored).
        UsageError: ``replace`` would remove audit rows written after the backup and
            ``discard_newer_audit_rows`` does not state their number; ``into`` is not a
            valid name or names an existing database without ``replace``.
        NotFoundError: the backup is missing, or ``replace`` names no database.
        ServerError: ``pg_restore`` is missing or of another major version.
    """
    started = time.monotonic()
    job, dest = _prepare(target, role_plan, path, schemas, into, reporter, replace=replace)
    if replace:
        outcome = replace_schemas(dest, job, live=True, discard_audit_rows=discard_newer_audit_rows)
    else:
        outcome = _in_new_database(dest, job, keep=True)
    if outcome.differences:
        shown = "; ".join(outcome.differences[:_SHOWN_DIFFERENCES])
        more = len(outcome.differences) - _SHOWN_DIFFERENCES
        raise CheckFailedError(
            f"the restored data differs from the backup, so nothing was kept: {shown}"
            + (f" (and {more} more)" if more > 0 else ""),
            hint=f"run `medz1 backup verify {job.backup.path}` to list every difference",
        )
    restored = job.expected_tables
    log.info("restored %s into %s: 0 differences", ", ".join(job.schemas), dest.database)
    return RestoreReport(
        database=dest.database,
        schemas=job.schemas,
        replaced=replace,
        tables=len(restored),
        rows=sum(t.rows for t in restored),
        roles_changed=outcome.roles_changed,
        grants_repaired=outcome.grants_repaired,
        duration=time.monotonic() - started,
    )


def default_database_name(target: Target) -> str:
    """``medz1_restore_<UTC time>``, with a suffix if that database exists already."""
    base = "medz1_restore_" + datetime.now(UTC).strftime("%Y%m%d_%H%M%S")
    name, number = base, 2
    while database_exists(_on(target, name)):
        name, number = f"{base}_{number}", number + 1
    return name


# -- preparation --------------------------------------------------------------------------


def _prepare(
    target: Target,
    role_plan: RolePlan,
    path: Path,
    schemas: list[str] | tuple[str, ...] | None,
    into: str | None,
    reporter: Reporter | None,
    *,
    replace: bool,
) -> tuple[Job, Target]:
    report = reporter or NullReporter()
    report.step("checking the backup")
    backup = open_backup(path)
    chosen = normalize_schemas(schemas, backup.manifest.schemas)
    # verify's scratch database gets a unique unfinished name and is never renamed.
    dest = _on(target, _VERIFY) if into == _VERIFY else _destination(target, into, replace=replace)
    tools = choose_tools(_server_major(target))
    toc = check_archive(backup, tools)
    report.step("comparing the archive with medz1's schema")
    contents = read_contents(tools, backup.archive)
    reference = declared_contents(target, role_plan, tools, backup.manifest.revision)
    check_declared(contents, reference, source=f"the archive {backup.archive}")
    check_data_statements(tools, backup.archive, reference)
    return Job(backup, chosen, toc, tools, role_plan, report), dest


def _on(target: Target, database: str) -> Target:
    return Target(url=target.url.set(database=database), embedded=target.embedded)


def _destination(target: Target, into: str | None, *, replace: bool) -> Target:
    if into is not None and not _NAME.match(into):
        raise UsageError(
            f"{into!r} is not a database name medz1 creates",
            hint="use lower-case letters, digits and _ (63 at most), starting with a letter",
        )
    name = into or (target.database if replace else default_database_name(target))
    dest = _on(target, name)
    exists = database_exists(dest)
    if replace and not exists:
        raise NotFoundError(
            f"database {name} does not exist, so there is nothing to replace",
            hint="restore without --replace to create it",
        )
    if not replace and exists:
        raise UsageError(
            f"database {name} exists; a restore never writes over a database unless asked",
            hint="choose a new name with --into, or add --replace to replace the restored "
            "schemas in it",
        )
    return dest


def _server_major(target: Target) -> int:
    engine = make_engine(target.maintenance_url, poolclass=NullPool)
    try:
        with translated(what="the PostgreSQL server"), engine.connect() as conn:
            return observe.server_version(conn)[1] // 10000
    finally:
        engine.dispose()


# -- into a new database ------------------------------------------------------------------


def _in_new_database(dest: Target, job: Job, *, keep: bool) -> Outcome:
    """Build ``dest`` under an unfinished name, restore and verify it; rename it to its
    name only when ``keep`` and 0 differences, drop it otherwise (S35).
    """
    purpose = "restore" if keep else "verify"
    job.reporter.step(f"creating database {dest.database} (unfinished until verified)")
    with ScratchDatabase(dest, into=dest.database, purpose=purpose) as scratch:
        outcome = _fill_new_database(scratch.target, job)
        if keep and not outcome.differences:
            engine = make_engine(scratch.target.url, poolclass=NullPool)
            try:
                with translated(), engine.begin() as conn:
                    audit_session = record_restore(conn, job, mode="new database", discarded=0)
            finally:
                engine.dispose()
            scratch.finish()
            if audit_session is not None:
                audit.checkpoint_committed(audit_session, database=dest.database)
    return outcome


def _fill_new_database(dest: Target, job: Job) -> Outcome:
    engine = make_engine(dest.url, poolclass=NullPool)
    try:
        with translated(), engine.begin() as conn:
            create_extensions(conn, job.manifest.extensions)
        roles = apply_roles(dest, job.role_plan)
        if not job.whole:
            # The other schemas must exist (empty) for the grants and the foreign keys.
            job.reporter.step(f"migrating {dest.database} to revision {job.manifest.revision}")
            with translated():
                migrate.upgrade(engine, job.manifest.revision)
            outcome = replace_schemas(dest, job, live=False)
            return Outcome(
                outcome.differences, roles + outcome.roles_changed, outcome.grants_repaired
            )
        tables = len(job.expected_tables)
        job.reporter.step(f"restoring and verifying {tables} tables", total=2 * tables)
        with _Digests(dest, job) as digests:
            _pg_restore_into(dest, job, on_loaded=digests.loaded)
            grants = apply_grants(dest, job.role_plan)
            differences = digests.compare()
        differences += [
            f"grants: {line}" for line in check_grants(dest, job.role_plan, compare_passwords=False)
        ]
        return Outcome(differences, roles, grants.repaired)
    finally:
        engine.dispose()


def _pg_restore_into(dest: Target, job: Job, *, on_loaded: Callable[[str], None]) -> None:
    """``pg_restore --jobs`` of the whole archive (but the ``public`` schema itself).

    ``on_loaded`` receives each ``schema.table`` whose data is committed, while the other
    jobs go on with the rest (pg_restore reports finished items only with several jobs).
    """
    listing = "".join(
        line + "\n"
        for line in job.toc.splitlines()
        if not _SKIP_IN_NEW.match(line) and not SKIPPED_PRIVILEGES.match(line)
    )
    items = toc_data_items(job.toc)
    with tempfile.NamedTemporaryFile("w", suffix=".list", encoding="utf-8") as list_file:
        list_file.write(listing)
        list_file.flush()
        command = [
            str(job.tools.pg_restore),
            f"--dbname={dbname_conninfo(dest.database)}",
            "--no-password",
            "--exit-on-error",
            "--no-owner",
            f"--role={OWNER}",
            "--verbose",
            f"--jobs={_JOBS}",
            f"--use-list={list_file.name}",
            str(job.backup.archive),
        ]
        process = subprocess.Popen(  # noqa: S603 - fixed program, arguments built here
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=libpq_env(dest.url, application_name="medz1-restore"),
        )
        assert process.stderr is not None
        tail: deque[str] = deque(maxlen=5)
        for raw in process.stderr:
            line = raw.decode(errors="replace").rstrip()
            tail.append(line)
            if "processing data for table" in line:
                job.reporter.advance()
            elif (finished := _FINISHED_DATA.search(line)) and int(finished[1]) in items:
                on_loaded(items[int(finished[1])])
        if process.wait() != 0:
            errors = [line for line in tail if "error" in line.lower()] or list(tail)
            raise DataError(
                f"pg_restore failed: {last_line(chr(10).join(errors))}",
                hint="the database it was restoring into was dropped again",
            )


class _Digests:
    """Digests restored tables on a few connections, each as soon as its data is loaded.

    A digest holds a share lock on its table, so pg_restore's job that wants to add the
    table's primary key waits for it, while its other job goes on with other tables.
    """

    def __init__(self, dest: Target, job: Job) -> None:
        self._job = job
        self._engine = make_engine(dest.url, pool_size=_JOBS, max_overflow=0)
        self._pool = ThreadPoolExecutor(max_workers=_JOBS)
        self._expected = {t.name: t for t in job.expected_tables}
        self._futures: dict[str, Future[bm.TableState | None]] = {}

    def __enter__(self) -> _Digests:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._engine.dispose()

    def loaded(self, name: str) -> None:
        """The data of ``name`` is committed: digest it."""
        if name in self._expected and name not in self._futures:
            self._futures[name] = self._pool.submit(self._digest, self._expected[name])

    def compare(self) -> list[str]:
        """Digest what is left, then compare everything with the manifest."""
        job = self._job
        for name in self._expected:
            self.loaded(name)
        with translated(), self._engine.connect() as conn:
            acl = observe.acl_snapshot(conn, job.schemas, whole=job.whole)
            present = {t.qualified for t in observe.list_tables(conn, job.schemas)}
            revision = observe.migration_revision(conn)
            installed = {e.name for e in observe.extensions(conn)}
        with translated():
            digests = {name: future.result() for name, future in self._futures.items()}
        tables = {name: digest for name, digest in digests.items() if digest is not None}
        observed = bm.Observed(revision, present, tables, acl, installed)
        return bm.compare(job.manifest, observed, schemas=job.schemas, whole=job.whole)

    def _digest(self, expected: bm.TableState) -> bm.TableState | None:
        with self._engine.connect() as conn:
            observe.pin_output_settings(conn)
            digest = observe.digest_like(conn, expected)
            conn.rollback()
        self._job.reporter.advance()
        return digest
