"""AI features: chunked embeddings with digests, summaries per kind, drug interactions.

- ``ai.patient_embeddings`` gains ``chunk_number``, ``text_digest`` (SHA-256 of the
  chunk's text, computed here for existing rows), ``station`` (search filter) and
  ``dimension`` (checked against the vector); its unique key now includes the model and
  the chunk number; an index on (station, model) serves exact search within a station.
- ``ai.chart_summaries`` gains ``kind``: one summary per patient and kind.
- ``ai.drug_interactions`` (reference pairs, stored sorted) and
  ``ai.drug_interaction_loads`` (one row per load: the newest is the source version)
  are new.
- ``ai.ddi_cache`` is re-created to hold one result per medication set with the source
  version it was computed from (it held derived data only and was never written).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SHA256_HEX = "^[0-9a-f]{64}$"
OLD_EMBEDDING_KEY = "uq_patient_embeddings_patient_key_source_table_source_id_model"
OLD_SUMMARY_KEY = "uq_chart_summaries_patient_key_model"
NEW_SUMMARY_KEY = "uq_chart_summaries_patient_key_kind"
SUMMARY_COMMENT = (
    "Generated chart summaries, one per patient and kind; stale when the chart digest "
    "changes or the entry expires"
)
OLD_SUMMARY_COMMENT = (
    "Generated chart summaries cached per patient and model; stale when the chart digest "
    "changes or the entry expires"
)


def upgrade() -> None:
    """Add the embedding and summary columns, the interaction tables, the new cache."""
    _upgrade_embeddings()
    _upgrade_summaries()
    _create_interactions()
    op.drop_table("ddi_cache", schema="ai")
    _create_ddi_cache()


def _upgrade_embeddings() -> None:
    table = "patient_embeddings"
    op.add_column(
        table,
        sa.Column(
            "chunk_number",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=False,
            comment="Number of the chunk within its source row's text, from 0",
        ),
        schema="ai",
    )
    op.add_column(
        table,
        sa.Column(
            "text_digest",
            sa.String(length=64),
            nullable=True,
            comment="SHA-256 (hex) of chunk_text (UTF-8); an unchanged chunk is not embedded again",
        ),
        schema="ai",
    )
    op.execute(
        "UPDATE ai.patient_embeddings "
        "SET text_digest = encode(sha256(convert_to(chunk_text, 'UTF8')), 'hex')"
    )
    op.alter_column(table, "text_digest", nullable=False, schema="ai")
    op.add_column(
        table,
        sa.Column(
            "station",
            sa.String(length=10),
            nullable=True,
            comment="VA station number (sta3n) of the source row, else the patient's primary "
            "station; search filter",
        ),
        schema="ai",
    )
    op.add_column(
        table,
        sa.Column(
            "dimension",
            sa.SmallInteger(),
            server_default=sa.text("384"),
            nullable=False,
            comment="Number of dimensions of the embedding (equals vector_dims(embedding))",
        ),
        schema="ai",
    )
    op.drop_constraint(OLD_EMBEDDING_KEY, table, schema="ai", type_="unique")
    op.create_unique_constraint(
        "uq_patient_embeddings_chunk",
        table,
        ["patient_key", "model", "source_table", "source_id", "chunk_number"],
        schema="ai",
    )
    op.create_index("ix_patient_embeddings_station_model", table, ["station", "model"], schema="ai")
    for name, condition in (
        ("chunk_number_not_negative", "chunk_number >= 0"),
        ("text_digest_sha256_hex", f"text_digest ~ '{SHA256_HEX}'"),
        ("dimension_matches_vector", "dimension = vector_dims(embedding)"),
    ):
        op.create_check_constraint(op.f(f"ck_{table}_{name}"), table, condition, schema="ai")


def _upgrade_summaries() -> None:
    table = "chart_summaries"
    op.add_column(
        table,
        sa.Column(
            "kind",
            sa.String(length=50),
            server_default=sa.text("'chart'"),
            nullable=False,
            comment="Kind of summary, e.g. chart, medications, discharge",
        ),
        schema="ai",
    )
    op.drop_constraint(OLD_SUMMARY_KEY, table, schema="ai", type_="unique")
    op.create_unique_constraint(NEW_SUMMARY_KEY, table, ["patient_key", "kind"], schema="ai")
    op.create_check_constraint(
        op.f("ck_chart_summaries_source_digest_sha256_hex"),
        table,
        f"source_digest ~ '{SHA256_HEX}'",
        schema="ai",
    )
    op.create_table_comment(
        table, SUMMARY_COMMENT, existing_comment=OLD_SUMMARY_COMMENT, schema="ai"
    )


def _drug(name: str, comment: str) -> sa.Column[str]:
    return sa.Column(name, sa.String(length=120, collation="C"), nullable=False, comment=comment)


def _create_interactions() -> None:
    op.create_table(
        "drug_interactions",
        _drug(
            "drug_a",
            "First drug of the pair: normalised name (lower case, single spaces), sorts "
            "before drug_b",
        ),
        _drug(
            "drug_b",
            "Second drug of the pair: normalised name (lower case, single spaces), sorts "
            "after drug_a",
        ),
        sa.Column(
            "severity",
            sa.String(length=20),
            server_default=sa.text("'unknown'"),
            nullable=False,
            comment="Severity: major, moderate, minor or unknown",
        ),
        sa.Column(
            "description",
            sa.Text(),
            nullable=True,
            comment="Clinical description of the interaction and its management",
        ),
        sa.Column(
            "source",
            sa.String(length=100),
            nullable=True,
            comment="Where the pair comes from (reference file or service)",
        ),
        sa.CheckConstraint("drug_a < drug_b", name=op.f("ck_drug_interactions_drug_pair_ordered")),
        sa.CheckConstraint("drug_a <> ''", name=op.f("ck_drug_interactions_drug_a_not_empty")),
        sa.CheckConstraint(
            "severity IN ('major', 'moderate', 'minor', 'unknown')",
            name=op.f("ck_drug_interactions_severity_known"),
        ),
        sa.PrimaryKeyConstraint("drug_a", "drug_b", name=op.f("pk_drug_interactions")),
        schema="ai",
        comment="Drug-drug interaction reference data, one row per unordered pair of "
        "normalised drug names (stored sorted); loaded from Parquet or CSV",
    )
    op.create_table(
        "drug_interaction_loads",
        sa.Column(
            "source_version",
            sa.BigInteger(),
            sa.Identity(always=False),
            nullable=False,
            comment="Version of the reference data (identity)",
        ),
        sa.Column("pairs", sa.Integer(), nullable=False, comment="Number of pairs loaded"),
        sa.Column(
            "source",
            sa.String(length=255),
            nullable=True,
            comment="Name of the file loaded (no folder)",
        ),
        sa.Column(
            "loaded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the load committed (UTC)",
        ),
        sa.PrimaryKeyConstraint("source_version", name=op.f("pk_drug_interaction_loads")),
        schema="ai",
        comment="Loads of ai.drug_interactions; the newest source_version is the one cached "
        "interaction results must carry",
    )


def _create_ddi_cache() -> None:
    op.create_table(
        "ddi_cache",
        sa.Column(
            "medication_set_digest",
            sa.String(length=64),
            nullable=False,
            comment="SHA-256 (hex) of the sorted, normalised medication names, one per line",
        ),
        sa.Column(
            "medications",
            postgresql.ARRAY(sa.Text()),
            nullable=False,
            comment="The sorted, normalised medication names",
        ),
        sa.Column(
            "source_version",
            sa.BigInteger(),
            nullable=False,
            comment="ai.drug_interaction_loads.source_version the result was computed from",
        ),
        sa.Column(
            "result",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=False,
            comment="The interacting pairs found (drug_a, drug_b, severity, description, source)",
        ),
        sa.Column(
            "computed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the result was computed (UTC)",
        ),
        sa.CheckConstraint(
            f"medication_set_digest ~ '{SHA256_HEX}'",
            name=op.f("ck_ddi_cache_medication_set_digest_sha256_hex"),
        ),
        sa.PrimaryKeyConstraint("medication_set_digest", name=op.f("pk_ddi_cache")),
        schema="ai",
        comment="Cached drug-drug interaction results per medication set; valid only while "
        "source_version is the newest load of ai.drug_interactions",
    )


def _create_old_ddi_cache() -> None:
    op.create_table(
        "ddi_cache",
        sa.Column(
            "drug_a",
            sa.String(length=120, collation="C"),
            nullable=False,
            comment="First drug of the pair: normalised lower-case generic name, sorts before "
            "drug_b",
        ),
        sa.Column(
            "drug_b",
            sa.String(length=120, collation="C"),
            nullable=False,
            comment="Second drug of the pair: normalised lower-case generic name, sorts after "
            "drug_a",
        ),
        sa.Column(
            "severity",
            sa.String(length=20),
            nullable=True,
            comment="Severity of the interaction, e.g. major, moderate, minor",
        ),
        sa.Column(
            "description",
            sa.Text(),
            nullable=True,
            comment="Clinical description of the interaction and its management",
        ),
        sa.Column(
            "source",
            sa.String(length=50),
            nullable=False,
            comment="Where the result came from (interaction service or reference file)",
        ),
        sa.Column(
            "fetched_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the result was fetched (UTC)",
        ),
        sa.Column(
            "expires_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the cached result must be fetched again (UTC); null: never",
        ),
        sa.CheckConstraint("drug_a < drug_b", name=op.f("ck_ddi_cache_drug_pair_ordered")),
        sa.CheckConstraint(
            "drug_a = lower(drug_a) AND drug_b = lower(drug_b)",
            name=op.f("ck_ddi_cache_drug_names_lower_case"),
        ),
        sa.PrimaryKeyConstraint("drug_a", "drug_b", name=op.f("pk_ddi_cache")),
        schema="ai",
        comment="Cached drug-drug interaction results, one row per pair of generic drug names "
        "(stored sorted, lower case)",
    )


def downgrade() -> None:
    """Restore revision 0007's AI tables (chunks past the first and summaries past one
    per patient and model are dropped; the interaction data is dropped).
    """
    op.drop_table("ddi_cache", schema="ai")
    _create_old_ddi_cache()
    op.drop_table("drug_interaction_loads", schema="ai")
    op.drop_table("drug_interactions", schema="ai")
    op.drop_constraint(
        op.f("ck_chart_summaries_source_digest_sha256_hex"),
        "chart_summaries",
        schema="ai",
        type_="check",
    )
    op.drop_constraint(NEW_SUMMARY_KEY, "chart_summaries", schema="ai", type_="unique")
    op.execute(
        "DELETE FROM ai.chart_summaries s USING ai.chart_summaries t "
        "WHERE s.patient_key = t.patient_key AND s.model = t.model AND s.summary_id > t.summary_id"
    )
    op.create_unique_constraint(
        OLD_SUMMARY_KEY, "chart_summaries", ["patient_key", "model"], schema="ai"
    )
    op.drop_column("chart_summaries", "kind", schema="ai")
    op.create_table_comment(
        "chart_summaries", OLD_SUMMARY_COMMENT, existing_comment=SUMMARY_COMMENT, schema="ai"
    )
    table = "patient_embeddings"
    for name in ("chunk_number_not_negative", "text_digest_sha256_hex", "dimension_matches_vector"):
        op.drop_constraint(op.f(f"ck_{table}_{name}"), table, schema="ai", type_="check")
    op.drop_constraint("uq_patient_embeddings_chunk", table, schema="ai", type_="unique")
    op.drop_index("ix_patient_embeddings_station_model", table_name=table, schema="ai")
    op.execute("DELETE FROM ai.patient_embeddings WHERE chunk_number > 0")
    op.execute(
        "DELETE FROM ai.patient_embeddings e USING ai.patient_embeddings f "
        "WHERE e.patient_key = f.patient_key AND e.source_table = f.source_table "
        "AND e.source_id = f.source_id AND e.model = f.model AND e.embedding_id > f.embedding_id"
    )
    op.create_unique_constraint(
        OLD_EMBEDDING_KEY,
        table,
        ["patient_key", "source_table", "source_id", "model"],
        schema="ai",
    )
    for column in ("dimension", "station", "text_digest", "chunk_number"):
        op.drop_column(table, column, schema="ai")
