"""Chart embeddings: atomic bulk replacement per patient and k-nearest-neighbour search.

Writing (:func:`replace_embeddings`): every input is checked first (vector count,
dimension, NaN, infinity, zero vectors, text, key lengths; :func:`check_vectors`), so a
refused call writes nothing. Then, in ONE transaction, the chunks go into a temporary
staging table by binary ``COPY`` and each listed patient's old chunks of that model are
replaced by the staged ones (delete, insert): readers see a patient's old chunks or new
chunks, never a mix or none.

Searching (:func:`search`): cosine distance. Without a filter, through the HNSW index
with pgvector's iterative index scan (``hnsw.iterative_scan = strict_order``, pgvector
0.8), which keeps reading the index until ``k`` rows pass the model filter. Within one
station, through that station's partial HNSW index (``WHERE station = '<sta3n>'``, one per
station, created by :func:`ensure_station_indexes` when a station first appears), with
the same iterative scan. Within one patient the search is exact: the patient's rows by
the primary key, sorted by distance. ``bench/bench_ai.py`` measured the choices (docs/ai.md).

Station scoping (migration 0014): the application role sees the chunks of the patients
its transaction's station scope shows (``medz1.dal.session.set_scope``), as for the
clinical tables; the embedding job runs as the loader, which reads every station's charts.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from psycopg import sql
from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from medz1.ai.chart_text import Chunk
from medz1.ai.embedder import Embedder, Vectors, check_vectors
from medz1.dal.session import STATION_PATTERN
from medz1.errors import DataError, UsageError
from medz1.models.ai import EMBEDDING_DIMENSIONS, PatientEmbedding

#: ``hnsw.ef_search`` for searches: candidates kept per scan step (pgvector default 40).
EF_SEARCH = 100
#: Most rows an iterative scan visits before it gives up (pgvector's default 20,000).
MAX_SCAN_TUPLES = 20_000
MAX_K = 1000

_STAGED = (
    "patient_key",
    "model",
    "source_table",
    "source_id",
    "chunk_number",
    "chunk_text",
    "text_digest",
    "station",
    "embedding",
)
#: PostgreSQL's binary COPY framing: signature, flags, header extension length; trailer.
_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack("!ii", 0, 0)
_TRAILER = struct.pack("!h", -1)
_BLOCK_ROWS = 5000
_NULL = struct.pack("!i", -1)
_STATION = re.compile(STATION_PATTERN)


def _text_field(value: str | None) -> bytes:
    if value is None:
        return _NULL
    data = value.encode("utf-8")
    return struct.pack("!i", len(data)) + data


def _binary_rows(model: str, chunks: Sequence[Chunk], vectors: Vectors) -> bytes:
    """Rows in binary COPY format, in the order of ``_STAGED``.

    A vector is pgvector's binary form (int16 dimensions, int16 unused, float32 values in
    network byte order); all vectors of the block are converted by numpy at once.
    """
    dimension = vectors.shape[1] if len(vectors) else EMBEDDING_DIMENSIONS
    prefix = struct.pack("!ihh", 4 + 4 * dimension, dimension, 0)
    values = np.ascontiguousarray(vectors, dtype=">f4")
    model_field = _text_field(model)
    parts: list[bytes] = []
    for row, c in enumerate(chunks):
        parts += (
            struct.pack("!h", len(_STAGED)),
            _text_field(c.patient_key),
            model_field,
            _text_field(c.source_table),
            _text_field(c.source_id),
            struct.pack("!ii", 4, c.chunk_number),
            _text_field(c.text),
            _text_field(c.digest),
            _text_field(c.station),
            prefix,
            values[row].tobytes(),
        )
    return b"".join(parts)


@dataclass(frozen=True)
class Replaced:
    """What :func:`replace_embeddings` did."""

    patients: int
    removed: int
    inserted: int


@dataclass(frozen=True)
class Hit:
    """One chunk found by :func:`search`, nearest first; ``distance`` is cosine (0..2)."""

    patient_key: str
    source_table: str
    source_id: str
    chunk_number: int
    station: str | None
    chunk_text: str
    distance: float


def _length(column: str) -> int:
    length = getattr(PatientEmbedding.__table__.c[column].type, "length", None)
    return int(length) if length else 1 << 30


#: Longest value of each text column (from the model).
_LIMITS = {c: _length(c) for c in ("model", "patient_key", "source_table", "source_id", "station")}


def check_chunks(chunks: Sequence[Chunk], patient_keys: Sequence[str], model: str) -> None:  # noqa: C901 - one flat list of independent refusals
    """Refuse chunks the table cannot store, before anything is written.

    Args:
        chunks: the chunks to store.
        patient_keys: the patients whose chunks are replaced; every chunk must be of one of them.
        model: the embedder's name, stored with each chunk.

    Raises:
        DataError: an empty or over-long model, key or text, a NUL character, a chunk of
            a patient not listed, a negative chunk number or a repeated chunk (exit 8).
    """
    if not model or len(model) > _LIMITS["model"] or "\x00" in model:
        raise DataError(
            "the model name must be 1 to 100 characters without NUL",
            hint="name the embedding model; nothing was written",
        )
    listed = set(patient_keys)
    seen: set[tuple[str, str, str, int]] = set()
    for number, c in enumerate(chunks, start=1):
        seen_key = (c.patient_key, c.source_table, c.source_id, c.chunk_number)
        problem = None
        if c.patient_key not in listed:
            problem = "belongs to a patient not listed for replacement"
        elif not c.text.strip() or "\x00" in c.text:
            problem = "has no text, or a NUL character"
        elif c.chunk_number < 0 or c.chunk_number >= 1 << 31:
            problem = "has a chunk number out of range"
        elif not c.source_table or not c.source_id:
            problem = "has no source table or source id"
        elif seen_key in seen:
            problem = "repeats another chunk's source and number"
        elif c.station is not None and _STATION.fullmatch(c.station) is None:
            problem = "has a station that is not a VA station number"
        for column, value in (
            ("patient_key", c.patient_key),
            ("source_table", c.source_table),
            ("source_id", c.source_id),
            ("station", c.station or ""),
        ):
            if problem is None and (len(value) > _LIMITS[column] or "\x00" in value):
                problem = f"has a {column} too long or holding NUL"
        if problem:
            raise DataError(f"chunk {number} {problem}", hint="nothing was written")
        seen.add(seen_key)
    for key in patient_keys:
        if not key or len(key) > _LIMITS["patient_key"]:
            raise DataError("a patient key is empty or too long", hint="nothing was written")


def replace_embeddings(
    conn: Connection,
    *,
    model: str,
    patient_keys: Sequence[str],
    chunks: Sequence[Chunk],
    vectors: Vectors,
    station_indexes: bool = True,
) -> Replaced:
    """Replace the ``model`` chunks of ``patient_keys`` with ``chunks`` and their vectors.

    Runs inside the caller's transaction (``engine.begin()``); commit makes the change
    visible for all listed patients at once. A listed patient with no chunk loses its
    chunks of that model. A station seen for the first time gets its partial HNSW index
    first (:func:`ensure_station_indexes`), unless ``station_indexes`` is false: a first
    bulk embedding of a large population writes without them and builds them once at the
    end (an HNSW index built in bulk is many times faster than one kept up row by row).

    Args:
        conn: A connection in a transaction, as a role that may write
            ``ai.patient_embeddings`` and create temporary tables (``medz1_loader``).
        model: The embedder's name.
        patient_keys: Patients whose chunks are replaced.
        chunks: The new chunks (each of a listed patient).
        vectors: One vector per chunk, ``(len(chunks), 384)``.
        station_indexes: Create the missing station indexes first (default).

    Raises:
        DataError: A refused chunk or vector, before anything is written (exit 8).
    """
    checked = check_vectors(vectors, count=len(chunks), dimension=EMBEDDING_DIMENSIONS)
    check_chunks(chunks, patient_keys, model)
    raw = conn.connection.dbapi_connection
    conn.exec_driver_sql(
        "CREATE TEMPORARY TABLE medz1_staging_embeddings (patient_key text, model text, "
        "source_table text, source_id text, chunk_number int4, chunk_text text, "
        "text_digest text, station text, embedding vector(384)) ON COMMIT DROP"
    )
    statement = sql.SQL("COPY medz1_staging_embeddings ({}) FROM STDIN (FORMAT binary)").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in _STAGED)
    )
    with raw.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
        copy.write(_HEADER)
        for block in range(0, len(chunks), _BLOCK_ROWS):
            copy.write(
                _binary_rows(
                    model,
                    chunks[block : block + _BLOCK_ROWS],
                    checked[block : block + _BLOCK_ROWS],
                )
            )
        copy.write(_TRAILER)
    if station_indexes:
        ensure_station_indexes(conn, {c.station for c in chunks if c.station})
    removed = conn.execute(
        text("DELETE FROM ai.patient_embeddings WHERE patient_key = ANY(:keys) AND model = :model"),
        {"keys": list(patient_keys), "model": model},
    ).rowcount
    columns = ", ".join(_STAGED)
    inserted = conn.exec_driver_sql(
        f"INSERT INTO ai.patient_embeddings ({columns}, dimension) "
        f"SELECT {columns}, {EMBEDDING_DIMENSIONS} FROM medz1_staging_embeddings"
    ).rowcount
    return Replaced(len(set(patient_keys)), int(removed or 0), int(inserted or 0))


#: Name of a station's partial HNSW index (``ai.embedding_station_index``, migration 0014).
STATION_INDEX_PREFIX = "ix_patient_embeddings_hnsw_s"


def ensure_station_indexes(conn: Connection, stations: Iterable[str]) -> list[str]:
    """Create the partial HNSW index of each station that has none yet; return those made.

    Runs ``ai.embedding_station_index`` (SECURITY DEFINER, as the owner), which the
    loader may execute. A station that is not a station number is refused by it.

    Raises:
        DataError: a station that is not a station number (exit 8); nothing is written.
    """
    wanted = sorted(set(stations))
    if not wanted:
        return []
    present = set(
        conn.execute(
            text(
                "SELECT indexname FROM pg_catalog.pg_indexes WHERE schemaname = 'ai' "
                "AND indexname = ANY(:names)"
            ),
            {"names": [STATION_INDEX_PREFIX + s for s in wanted]},
        ).scalars()
    )
    missing = [s for s in wanted if STATION_INDEX_PREFIX + s not in present]
    for station in missing:
        if _STATION.fullmatch(station) is None:
            raise DataError(
                "a chunk's station is not a VA station number",
                hint="fix the patient's primary_station; nothing was written",
            )
        conn.execute(text("SELECT ai.embedding_station_index(:s)"), {"s": station})
    return missing


def stored_digests(
    session: Session, *, model: str, patient_keys: Sequence[str]
) -> dict[str, set[tuple[str, str, int, str, str]]]:
    """Per patient, the (source table, source id, chunk number, digest, station) of its
    stored chunks (a patient who moved station is embedded again, under the new station).

    Args:
        session: a session as the embedding job's role.
        model: the embedder's name; chunks of other models are not read.
        patient_keys: the patients' ICNs.

    Returns:
        For each patient with stored chunks, the set of (source table, source id, chunk
        number, SHA-256 hex digest of the text, station).
    """
    rows = session.execute(
        text(
            "SELECT patient_key, source_table, source_id, chunk_number, text_digest, "
            "coalesce(station, '') "
            "FROM ai.patient_embeddings WHERE patient_key = ANY(:keys) AND model = :model"
        ),
        {"keys": list(patient_keys), "model": model},
    ).all()
    found: dict[str, set[tuple[str, str, int, str, str]]] = {}
    for key, table, source, number, digest, station in rows:
        found.setdefault(key, set()).add((table, source, number, digest, station))
    return found


def vector_literal(vector: Vectors) -> str:
    """A vector in pgvector's text form, every float32 value exact."""
    return "[" + ",".join(repr(float(v)) for v in vector) + "]"


