"""AI tables of schema ``ai``: chart embeddings, chart summaries, drug interactions.

These tables hold derived or reference data only: everything in them can be rebuilt from
the clinical tables or loaded again. Patient-scoped tables key on ``patient_key`` first,
like the clinical tables. Embeddings use pgvector with 384 dimensions and cosine distance.
Drug names are stored normalised (lower case, single spaces) in the "C" collation, so
``<`` between two names is code-point order, the same as Python's ``sorted()``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    ARRAY,
    BigInteger,
    CheckConstraint,
    Identity,
    Index,
    Integer,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from medz1.db.types import UTCDateTime
from medz1.models.base import Base

#: Dimensions of the stored embeddings (e.g. all-MiniLM-L6-v2 produces 384).
EMBEDDING_DIMENSIONS = 384
#: Longest normalised drug name stored.
DRUG_NAME_LENGTH = 120

PATIENT_KEY = "Patient key: the patient's ICN (VA Integration Control Number, e.g. ICN100001)"
SHA256_HEX = "^[0-9a-f]{64}$"


def _drug_name(comment: str) -> Mapped[Any]:
    return mapped_column(String(DRUG_NAME_LENGTH, collation="C"), comment=comment)


class PatientEmbedding(Base):
    """The embedding vector of one chunk of a patient's chart."""

    __tablename__ = "patient_embeddings"
    __table_args__ = (
        PrimaryKeyConstraint("patient_key", "embedding_id"),
        UniqueConstraint(
            "patient_key",
            "model",
            "source_table",
            "source_id",
            "chunk_number",
            name="uq_patient_embeddings_chunk",
        ),
        CheckConstraint("chunk_number >= 0", name="chunk_number_not_negative"),
        CheckConstraint(f"text_digest ~ '{SHA256_HEX}'", name="text_digest_sha256_hex"),
        CheckConstraint("dimension = vector_dims(embedding)", name="dimension_matches_vector"),
        # Exact search within one station reads the station's rows through this index.
        Index("ix_patient_embeddings_station_model", "station", "model"),
        Index(
            "ix_patient_embeddings_embedding_hnsw",
            "embedding",
            postgresql_using="hnsw",
            postgresql_ops={"embedding": "vector_cosine_ops"},
        ),
        {
            "schema": "ai",
            "comment": "Vector embeddings of chunks of patient chart content, for similarity "
            "search; derived data, rebuilt from the clinical tables",
        },
    )

    embedding_id: Mapped[int] = mapped_column(
        BigInteger, Identity(always=False), comment="Surrogate row id (identity)"
    )
    patient_key: Mapped[str] = mapped_column(String(50), comment=PATIENT_KEY)
    source_table: Mapped[str] = mapped_column(
        String(63), comment="Clinical table the chunk was taken from, e.g. patient_labs"
    )
    source_id: Mapped[str] = mapped_column(
        String(100),
        comment="Key of the source row within source_table, as text (e.g. a lab_chem_sid)",
    )
    chunk_number: Mapped[int] = mapped_column(
        Integer,
        server_default=text("0"),
        comment="Number of the chunk within its source row's text, from 0",
    )
    chunk_text: Mapped[str] = mapped_column(
        Text, comment="Chart text that was embedded; contains patient information"
    )
    text_digest: Mapped[str] = mapped_column(
        String(64),
        comment="SHA-256 (hex) of chunk_text (UTF-8); an unchanged chunk is not embedded again",
    )
    station: Mapped[str | None] = mapped_column(
        String(10),
        comment="VA station number (sta3n): the patient's primary station, whose clinicians "
        "may see the chunk; search filter",
    )
    embedding: Mapped[list[float]] = mapped_column(
        Vector(EMBEDDING_DIMENSIONS),
        comment="Embedding of chunk_text (384 dimensions), compared by cosine distance",
    )
    dimension: Mapped[int] = mapped_column(
        SmallInteger,
        server_default=text(str(EMBEDDING_DIMENSIONS)),
        comment="Number of dimensions of the embedding (equals vector_dims(embedding))",
    )
    model: Mapped[str] = mapped_column(
        String(100), comment="Embedding model that produced the vector, e.g. all-MiniLM-L6-v2"
    )
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), server_default=text("now()"), comment="When the embedding was stored (UTC)"
    )


