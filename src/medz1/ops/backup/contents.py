"""What an archive holds, compared with what medz1 declares, before anything is restored (S35).

A restore replays SQL stored in the archive. An archive whose database carried objects
medz1 does not declare (a function a CHECK constraint calls, an event trigger, a rule, a
changed function body) would run them. So every entry of the archive's table of contents
(``pg_restore --list``) and the SQL ``pg_restore --schema-only`` prints for each are
compared with a *reference*: a scratch database migrated to the backup's revision by
medz1's own migrations, dumped with the same ``pg_dump``. Anything the reference does not
have, or has with another definition (CHECK constraints, defaults, function bodies,
triggers, indexes, policies), refuses the archive with its type and name; nothing has been
restored at that point. ``pg_restore`` only prints here, it never connects.

Entries that are not compared: ``TABLE DATA`` and ``SEQUENCE SET`` (the data of declared
tables and sequences, checked to belong to one), and the ``ACL`` and ``DEFAULT ACL`` of
tables, sequences and schemas (never restored: those grants come from medz1's declared
grants afterwards). The grants on functions are the migrations' own (``REVOKE ... FROM
PUBLIC``, ``EXECUTE`` to the auditor): they are compared like definitions and restored.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.pool import NullPool

from medz1.db.engine import make_engine
from medz1.db.errors import translated
from medz1.db.target import Target
from medz1.embedded import clean_env
from medz1.errors import DataError, ServerError
from medz1.models import SCHEMAS
from medz1.ops import migrate
from medz1.ops.backup._tools import PgTools, last_line, libpq_env, read_toc
from medz1.ops.backup.scratch import ScratchDatabase
from medz1.ops.database import ensure_extensions
from medz1.ops.grants import apply_roles
from medz1.provision.credentials import RolePlan

#: Entry types a restore may hold without being compared one by one (see the module text).
DATA_TYPES = ("TABLE DATA", "SEQUENCE SET")
PRIVILEGE_TYPES = ("ACL", "DEFAULT ACL")
#: Objects whose ACL entry is compared and restored (the migrations grant on them).
_ROUTINES = ("FUNCTION ", "PROCEDURE ", "AGGREGATE ")
#: TOC lines a restore leaves out: grants and default privileges but those on routines.
SKIPPED_PRIVILEGES = re.compile(
    r"^\d+; \d+ \d+ (DEFAULT ACL |ACL (?!\S+ (FUNCTION|PROCEDURE|AGGREGATE) ))"
)
#: Entry types pg_dump writes, longest first so that "TABLE DATA" wins over "TABLE".
_TYPES = sorted(
    (
        "ACCESS METHOD",
        "ACL",
        "AGGREGATE",
        "BLOB",
        "BLOB METADATA",
        "BLOBS",
        "CAST",
        "CHECK CONSTRAINT",
        "COLLATION",
        "COMMENT",
        "CONSTRAINT",
        "CONVERSION",
        "DATABASE",
        "DATABASE PROPERTIES",
        "DEFAULT",
        "DEFAULT ACL",
        "DOMAIN",
        "ENCODING",
        "EVENT TRIGGER",
        "EXTENSION",
        "FK CONSTRAINT",
        "FOREIGN DATA WRAPPER",
        "FOREIGN SERVER",
        "FOREIGN TABLE",
        "FUNCTION",
        "INDEX",
        "INDEX ATTACH",
        "LARGE OBJECT",
        "MATERIALIZED VIEW",
        "MATERIALIZED VIEW DATA",
        "OPERATOR",
        "OPERATOR CLASS",
        "OPERATOR FAMILY",
        "POLICY",
        "PROCEDURAL LANGUAGE",
        "PROCEDURE",
        "PUBLICATION",
        "PUBLICATION TABLE",
        "PUBLICATION TABLES IN SCHEMA",
        "ROW SECURITY",
        "RULE",
        "SCHEMA",
        "SEARCHPATH",
        "SECURITY LABEL",
        "SEQUENCE",
        "SEQUENCE OWNED BY",
        "SEQUENCE SET",
        "SERVER",
        "SHELL TYPE",
        "STATISTICS",
        "STATISTICS DATA",
        "STDSTRINGS",
        "SUBSCRIPTION",
        "SUBSCRIPTION TABLE",
        "TABLE",
        "TABLE ATTACH",
        "TABLE DATA",
        "TEXT SEARCH CONFIGURATION",
        "TEXT SEARCH DICTIONARY",
        "TEXT SEARCH PARSER",
        "TEXT SEARCH TEMPLATE",
        "TRANSFORM",
        "TRIGGER",
        "TYPE",
        "USER MAPPING",
        "VIEW",
    ),
    key=len,
    reverse=True,
)
_LINE = re.compile(r"^(\d+); (\d+) (\d+) (.*)$")
_HEADER = re.compile(r"^-- (?:Data for )?Name: (.*); Type: (.*); Schema: (.*); Owner: .*$")
#: Lines pg_restore prints that differ between two dumps of the same schema: the random
#: ``\restrict`` key, version comments, and the table access method and tablespace it sets
#: (as quoted identifiers) before whichever entry comes first in the selection.
_VOLATILE = re.compile(
    rb"^(\\restrict |\\unrestrict |-- Dumped (from|by) |-- PostgreSQL database dump"
    rb"|SET default_tablespace = |SET default_table_access_method = )"
)
_SHOWN = 8


@dataclass(frozen=True)
class Entry:
    """One entry of a table of contents: its type, schema (``-`` for none) and name."""

    kind: str
    schema: str
    name: str

    def describe(self) -> str:
        """``FUNCTION public.f()``: type and qualified name, as a refusal lists them."""
        where = "" if self.schema == "-" else f"{self.schema}."
        return f"{self.kind} {where}{self.name}"


@dataclass(frozen=True)
class Contents:
    """An archive's entries and the SQL of each (keyed by type, schema and name)."""

    entries: frozenset[Entry]
    definitions: dict[tuple[str, str, str], bytes]


