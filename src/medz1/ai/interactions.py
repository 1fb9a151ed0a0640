"""Drug-drug interactions: the reference pairs, one-query lookup, a cache per medication set.

Names are normalised (:func:`normalise`: whitespace runs to one space, lower case) and a
pair is stored once, sorted (``drug_a < drug_b`` in the "C" collation, which is Python's
code-point order), so a lookup is independent of the order and case of the names.
:func:`interactions_for` finds every interacting pair of a medication list with ONE query
on the primary key (``drug_a = ANY(..) AND drug_b = ANY(..)``).

The reference data is loaded by the clinical loader (:func:`prepare_reference` reads and
checks a Parquet or CSV file, :func:`load_reference` replaces the table as
``medz1_loader``); the same transaction adds a row to ``ai.drug_interaction_loads``, whose
newest ``source_version`` every cached result must carry: a reload invalidates the whole
``ai.ddi_cache`` at commit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import psycopg
import pyarrow as pa
from sqlalchemy import Engine, Table, text
from sqlalchemy.engine import Connection, CursorResult
from sqlalchemy.orm import Session

from medz1.clinical.contract import CsvOptions, conform, read_file
from medz1.clinical.load import LoadFile, TableLoad, load
from medz1.errors import DataError
from medz1.models.ai import DRUG_NAME_LENGTH, DrugInteraction

TABLE: Table = DrugInteraction.__table__  # type: ignore[assignment]
#: Most medications one lookup takes.
MAX_MEDICATIONS = 1000


@dataclass(frozen=True)
class Interaction:
    """One interacting pair (sorted names) of a medication list."""

    drug_a: str
    drug_b: str
    severity: str
    description: str | None
    source: str | None


def normalise(name: str) -> str:
    """A drug name as stored: whitespace runs to one space, trimmed, lower case."""
    return " ".join(name.split()).lower()


def medication_set(medications: Iterable[str]) -> list[str]:
    """The distinct normalised names of ``medications``, sorted; empty names dropped.

    Raises:
        DataError: more than :data:`MAX_MEDICATIONS` names, or one holding NUL (exit 8).
    """
    names = sorted({normalise(m) for m in medications} - {""})
    if len(names) > MAX_MEDICATIONS:
        raise DataError(
            f"{len(names)} medications; at most {MAX_MEDICATIONS} are looked up at once",
            hint="split the list",
        )
    if any("\x00" in n for n in names):
        raise DataError("a medication name holds a NUL character", hint="fix the name")
    return names


def set_digest(names: list[str]) -> str:
    """SHA-256 (hex) of the sorted normalised names, one per line (the cache key)."""
    return hashlib.sha256("\n".join(names).encode("utf-8")).hexdigest()


#: The lookup: one index scan of the primary key with both columns in the index condition
#: (one index search per name). Sent as a server-side prepared statement, so after its
#: first executions on a connection the server reuses one generic plan: no parsing and no
#: planning per lookup (``bench/bench_ai.py`` prints the planning and execution times).
LOOKUP_SQL = (
    "SELECT drug_a, drug_b, severity, description, source FROM ai.drug_interactions "
    "WHERE drug_a = ANY(%(names)s::varchar[]) AND drug_b = ANY(%(names)s::varchar[]) "
    "ORDER BY drug_a, drug_b"
)


def interactions_for(session: Session, medications: Iterable[str]) -> list[Interaction]:
    """Every interacting pair among ``medications`` (any order, any case), sorted.

    One prepared statement on the primary key of ``ai.drug_interactions``, sent on the
    session's connection (in its transaction) without going through the ORM layer; not
    prepared where the connection prepares nothing (behind a transaction-mode pooler).

    Args:
        session: a session as the application role.
        medications: generic drug names (any case, repeats allowed).

    Returns:
        The interacting pairs, each with its names sorted, sorted by pair.

    Raises:
        DataError: more than :data:`MAX_MEDICATIONS` names, or one holding NUL (exit 8).
    """
    names = medication_set(medications)
    if len(names) < 2:
        return []
    raw = cast("psycopg.Connection[Any]", session.connection().connection.dbapi_connection)
    # Behind a transaction-mode pooler the engine turns prepared statements off
    # (``prepare_threshold`` None); so does this lookup then.
    prepare = True if raw.prepare_threshold is not None else None
    with raw.cursor() as cursor:
        cursor.execute(LOOKUP_SQL, {"names": names}, prepare=prepare)
        rows = cursor.fetchall()
    return [Interaction(*row) for row in rows]


def source_version(session: Session) -> int | None:
    """The newest load of the reference data, or None before the first load."""
    value = session.execute(
        text("SELECT max(source_version) FROM ai.drug_interaction_loads")
    ).scalar_one()
    return None if value is None else int(value)


def cached_interactions(
    session: Session, medications: Iterable[str]
) -> tuple[list[Interaction], bool]:
    """:func:`interactions_for` through ``ai.ddi_cache``; True when the cache answered.

    A cached result counts only while its ``source_version`` is the newest load; a miss
    computes the pairs and stores them (replacing an outdated entry). Never commits.

    Args:
        session: a session as the application role.
        medications: generic drug names (any case, repeats allowed).

    Returns:
        The pairs, and True when they came from the cache.
    """
    names = medication_set(medications)
    version = source_version(session)
    digest = set_digest(names)
    if version is not None:
        cached = session.execute(
            text(
                "SELECT result FROM ai.ddi_cache "
                "WHERE medication_set_digest = :d AND source_version = :v"
            ),
            {"d": digest, "v": version},
        ).scalar_one_or_none()
        if cached is not None:
            return [Interaction(**item) for item in cached], True
    found = interactions_for(session, names)
    if version is not None:
        session.execute(
            text(
                "INSERT INTO ai.ddi_cache (medication_set_digest, medications, source_version, "
                "result) VALUES (:d, :names, :v, CAST(:result AS jsonb)) "
                "ON CONFLICT (medication_set_digest) DO UPDATE SET "
                "medications = EXCLUDED.medications, source_version = EXCLUDED.source_version, "
                "result = EXCLUDED.result, computed_at = now()"
            ),
            {"d": digest, "names": names, "v": version, "result": _json(found)},
        )
    return found, False


def _json(found: list[Interaction]) -> str:
    import orjson

    return orjson.dumps([asdict(i) for i in found]).decode()


def purge_outdated_cache(session: Session) -> int:
    """Delete cached results of older reference versions; return how many."""
    removed = cast(
        "CursorResult[Any]",
        session.execute(
            text(
                "DELETE FROM ai.ddi_cache WHERE source_version IS DISTINCT FROM "
                "(SELECT max(source_version) FROM ai.drug_interaction_loads)"
            )
        ),
    ).rowcount
    return int(removed or 0)


def active_medications(session: Session, *, patient_key: str) -> list[str]:
    """Generic names of the patient's active outpatient prescriptions (not expired now)
    and of inpatient orders given during a current admission.

    Args:
        session: a session as the application role.
        patient_key: the patient's ICN.

    Returns:
        Normalised generic drug names, each once, sorted.
    """
    rows = session.execute(
        text(
            "SELECT coalesce(m.generic_name, m.drug_name_national, m.drug_name_local) "
            "FROM public.patient_medications_outpatient m WHERE m.patient_icn = :p "
            "AND m.is_active AND (m.expiration_date IS NULL OR m.expiration_date > now()) "
            "UNION SELECT coalesce(i.generic_name, i.drug_name_national, i.drug_name_local) "
            "FROM public.patient_medications_inpatient i JOIN public.patient_encounters e "
            "ON e.patient_key = i.patient_key AND e.is_active "
            "AND i.action_datetime >= e.admit_datetime WHERE i.patient_icn = :p"
        ),
        {"p": patient_key},
    ).scalars()
    return medication_set(r for r in rows if r)


def _cell(value: object, path: Path, row: int) -> str:
    """A cell as text: CSV cells arrive as UTF-8 bytes, Parquet ones as text."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(
                f"{path.name} refused: row {row:,}: a cell is not valid UTF-8",
                hint="save the file as UTF-8",
            ) from exc
    return str(value)


