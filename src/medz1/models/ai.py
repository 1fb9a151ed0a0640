"""AI tables of schema ``ai``: chart embeddings, cached chart summaries, drug interactions.

These tables hold derived data only: everything in them can be rebuilt from the clinical
tables or fetched again. Patient-scoped tables key on ``patient_key`` first, like the
clinical tables. Embeddings use pgvector with 384 dimensions and cosine distance.
"""

from __future__ import annotations

from datetime import datetime

from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Identity,
    Index,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from medz1.db.types import UTCDateTime
from medz1.models.base import Base

#: Dimensions of the stored embeddings (e.g. all-MiniLM-L6-v2 produces 384).
EMBEDDING_DIMENSIONS = 384

PATIENT_KEY = "Patient key: the patient's ICN (VA Integration Control Number, e.g. ICN100001)"


class PatientEmbedding(Base):
    """The embedding vector of one chunk of a patient's chart."""

    __tablename__ = "patient_embeddings"
    __table_args__ = (
        PrimaryKeyConstraint("patient_key", "embedding_id"),
        UniqueConstraint("patient_key", "source_table", "source_id", "model", name=None),
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
    chunk_text: Mapped[str] = mapped_column(
        Text, comment="Chart text that was embedded; contains patient information"
    )
    embedding: Mapped[list[float]] = mapped_column(
        Vector(EMBEDDING_DIMENSIONS),
        comment="Embedding of chunk_text (384 dimensions), compared by cosine distance",
    )
    model: Mapped[str] = mapped_column(
        String(100), comment="Embedding model that produced the vector, e.g. all-MiniLM-L6-v2"
    )
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), server_default=text("now()"), comment="When the embedding was stored (UTC)"
    )


class ChartSummary(Base):
    """A generated summary of a patient's chart, cached per patient and model."""

    __tablename__ = "chart_summaries"
    __table_args__ = (
        PrimaryKeyConstraint("patient_key", "summary_id"),
        UniqueConstraint("patient_key", "model", name=None),
        {
            "schema": "ai",
            "comment": "Generated chart summaries cached per patient and model; stale when "
            "the chart digest changes or the entry expires",
        },
    )

    summary_id: Mapped[int] = mapped_column(
        BigInteger, Identity(always=False), comment="Surrogate row id (identity)"
    )
    patient_key: Mapped[str] = mapped_column(String(50), comment=PATIENT_KEY)
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


class DdiCache(Base):
    """A cached drug-drug interaction result for one unordered pair of drugs."""

    __tablename__ = "ddi_cache"
    __table_args__ = (
        PrimaryKeyConstraint("drug_a", "drug_b"),
        # One row per unordered pair: the caller stores the pair sorted. Both columns use the
        # "C" collation, so "<" is code-point order, the same as Python's sorted().
        CheckConstraint("drug_a < drug_b", name="drug_pair_ordered"),
        CheckConstraint(
            "drug_a = lower(drug_a) AND drug_b = lower(drug_b)", name="drug_names_lower_case"
        ),
        {
            "schema": "ai",
            "comment": "Cached drug-drug interaction results, one row per pair of generic "
            "drug names (stored sorted, lower case)",
        },
    )

    drug_a: Mapped[str] = mapped_column(
        String(120, collation="C"),
        comment="First drug of the pair: normalised lower-case generic name, sorts before drug_b",
    )
    drug_b: Mapped[str] = mapped_column(
        String(120, collation="C"),
        comment="Second drug of the pair: normalised lower-case generic name, sorts after drug_a",
    )
    severity: Mapped[str | None] = mapped_column(
        String(20), comment="Severity of the interaction, e.g. major, moderate, minor"
    )
    description: Mapped[str | None] = mapped_column(
        Text, comment="Clinical description of the interaction and its management"
    )
    source: Mapped[str] = mapped_column(
        String(50), comment="Where the result came from (interaction service or reference file)"
    )
    fetched_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), server_default=text("now()"), comment="When the result was fetched (UTC)"
    )
    expires_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), comment="When the cached result must be fetched again (UTC); null: never"
    )