def _iterative(session: Session, ef_search: int) -> None:
    """Iterative HNSW scan for this transaction: filters never cut the result short."""
    session.execute(
        text(
            "SELECT set_config('hnsw.iterative_scan', 'strict_order', true), "
            "set_config('hnsw.ef_search', :ef, true), "
            "set_config('hnsw.max_scan_tuples', :scan, true)"
        ),
        {"ef": str(int(ef_search)), "scan": str(MAX_SCAN_TUPLES)},
    )


_COLUMNS = "patient_key, source_table, source_id, chunk_number, station, chunk_text"


def search_statement(
    *, patient_key: bool = False, station: str | None = None, break_glass: bool = False
) -> str:
    """The SQL of :func:`search` (parameters ``:q``, ``:model``, ``:k``, ``:patient``).

    ``station`` is written into the statement as a literal (checked against
    ``STATION_PATTERN`` first), so the planner proves the predicate of that station's
    partial HNSW index whatever plan it caches.
    """
    distance = "embedding <=> CAST(:q AS vector)"
    if patient_key:
        # Exact: the patient's rows by primary key, sorted by distance. MATERIALIZED keeps
        # the planner from trading that for an HNSW scan filtered afterwards.
        where = "model = :model AND patient_key = :patient"
        if station is not None:
            where += f" AND station = {check_station_literal(station)}"
        return (
            f"WITH mine AS MATERIALIZED (SELECT {_COLUMNS}, embedding "
            f"FROM ai.patient_embeddings WHERE {where}) "
            f"SELECT {_COLUMNS}, embedding <=> CAST(:q AS vector) AS distance FROM mine "
            "ORDER BY distance LIMIT :k"
        )
    if station is None:
        return (
            f"SELECT {_COLUMNS}, {distance} AS distance FROM ai.patient_embeddings "
            f"WHERE model = :model ORDER BY {distance} LIMIT :k"
        )
    literal = check_station_literal(station)
    statement = (
        f"(SELECT {_COLUMNS}, {distance} AS distance FROM ai.patient_embeddings "
        f"WHERE model = :model AND station = {literal} ORDER BY {distance} LIMIT :k)"
    )
    if break_glass:
        # Patients opened by break-the-glass for the transaction's session: exact, by
        # primary key (a few patients), whatever their station.
        statement += (
            " UNION ALL (WITH opened AS MATERIALIZED ("
            f"SELECT {_COLUMNS}, embedding FROM ai.patient_embeddings WHERE model = :model "
            "AND patient_key = ANY(CAST((SELECT public.medz1_break_glass_patients()) "
            "AS varchar[]))) "
            f"SELECT {_COLUMNS}, {distance} AS distance FROM opened "
            "ORDER BY distance LIMIT :k)"
        )
    return statement