def parse_entries(toc: str) -> list[Entry]:
    """The entries of a ``pg_restore --list`` output (header and comment lines skipped).

    The owner (the last word) is dropped: medz1 restores with ``--no-owner``.
    """
    entries = []
    for line in toc.splitlines():
        match = _LINE.match(line)
        if match is None:
            continue
        rest = match[4].rsplit(" ", 1)[0] if " " in match[4] else match[4]
        kind = next((t for t in _TYPES if rest.startswith(t + " ")), rest.split(" ", 1)[0])
        schema, _, name = rest[len(kind) + 1 :].partition(" ")
        entries.append(Entry(kind, schema, name))
    return entries


def read_contents(tools: PgTools, archive: Path) -> Contents:
    """The entries and schema SQL of a custom-format archive; nothing connects anywhere.

    Args:
        tools: the client programs (``pg_restore`` reads the archive).
        archive: the custom-format archive file.

    Returns:
        Each entry's type, schema, name and the SQL ``pg_restore`` would run for it.

    Raises:
        DataError: the archive cannot be read.
    """
    entries = frozenset(parse_entries(read_toc(tools, archive)))
    result = subprocess.run(  # noqa: S603 - fixed program, arguments built here
        [
            str(tools.pg_restore),
            "--schema-only",
            "--no-owner",
            "--file=-",
            str(archive),
        ],
        capture_output=True,
        check=False,
        env=clean_env(),
    )
    if result.returncode != 0:
        raise DataError(
            f"the archive {archive} cannot be read: "
            f"{last_line(result.stderr.decode(errors='replace'))}",
            hint="the file is corrupted or truncated; use another backup",
        )
    return Contents(entries, split_definitions(result.stdout))


def split_definitions(script: bytes) -> dict[tuple[str, str, str], bytes]:
    r"""The SQL of each ``-- Name: ...; Type: ...; Schema: ...`` block of a pg_restore script.

    The lines before the first block (settings pg_restore and the archive put first) are
    kept under ``("PROLOGUE", "-", "-")``; lines that differ between two dumps of the same
    schema (the random ``\restrict`` key, version comments) are dropped.
    """
    blocks: dict[tuple[str, str, str], list[bytes]] = {}
    current: list[bytes] = blocks.setdefault(("PROLOGUE", "-", "-"), [])
    for raw in script.splitlines():
        header = _HEADER.match(raw.decode("utf-8", errors="replace"))
        if header is not None:
            if current and current[-1] == b"--":
                current.pop()
            key = (header[2], header[3], header[1])
            current = blocks.setdefault(key, [])
            if current:  # the same name twice: keep both texts apart
                current.append(b"-- (again)")
            continue
        if _VOLATILE.match(raw):
            continue
        current.append(raw)
    return {key: b"\n".join(lines).strip(b"-\n ") for key, lines in blocks.items()}


