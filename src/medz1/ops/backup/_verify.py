"""``medz1 backup verify``: restore into a scratch database, compare, always drop it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from medz1.db.target import Target
from medz1.ops.backup._restore import _VERIFY, _in_new_database, _prepare
from medz1.ops.backup._tools import (
    Reporter,
)
from medz1.provision.credentials import RolePlan


@dataclass(frozen=True)
class VerifyReport:
    """What ``verify`` compared, and every difference it found."""

    path: Path
    schemas: tuple[str, ...]
    tables: int
    rows: int
    differences: list[str]
    duration: float


def verify(
    target: Target, role_plan: RolePlan, path: Path, *, reporter: Reporter | None = None
) -> VerifyReport:
    """Restore the backup into a scratch database, compare it with the manifest, drop it.

    Args:
        target: the server to build the scratch database on, as the administrator.
        role_plan: the declared roles (the restore grants as declared).
        path: the backup's directory or its manifest.
        reporter: told of each step; None reports nothing.

    Returns:
        The schemas, tables and rows compared, the differences between the restored
        database and the manifest (empty when the backup is good) and the duration in
        seconds.

    Raises:
        NotFoundError: no backup at ``path``, or its archive is missing.
        DataError: the archive's checksum differs from the manifest or it holds objects
            medz1 does not declare (S35).
        ServerError: ``pg_restore`` is missing or of another major version.
    """
    started = time.monotonic()
    job, dest = _prepare(target, role_plan, path, None, _VERIFY, reporter, replace=False)
    outcome = _in_new_database(dest, job, keep=False)
    return VerifyReport(
        path=job.backup.path,
        schemas=job.schemas,
        tables=len(job.manifest.tables),
        rows=job.manifest.rows,
        differences=outcome.differences,
        duration=time.monotonic() - started,
    )
