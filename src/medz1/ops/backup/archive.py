"""The shared types of backups and the handling of a backup's files.

A backup is one directory (mode 0700) holding a ``pg_dump`` custom-format archive and
``manifest.json`` (both 0600, never world-readable, S31). This module lists backups, opens
one (manifest checked, archive digest compared), checks the archive's table of contents
against the manifest, and holds the records the verbs share (:class:`Backup`,
:class:`Job`, :class:`Outcome`, the :class:`Reporter` protocol).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from medz1.errors import DataError, NotFoundError, UsageError
from medz1.models import SCHEMAS
from medz1.ops.backup import _manifest as bm
from medz1.ops.backup._tools import (
    NullReporter,
    PgTools,
    Reporter,
    read_toc,
    toc_header,
    toc_tables,
)
from medz1.provision.credentials import RolePlan

log = logging.getLogger(__name__)

BACKUPS_FOLDER = "backups"

__all__ = [
    "BACKUPS_FOLDER",
    "Backup",
    "BackupEntry",
    "Job",
    "NullReporter",
    "Outcome",
    "Reporter",
    "backups_dir",
    "check_archive",
    "file_digest",
    "list_backups",
    "normalize_schemas",
    "open_backup",
    "read_manifest",
]

_CHUNK = 1 << 20


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
    """The schemas asked for, in medz1's order; all of ``available`` when none are named.

    Args:
        requested: schema names as given (any order, repeats allowed); None or empty for
            all.
        available: the schemas to choose from, in medz1's order.

    Returns:
        The schemas, each once, in the order of ``available``.

    Raises:
        UsageError: a schema asked for is not among ``available``.
    """
    if not requested:
        return available
    unknown = sorted(set(requested) - set(available))
    if unknown:
        raise UsageError(
            f"unknown schema {', '.join(unknown)}",
            hint="choose among " + ", ".join(available),
        )
    return tuple(s for s in available if s in requested)


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
    role_plan: RolePlan
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
    """The backups in ``root``, oldest first; a broken manifest is listed with its problem.

    Raises:
        UsageError: ``root`` is a file or cannot be read.
    """
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

    Raises:
        NotFoundError: no backup, manifest or archive at ``path``.
        UsageError: ``path`` is a file that is not part of the backup.
        DataError: the archive is truncated or its SHA-256 differs from the manifest's.
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
    """Read the archive's table of contents and check that it matches the manifest.

    Args:
        backup: the opened backup (its manifest and archive path).
        tools: the client programs, of the server's major version.

    Returns:
        The archive's table of contents, as ``pg_restore --list`` prints it.

    Raises:
        DataError: the archive's server version or tables differ from the manifest.
    """
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