class ChartSummary(Base):
    """A generated summary of a patient's chart, one per patient and kind."""

    __tablename__ = "chart_summaries"
    __table_args__ = (
        PrimaryKeyConstraint("patient_key", "summary_id"),
        UniqueConstraint("patient_key", "kind", name=None),
        CheckConstraint(f"source_digest ~ '{SHA256_HEX}'", name="source_digest_sha256_hex"),
        {
            "schema": "ai",
            "comment": "Generated chart summaries, one per patient and kind; stale when "
            "the chart digest changes or the entry expires",
        },
    )

    summary_id: Mapped[int] = mapped_column(
        BigInteger, Identity(always=False), comment="Surrogate row id (identity)"
    )
    patient_key: Mapped[str] = mapped_column(String(50), comment=PATIENT_KEY)
    kind: Mapped[str] = mapped_column(
        String(50),
        server_default=text("'chart'"),
        comment="Kind of summary, e.g. chart, medications, discharge",
    )
    model: Mapped[str] = mapped_column(
        String(100), comment="Language model that generated the summary"
    )
    summary_text: Mapped[str] = mapped_column(
        Text, comment="The generated summary; contains patient information"
    )
    source_digest: Mapped[str] = mapped_column(
        String(64),
        comment="SHA-256 (hex) of the chart content summarised; a different digest means stale",
    )
    generated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), server_default=text("now()"), comment="When the summary was generated (UTC)"
    )
    expires_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), comment="When the cached summary must be regenerated (UTC); null: never"
    )


class DrugInteraction(Base):
    """One interacting pair of drugs from the reference data."""

    __tablename__ = "drug_interactions"
    __table_args__ = (
        PrimaryKeyConstraint("drug_a", "drug_b"),
        # One row per unordered pair: the pair is stored sorted.
        CheckConstraint("drug_a < drug_b", name="drug_pair_ordered"),
        CheckConstraint("drug_a <> ''", name="drug_a_not_empty"),
        # Compared as text: a varchar IN list is stored in a form that dump and restore
        # rewrite, which `medz1 check` would then report as drift (migration 0016).
        CheckConstraint(
            "severity::text IN ('major', 'moderate', 'minor', 'unknown')", name="severity_known"
        ),
        {
            "schema": "ai",
            "comment": "Drug-drug interaction reference data, one row per unordered pair of "
            "normalised drug names (stored sorted); loaded from Parquet or CSV",
        },
    )

    drug_a: Mapped[str] = _drug_name(
        "First drug of the pair: normalised name (lower case, single spaces), sorts before drug_b"
    )
    drug_b: Mapped[str] = _drug_name(
        "Second drug of the pair: normalised name (lower case, single spaces), sorts after drug_a"
    )
    severity: Mapped[str] = mapped_column(
        String(20),
        server_default=text("'unknown'"),
        comment="Severity: major, moderate, minor or unknown",
    )
    description: Mapped[str | None] = mapped_column(
        Text, comment="Clinical description of the interaction and its management"
    )
    source: Mapped[str | None] = mapped_column(
        String(100), comment="Where the pair comes from (reference file or service)"
    )


class DrugInteractionLoad(Base):
    """One load of the interaction reference data; the newest is the source version."""

    __tablename__ = "drug_interaction_loads"
    __table_args__ = (
        PrimaryKeyConstraint("source_version"),
        {
            "schema": "ai",
            "comment": "Loads of ai.drug_interactions; the newest source_version is the one "
            "cached interaction results must carry",
        },
    )

    source_version: Mapped[int] = mapped_column(
        BigInteger, Identity(always=False), comment="Version of the reference data (identity)"
    )
    pairs: Mapped[int] = mapped_column(Integer, comment="Number of pairs loaded")
    source: Mapped[str | None] = mapped_column(
        String(255), comment="Name of the file loaded (no folder)"
    )
    loaded_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), server_default=text("now()"), comment="When the load committed (UTC)"
    )


class DdiCache(Base):
    """The interacting pairs computed for one medication list, with the source version."""

    __tablename__ = "ddi_cache"
    __table_args__ = (
        PrimaryKeyConstraint("medication_set_digest"),
        CheckConstraint(
            f"medication_set_digest ~ '{SHA256_HEX}'", name="medication_set_digest_sha256_hex"
        ),
        {
            "schema": "ai",
            "comment": "Cached drug-drug interaction results per medication set; valid only "
            "while source_version is the newest load of ai.drug_interactions",
        },
    )

    medication_set_digest: Mapped[str] = mapped_column(
        String(64),
        comment="SHA-256 (hex) of the sorted, normalised medication names, one per line",
    )
    medications: Mapped[list[str]] = mapped_column(
        ARRAY(Text), comment="The sorted, normalised medication names"
    )
    source_version: Mapped[int] = mapped_column(
        BigInteger, comment="ai.drug_interaction_loads.source_version the result was computed from"
    )
    result: Mapped[list[dict[str, Any]]] = mapped_column(
        JSONB, comment="The interacting pairs found (drug_a, drug_b, severity, description, source)"
    )
    computed_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), server_default=text("now()"), comment="When the result was computed (UTC)"
    )
