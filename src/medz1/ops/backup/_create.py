"""``medz1 backup create``: the archive and its manifest, read from one snapshot.

``pg_dump`` and medz1's own reading of counts, digests and ACLs share one exported
snapshot, so the manifest describes exactly the data in the archive even while the
database is written to; the digests are computed while ``pg_dump`` runs. The archive just
written is compared with medz1's declared schema before the manifest is written (S35).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from medz1 import __version__
from medz1.db.engine import make_engine
from medz1.db.errors import translated
from medz1.db.target import Target
from medz1.errors import NotFoundError, ServerError, UsageError
from medz1.models import SCHEMAS
from medz1.ops.backup import _manifest as bm
from medz1.ops.backup import _observe as observe
from medz1.ops.backup._tools import (
    NullReporter,
    PgTools,
    Reporter,
    choose_tools,
    last_line,
    libpq_env,
)
from medz1.ops.backup.archive import file_digest, normalize_schemas
from medz1.ops.backup.contents import check_declared, declared_contents, read_contents
from medz1.ops.paths import refuse_link
from medz1.provision.declared import MANAGED_ROLES

log = logging.getLogger(__name__)

#: gzip level of the archive. pg_dump's default (6) spends most of its time compressing;
#: level 1 halves that for an archive about a tenth larger, which pays for the digests
#: medz1 computes alongside (see bench/bench_backup.py).
COMPRESSION = 1
#: Connections that digest tables while pg_dump runs, all reading its snapshot. The largest
#: table's digest is the critical path; a second connection takes the others meanwhile.
DIGEST_WORKERS = max(1, min(4, os.cpu_count() or 1))


@dataclass(frozen=True)
class BackupReport:
    """What ``backup create`` wrote."""

    path: Path
    manifest: bm.Manifest
    size: int
    duration: float


# -- create -------------------------------------------------------------------------------


def create(
    target: Target,
    *,
    root: Path,
    schemas: list[str] | tuple[str, ...] | None = None,
    out: Path | None = None,
    reporter: Reporter | None = None,
) -> BackupReport:
    """Back up ``schemas`` (default: all) of the target database into a new directory.

    The directory is ``out``, or ``<root>/<UTC time>-<schemas>``. On any failure it is
    removed again: a backup directory with a manifest is always complete.

    Args:
        target: the medz1 database, dumped as the administrator with ``pg_dump``.
        root: the folder that receives backups when ``out`` is not given.
        schemas: names of medz1 schemas to back up; None for all of them.
        out: the new backup directory (created with mode 0700; it must not exist or be
            empty).
        reporter: told of each step (a progress display); None reports nothing.

    Returns:
        The backup's directory, schemas, migration revision, table and row counts, archive
        size in bytes and duration in seconds.

    Raises:
        UsageError: a schema is not medz1's, or ``out`` exists with files in it or cannot
            be created.
        NotFoundError: the database holds no medz1 schema.
        ServerError: ``pg_dump`` is missing, of another major version, or failed.
    """
    report = reporter or NullReporter()
    chosen = normalize_schemas(schemas)
    started = time.monotonic()
    engine = make_engine(target.url, poolclass=NullPool)
    try:
        with translated(), engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                conn.execute(text("SET TRANSACTION READ ONLY"))
                return _create_in_snapshot(conn, target, chosen, root, out, report, started)
    finally:
        engine.dispose()


def _create_in_snapshot(
    conn: Connection,
    target: Target,
    schemas: tuple[str, ...],
    root: Path,
    out: Path | None,
    reporter: Reporter,
    started: float,
) -> BackupReport:
    reporter.step(f"reading database {target.database}")
    revision = observe.migration_revision(conn)
    if revision is None:
        raise NotFoundError(
            f"database {target.database} holds no medz1 schema (no migration revision)",
            hint="run `medz1 up` first, or point MEDZ1_DATABASE_URL at a medz1 database",
        )
    version, version_num = observe.server_version(conn)
    tools = choose_tools(version_num // 10000)
    snapshot = str(conn.execute(text("SELECT pg_export_snapshot()")).scalar_one())
    with _new_folder(out or _default_folder(root, schemas)) as folder:
        archive = folder / bm.ARCHIVE_NAME
        with _private_file(archive) as handle:
            tables, acl = _dump_and_digest(conn, target, tools, schemas, snapshot, handle, reporter)
        reporter.step("comparing the archive with medz1's schema")
        check_declared(
            read_contents(tools, archive),
            declared_contents(target, None, tools, revision),
            source=f"database {target.database}",
            creating=True,
        )
        reporter.step("writing the manifest")
        size, sha256 = file_digest(archive)
        manifest = bm.Manifest(
            format=bm.FORMAT,
            created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            medz1_version=__version__,
            database=target.database,
            revision=revision,
            postgresql_version=version,
            pg_dump_version=tools.version,
            schemas=schemas,
            extensions=tuple(observe.extensions(conn)),
            roles=tuple(observe.role_attributes(conn, MANAGED_ROLES)),
            tables=tuple(tables),
            acl=tuple(sorted(acl)),
            archive=bm.ArchiveFile(file=bm.ARCHIVE_NAME, size=size, sha256=sha256),
            duration_seconds=round(time.monotonic() - started, 3),
        ).sealed()
        manifest_path = folder / bm.MANIFEST_NAME
        _write_private(manifest_path, manifest.to_json())
    log.info("backup of %s written to %s (%d tables)", ", ".join(schemas), folder, len(tables))
    return BackupReport(
        path=folder,
        manifest=manifest,
        size=size + manifest_path.stat().st_size,
        duration=time.monotonic() - started,
    )


def _dump_and_digest(
    conn: Connection,
    target: Target,
    tools: PgTools,
    schemas: tuple[str, ...],
    snapshot: str,
    archive: BinaryIO,
    reporter: Reporter,
) -> tuple[list[bm.TableState], set[tuple[str, str]]]:
    """Run ``pg_dump`` on the exported snapshot while digesting the same snapshot here."""
    command = [
        str(tools.pg_dump),
        "--format=custom",
        f"--compress={COMPRESSION}",
        "--no-password",
        f"--snapshot={snapshot}",
        *(f"--schema={_exact(s)}" for s in schemas),
    ]
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(  # noqa: S603 - fixed program, arguments built here
            command, stdout=archive, stderr=errors, env=libpq_env(target.url)
        )
        workers = make_engine(target.url, pool_size=DIGEST_WORKERS, max_overflow=0)
        try:
            acl = observe.acl_snapshot(conn, schemas, whole=schemas == SCHEMAS)
            infos = observe.list_tables(conn, schemas)
            reporter.step(f"pg_dump and digests of {len(infos)} tables", total=len(infos))
            tables = observe.digest_tables(
                workers,
                infos,
                snapshot=snapshot,
                workers=DIGEST_WORKERS,
                on_table=reporter.advance,
            )
            reporter.step("waiting for pg_dump")
            code = process.wait()
        finally:
            workers.dispose()
            if process.poll() is None:
                process.kill()
                process.wait()
        if code != 0:
            errors.seek(0)
            message = last_line(errors.read().decode(errors="replace"))
            raise ServerError(f"pg_dump failed: {message}", hint="see the message above")
    return tables, acl


def _exact(name: str) -> str:
    """A ``pg_dump`` pattern that matches exactly ``name``."""
    return '"' + name.replace('"', '""') + '"'


def _default_folder(root: Path, schemas: tuple[str, ...]) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    label = "all" if schemas == SCHEMAS else "+".join(schemas)
    candidate = root / f"{stamp}-{label}"
    number = 2
    while candidate.exists():
        candidate = root / f"{stamp}-{label}-{number}"
        number += 1
    return candidate


@contextmanager
def _new_folder(path: Path) -> Iterator[Path]:
    """Create ``path`` (mode 0700) or take it when empty; remove what was written on failure."""
    refuse_link(path, option="--out")
    path = path.expanduser().absolute()
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise UsageError(
            f"{path} exists and is not an empty directory",
            hint="choose a new --out path; a backup never overwrites files",
        )
    created = not path.exists()
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        path.mkdir(mode=0o700, exist_ok=True)
        path.chmod(0o700)
    except OSError as exc:
        raise UsageError(
            f"cannot create the backup directory {path} ({exc.strerror})",
            hint="choose a folder you can write with --out, or fix MEDZ1_DATA_DIR",
        ) from exc
    try:
        yield path
    except BaseException:
        if created:
            shutil.rmtree(path, ignore_errors=True)
        else:
            for child in path.iterdir():
                child.unlink(missing_ok=True)
        raise


@contextmanager
def _private_file(path: Path) -> Iterator[BinaryIO]:
    """A new file only its owner can read and write (0600 from the start, not after)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "wb") as handle:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())


def _write_private(path: Path, content: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    with _private_file(temporary) as handle:
        handle.write(content.encode())
    temporary.replace(path)
