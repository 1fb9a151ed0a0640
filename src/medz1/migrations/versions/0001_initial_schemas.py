"""Create the schemas public, auth, ai and admin with all 19 tables.

The clinical tables of the med-z1 contract in ``public`` (every contract column, with
timestamps as ``timestamptz`` and keys that lead with ``patient_key``), ``auth.users``,
``auth.sessions`` and ``auth.audit_logs`` (no foreign key from audit rows to users),
the ``ai`` caches (pgvector embeddings) and the ``admin`` tables. The ``vector``
extension is installed by ``medz1 up`` before migrations run.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


NEW_SCHEMAS = ("auth", "ai", "admin")


def upgrade() -> None:
    """Create the schemas, tables, constraints, indexes and comments."""
    for schema in NEW_SCHEMAS:
        op.execute(f"CREATE SCHEMA {schema}")
    op.create_table(
        "feature_flags",
        sa.Column(
            "flag_key",
            sa.String(length=100),
            nullable=False,
            comment="Flag name, e.g. ai.chart_summaries",
        ),
        sa.Column(
            "enabled",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
            comment="True when the feature is on",
        ),
        sa.Column(
            "description",
            sa.Text(),
            nullable=True,
            comment="What the flag controls, for administrators",
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was last changed (UTC)",
        ),
        sa.Column(
            "updated_by",
            sa.String(length=100),
            nullable=True,
            comment="Who last changed the row: an administrator's e-mail or 'system'",
        ),
        sa.PrimaryKeyConstraint("flag_key", name=op.f("pk_feature_flags")),
        schema="admin",
        comment="Feature flags: named on/off switches for features of the viewer and the service",
    )
    op.create_table(
        "system_settings",
        sa.Column(
            "setting_key",
            sa.String(length=100),
            nullable=False,
            comment="Setting name, e.g. session.idle_timeout_minutes",
        ),
        sa.Column(
            "value",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=False,
            comment="Setting value as JSON (number, text, object, ...)",
        ),
        sa.Column(
            "description",
            sa.Text(),
            nullable=True,
            comment="What the setting controls, for administrators",
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was last changed (UTC)",
        ),
        sa.Column(
            "updated_by",
            sa.String(length=100),
            nullable=True,
            comment="Who last changed the row: an administrator's e-mail or 'system'",
        ),
        sa.PrimaryKeyConstraint("setting_key", name=op.f("pk_system_settings")),
        schema="admin",
        comment="System-wide settings stored in the database, one JSON value per key",
    )
    op.create_table(
        "chart_summaries",
        sa.Column(
            "summary_id",
            sa.BigInteger(),
            sa.Identity(always=False),
            nullable=False,
            comment="Surrogate row id (identity)",
        ),
        sa.Column(
            "patient_key",
            sa.String(length=50),
            nullable=False,
            comment="Patient key: the patient's ICN (VA Integration Control Number, e.g. ICN100001)",
        ),
        sa.Column(
            "model",
            sa.String(length=100),
            nullable=False,
            comment="Language model that generated the summary",
        ),
        sa.Column(
            "summary_text",
            sa.Text(),
            nullable=False,
            comment="The generated summary; contains patient information",
        ),
        sa.Column(
            "source_digest",
            sa.String(length=64),
            nullable=False,
            comment="SHA-256 (hex) of the chart content summarised; a different digest means stale",
        ),
        sa.Column(
            "generated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the summary was generated (UTC)",
        ),
        sa.Column(
            "expires_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the cached summary must be regenerated (UTC); null: never",
        ),
        sa.PrimaryKeyConstraint("patient_key", "summary_id", name=op.f("pk_chart_summaries")),
        sa.UniqueConstraint(
            "patient_key", "model", name=op.f("uq_chart_summaries_patient_key_model")
        ),
        schema="ai",
        comment="Generated chart summaries cached per patient and model; stale when the chart digest changes or the entry expires",
    )
    op.create_table(
        "ddi_cache",
        sa.Column(
            "drug_a",
            sa.String(length=120, collation="C"),
            nullable=False,
            comment="First drug of the pair: normalised lower-case generic name, sorts before drug_b",
        ),
        sa.Column(
            "drug_b",
            sa.String(length=120, collation="C"),
            nullable=False,
            comment="Second drug of the pair: normalised lower-case generic name, sorts after drug_a",
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
        comment="Cached drug-drug interaction results, one row per pair of generic drug names (stored sorted, lower case)",
    )
    op.create_table(
        "patient_embeddings",
        sa.Column(
            "embedding_id",
            sa.BigInteger(),
            sa.Identity(always=False),
            nullable=False,
            comment="Surrogate row id (identity)",
        ),
        sa.Column(
            "patient_key",
            sa.String(length=50),
            nullable=False,
            comment="Patient key: the patient's ICN (VA Integration Control Number, e.g. ICN100001)",
        ),
        sa.Column(
            "source_table",
            sa.String(length=63),
            nullable=False,
            comment="Clinical table the chunk was taken from, e.g. patient_labs",
        ),
        sa.Column(
            "source_id",
            sa.String(length=100),
            nullable=False,
            comment="Key of the source row within source_table, as text (e.g. a lab_chem_sid)",
        ),
        sa.Column(
            "chunk_text",
            sa.Text(),
            nullable=False,
            comment="Chart text that was embedded; contains patient information",
        ),
        sa.Column(
            "embedding",
            Vector(384),
            nullable=False,
            comment="Embedding of chunk_text (384 dimensions), compared by cosine distance",
        ),
        sa.Column(
            "model",
            sa.String(length=100),
            nullable=False,
            comment="Embedding model that produced the vector, e.g. all-MiniLM-L6-v2",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the embedding was stored (UTC)",
        ),
        sa.PrimaryKeyConstraint("patient_key", "embedding_id", name=op.f("pk_patient_embeddings")),
        sa.UniqueConstraint(
            "patient_key",
            "source_table",
            "source_id",
            "model",
            name=op.f("uq_patient_embeddings_patient_key_source_table_source_id_model"),
        ),
        schema="ai",
        comment="Vector embeddings of chunks of patient chart content, for similarity search; derived data, rebuilt from the clinical tables",
    )
    op.create_index(
        "ix_patient_embeddings_embedding_hnsw",
        "patient_embeddings",
        ["embedding"],
        unique=False,
        schema="ai",
        postgresql_using="hnsw",
        postgresql_ops={"embedding": "vector_cosine_ops"},
    )
    op.create_table(
        "audit_logs",
        sa.Column(
            "audit_id",
            sa.BigInteger(),
            sa.Identity(always=False),
            nullable=False,
            comment="Audit row id (identity)",
        ),
        sa.Column(
            "user_id",
            sa.Uuid(),
            nullable=True,
            comment="User the event concerns, if known (auth.users.user_id). No foreign key on purpose: deleting a user must never rewrite or delete audit rows (S18)",
        ),
        sa.Column(
            "event_type",
            sa.String(length=50),
            nullable=False,
            comment="Kind of authentication event: login success or failure, lockout, unlock, logout, timeout, password change, rehash, user created or disabled, ...",
        ),
        sa.Column(
            "event_timestamp",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=True,
            comment="When the event happened (UTC)",
        ),
        sa.Column(
            "email",
            sa.String(length=255),
            nullable=True,
            comment="E-mail address given at the event; kept for attempts on unknown accounts",
        ),
        sa.Column(
            "ip_address",
            sa.String(length=45),
            nullable=True,
            comment="Client IP address (IPv4 or IPv6 text)",
        ),
        sa.Column("user_agent", sa.Text(), nullable=True, comment="Client User-Agent header"),
        sa.Column(
            "success",
            sa.Boolean(),
            nullable=True,
            comment="True if the action succeeded, false if it was refused",
        ),
        sa.Column(
            "failure_reason",
            sa.Text(),
            nullable=True,
            comment="Why the action failed; never contains a password or token",
        ),
        sa.Column(
            "session_id",
            sa.Uuid(),
            nullable=True,
            comment="Session the event belongs to, if any; no foreign key, as sessions are purged while audit rows stay",
        ),
        sa.PrimaryKeyConstraint("audit_id", name=op.f("pk_audit_logs")),
        schema="auth",
        comment="Append-only audit trail of authentication events (logins, failures, lockouts, logouts, password changes, ...); never updated or deleted",
    )
    op.create_index(
        "ix_audit_logs_time",
        "audit_logs",
        [sa.literal_column("event_timestamp DESC")],
        unique=False,
        schema="auth",
    )
    op.create_index(
        "ix_audit_logs_type_time",
        "audit_logs",
        ["event_type", sa.literal_column("event_timestamp DESC")],
        unique=False,
        schema="auth",
    )
    op.create_index(
        "ix_audit_logs_user_time",
        "audit_logs",
        ["user_id", sa.literal_column("event_timestamp DESC")],
        unique=False,
        schema="auth",
    )
    op.create_table(
        "users",
        sa.Column(
            "user_id",
            sa.Uuid(),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
            comment="Account id (random UUID generated by the database)",
        ),
        sa.Column(
            "email",
            sa.String(length=255),
            nullable=False,
            comment="Login e-mail address; unique, also case-insensitively (ux_users_email_lower)",
        ),
        sa.Column(
            "password_hash",
            sa.String(length=255),
            nullable=False,
            comment="Password hash: argon2id, or a legacy med-z1 bcrypt hash ($2b$12$...) until the next successful login replaces it; readable by the application role only",
        ),
        sa.Column(
            "display_name",
            sa.String(length=255),
            nullable=False,
            comment="Name shown in the viewer and in audit reports",
        ),
        sa.Column("first_name", sa.String(length=100), nullable=True, comment="User's first name"),
        sa.Column("last_name", sa.String(length=100), nullable=True, comment="User's last name"),
        sa.Column(
            "home_site_sta3n",
            sa.Integer(),
            nullable=True,
            comment="VA station number (sta3n) of the user's home facility",
        ),
        sa.Column(
            "is_active",
            sa.Boolean(),
            server_default=sa.text("true"),
            nullable=True,
            comment="False once the account is disabled (e.g. dormant); disabled users cannot log in",
        ),
        sa.Column(
            "is_locked",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=True,
            comment="True while the account is locked after too many failed logins",
        ),
        sa.Column(
            "failed_login_attempts",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=True,
            comment="Consecutive failed logins since the last success; the limit locks the account",
        ),
        sa.Column(
            "last_login_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the user last logged in successfully (UTC)",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=True,
            comment="When the account was created (UTC)",
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=True,
            comment="When the account row was last changed (UTC)",
        ),
        sa.Column(
            "created_by",
            sa.String(length=100),
            server_default=sa.text("'system'"),
            nullable=True,
            comment="Who created the account: an administrator's e-mail or 'system'",
        ),
        sa.CheckConstraint(
            "failed_login_attempts >= 0", name=op.f("ck_users_failed_login_attempts_nonnegative")
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
        schema="auth",
        comment="Clinician accounts of the med-z1 viewer: login identity, password hash, home facility and lockout state",
    )
    op.create_index(
        "ix_users_home_site_sta3n", "users", ["home_site_sta3n"], unique=False, schema="auth"
    )
    op.create_index("ix_users_is_active", "users", ["is_active"], unique=False, schema="auth")
    op.create_index(
        "ux_users_email_lower",
        "users",
        [sa.literal_column("lower(email::text)")],
        unique=True,
        schema="auth",
    )
    op.create_table(
        "patient_allergies",
        sa.Column(
            "allergy_id",
            sa.Integer(),
            sa.Identity(always=False),
            nullable=False,
            comment="Surrogate row id generated by medz1 (identity)",
        ),
        sa.Column(
            "patient_key",
            sa.String(length=50),
            nullable=False,
            comment="Patient key: the patient's ICN (VA Integration Control Number, e.g. ICN100001)",
        ),
        sa.Column(
            "allergy_sid",
            sa.BigInteger(),
            nullable=False,
            comment="Source id of the allergy (CDW PatientAllergySID); unique per patient, keys patient_allergy_reactions",
        ),
        sa.Column(
            "allergen_local",
            sa.String(length=255),
            nullable=False,
            comment="Allergen as entered at the site (local drug or free-text name)",
        ),
        sa.Column(
            "allergen_standardized",
            sa.String(length=100),
            nullable=False,
            comment="Standardised allergen name used for display, e.g. PENICILLIN",
        ),
        sa.Column(
            "allergen_type",
            sa.String(length=50),
            nullable=False,
            comment="Allergen type, e.g. DRUG, FOOD, ENVIRONMENTAL",
        ),
        sa.Column(
            "severity",
            sa.String(length=50),
            nullable=True,
            comment="Severity of the reaction, e.g. MILD, MODERATE, SEVERE",
        ),
        sa.Column(
            "severity_rank",
            sa.Integer(),
            nullable=True,
            comment="Severity as a sortable rank: 3 SEVERE, 2 MODERATE, 1 MILD",
        ),
        sa.Column(
            "reactions",
            sa.Text(),
            nullable=True,
            comment="Reaction names joined into one text, e.g. HIVES, ITCHING (one row each in patient_allergy_reactions)",
        ),
        sa.Column(
            "reaction_count",
            sa.Integer(),
            server_default=sa.text("0"),
            nullable=True,
            comment="Number of reactions recorded",
        ),
        sa.Column(
            "origination_date",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="When the allergy was entered into the record (UTC)",
        ),
        sa.Column(
            "observed_date",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the reaction was observed, for observed allergies (UTC)",
        ),
        sa.Column(
            "historical_or_observed",
            sa.String(length=20),
            nullable=True,
            comment="HISTORICAL (reported by the patient) or OBSERVED (seen by clinical staff)",
        ),
        sa.Column(
            "originating_site",
            sa.String(length=10),
            nullable=True,
            comment="VA station number (sta3n) of the site that entered the allergy",
        ),
        sa.Column(
            "originating_site_name",
            sa.String(length=100),
            nullable=True,
            comment="Name of the site that entered the allergy",
        ),
        sa.Column(
            "originating_staff",
            sa.String(length=100),
            nullable=True,
            comment="Name of the staff member who entered the allergy",
        ),
        sa.Column(
            "comment",
            sa.Text(),
            nullable=True,
            comment="Free-text comment on the allergy (may be long)",
        ),
        sa.Column(
            "is_active",
            sa.Boolean(),
            server_default=sa.text("true"),
            nullable=True,
            comment="True while the allergy is current (not removed or entered in error)",
        ),
        sa.Column(
            "verification_status",
            sa.String(length=30),
            nullable=True,
            comment="Verification status, e.g. VERIFIED, UNVERIFIED",
        ),
        sa.Column(
            "is_drug_allergy",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=True,
            comment="True for allergies to a drug",
        ),
        sa.Column(
            "source_system",
            sa.String(length=20),
            nullable=True,
            comment="Provenance: CDWWork (VistA), CDWWork2 (Cerner / Oracle Health), CALCULATED (derived), med-z4 (entered by a sibling application); read by med-z1 but created by its loader, not its DDL",
        ),
        sa.Column(
            "last_updated",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=True,
            comment="When medz1 last loaded or updated this row (UTC)",
        ),
        sa.PrimaryKeyConstraint("patient_key", "allergy_id", name=op.f("pk_patient_allergies")),
        sa.UniqueConstraint(
            "patient_key", "allergy_sid", name=op.f("uq_patient_allergies_patient_key_allergy_sid")
        ),
        schema="public",
        comment="Allergies and adverse reactions per patient (drug, food, environmental) with severity, verification and the reactions observed",
    )
    op.create_index(
        "ix_patient_allergies_patient_active",
        "patient_allergies",
        ["patient_key", "is_active"],
        unique=False,
        schema="public",
    )
    op.create_index(
        "ix_patient_allergies_patient_drug_severity",
        "patient_allergies",
        ["patient_key", "is_drug_allergy", sa.literal_column("severity_rank DESC")],
        unique=False,
        schema="public",
        postgresql_where=sa.text("(is_active = true)"),
    )
    op.create_table(
        "patient_allergy_reactions",
        sa.Column(
            "reaction_id",
            sa.Integer(),
            sa.Identity(always=False),
            nullable=False,
            comment="Surrogate row id generated by medz1 (identity)",
        ),
        sa.Column(
            "allergy_sid",
            sa.BigInteger(),
            nullable=False,
            comment="Allergy the reaction belongs to (patient_allergies.allergy_sid)",
        ),
        sa.Column(
            "patient_key",
            sa.String(length=50),
            nullable=False,
            comment="Patient key: the patient's ICN (VA Integration Control Number, e.g. ICN100001)",
        ),
        sa.Column(
            "reaction_name",
            sa.String(length=100),
            nullable=False,
            comment="Reaction (sign or symptom), e.g. HIVES, ANAPHYLAXIS, NAUSEA",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=True,
            comment="When medz1 created this row (UTC)",
        ),
        sa.PrimaryKeyConstraint(
            "patient_key", "reaction_id", name=op.f("pk_patient_allergy_reactions")
        ),
        sa.UniqueConstraint(
            "patient_key",
            "allergy_sid",
            "reaction_name",
            name=op.f("uq_patient_allergy_reactions_patient_key_allergy_sid_reaction_name"),
        ),
        schema="public",
        comment="Individual reactions (signs and symptoms) of each patient allergy, one row per reaction",
    )
    op.create_index(
        "ix_patient_allergy_reactions_allergy_sid",
        "patient_allergy_reactions",
        ["allergy_sid"],
        unique=False,
        schema="public",
    )
    op.create_table(
        "patient_demographics",
        sa.Column(
            "patient_key",
            sa.String(length=50),
            nullable=False,
            comment="Patient key: the patient's ICN (VA Integration Control Number, e.g. ICN100001)",
        ),
        sa.Column(
            "icn",
            sa.String(length=50),
            nullable=False,
            comment="Integration Control Number from the VA Master Person Index; equals patient_key",
        ),
        sa.Column(
            "ssn",
            sa.String(length=64),
            nullable=True,
            comment="Social Security number (sensitive PII); 64 characters so a hashed or tokenised value also fits",
        ),
        sa.Column(
            "ssn_last4",
            sa.String(length=4),
            nullable=True,
            comment="Last four digits of the SSN, used to confirm identity in patient search",
        ),
        sa.Column(
            "name_last", sa.String(length=100), nullable=True, comment="Legal last (family) name"
        ),
        sa.Column(
            "name_first", sa.String(length=100), nullable=True, comment="Legal first (given) name"
        ),
        sa.Column(
            "name_display",
            sa.String(length=200),
            nullable=True,
            comment="Name as shown in the patient header (typically LAST, FIRST)",
        ),
        sa.Column("dob", sa.Date(), nullable=True, comment="Date of birth"),
        sa.Column(
            "age",
            sa.Integer(),
            nullable=True,
            comment="Age in years computed at load time; stale afterwards, derive from dob",
        ),
        sa.Column(
            "sex",
            sa.String(length=1),
            nullable=True,
            comment="Administrative (birth) sex code, e.g. M or F",
        ),
        sa.Column(
            "gender",
            sa.String(length=50),
            nullable=True,
            comment="Gender as recorded by the source system, e.g. Male, Female",
        ),
        sa.Column(
            "primary_station",
            sa.String(length=10),
            nullable=True,
            comment="VA station number (sta3n) of the patient's primary care facility",
        ),
        sa.Column(
            "primary_station_name",
            sa.String(length=200),
            nullable=True,
            comment="Name of the patient's primary care facility",
        ),
        sa.Column(
            "address_street1",
            sa.String(length=100),
            nullable=True,
            comment="Residential address, street line 1",
        ),
        sa.Column(
            "address_street2",
            sa.String(length=100),
            nullable=True,
            comment="Residential address, street line 2 (apartment, unit)",
        ),
        sa.Column(
            "address_city",
            sa.String(length=100),
            nullable=True,
            comment="Residential address, city",
        ),
        sa.Column(
            "address_state",
            sa.String(length=2),
            nullable=True,
            comment="Residential address, two-letter US state or territory code",
        ),
        sa.Column(
            "address_zip",
            sa.String(length=10),
            nullable=True,
            comment="Residential address, ZIP code (5 digits or ZIP+4)",
        ),
        sa.Column(
            "phone_primary",
            sa.String(length=20),
            nullable=True,
            comment="Primary contact phone number",
        ),
        sa.Column(
            "insurance_company_name",
            sa.String(length=100),
            nullable=True,
            comment="Name of the patient's primary health insurance carrier (non-VA)",
        ),
        sa.Column(
            "marital_status",
            sa.String(length=25),
            nullable=True,
            comment="Marital status, e.g. MARRIED, DIVORCED, NEVER MARRIED",
        ),
        sa.Column(
            "religion",
            sa.String(length=50),
            nullable=True,
            comment="Religious preference as recorded by the source",
        ),
        sa.Column(
            "service_connected_percent",
            sa.Numeric(precision=5, scale=2),
            nullable=True,
            comment="VA service-connected disability rating, percent (0-100)",
        ),
        sa.Column(
            "deceased_flag",
            sa.CHAR(length=1),
            nullable=True,
            comment="Y if the patient is deceased, N otherwise",
        ),
        sa.Column(
            "death_date",
            sa.Date(),
            nullable=True,
            comment="Date of death, when the patient is deceased",
        ),
        sa.Column(
            "veteran_status",
            sa.String(length=50),
            nullable=True,
            comment="Veteran status from the eligibility record, e.g. Veteran",
        ),
        sa.Column(
            "source_system",
            sa.String(length=20),
            nullable=True,
            comment="Provenance: CDWWork (VistA), CDWWork2 (Cerner / Oracle Health), CALCULATED (derived), med-z4 (entered by a sibling application)",
        ),
        sa.Column(
            "last_updated",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=True,
            comment="When medz1 last loaded or updated this row (UTC)",
        ),
        sa.CheckConstraint(
            "deceased_flag IN ('Y', 'N')", name=op.f("ck_patient_demographics_deceased_flag_yn")
        ),
        sa.CheckConstraint(
            "icn = patient_key", name=op.f("ck_patient_demographics_icn_is_patient_key")
        ),
        sa.CheckConstraint(
            "service_connected_percent BETWEEN 0 AND 100",
            name=op.f("ck_patient_demographics_service_connected_percent_range"),
        ),
        sa.PrimaryKeyConstraint("patient_key", name=op.f("pk_patient_demographics")),
        schema="public",
        comment="One row per patient: identity, demographics, address, primary facility and eligibility summary; patient_key is the ICN",
    )
    op.create_index(
        "ix_patient_demographics_dob",
        "patient_demographics",
        ["dob"],
        unique=False,
        schema="public",
    )
    op.create_index(
        "ix_patient_demographics_icn",
        "patient_demographics",
        ["icn"],
        unique=False,
        schema="public",
    )
    op.create_index(
        "ix_patient_demographics_name_first",
        "patient_demographics",
        ["name_first"],
        unique=False,
        schema="public",
    )
    op.create_index(
        "ix_patient_demographics_name_last",
        "patient_demographics",
        ["name_last"],
        unique=False,
        schema="public",
    )
    op.create_index(
        "ix_patient_demographics_primary_station",
        "patient_demographics",
        ["primary_station"],
        unique=False,
        schema="public",
    )
    op.create_index(
        "ix_patient_demographics_ssn_last4",
        "patient_demographics",
        ["ssn_last4"],
        unique=False,
        schema="public",
    )
    op.create_table(
        "patient_encounters",
        sa.Column(
            "encounter_id",
            sa.Integer(),
            sa.Identity(always=False),
            nullable=False,
            comment="Surrogate row id generated by medz1 (identity)",
        ),
        sa.Column(
            "patient_key",
            sa.String(length=50),
            nullable=False,
            comment="Patient key: the patient's ICN (VA Integration Control Number, e.g. ICN100001)",
        ),
        sa.Column(
            "inpatient_id",
            sa.BigInteger(),
            nullable=False,
            comment="Source id of the admission (CDW InpatientSID); unique per patient",
        ),
        sa.Column(
            "admit_datetime",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="When the patient was admitted (UTC)",
        ),
        sa.Column(
            "admit_location_id",
            sa.Integer(),
            nullable=True,
            comment="Source id of the admitting ward or location (CDW LocationSID)",
        ),
        sa.Column(
            "admit_location_name",
            sa.String(length=100),
            nullable=True,
            comment="Name of the admitting ward or location",
        ),
        sa.Column(
            "admit_location_type",
            sa.String(length=50),
            nullable=True,
            comment="Type of the admitting location, e.g. ward, ICU",
        ),
        sa.Column(
            "admit_diagnosis_code",
            sa.String(length=20),
            nullable=True,
            comment="Admitting diagnosis code (ICD-10-CM)",
        ),
        sa.Column(
            "admitting_provider_id",
            sa.Integer(),
            nullable=True,
            comment="Source id of the admitting provider (CDW StaffSID)",
        ),
        sa.Column(
            "admitting_provider_name",
            sa.String(length=200),
            nullable=True,
            comment="Name of the admitting provider",
        ),
        sa.Column(
            "discharge_datetime",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the patient was discharged (UTC); null while admitted",
        ),
        sa.Column(
            "discharge_date_id",
            sa.Integer(),
            nullable=True,
            comment="CDW date-dimension key of the discharge date (integer, YYYYMMDD)",
        ),
        sa.Column(
            "discharge_location_id",
            sa.Integer(),
            nullable=True,
            comment="Source id of the ward or location at discharge (CDW LocationSID)",
        ),
        sa.Column(
            "discharge_location_name",
            sa.String(length=100),
            nullable=True,
            comment="Name of the ward or location at discharge",
        ),
        sa.Column(
            "discharge_location_type",
            sa.String(length=50),
            nullable=True,
            comment="Type of the location at discharge, e.g. ward, ICU",
        ),
        sa.Column(
            "discharge_diagnosis_code",
            sa.String(length=20),
            nullable=True,
            comment="Principal discharge diagnosis code (ICD-10-CM)",
        ),
        sa.Column(
            "discharge_diagnosis_text",
            sa.String(length=100),
            nullable=True,
            comment="Description of the principal discharge diagnosis",
        ),
        sa.Column(
            "discharge_disposition",
            sa.String(length=50),
            nullable=True,
            comment="Where the patient went on discharge, e.g. home, transfer",
        ),
        sa.Column("length_of_stay", sa.Integer(), nullable=True, comment="Length of stay in days"),
        sa.Column(
            "total_days",
            sa.Integer(),
            nullable=True,
            comment="Total days of the admission as computed by the source",
        ),
        sa.Column(
            "encounter_status",
            sa.String(length=20),
            nullable=True,
            comment="Status of the encounter, e.g. Active (admitted) or Discharged",
        ),
        sa.Column(
            "is_active",
            sa.Boolean(),
            nullable=False,
            comment="True while the patient is still admitted (not discharged)",
        ),
        sa.Column(
            "admission_category",
            sa.String(length=30),
            nullable=True,
            comment="Category of the admission as classified by the loader",
        ),
        sa.Column(
            "is_recent",
            sa.Boolean(),
            nullable=False,
            comment="True for encounters of the last 30 days, computed at load time",
        ),
        sa.Column(
            "is_extended_stay",
            sa.Boolean(),
            nullable=False,
            comment="True for an extended (long) stay, computed at load time",
        ),
        sa.Column(
            "sta3n",
            sa.String(length=10),
            nullable=True,
            comment="VA station number (sta3n) of the admitting facility",
        ),
        sa.Column(
            "facility_name",
            sa.String(length=100),
            nullable=True,
            comment="Name of the admitting facility",
        ),
        sa.Column(
            "source_system",
            sa.String(length=50),
            nullable=True,
            comment="Provenance: CDWWork (VistA), CDWWork2 (Cerner / Oracle Health), CALCULATED (derived), med-z4 (entered by a sibling application)",
        ),
        sa.Column(
            "last_updated",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=True,
            comment="When medz1 last loaded or updated this row (UTC)",
        ),
        sa.PrimaryKeyConstraint("patient_key", "encounter_id", name=op.f("pk_patient_encounters")),
        sa.UniqueConstraint(
            "patient_key",
            "inpatient_id",
            name=op.f("uq_patient_encounters_patient_key_inpatient_id"),
        ),
        schema="public",
        comment="Inpatient encounters (admissions): admission and discharge details, diagnoses, length of stay and facility",
    )
    op.create_index(
        "ix_patient_encounters_encounter_id",
        "patient_encounters",
        ["encounter_id"],
        unique=False,
        schema="public",
    )
    op.create_index(
        "ix_patient_encounters_patient_admit",
        "patient_encounters",
        ["patient_key", sa.literal_column("admit_datetime DESC")],
        unique=False,
        schema="public",
    )
    op.create_index(
        "ix_patient_encounters_patient_admit_active",
        "patient_encounters",
        ["patient_key", sa.literal_column("admit_datetime DESC")],
        unique=False,
        schema="public",
        postgresql_where=sa.text("(is_active = true)"),
    )
    op.create_index(
        "ix_patient_encounters_patient_admit_recent",
        "patient_encounters",
        ["patient_key", sa.literal_column("admit_datetime DESC")],
        unique=False,
        schema="public",
        postgresql_where=sa.text("(is_recent = true)"),
    )
    op.create_table(
        "patient_flag_history",
        sa.Column(
            "history_id",
            sa.Integer(),
            sa.Identity(always=False),
            nullable=False,
            comment="Surrogate row id generated by medz1 (identity)",
        ),
        sa.Column(
            "assignment_id",
            sa.BigInteger(),
            nullable=False,
            comment="Flag assignment acted on (patient_flags.assignment_id)",
        ),
        sa.Column(
            "patient_key",
            sa.String(length=50),
            nullable=False,
            comment="Patient key: the patient's ICN (VA Integration Control Number, e.g. ICN100001)",
        ),
        sa.Column(
            "history_date",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="When the action was taken (UTC)",
        ),
        sa.Column(
            "action_code",
            sa.SmallInteger(),
            nullable=False,
            comment="VistA PRF action code: 1 NEW ASSIGNMENT, 2 CONTINUE, 3 INACTIVATE, 4 REACTIVATE, 5 ENTERED IN ERROR",
        ),
        sa.Column(
            "action_name",
            sa.String(length=50),
            nullable=False,
            comment="Name of the action, matching action_code",
        ),
        sa.Column(
            "entered_by_duz",
            sa.Integer(),
            nullable=False,
            comment="VistA DUZ (user number) of the staff member who entered the action",
        ),
        sa.Column(
            "entered_by_name",
            sa.String(length=100),
            nullable=True,
            comment="Name of the staff member who entered the action",
        ),
        sa.Column(
            "approved_by_duz",
            sa.Integer(),
            nullable=False,
            comment="VistA DUZ (user number) of the staff member who approved the action",
        ),
        sa.Column(
            "approved_by_name",
            sa.String(length=100),
            nullable=True,
            comment="Name of the staff member who approved the action",
        ),
        sa.Column(
            "tiu_document_ien",
            sa.Integer(),
            nullable=True,
            comment="VistA IEN of the TIU progress note documenting the action, if any",
        ),
        sa.Column(
            "history_comments",
            sa.Text(),
            nullable=True,
            comment="Narrative of the action; SENSITIVE clinical text",
        ),
        sa.Column(
            "event_site",
            sa.String(length=10),
            nullable=True,
            comment="VA station number (sta3n) of the site where the action was taken",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=True,
            comment="When medz1 created this row (UTC)",
        ),
        sa.PrimaryKeyConstraint("patient_key", "history_id", name=op.f("pk_patient_flag_history")),
        sa.UniqueConstraint(
            "patient_key",
            "assignment_id",
            "history_date",
            "action_code",
            name=op.f("uq_patient_flag_history_patient_key_assignment_id_history_date_action_code"),
        ),
        schema="public",
        comment="History of actions on patient record flag assignments (new, continue, inactivate, reactivate, entered in error); narrative text is sensitive",
    )
    op.create_index(
        "ix_patient_flag_history_patient_date",
        "patient_flag_history",
        ["patient_key", sa.literal_column("history_date DESC")],
        unique=False,
        schema="public",
    )
    op.create_table(
        "patient_flags",
        sa.Column(
            "flag_id",
            sa.Integer(),
            sa.Identity(always=False),
            nullable=False,
            comment="Surrogate row id generated by medz1 (identity)",
        ),
        sa.Column(
            "patient_key",
            sa.String(length=50),
            nullable=False,
            comment="Patient key: the patient's ICN (VA Integration Control Number, e.g. ICN100001)",
        ),
        sa.Column(
            "assignment_id",
            sa.BigInteger(),
            nullable=False,
            comment="Source id of the flag assignment; unique per patient, keys patient_flag_history",
        ),
        sa.Column(
            "flag_name",
            sa.String(length=100),
            nullable=False,
            comment="Flag name, e.g. HIGH RISK FOR SUICIDE, BEHAVIORAL",
        ),
        sa.Column(
            "flag_category",
            sa.String(length=2),
            nullable=False,
            comment="Flag category: I (national) or II (local)",
        ),
        sa.Column(
            "flag_type",
            sa.String(length=30),
            nullable=True,
            comment="Flag type, e.g. BEHAVIORAL, CLINICAL, RESEARCH, OTHER",
        ),
        sa.Column(
            "is_active",
            sa.Boolean(),
            nullable=False,
            comment="True while the flag assignment is active",
        ),
        sa.Column(
            "assignment_status",
            sa.String(length=20),
            nullable=False,
            comment="Assignment status from the source, e.g. ACTIVE, INACTIVE",
        ),
        sa.Column(
            "assignment_date",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="When the flag was assigned to the patient (UTC)",
        ),
        sa.Column(
            "inactivation_date",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the flag was inactivated, if it was (UTC)",
        ),
        sa.Column(
            "owner_site",
            sa.String(length=10),
            nullable=True,
            comment="VA station number (sta3n) of the site that owns the assignment",
        ),
        sa.Column(
            "owner_site_name",
            sa.String(length=100),
            nullable=True,
            comment="Name of the site that owns the assignment",
        ),
        sa.Column(
            "review_frequency_days",
            sa.Integer(),
            nullable=True,
            comment="Required review interval of the assignment, in days",
        ),
        sa.Column(
            "next_review_date",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the next review of the assignment is due (UTC)",
        ),
        sa.Column(
            "review_status",
            sa.String(length=20),
            nullable=True,
            comment="Review status computed at load, e.g. CURRENT, DUE SOON, OVERDUE",
        ),
        sa.Column(
            "last_action_date",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the most recent action on the assignment was taken (UTC)",
        ),
        sa.Column(
            "last_action",
            sa.String(length=50),
            nullable=True,
            comment="Most recent action, e.g. NEW ASSIGNMENT, CONTINUE, INACTIVATE",
        ),
        sa.Column(
            "last_action_by",
            sa.String(length=100),
            nullable=True,
            comment="Name of the staff member who took the most recent action",
        ),
        sa.Column(
            "last_updated",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=True,
            comment="When medz1 last loaded or updated this row (UTC)",
        ),
        sa.PrimaryKeyConstraint("patient_key", "flag_id", name=op.f("pk_patient_flags")),
        sa.UniqueConstraint(
            "patient_key", "assignment_id", name=op.f("uq_patient_flags_patient_key_assignment_id")
        ),
        schema="public",
        comment="Patient record flag (PRF) assignments: Category I national and Category II local safety flags, with their review schedule",
    )
    op.create_index(
        "ix_patient_flags_patient_active",
        "patient_flags",
        ["patient_key", "is_active"],
        unique=False,
        schema="public",
    )
    op.create_table(
        "patient_labs",
        sa.Column(
            "lab_id",
            sa.Integer(),
            sa.Identity(always=False),
            nullable=False,
            comment="Surrogate row id generated by medz1 (identity)",
        ),
        sa.Column(
            "patient_key",
            sa.String(length=50),
            nullable=False,
            comment="Patient key: the patient's ICN (VA Integration Control Number, e.g. ICN100001)",
        ),
        sa.Column(
            "lab_chem_sid",
            sa.BigInteger(),
            nullable=False,
            comment="Source id of the result (CDW LabChemSID); unique per patient",
        ),
        sa.Column(
            "lab_test_sid",
            sa.Integer(),
            nullable=False,
            comment="Source id of the lab test definition (CDW LabChemTestSID)",
        ),
        sa.Column(
            "lab_test_name",
            sa.String(length=200),
            nullable=False,
            comment="Name of the test, e.g. Glucose, Creatinine, Hemoglobin",
        ),
        sa.Column(
            "lab_test_code",
            sa.String(length=50),
            nullable=True,
            comment="Local code of the test at the performing site",
        ),
        sa.Column(
            "loinc_code",
            sa.String(length=20),
            nullable=True,
            comment="LOINC code of the test, when mapped",
        ),
        sa.Column(
            "panel_name",
            sa.String(length=200),
            nullable=True,
            comment="Panel the test was ordered in, e.g. BMP, CBC; null if ordered alone",
        ),
        sa.Column(
            "accession_number",
            sa.String(length=50),
            nullable=False,
            comment="Specimen accession number; results of one draw share it",
        ),
        sa.Column(
            "result_value",
            sa.String(length=100),
            nullable=True,
            comment="Result as reported (text; may be non-numeric, e.g. POSITIVE, <0.5)",
        ),
        sa.Column(
            "result_numeric",
            sa.Numeric(precision=18, scale=6),
            nullable=True,
            comment="Result as a number, when the reported value is numeric",
        ),
        sa.Column(
            "result_unit",
            sa.String(length=50),
            nullable=True,
            comment="Unit of the result, e.g. mg/dL, mmol/L",
        ),
        sa.Column(
            "abnormal_flag",
            sa.String(length=10),
            nullable=True,
            comment="Abnormal flag reported by the lab, e.g. H, L, H*, L* (critical)",
        ),
        sa.Column(
            "is_abnormal",
            sa.Boolean(),
            nullable=True,
            comment="True when the result is outside the reference range",
        ),
        sa.Column(
            "is_critical",
            sa.Boolean(),
            nullable=True,
            comment="True when the result is a critical value",
        ),
        sa.Column(
            "ref_range_text",
            sa.String(length=100),
            nullable=True,
            comment="Reference range as reported, e.g. 70-110",
        ),
        sa.Column(
            "ref_range_low",
            sa.Numeric(precision=18, scale=6),
            nullable=True,
            comment="Lower limit of the reference range, in result_unit",
        ),
        sa.Column(
            "ref_range_high",
            sa.Numeric(precision=18, scale=6),
            nullable=True,
            comment="Upper limit of the reference range, in result_unit",
        ),
        sa.Column(
            "collection_datetime",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="When the specimen was collected (UTC)",
        ),
        sa.Column(
            "result_datetime",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="When the result was reported (UTC)",
        ),
        sa.Column(
            "location_id",
            sa.Integer(),
            nullable=True,
            comment="Source id of the collection location (CDW LocationSID)",
        ),
        sa.Column(
            "collection_location",
            sa.String(length=100),
            nullable=True,
            comment="Name of the clinic or ward where the specimen was collected",
        ),
        sa.Column(
            "collection_location_type",
            sa.String(length=50),
            nullable=True,
            comment="Kind of collection location, e.g. outpatient clinic, inpatient ward",
        ),
        sa.Column(
            "specimen_type",
            sa.String(length=50),
            nullable=True,
            comment="Specimen type, e.g. SERUM, BLOOD, URINE",
        ),
        sa.Column(
            "sta3n",
            sa.String(length=10),
            nullable=True,
            comment="VA station number (sta3n) of the facility where it was collected",
        ),
        sa.Column(
            "performing_lab_sid",
            sa.Integer(),
            nullable=True,
            comment="Source id of the laboratory that performed the test",
        ),
        sa.Column(
            "ordering_provider_sid",
            sa.Integer(),
            nullable=True,
            comment="Source id of the ordering provider (CDW StaffSID)",
        ),
        sa.Column(
            "vista_package",
            sa.String(length=10),
            nullable=True,
            comment="VistA laboratory package or subscript of the result, e.g. CH",
        ),
        sa.Column(
            "last_updated",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=True,
            comment="When medz1 last loaded or updated this row (UTC)",
        ),
        sa.PrimaryKeyConstraint("patient_key", "lab_id", name=op.f("pk_patient_labs")),
        sa.UniqueConstraint(
            "patient_key", "lab_chem_sid", name=op.f("uq_patient_labs_patient_key_lab_chem_sid")
        ),
        schema="public",
        comment="Laboratory test results per patient, one row per result, with panel, reference range, abnormal and critical flags",
    )
    op.create_index(
        "ix_patient_labs_patient_collected",
        "patient_labs",
        ["patient_key", sa.literal_column("collection_datetime DESC")],
        unique=False,
        schema="public",
    )
    op.create_index(
        "ix_patient_labs_patient_panel_collected",
        "patient_labs",
        ["patient_key", "panel_name", sa.literal_column("collection_datetime DESC")],
        unique=False,
        schema="public",
    )
    op.create_table(
        "patient_medications_inpatient",
        sa.Column(
            "medication_inpatient_id",
            sa.Integer(),
            sa.Identity(always=False),
            nullable=False,
            comment="Surrogate row id generated by medz1 (identity)",
        ),
        sa.Column(
            "patient_icn",
            sa.String(length=50),
            nullable=False,
            comment="Patient ICN, always equal to patient_key; med-z1 selects medications by it",
        ),
        sa.Column(
            "patient_key",
            sa.String(length=50),
            nullable=False,
            comment="Patient key: the patient's ICN (VA Integration Control Number, e.g. ICN100001)",
        ),
        sa.Column(
            "bcma_log_id",
            sa.BigInteger(),
            nullable=False,
            comment="Source id of the BCMA medication log entry (CDW BCMAMedicationLogSID); unique per patient",
        ),
        sa.Column(
            "inpatient_sid",
            sa.BigInteger(),
            nullable=True,
            comment="Admission of the event (CDW InpatientSID, see patient_encounters)",
        ),
        sa.Column(
            "order_number",
            sa.String(length=50),
            nullable=True,
            comment="Pharmacy order number of the medication order",
        ),
        sa.Column(
            "local_drug_id",
            sa.BigInteger(),
            nullable=True,
            comment="Source id of the drug in the site's local drug file (LocalDrugSID)",
        ),
        sa.Column(
            "national_drug_id",
            sa.BigInteger(),
            nullable=True,
            comment="Source id of the drug in the VA National Drug File (NationalDrugSID)",
        ),
        sa.Column(
            "drug_name_local",
            sa.String(length=150),
            nullable=True,
            comment="Drug name in the site's local drug file",
        ),
        sa.Column(
            "drug_name_national",
            sa.String(length=120),
            nullable=True,
            comment="Drug name in the VA National Drug File",
        ),
        sa.Column(
            "generic_name",
            sa.String(length=120),
            nullable=True,
            comment="Generic (non-proprietary) drug name",
        ),
        sa.Column("trade_name", sa.String(length=120), nullable=True, comment="Brand (trade) name"),
        sa.Column(
            "drug_strength",
            sa.String(length=50),
            nullable=True,
            comment="Strength of the product, e.g. 500",
        ),
        sa.Column(
            "drug_unit",
            sa.String(length=50),
            nullable=True,
            comment="Unit of the strength, e.g. MG",
        ),
        sa.Column(
            "dosage_form",
            sa.String(length=50),
            nullable=True,
            comment="Dosage form, e.g. TAB, INJ, SOLN",
        ),
        sa.Column(
            "drug_class",
            sa.String(length=100),
            nullable=True,
            comment="VA drug class name of the drug",
        ),
        sa.Column(
            "drug_class_code",
            sa.String(length=20),
            nullable=True,
            comment="VA drug class code, e.g. CN101",
        ),
        sa.Column(
            "dea_schedule",
            sa.String(length=10),
            nullable=True,
            comment="DEA controlled-substance schedule, e.g. 2, 2N, 3, 4, 5",
        ),
        sa.Column(
            "ndc_code",
            sa.String(length=20),
            nullable=True,
            comment="National Drug Code (NDC) of the product",
        ),
        sa.Column(
            "action_type",
            sa.String(length=30),
            nullable=True,
            comment="BCMA action, e.g. GIVEN, HELD, REFUSED, MISSING DOSE",
        ),
        sa.Column(
            "action_status",
            sa.String(length=30),
            nullable=True,
            comment="Status of the action as recorded by BCMA",
        ),
        sa.Column(
            "action_datetime",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the action (e.g. the administration) was documented (UTC)",
        ),
        sa.Column(
            "scheduled_datetime",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the dose was scheduled to be given (UTC)",
        ),
        sa.Column(
            "ordered_datetime",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the medication order was placed (UTC)",
        ),
        sa.Column(
            "dosage_ordered",
            sa.String(length=100),
            nullable=True,
            comment="Dose as ordered, e.g. 500 MG",
        ),
        sa.Column(
            "dosage_given", sa.String(length=100), nullable=True, comment="Dose actually given"
        ),
        sa.Column(
            "route",
            sa.String(length=50),
            nullable=True,
            comment="Route of administration, e.g. PO, IV, SC",
        ),
        sa.Column(
            "unit_of_administration",
            sa.String(length=50),
            nullable=True,
            comment="Unit in which the dose is administered, e.g. TAB, ML",
        ),
        sa.Column(
            "schedule_type",
            sa.String(length=30),
            nullable=True,
            comment="Schedule type, e.g. CONTINUOUS, PRN, ONE-TIME, ON CALL",
        ),
        sa.Column(
            "schedule",
            sa.String(length=50),
            nullable=True,
            comment="Administration schedule, e.g. BID, Q6H",
        ),
        sa.Column(
            "administration_variance",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=True,
            comment="True when the administration varied from the order (e.g. given late)",
        ),
        sa.Column(
            "variance_type",
            sa.String(length=50),
            nullable=True,
            comment="Kind of variance, when administration_variance is true",
        ),
        sa.Column(
            "variance_reason",
            sa.String(length=100),
            nullable=True,
            comment="Reason recorded for the variance",
        ),
        sa.Column(
            "is_iv_medication",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=True,
            comment="True for intravenous medications",
        ),
        sa.Column(
            "iv_type",
            sa.String(length=30),
            nullable=True,
            comment="Type of IV, e.g. ADMIXTURE, PIGGYBACK",
        ),
        sa.Column(
            "infusion_rate",
            sa.String(length=50),
            nullable=True,
            comment="Infusion rate as ordered, e.g. 100 ML/HR",
        ),
        sa.Column(
            "is_controlled_substance",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=True,
            comment="True for DEA-scheduled drugs",
        ),
        sa.Column(
            "administered_by",
            sa.String(length=100),
            nullable=True,
            comment="Name of the nurse or staff member who documented the action",
        ),
        sa.Column(
            "ordering_provider",
            sa.String(length=100),
            nullable=True,
            comment="Name of the provider who ordered the medication",
        ),
        sa.Column(
            "ward_name",
            sa.String(length=100),
            nullable=True,
            comment="Ward where the patient was at the time of the action",
        ),
        sa.Column(
            "facility_name", sa.String(length=100), nullable=True, comment="Name of the VA facility"
        ),
        sa.Column(
            "sta3n",
            sa.String(length=10),
            nullable=True,
            comment="VA station number (sta3n) of the facility",
        ),
        sa.Column(
            "source_system",
            sa.String(length=50),
            server_default=sa.text("'CDWWork'"),
            nullable=True,
            comment="Provenance: CDWWork (VistA), CDWWork2 (Cerner / Oracle Health), CALCULATED (derived), med-z4 (entered by a sibling application)",
        ),
        sa.Column(
            "last_updated",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=True,
            comment="When medz1 last loaded or updated this row (UTC)",
        ),
        sa.PrimaryKeyConstraint(
            "patient_key", "medication_inpatient_id", name=op.f("pk_patient_medications_inpatient")
        ),
        sa.UniqueConstraint(
            "patient_key",
            "bcma_log_id",
            name=op.f("uq_patient_medications_inpatient_patient_key_bcma_log_id"),
        ),
        schema="public",
        comment="Inpatient medication administrations recorded by Bar Code Medication Administration (BCMA), one row per event (given, held, refused, ...)",
    )
    op.create_index(
        "ix_patient_medications_inpatient_icn_action",
        "patient_medications_inpatient",
        ["patient_icn", sa.literal_column("action_datetime DESC")],
        unique=False,
        schema="public",
    )
    op.create_index(
        "ix_patient_medications_inpatient_icn_controlled",
        "patient_medications_inpatient",
        ["patient_icn", "is_controlled_substance", sa.literal_column("action_datetime DESC")],
        unique=False,
        schema="public",
        postgresql_where=sa.text("(is_controlled_substance = true)"),
    )
    op.create_index(
        "ix_patient_medications_inpatient_icn_iv",
        "patient_medications_inpatient",
        ["patient_icn", "is_iv_medication", sa.literal_column("action_datetime DESC")],
        unique=False,
        schema="public",
        postgresql_where=sa.text("(is_iv_medication = true)"),
    )
    op.create_index(
        "ix_patient_medications_inpatient_icn_variance",
        "patient_medications_inpatient",
        ["patient_icn", "administration_variance", sa.literal_column("action_datetime DESC")],
        unique=False,
        schema="public",
        postgresql_where=sa.text("(administration_variance = true)"),
    )
    op.create_table(
        "patient_medications_outpatient",
        sa.Column(
            "medication_outpatient_id",
            sa.Integer(),
            sa.Identity(always=False),
            nullable=False,
            comment="Surrogate row id generated by medz1 (identity)",
        ),
        sa.Column(
            "patient_icn",
            sa.String(length=50),
            nullable=False,
            comment="Patient ICN, always equal to patient_key; med-z1 selects medications by it",
        ),
        sa.Column(
            "patient_key",
            sa.String(length=50),
            nullable=False,
            comment="Patient key: the patient's ICN (VA Integration Control Number, e.g. ICN100001)",
        ),
        sa.Column(
            "rx_outpat_id",
            sa.BigInteger(),
            nullable=False,
            comment="Source id of the prescription (CDW RxOutpatSID); unique per patient",
        ),
        sa.Column(
            "prescription_number",
            sa.String(length=50),
            nullable=True,
            comment="Prescription (Rx) number as printed on the label",
        ),
        sa.Column(
            "local_drug_id",
            sa.BigInteger(),
            nullable=True,
            comment="Source id of the drug in the site's local drug file (LocalDrugSID)",
        ),
        sa.Column(
            "national_drug_id",
            sa.BigInteger(),
            nullable=True,
            comment="Source id of the drug in the VA National Drug File (NationalDrugSID)",
        ),
        sa.Column(
            "drug_name_local",
            sa.String(length=150),
            nullable=True,
            comment="Drug name in the site's local drug file",
        ),
        sa.Column(
            "drug_name_national",
            sa.String(length=120),
            nullable=True,
            comment="Drug name in the VA National Drug File",
        ),
        sa.Column(
            "generic_name",
            sa.String(length=120),
            nullable=True,
            comment="Generic (non-proprietary) drug name",
        ),
        sa.Column("trade_name", sa.String(length=120), nullable=True, comment="Brand (trade) name"),
        sa.Column(
            "drug_strength",
            sa.String(length=50),
            nullable=True,
            comment="Strength of the product, e.g. 500",
        ),
        sa.Column(
            "drug_unit",
            sa.String(length=50),
            nullable=True,
            comment="Unit of the strength, e.g. MG",
        ),
        sa.Column(
            "dosage_form",
            sa.String(length=50),
            nullable=True,
            comment="Dosage form, e.g. TAB, CAP, SOLN",
        ),
        sa.Column(
            "drug_class",
            sa.String(length=100),
            nullable=True,
            comment="VA drug class name of the drug",
        ),
        sa.Column(
            "drug_class_code",
            sa.String(length=20),
            nullable=True,
            comment="VA drug class code, e.g. CV350",
        ),
        sa.Column(
            "dea_schedule",
            sa.String(length=10),
            nullable=True,
            comment="DEA controlled-substance schedule, e.g. 2, 2N, 3, 4, 5",
        ),
        sa.Column(
            "ndc_code",
            sa.String(length=20),
            nullable=True,
            comment="National Drug Code (NDC) of the product",
        ),
        sa.Column(
            "issue_date",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the prescription was issued (UTC)",
        ),
        sa.Column(
            "rx_status",
            sa.String(length=30),
            nullable=True,
            comment="Status from the pharmacy system, e.g. ACTIVE, HOLD, DISCONTINUED",
        ),
        sa.Column(
            "rx_status_computed",
            sa.String(length=30),
            nullable=True,
            comment="Status recomputed at load from the dates (e.g. EXPIRED past expiration); the viewer filters and counts by it",
        ),
        sa.Column(
            "rx_type",
            sa.String(length=30),
            nullable=True,
            comment="Prescription type as delivered by the source",
        ),
        sa.Column(
            "quantity_ordered",
            sa.Numeric(precision=12, scale=4),
            nullable=True,
            comment="Quantity per fill, in dispense units",
        ),
        sa.Column(
            "days_supply", sa.Integer(), nullable=True, comment="Days of supply per fill as ordered"
        ),
        sa.Column(
            "refills_allowed", sa.Integer(), nullable=True, comment="Number of refills allowed"
        ),
        sa.Column(
            "refills_remaining", sa.Integer(), nullable=True, comment="Number of refills remaining"
        ),
        sa.Column(
            "unit_dose",
            sa.String(length=50),
            nullable=True,
            comment="Unit dose as delivered by the source",
        ),
        sa.Column(
            "latest_fill_number",
            sa.Integer(),
            nullable=True,
            comment="Number of the most recent fill (0 is the original fill)",
        ),
        sa.Column(
            "latest_fill_date",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the most recent fill was dispensed (UTC)",
        ),
        sa.Column(
            "latest_fill_status",
            sa.String(length=30),
            nullable=True,
            comment="Status of the most recent fill",
        ),
        sa.Column(
            "latest_quantity_dispensed",
            sa.Numeric(precision=12, scale=4),
            nullable=True,
            comment="Quantity dispensed in the most recent fill",
        ),
        sa.Column(
            "latest_days_supply",
            sa.Integer(),
            nullable=True,
            comment="Days of supply dispensed in the most recent fill",
        ),
        sa.Column(
            "expiration_date",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the prescription expires (UTC)",
        ),
        sa.Column(
            "discontinued_date",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the prescription was discontinued, if it was (UTC)",
        ),
        sa.Column(
            "discontinue_reason",
            sa.String(length=100),
            nullable=True,
            comment="Why the prescription was discontinued",
        ),
        sa.Column(
            "is_controlled_substance",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=True,
            comment="True for DEA-scheduled drugs",
        ),
        sa.Column(
            "is_active",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=True,
            comment="True while the prescription is active, computed at load time",
        ),
        sa.Column(
            "days_until_expiration",
            sa.Integer(),
            nullable=True,
            comment="Days from the load date to expiration, computed at load time",
        ),
        sa.Column(
            "provider_name",
            sa.String(length=100),
            nullable=True,
            comment="Name of the provider responsible for the prescription",
        ),
        sa.Column(
            "ordering_provider_name",
            sa.String(length=100),
            nullable=True,
            comment="Name of the provider who ordered the prescription",
        ),
        sa.Column(
            "pharmacy_name",
            sa.String(length=100),
            nullable=True,
            comment="Name of the dispensing pharmacy",
        ),
        sa.Column(
            "clinic_name",
            sa.String(length=100),
            nullable=True,
            comment="Clinic in which the prescription was written",
        ),
        sa.Column(
            "facility_name",
            sa.String(length=100),
            nullable=True,
            comment="Name of the VA facility of the prescription",
        ),
        sa.Column(
            "sta3n",
            sa.String(length=10),
            nullable=True,
            comment="VA station number (sta3n) of the facility of the prescription",
        ),
        sa.Column(
            "cmop_indicator",
            sa.CHAR(length=1),
            nullable=True,
            comment="Y when filled by a Consolidated Mail Outpatient Pharmacy (CMOP)",
        ),
        sa.Column(
            "mail_indicator",
            sa.CHAR(length=1),
            nullable=True,
            comment="Y when the fill is mailed to the patient",
        ),
        sa.Column(
            "source_system",
            sa.String(length=50),
            server_default=sa.text("'CDWWork'"),
            nullable=True,
            comment="Provenance: CDWWork (VistA), CDWWork2 (Cerner / Oracle Health), CALCULATED (derived), med-z4 (entered by a sibling application)",
        ),
        sa.Column(
            "last_updated",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=True,
            comment="When medz1 last loaded or updated this row (UTC)",
        ),
        sa.PrimaryKeyConstraint(
            "patient_key",
            "medication_outpatient_id",
            name=op.f("pk_patient_medications_outpatient"),
        ),
        sa.UniqueConstraint(
            "patient_key",
            "rx_outpat_id",
            name=op.f("uq_patient_medications_outpatient_patient_key_rx_outpat_id"),
        ),
        schema="public",
        comment="Outpatient prescriptions (VA pharmacy): drug, dosing, fills, status, prescriber and dispensing pharmacy, one row per prescription",
    )
    op.create_index(
        "ix_patient_medications_outpatient_icn_active",
        "patient_medications_outpatient",
        ["patient_icn", "is_active", sa.literal_column("issue_date DESC")],
        unique=False,
        schema="public",
        postgresql_where=sa.text("(is_active = true)"),
    )
    op.create_index(
        "ix_patient_medications_outpatient_icn_controlled",
        "patient_medications_outpatient",
        ["patient_icn", "is_controlled_substance", sa.literal_column("issue_date DESC")],
        unique=False,
        schema="public",
        postgresql_where=sa.text("(is_controlled_substance = true)"),
    )
    op.create_index(
        "ix_patient_medications_outpatient_icn_issued",
        "patient_medications_outpatient",
        ["patient_icn", sa.literal_column("issue_date DESC")],
        unique=False,
        schema="public",
    )
    op.create_table(
        "patient_vitals",
        sa.Column(
            "vital_id",
            sa.Integer(),
            sa.Identity(always=False),
            nullable=False,
            comment="Surrogate row id generated by medz1 (identity)",
        ),
        sa.Column(
            "patient_key",
            sa.String(length=50),
            nullable=False,
            comment="Patient key: the patient's ICN (VA Integration Control Number, e.g. ICN100001)",
        ),
        sa.Column(
            "vital_sign_id",
            sa.BigInteger(),
            nullable=False,
            comment="Source id of the measurement (CDW VitalSignSID); unique per patient",
        ),
        sa.Column(
            "vital_type",
            sa.String(length=100),
            nullable=False,
            comment="Vital sign type, e.g. BLOOD PRESSURE, TEMPERATURE, PULSE, WEIGHT",
        ),
        sa.Column(
            "vital_abbr",
            sa.String(length=10),
            nullable=False,
            comment="Short code of the vital type, e.g. BP, T, P, R, POX, PN, WT, HT, BMI",
        ),
        sa.Column(
            "taken_datetime",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="When the measurement was taken (UTC)",
        ),
        sa.Column(
            "entered_datetime",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the measurement was entered into the record (UTC)",
        ),
        sa.Column(
            "result_value",
            sa.String(length=50),
            nullable=True,
            comment="Result as recorded, e.g. 128/82 for blood pressure, 98.6 for T",
        ),
        sa.Column(
            "numeric_value",
            sa.Numeric(precision=10, scale=2),
            nullable=True,
            comment="Numeric result in unit_of_measure, for single-valued vitals",
        ),
        sa.Column(
            "systolic",
            sa.Integer(),
            nullable=True,
            comment="Systolic blood pressure, mmHg (blood pressure rows only)",
        ),
        sa.Column(
            "diastolic",
            sa.Integer(),
            nullable=True,
            comment="Diastolic blood pressure, mmHg (blood pressure rows only)",
        ),
        sa.Column(
            "metric_value",
            sa.Numeric(precision=10, scale=2),
            nullable=True,
            comment="Result converted to metric units (kg, cm, degrees Celsius)",
        ),
        sa.Column(
            "unit_of_measure",
            sa.String(length=20),
            nullable=True,
            comment="Unit of the recorded result, e.g. mmHg, F, lb, in, %, /min",
        ),
        sa.Column(
            "qualifiers",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=True,
            comment="Measurement qualifiers as JSON, e.g. position, site, cuff size, method",
        ),
        sa.Column(
            "location_id",
            sa.Integer(),
            nullable=True,
            comment="Source id of the clinic or ward where it was taken (CDW LocationSID)",
        ),
        sa.Column(
            "location_name",
            sa.String(length=100),
            nullable=True,
            comment="Name of the clinic or ward where the vital was taken",
        ),
        sa.Column(
            "location_type",
            sa.String(length=50),
            nullable=True,
            comment="Kind of location, e.g. outpatient clinic, inpatient ward",
        ),
        sa.Column(
            "entered_by",
            sa.String(length=100),
            nullable=True,
            comment="Name of the staff member who entered the measurement",
        ),
        sa.Column(
            "abnormal_flag",
            sa.String(length=20),
            nullable=True,
            comment="Flag against clinical thresholds, e.g. CRITICAL, HIGH, LOW, NORMAL",
        ),
        sa.Column(
            "bmi",
            sa.Numeric(precision=5, scale=2),
            nullable=True,
            comment="Body mass index (kg/m2) calculated from height and weight",
        ),
        sa.Column(
            "last_updated",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=True,
            comment="When medz1 last loaded or updated this row (UTC)",
        ),
        sa.PrimaryKeyConstraint("patient_key", "vital_id", name=op.f("pk_patient_vitals")),
        sa.UniqueConstraint(
            "patient_key", "vital_sign_id", name=op.f("uq_patient_vitals_patient_key_vital_sign_id")
        ),
        schema="public",
        comment="Vital sign measurements per patient: blood pressure, temperature, pulse, respiration, pulse oximetry, pain, height, weight and calculated BMI",
    )
    op.create_index(
        "ix_patient_vitals_patient_abbr_taken",
        "patient_vitals",
        ["patient_key", "vital_abbr", sa.literal_column("taken_datetime DESC")],
        unique=False,
        schema="public",
    )
    op.create_index(
        "ix_patient_vitals_patient_taken",
        "patient_vitals",
        ["patient_key", sa.literal_column("taken_datetime DESC")],
        unique=False,
        schema="public",
    )
    op.create_table(
        "user_preferences",
        sa.Column(
            "user_id",
            sa.Uuid(),
            nullable=False,
            comment="User the preference belongs to (auth.users.user_id)",
        ),
        sa.Column(
            "preference_key",
            sa.String(length=100),
            nullable=False,
            comment="Preference name, e.g. vitals.default_range_days",
        ),
        sa.Column(
            "value",
            postgresql.JSONB(astext_type=sa.Text()),
            nullable=False,
            comment="Preference value as JSON (number, text, object, ...)",
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="When the row was last changed (UTC)",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["auth.users.user_id"],
            name=op.f("fk_user_preferences_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "preference_key", name=op.f("pk_user_preferences")),
        schema="admin",
        comment="Per-user preferences of the viewer, one JSON value per user and key; deleted with the user",
    )
    op.create_table(
        "sessions",
        sa.Column(
            "session_id",
            sa.Uuid(),
            server_default=sa.text("gen_random_uuid()"),
            nullable=False,
            comment="Session id (random UUID generated by the database)",
        ),
        sa.Column(
            "user_id",
            sa.Uuid(),
            nullable=False,
            comment="User the session belongs to; sessions are deleted with the user",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=True,
            comment="When the session was created at login (UTC); start of the absolute timeout",
        ),
        sa.Column(
            "last_activity_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=True,
            comment="Last authenticated request of the session (UTC); start of the idle timeout",
        ),
        sa.Column(
            "expires_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="When the session expires at the latest (UTC)",
        ),
        sa.Column(
            "is_active",
            sa.Boolean(),
            server_default=sa.text("true"),
            nullable=True,
            comment="False once the session has ended (logout, timeout, revocation)",
        ),
        sa.Column(
            "ip_address",
            sa.String(length=45),
            nullable=True,
            comment="Client IP address at login (IPv4 or IPv6 text)",
        ),
        sa.Column(
            "user_agent", sa.Text(), nullable=True, comment="Client User-Agent header at login"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["auth.users.user_id"],
            name=op.f("fk_sessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("session_id", name=op.f("pk_sessions")),
        schema="auth",
        comment="Login sessions of the viewer; a session ends at logout, idle or absolute timeout, or revocation, and is deleted with its user",
    )
    op.create_index(
        "ix_sessions_expires_active",
        "sessions",
        ["expires_at", "is_active"],
        unique=False,
        schema="auth",
    )
    op.create_index(
        "ix_sessions_last_activity", "sessions", ["last_activity_at"], unique=False, schema="auth"
    )
    op.create_index(
        "ix_sessions_user_active", "sessions", ["user_id", "is_active"], unique=False, schema="auth"
    )


def downgrade() -> None:
    """Drop every table of this revision, then the schemas it created."""
    op.drop_index("ix_sessions_user_active", table_name="sessions", schema="auth")
    op.drop_index("ix_sessions_last_activity", table_name="sessions", schema="auth")
    op.drop_index("ix_sessions_expires_active", table_name="sessions", schema="auth")
    op.drop_table("sessions", schema="auth")
    op.drop_table("user_preferences", schema="admin")
    op.drop_index("ix_patient_vitals_patient_taken", table_name="patient_vitals", schema="public")
    op.drop_index(
        "ix_patient_vitals_patient_abbr_taken", table_name="patient_vitals", schema="public"
    )
    op.drop_table("patient_vitals", schema="public")
    op.drop_index(
        "ix_patient_medications_outpatient_icn_issued",
        table_name="patient_medications_outpatient",
        schema="public",
    )
    op.drop_index(
        "ix_patient_medications_outpatient_icn_controlled",
        table_name="patient_medications_outpatient",
        schema="public",
        postgresql_where=sa.text("(is_controlled_substance = true)"),
    )
    op.drop_index(
        "ix_patient_medications_outpatient_icn_active",
        table_name="patient_medications_outpatient",
        schema="public",
        postgresql_where=sa.text("(is_active = true)"),
    )
    op.drop_table("patient_medications_outpatient", schema="public")
    op.drop_index(
        "ix_patient_medications_inpatient_icn_variance",
        table_name="patient_medications_inpatient",
        schema="public",
        postgresql_where=sa.text("(administration_variance = true)"),
    )
    op.drop_index(
        "ix_patient_medications_inpatient_icn_iv",
        table_name="patient_medications_inpatient",
        schema="public",
        postgresql_where=sa.text("(is_iv_medication = true)"),
    )
    op.drop_index(
        "ix_patient_medications_inpatient_icn_controlled",
        table_name="patient_medications_inpatient",
        schema="public",
        postgresql_where=sa.text("(is_controlled_substance = true)"),
    )
    op.drop_index(
        "ix_patient_medications_inpatient_icn_action",
        table_name="patient_medications_inpatient",
        schema="public",
    )
    op.drop_table("patient_medications_inpatient", schema="public")
    op.drop_index(
        "ix_patient_labs_patient_panel_collected", table_name="patient_labs", schema="public"
    )
    op.drop_index("ix_patient_labs_patient_collected", table_name="patient_labs", schema="public")
    op.drop_table("patient_labs", schema="public")
    op.drop_index("ix_patient_flags_patient_active", table_name="patient_flags", schema="public")
    op.drop_table("patient_flags", schema="public")
    op.drop_index(
        "ix_patient_flag_history_patient_date", table_name="patient_flag_history", schema="public"
    )
    op.drop_table("patient_flag_history", schema="public")
    op.drop_index(
        "ix_patient_encounters_patient_admit_recent",
        table_name="patient_encounters",
        schema="public",
        postgresql_where=sa.text("(is_recent = true)"),
    )
    op.drop_index(
        "ix_patient_encounters_patient_admit_active",
        table_name="patient_encounters",
        schema="public",
        postgresql_where=sa.text("(is_active = true)"),
    )
    op.drop_index(
        "ix_patient_encounters_patient_admit", table_name="patient_encounters", schema="public"
    )
    op.drop_index(
        "ix_patient_encounters_encounter_id", table_name="patient_encounters", schema="public"
    )
    op.drop_table("patient_encounters", schema="public")
    op.drop_index(
        "ix_patient_demographics_ssn_last4", table_name="patient_demographics", schema="public"
    )
    op.drop_index(
        "ix_patient_demographics_primary_station",
        table_name="patient_demographics",
        schema="public",
    )
    op.drop_index(
        "ix_patient_demographics_name_last", table_name="patient_demographics", schema="public"
    )
    op.drop_index(
        "ix_patient_demographics_name_first", table_name="patient_demographics", schema="public"
    )
    op.drop_index("ix_patient_demographics_icn", table_name="patient_demographics", schema="public")
    op.drop_index("ix_patient_demographics_dob", table_name="patient_demographics", schema="public")
    op.drop_table("patient_demographics", schema="public")
    op.drop_index(
        "ix_patient_allergy_reactions_allergy_sid",
        table_name="patient_allergy_reactions",
        schema="public",
    )
    op.drop_table("patient_allergy_reactions", schema="public")
    op.drop_index(
        "ix_patient_allergies_patient_drug_severity",
        table_name="patient_allergies",
        schema="public",
        postgresql_where=sa.text("(is_active = true)"),
    )
    op.drop_index(
        "ix_patient_allergies_patient_active", table_name="patient_allergies", schema="public"
    )
    op.drop_table("patient_allergies", schema="public")
    op.drop_index("ux_users_email_lower", table_name="users", schema="auth")
    op.drop_index("ix_users_is_active", table_name="users", schema="auth")
    op.drop_index("ix_users_home_site_sta3n", table_name="users", schema="auth")
    op.drop_table("users", schema="auth")
    op.drop_index("ix_audit_logs_user_time", table_name="audit_logs", schema="auth")
    op.drop_index("ix_audit_logs_type_time", table_name="audit_logs", schema="auth")
    op.drop_index("ix_audit_logs_time", table_name="audit_logs", schema="auth")
    op.drop_table("audit_logs", schema="auth")
    op.drop_index(
        "ix_patient_embeddings_embedding_hnsw",
        table_name="patient_embeddings",
        schema="ai",
        postgresql_using="hnsw",
        postgresql_ops={"embedding": "vector_cosine_ops"},
    )
    op.drop_table("patient_embeddings", schema="ai")
    op.drop_table("ddi_cache", schema="ai")
    op.drop_table("chart_summaries", schema="ai")
    op.drop_table("system_settings", schema="admin")
    op.drop_table("feature_flags", schema="admin")
    for schema in reversed(NEW_SCHEMAS):
        op.execute(f"DROP SCHEMA {schema}")