def undeclared(archive: Contents, reference: Contents) -> list[str]:
    """Every entry of ``archive`` that ``reference`` does not hold with the same SQL.

    Args:
        archive: the contents of the archive checked.
        reference: the contents medz1's migrations create (:func:`declared_contents`).

    Returns:
        One line per such entry (``TYPE schema.name``, with why when it is data or a
            changed definition), in type and name order; empty when none.
    """
    declared = reference.entries
    tables = {(e.schema, e.name) for e in declared if e.kind in ("TABLE", "SEQUENCE")}
    problems = []
    for entry in sorted(archive.entries, key=lambda e: (e.kind, e.schema, e.name)):
        if entry.kind in PRIVILEGE_TYPES and not _compared(entry.kind, entry.name):
            continue
        if entry.kind in DATA_TYPES:
            if (entry.schema, entry.name) not in tables:
                problems.append(f"{entry.describe()} (data of an undeclared object)")
        elif entry not in declared:
            problems.append(entry.describe())
    for key, body in sorted(archive.definitions.items()):
        wanted = reference.definitions.get(key)
        kind, schema, name = key
        if kind in PRIVILEGE_TYPES and not _compared(kind, name):
            continue
        label = Entry(kind, schema, name).describe()
        if wanted is None:
            if not any(label in p for p in problems):
                problems.append(label)
        elif wanted != body:
            problems.append(f"{label} (its definition differs from medz1's)")
    return problems


def _compared(kind: str, name: str) -> bool:
    return kind == "ACL" and name.startswith(_ROUTINES)


def check_declared(
    archive: Contents, reference: Contents, *, source: str, creating: bool = False
) -> None:
    """Refuse ``archive`` when it holds anything ``reference`` does not (S35).

    ``creating`` words the refusal for ``backup create`` (the archive just written).

    Args:
        archive: the contents of the archive checked.
        reference: the contents medz1's migrations create.
        source: names the archive in the refusal (its path).
        creating: word the refusal for an archive ``backup create`` just wrote.

    Raises:
        DataError: listing the undeclared entries by type and name (exit 8).
    """
    problems = undeclared(archive, reference)
    if not problems:
        return
    shown = "; ".join(problems[:_SHOWN])
    more = f" (and {len(problems) - _SHOWN} more)" if len(problems) > _SHOWN else ""
    if creating:
        raise DataError(
            f"{source} holds {len(problems)} object(s) medz1 does not declare, so no backup "
            f"was written (a restore would run them): {shown}{more}",
            hint="drop the objects medz1 does not declare (see `medz1 check`), then back up "
            "again; use pg_dump directly for a copy of everything",
        )
    raise DataError(
        f"{source} holds {len(problems)} object(s) medz1 does not declare, so nothing "
        f"was restored: {shown}{more}",
        hint="back up a database that holds only medz1's schema, or read the archive's SQL "
        "(`pg_restore --schema-only -f - ARCHIVE`) and restore it by hand",
    )


def dump_schema(tools: PgTools, database: Target) -> Contents:
    """The contents of a schema-only dump of medz1's schemas in ``database`` (the reference).

    Args:
        tools: the client programs (``pg_dump``).
        database: the database dumped, as the administrator.

    Returns:
        The dump's entries and their SQL.

    Raises:
        ServerError: pg_dump of the reference schema failed.
    """
    with tempfile.TemporaryDirectory(prefix="medz1-reference-") as folder:
        archive = Path(folder) / "reference.dump"
        result = subprocess.run(  # noqa: S603 - fixed program, arguments built here
            [
                str(tools.pg_dump),
                "--format=custom",
                "--schema-only",
                "--no-password",
                f"--file={archive}",
                *(f'--schema="{s}"' for s in SCHEMAS),
            ],
            capture_output=True,
            check=False,
            env=libpq_env(database.url, application_name="medz1-reference"),
        )
        if result.returncode != 0:
            raise ServerError(
                "pg_dump of the reference schema failed: "
                f"{last_line(result.stderr.decode(errors='replace'))}",
                hint="see the message above",
            )
        return read_contents(tools, archive)