def check_station_literal(station: str) -> str:
    """``station`` as an SQL string literal, once it is a station number.

    Raises:
        UsageError: not a station number (``STATION_PATTERN``; exit 2).
    """
    if not isinstance(station, str) or _STATION.fullmatch(station) is None:
        raise UsageError(
            "the station is not a VA station number",
            hint="give 3 digits, optionally followed by a division suffix (e.g. 508 or 508A4)",
        )
    return f"'{station}'"


def search(
    session: Session,
    query: Vectors,
    *,
    model: str,
    k: int = 10,
    patient_key: str | None = None,
    station: str | None = None,
    ef_search: int = EF_SEARCH,
    break_glass: bool = False,
) -> list[Hit]:
    """The ``k`` chunks nearest to ``query`` by cosine distance, nearest first.

    As the application role, only chunks of patients the transaction's station scope shows
    are candidates (row security, migration 0014): set the scope first
    (:func:`medz1.dal.session.set_scope`); without one nothing is found (fail closed).

    Args:
        session: A session as a role that may read ``ai`` (``med_z1_user``).
        query: One vector of 384 dimensions (checked like stored ones).
        model: Only chunks embedded by this model are compared.
        k: How many chunks (1 to 1000).
        patient_key: Only this patient's chunks (exact search).
        station: Only chunks of this station's patients (sta3n), through the station's
            partial HNSW index with an iterative scan; a clinician passes their own.
        ef_search: HNSW candidate list size (recall against speed).
        break_glass: With ``station``, also the patients opened by break-the-glass for
            the transaction's session (``medz1.session``), exact; the application role only.

    Raises:
        UsageError: ``k`` out of range, or a station that is not a station number (exit 2).
        DataError: A query vector of the wrong shape, NaN, infinite or zero (exit 8).
    """
    if not 1 <= k <= MAX_K:
        raise UsageError(f"k must be between 1 and {MAX_K}, not {k}", hint="pass --k 10")
    vector = check_vectors(np.asarray(query).reshape(1, -1), count=1)[0]
    params: dict[str, object] = {"q": vector_literal(vector), "model": model, "k": k}
    if patient_key is not None:
        params["patient"] = patient_key
        statement = search_statement(patient_key=True, station=station)
    else:
        _iterative(session, ef_search)
        statement = search_statement(station=station, break_glass=break_glass)
    rows = session.execute(text(statement), params).all()
    hits: dict[tuple[str, str, str, int], Hit] = {}
    for r in rows:
        hit = Hit(str(r[0]), str(r[1]), str(r[2]), int(r[3]), r[4], str(r[5]), float(r[6]))
        hits.setdefault((hit.patient_key, hit.source_table, hit.source_id, hit.chunk_number), hit)
    return sorted(hits.values(), key=lambda h: h.distance)[:k]