def reference_table(data: pa.Table, path: Path) -> pa.Table:
    """``data`` with both drug names normalised and each pair sorted; severity lower case.

    Args:
        data: the file's rows (``drug_a``, ``drug_b`` and the optional columns).
        path: the file, named in refusals.

    Raises:
        DataError: a missing drug column, an empty or over-long name (by row), or a drug
            paired with itself (exit 8).
    """
    missing = [c for c in ("drug_a", "drug_b") if c not in data.column_names]
    if missing:
        raise DataError(
            f"{path.name} lacks column(s) {', '.join(missing)}",
            hint="give drug_a, drug_b and optionally severity, description, source",
        )
    first, second = [], []
    for row, (a, b) in enumerate(
        zip(data.column("drug_a").to_pylist(), data.column("drug_b").to_pylist(), strict=True),
        start=1,
    ):
        x, y = normalise(_cell(a, path, row)), normalise(_cell(b, path, row))
        problem = None
        if not x or not y:
            problem = "a drug name is empty"
        elif max(len(x), len(y)) > DRUG_NAME_LENGTH:
            problem = f"a drug name is longer than {DRUG_NAME_LENGTH} characters"
        elif x == y:
            problem = "a drug is paired with itself"
        if problem:
            raise DataError(f"{path.name} refused: row {row:,}: {problem}", hint="fix the file")
        first.append(min(x, y))
        second.append(max(x, y))
    data = data.set_column(data.schema.get_field_index("drug_a"), "drug_a", pa.array(first))
    data = data.set_column(data.schema.get_field_index("drug_b"), "drug_b", pa.array(second))
    for optional in ("description", "source"):
        if optional not in data.column_names:
            data = data.append_column(optional, pa.nulls(data.num_rows, pa.string()))
    if "severity" in data.column_names:
        lowered = [
            None if s is None else normalise(_cell(s, path, row))
            for row, s in enumerate(data["severity"].to_pylist(), start=1)
        ]
        data = data.set_column(
            data.schema.get_field_index("severity"), "severity", pa.array(lowered, pa.string())
        )
    return data


