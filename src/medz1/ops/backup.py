"""``medz1 backup create | list``, and opening a backup for ``restore`` and ``verify``.

A backup is one directory (mode 0700) holding a ``pg_dump`` custom-format archive and
``manifest.json`` (both 0600, never world-readable, S31). ``pg_dump`` and medz1's own
reading of counts, digests and ACLs share one exported snapshot, so the manifest describes
exactly the data in the archive even while the database is written to; the digests are
computed while ``pg_dump`` runs.
"""

from __future__ import annotations

import hashlib
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
from medz1.errors import DataError, NotFoundError, ServerError, UsageError
from medz1.models import SCHEMAS
from medz1.ops import backup_manifest as bm
from medz1.ops import backup_state as state
from medz1.ops.backup_contents import check_declared, declared_contents, read_contents
from medz1.ops.backup_tools import (
    NullReporter,
    PgTools,
    Reporter,
    choose_tools,
    last_line,
    libpq_env,
    read_toc,
    toc_header,
    toc_tables,
)
from medz1.provision.policy import MANAGED_ROLES

log = logging.getLogger(__name__)

BACKUPS_FOLDER = "backups"
#: gzip level of the archive. pg_dump's default (6) spends most of its time compressing;
#: level 1 halves that for an archive about a tenth larger, which pays for the digests
#: medz1 computes alongside (see bench/bench_backup.py).
COMPRESSION = 1
#: Connections that digest tables while pg_dump runs, all reading its snapshot. The largest
#: table's digest is the critical path; a second connection takes the others meanwhile.
DIGEST_WORKERS = max(1, min(4, os.cpu_count() or 1))
_CHUNK = 1 << 20


@dataclass(frozen=True)
class BackupReport:
    """What ``backup create`` wrote."""

    path: Path
    manifest: bm.Manifest
    size: int
    duration: float


@dataclass(frozen=True)
class BackupEntry:
    """One directory of the backup folder; ``problem`` says why its manifest is unusable."""

    path: Path
    manifest: bm.Manifest | None
    size: int
    problem: str | None = None


@dataclass(frozen=True)
class Backup:
    """A backup whose manifest and archive digest have been checked."""

    path: Path
    manifest: bm.Manifest
    archive: Path


def backups_dir(data_path: Path) -> Path:
    """The default folder of backups: ``<MEDZ1_DATA_DIR>/backups``."""
    return data_path / BACKUPS_FOLDER


def normalize_schemas(
    requested: list[str] | tuple[str, ...] | None, available: tuple[str, ...] = SCHEMAS
) -> tuple[str, ...]:
    """The schemas asked for, in medz1's order; all of ``available`` when none are named."""
    if not requested:
        return available
    unknown = sorted(set(requested) - set(available))
    if unknown:
        raise UsageError(
            f"unknown schema {', '.join(unknown)}",
            hint="choose among " + ", ".join(available),
        )
    return tuple(s for s in available if s in requested)


# -- create -------------------------------------------------------------------------------