@dataclass(frozen=True)
class EmbedReport:
    """What :func:`embed_patients` did: patients re-embedded, unchanged, chunks written."""

    embedded: int
    unchanged: int
    chunks: int


def embed_patients(
    engine: Engine,
    embedder: Embedder,
    *,
    patient_keys: Sequence[str] | None = None,
    batch: int = 50,
    progress: Callable[[int], None] | None = None,
) -> EmbedReport:
    """Embed the chart text of patients (all when None), a batch of patients per transaction.

    A patient whose chunks (sources, numbers and text digests) equal the stored ones of
    this model is left alone; any other patient gets all its chunks replaced atomically.

    Args:
        engine: An engine as ``medz1_loader``: the job reads every station's charts
            (BYPASSRLS) and is the one role that writes ``ai.patient_embeddings``. As the
            application role with station scoping on it would see no chart.
        embedder: The model; its dimension must be 384.
        patient_keys: Patients to embed (unknown keys are skipped), or None for all.
        batch: Patients per transaction.
        progress: Called with the number of patients done after each batch.

    Raises:
        DataError: the embedder gave vectors the table refuses (nothing of that batch is
            written; exit 8).
    """
    from medz1.ai.chart_text import all_patient_keys, chart_chunks

    with Session(engine) as session:
        keys = all_patient_keys(session)
    if patient_keys is not None:
        wanted = set(patient_keys)
        keys = [k for k in keys if k in wanted]
    embedded = unchanged = written = 0
    for start in range(0, len(keys), batch):
        group = keys[start : start + batch]
        with engine.begin() as conn:
            session = Session(bind=conn)
            chunks = chart_chunks(session, patient_keys=group)
            stored = stored_digests(session, model=embedder.name, patient_keys=group)
            mine: dict[str, set[tuple[str, str, int, str, str]]] = {k: set() for k in group}
            for c in chunks:
                mine[c.patient_key].add(
                    (c.source_table, c.source_id, c.chunk_number, c.digest, c.station or "")
                )
            changed = [k for k in group if mine[k] != stored.get(k, set())]
            todo = [c for c in chunks if c.patient_key in set(changed)]
            if changed:
                vectors = embedder.embed([c.text for c in todo])
                replace_embeddings(
                    conn, model=embedder.name, patient_keys=changed, chunks=todo, vectors=vectors
                )
        embedded += len(changed)
        unchanged += len(group) - len(changed)
        written += len(todo)
        if progress is not None:
            progress(len(group))
    return EmbedReport(embedded, unchanged, written)
