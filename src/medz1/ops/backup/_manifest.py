"""The manifest of a backup and the database state it records.

A manifest (``manifest.json``) says what the archive next to it must restore to: the
migration revision, per-table row counts and content digests, the ACLs (grants, owners,
default privileges, policies, triggers, function settings), the extensions, and the
declared roles (names and attributes, never passwords). The same functions read that
state from the source database when backing up and from the restored one when verifying,
so the comparison is like with like.

``medz1.ops.backup._observe`` reads that state from a database; :func:`compare` lists how a
restored database differs from a manifest.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from medz1.errors import DataError
from medz1.models import SCHEMAS
from medz1.ops.database import REQUIRED_EXTENSIONS

FORMAT = 1
MANIFEST_NAME = "manifest.json"
ARCHIVE_NAME = "archive.dump"


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TableState(_Record):
    """Row count and content digest of one table (``schema.table``).

    ``order`` is how its rows were ordered for the digest: the primary key's columns, each
    with whether it sorts under the "C" collation; empty means by the text of the row.
    A restore is digested in that same order, whether or not its keys exist yet.
    """

    name: str
    rows: int
    sha256: str
    order: tuple[tuple[str, bool], ...] = ()

    @property
    def schema_name(self) -> str:
        """The schema part of the name."""
        return self.name.split(".", 1)[0]


class Extension(_Record):
    """An installed extension."""

    name: str
    version: str
    schema_name: str


class RoleAttributes(_Record):
    """A declared role as it was at backup time; passwords are never recorded."""

    name: str
    login: bool
    superuser: bool
    createrole: bool
    createdb: bool
    replication: bool
    bypassrls: bool
    inherit: bool
    connection_limit: int


class ArchiveFile(_Record):
    """The archive next to the manifest: its name, size and SHA-256."""

    file: str
    size: int
    sha256: str


class Manifest(_Record):
    """Everything a restore is checked against."""

    format: int
    created_at: str
    medz1_version: str
    database: str
    revision: str
    postgresql_version: str
    pg_dump_version: str
    schemas: tuple[str, ...]
    extensions: tuple[Extension, ...]
    roles: tuple[RoleAttributes, ...]
    tables: tuple[TableState, ...]
    acl: tuple[tuple[str, str], ...]
    archive: ArchiveFile
    duration_seconds: float
    manifest_sha256: str = ""

    @property
    def rows(self) -> int:
        """Rows in all tables."""
        return sum(t.rows for t in self.tables)

    def sealed(self) -> Manifest:
        """This manifest with ``manifest_sha256`` set over the rest of its content."""
        return self.model_copy(update={"manifest_sha256": self._digest()})

    def _digest(self) -> str:
        content = self.model_dump(mode="json", exclude={"manifest_sha256"})
        canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def to_json(self) -> str:
        """The manifest as indented JSON."""
        return json.dumps(self.model_dump(mode="json"), indent=2) + "\n"

    @classmethod
    def from_json(cls, raw: bytes | str, *, source: str) -> Manifest:
        """Parse and check a manifest; refuse a malformed or modified one.

        Raises:
            DataError: the bytes are not UTF-8, not a JSON object, of an unknown format
                version, miss a key or hold a value of the wrong type, name a schema or an
                extension medz1 does not declare, or do not match the manifest's own digest.
        """
        text, content = _json_object(raw, source)
        version = content.get("format")
        if type(version) is not int or version != FORMAT:
            shown = json.dumps(version)[:20] if "format" in content else "none"
            raise DataError(
                f"{source} has format {shown}; this medz1 reads format {FORMAT}",
                hint="restore it with the medz1 version that wrote it",
            )
        try:
            manifest = cls.model_validate_json(text, strict=True)
        except ValidationError as exc:
            raise DataError(
                f"{source} is not a medz1 backup manifest ({_first_problem(exc)})",
                hint="use the manifest.json written with the archive",
            ) from None
        if manifest.manifest_sha256 != manifest._digest():
            raise DataError(
                f"{source} was modified after the backup (its digest does not match)",
                hint="use an unmodified copy of the backup",
            )
        _check_declared(manifest, source)
        return manifest


def _json_object(raw: bytes | str, source: str) -> tuple[str, dict[str, Any]]:
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        content = json.loads(text)
    except UnicodeDecodeError:
        problem = "not UTF-8 text"
    except (ValueError, RecursionError):
        problem = "not valid JSON"
    else:
        if isinstance(content, dict):
            return text, content
        problem = "not a JSON object"
    raise DataError(
        f"{source} is not a medz1 backup manifest ({problem})",
        hint="use the manifest.json written with the archive",
    )


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in error["loc"]) or "manifest"
    return f"{where}: {error['msg']}"


def _check_declared(manifest: Manifest, source: str) -> None:
    """Refuse schemas, tables and extensions medz1 does not declare (S35): a restore acts on
    them as the administrator (it creates the extensions and restores the schemas).
    """
    problems = [f"schema {s!r}" for s in manifest.schemas if s not in SCHEMAS]
    if len(set(manifest.schemas)) != len(manifest.schemas):
        problems.append("a schema listed twice")
    problems += [
        f"table {t.name!r}"
        for t in manifest.tables
        if "." not in t.name or t.schema_name not in manifest.schemas
    ]
    problems += [
        f"extension {e.name!r}" for e in manifest.extensions if e.name not in REQUIRED_EXTENSIONS
    ]
    if Path(manifest.archive.file).name != manifest.archive.file or manifest.archive.file in (
        "",
        ".",
        "..",
    ):
        problems.append(f"archive {manifest.archive.file!r} outside its directory")
    if problems:
        raise DataError(
            f"{source} names what medz1 does not declare: " + ", ".join(problems[:5]),
            hint="use the manifest.json written with the archive by `medz1 backup create`",
        )


# -- comparing ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Observed:
    """The state of a restored database, to compare with a manifest.

    ``present`` names every table in the restored schemas; ``tables`` holds the digests
    of those the manifest lists.
    """

    revision: str | None
    present: set[str]
    tables: dict[str, TableState]
    acl: set[tuple[str, str]]
    extensions: set[str]


def compare(
    manifest: Manifest, observed: Observed, *, schemas: tuple[str, ...], whole: bool
) -> list[str]:
    """Every difference between ``manifest`` (restricted to ``schemas``) and ``observed``."""
    differences: list[str] = []
    if observed.revision != manifest.revision:
        differences.append(
            f"migration revision: {manifest.revision} in the backup, "
            f"{observed.revision or 'none'} after the restore"
        )
    for name in sorted({e.name for e in manifest.extensions} - observed.extensions):
        differences.append(f"extension {name}: missing after the restore")
    expected = {t.name: t for t in manifest.tables if t.schema_name in schemas}
    for name in sorted(expected.keys() | observed.present):
        if name not in expected:
            differences.append(f"table {name}: not in the backup")
        elif name not in observed.present:
            differences.append(f"table {name}: missing after the restore")
        else:
            differences.extend(_table_difference(name, expected[name], observed.tables.get(name)))
    wanted = {e for e in manifest.acl if e[0] in schemas or (whole and e[0] == "")}
    for _, entry in sorted(wanted - observed.acl, key=lambda e: e[1]):
        differences.append(f"acl: {entry}: missing after the restore")
    for _, entry in sorted(observed.acl - wanted, key=lambda e: e[1]):
        differences.append(f"acl: {entry}: not in the backup")
    return differences


def _table_difference(name: str, want: TableState, got: TableState | None) -> list[str]:
    if got is None:
        return [f"table {name}: could not be digested"]
    if want.rows != got.rows:
        return [f"table {name}: {want.rows} rows in the backup, {got.rows} restored"]
    if want.sha256 != got.sha256:
        return [f"table {name}: content digest differs ({want.rows} rows)"]
    return []