def declared_contents(
    server: Target, role_plan: RolePlan | None, tools: PgTools, revision: str
) -> Contents:
    """What medz1's migrations create at ``revision``: a reference database built for the
    comparison (under an unfinished name), dumped schema-only, then dropped.

    Args:
        server: the server to build the reference database on, as the administrator.
        role_plan: the declared roles; with it, roles and ownership are applied before
            the migrations, as ``medz1 up`` does. None runs the migrations only.
        tools: the client programs (``pg_dump``).
        revision: the migration revision of the archive compared.

    Returns:
        The reference's entries and their SQL.

    Raises:
        MigrationError: ``revision`` is not one of medz1's migrations.
    """
    with ScratchDatabase(server, into="medz1_reference", purpose="reference") as scratch:
        engine = make_engine(scratch.target.url, poolclass=NullPool)
        try:
            ensure_extensions(engine)
            if role_plan is not None:  # as `medz1 up`: roles and owner, then migrations
                apply_roles(scratch.target, role_plan)
            with translated():
                migrate.upgrade(engine, revision)
        finally:
            engine.dispose()
        return dump_schema(tools, scratch.target)


_COPY = re.compile(rb'^COPY ([a-z_][a-z0-9_]*)\.("?[a-z_][a-z0-9_]*"?) \(([^;]*)\) FROM stdin;$')
_COLUMNS = re.compile(rb'^"?[a-z_][a-z0-9_]*"?(, "?[a-z_][a-z0-9_]*"?)*$')
_SETVAL = re.compile(
    rb"^SELECT pg_catalog\.setval\('([a-z_][a-z0-9_]*)\.([a-z_][a-z0-9_]*)', \d+, (true|false)\);$"
)
_HARMLESS = re.compile(rb"^(--.*|\\restrict \w+|\\unrestrict \w+|SET [a-z_]+ = [^;]*;)?$")


def check_data_statements(tools: PgTools, archive: Path, reference: Contents) -> None:
    """Refuse data entries whose SQL is anything but a COPY into a declared table or a
    ``setval`` of a declared sequence (S35).

    The statements of ``TABLE DATA`` and ``SEQUENCE SET`` entries are stored in the archive
    and run as they are; ``pg_dump`` writes only those two shapes, so anything else was put
    there by hand. The data itself is streamed past, never kept.

    Args:
        tools: the client programs (``pg_restore`` writes the script).
        archive: the custom-format archive file.
        reference: the contents medz1's migrations create; names the declared tables and
            sequences.

    Raises:
        DataError: naming the first such statement's kind (exit 8).
    """
    declared = {
        (e.schema.encode(), e.name.encode()): e.kind
        for e in reference.entries
        if e.kind in ("TABLE", "SEQUENCE")
    }
    command = [str(tools.pg_restore), "--data-only", "--file=-", str(archive)]
    process = subprocess.Popen(  # noqa: S603 - fixed program, arguments built here
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=clean_env()
    )
    assert process.stdout is not None
    problem = None
    try:
        in_copy = False
        for raw in process.stdout:
            line = raw.rstrip(b"\n")
            if in_copy:
                in_copy = line != b"\\."
                continue
            problem = _data_problem(line, declared)
            if problem is not None:
                break
            in_copy = line.startswith(b"COPY ")
    finally:
        process.stdout.close()
        process.kill()
        process.wait()
    if problem is not None:
        raise DataError(
            f"the archive {archive} holds a data statement medz1 does not write, so nothing "
            f"was restored: {problem}",
            hint="use a backup written by `medz1 backup create`",
        )


def _data_problem(line: bytes, declared: dict[tuple[bytes, bytes], str]) -> str | None:
    if _HARMLESS.match(line) or line == b"SELECT pg_catalog.set_config('search_path', '', false);":
        return None
    copy = _COPY.match(line)
    if copy is not None:
        if declared.get((copy[1], copy[2].strip(b'"'))) == "TABLE" and _COLUMNS.match(copy[3]):
            return None
        return f"COPY into {copy[1].decode()}.{copy[2].decode()}"
    setval = _SETVAL.match(line)
    if setval is not None and declared.get((setval[1], setval[2])) == "SEQUENCE":
        return None
    return line[:80].decode(errors="replace").strip()