def prepare_reference(path: Path, *, csv: CsvOptions | None = None) -> LoadFile:
    """Read and check an interaction file (Parquet or CSV) before the database is touched.

    Args:
        path: a Parquet or CSV file.
        csv: delimiter and encoding of a CSV file; None for the defaults (comma, UTF-8).

    Returns:
        The checked file, ready for :func:`load_reference`.

    Raises:
        DataError: the file cannot be read or does not conform (by row; exit 8).
        NotFoundError: the file does not exist (exit 6).
    """
    data = reference_table(read_file(path, TABLE, csv=csv), path)
    empty = "give a file with at least one pair; the reference data was not changed"
    return LoadFile(path, TABLE, conform(data, TABLE, path, empty_hint=empty))


def prepared_table(data: pa.Table, name: str = "interactions") -> LoadFile:
    """An in-memory interaction table checked like a file (for the demo and benchmarks).

    Args:
        data: the interaction rows.
        name: the name refusals give the table.

    Returns:
        The checked table, ready for :func:`load_reference`.
    """
    path = Path(f"{name}.parquet")
    return LoadFile(path, TABLE, conform(reference_table(data, path), TABLE, path))


def load_reference(loader: Engine, file: LoadFile) -> TableLoad:
    """Replace the reference pairs with ``file`` and record the load, in one transaction.

    Args:
        loader: An engine as ``medz1_loader``.
        file: From :func:`prepare_reference`.

    Raises:
        DataError: the server refused a row (by row; nothing changed; exit 8).
    """

    def record(conn: Connection) -> None:
        conn.execute(
            text("INSERT INTO ai.drug_interaction_loads (pairs, source) VALUES (:n, :s)"),
            {"n": file.rows, "s": file.path.name[:255]},
        )

    (result,) = load(loader, [file], before_commit=record)
    return result