def create_backup(
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
    revision = state.migration_revision(conn)
    if revision is None:
        raise NotFoundError(
            f"database {target.database} holds no medz1 schema (no migration revision)",
            hint="run `medz1 up` first, or point MEDZ1_DATABASE_URL at a medz1 database",
        )
    version, version_num = state.server_version(conn)
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
            extensions=tuple(state.extensions(conn)),
            roles=tuple(state.role_attributes(conn, MANAGED_ROLES)),
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
            acl = state.acl_snapshot(conn, schemas, whole=schemas == SCHEMAS)
            infos = state.list_tables(conn, schemas)
            reporter.step(f"pg_dump and digests of {len(infos)} tables", total=len(infos))
            tables = state.digest_tables(
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


def file_digest(path: Path) -> tuple[int, str]:
    """Size and SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


# -- list and open ------------------------------------------------------------------------


def list_backups(root: Path) -> list[BackupEntry]:
    """The backups in ``root``, oldest first; a broken manifest is listed with its problem."""
    if root.exists() and not root.is_dir():
        raise UsageError(
            f"the backup folder {root} is a file, not a directory",
            hint="move the file away, or set MEDZ1_DATA_DIR to another folder",
        )
    if not root.is_dir():
        return []
    entries = []
    try:
        folders = sorted(p for p in root.iterdir() if (p / bm.MANIFEST_NAME).is_file())
    except OSError as exc:
        raise UsageError(
            f"cannot read the backup folder {root} ({exc.strerror})",
            hint="fix its permissions, or set MEDZ1_DATA_DIR to another folder",
        ) from exc
    for folder in folders:
        size = sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
        manifest_path = folder / bm.MANIFEST_NAME
        try:
            manifest = read_manifest(manifest_path)
        except (DataError, NotFoundError) as exc:
            entries.append(BackupEntry(folder, None, size, exc.message))
            continue
        entries.append(BackupEntry(folder, manifest, size))
    entries.sort(key=lambda e: (e.manifest.created_at if e.manifest else "", e.path.name))
    return entries


def open_backup(path: Path) -> Backup:
    """Read a backup's manifest and check the archive against it (size and SHA-256).

    ``path`` is the backup directory, its manifest or its archive.
    """
    path = path.expanduser().absolute()
    if not path.exists():
        raise NotFoundError(f"no backup at {path}", hint="see `medz1 backup list`")
    folder = path if path.is_dir() else path.parent
    manifest_path = folder / bm.MANIFEST_NAME
    if not manifest_path.is_file():
        raise NotFoundError(
            f"{folder} holds no {bm.MANIFEST_NAME}",
            hint="pass a directory written by `medz1 backup create`",
        )
    manifest = read_manifest(manifest_path)
    archive = folder / manifest.archive.file
    if not archive.is_file():
        raise NotFoundError(f"the archive {archive} is missing", hint="copy the whole directory")
    if path.is_file() and path not in (manifest_path, archive):
        raise UsageError(f"{path} is not part of the backup", hint="pass the backup directory")
    size, sha256 = _archive_digest(archive)
    if size != manifest.archive.size:
        raise DataError(
            f"the archive {archive} is truncated or damaged: {size} bytes, "
            f"the manifest says {manifest.archive.size}",
            hint="the copy is incomplete; use another backup",
        )
    if sha256 != manifest.archive.sha256:
        raise DataError(
            f"the archive {archive} is corrupted: its SHA-256 differs from the manifest's",
            hint="use another backup",
        )
    return Backup(path=folder, manifest=manifest, archive=archive)


def read_manifest(path: Path) -> bm.Manifest:
    """Read and check a manifest file.

    Raises:
        NotFoundError: the file cannot be read (missing, a directory, no permission).
        DataError: its content is not a valid manifest (see :meth:`Manifest.from_json`).
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise NotFoundError(
            f"cannot read {path} ({exc.strerror or type(exc).__name__})",
            hint="pass a directory written by `medz1 backup create`, readable by you",
        ) from exc
    return bm.Manifest.from_json(raw, source=str(path))


def _archive_digest(archive: Path) -> tuple[int, str]:
    try:
        return file_digest(archive)
    except OSError as exc:
        raise NotFoundError(
            f"cannot read the archive {archive} ({exc.strerror or type(exc).__name__})",
            hint="check the backup's file permissions, or copy the whole directory again",
        ) from exc


def check_archive(backup: Backup, tools: PgTools) -> str:
    """Read the archive's table of contents and check that it matches the manifest."""
    toc = read_toc(tools, backup.archive)
    manifest = backup.manifest
    dumped_from = (toc_header(toc).get("Dumped from database version") or "?").split()[0]
    if dumped_from != manifest.postgresql_version:
        raise DataError(
            f"the manifest does not match the archive: PostgreSQL {manifest.postgresql_version} "
            f"in the manifest, {dumped_from} in the archive",
            hint="use the manifest.json written with the archive",
        )
    in_archive = toc_tables(toc)
    in_manifest = {t.name for t in manifest.tables}
    if in_archive != in_manifest:
        odd = sorted(in_archive ^ in_manifest)
        raise DataError(
            "the manifest does not match the archive: tables "
            + ", ".join(odd[:5])
            + (" ..." if len(odd) > 5 else ""),
            hint="use the manifest.json written with the archive",
        )
    return toc
