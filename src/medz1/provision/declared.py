"""The declared privilege role_plan: roles, their limits, and the role x object x privilege matrix.

This module only declares. ``provision.actual`` reads what the database has,
``provision.apply`` makes the database match, and ``medz1 grants check`` reports every
difference. Everything not granted here is meant to be absent: the matrix is the whole
truth, for the managed roles and for PUBLIC.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated

from pydantic import Field

if TYPE_CHECKING:
    from sqlalchemy import MetaData

OWNER = "medz1_owner"
APP = "med_z1_user"
REPORTING = "reporting_user"
LOADER = "medz1_loader"
AUDITOR = "medz1_auditor"
PUBLIC = "PUBLIC"

#: Short names used on the command line and by the engine factory.
ROLE_ALIASES: dict[str, str] = {
    "owner": OWNER,
    "app": APP,
    "reporting": REPORTING,
    "loader": LOADER,
    "auditor": AUDITOR,
}

#: Table privileges that are compared cell by cell.
TABLE_PRIVILEGES: tuple[str, ...] = (
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "TRUNCATE",
    "REFERENCES",
    "TRIGGER",
    "MAINTAIN",
)
SCHEMA_PRIVILEGES: tuple[str, ...] = ("USAGE", "CREATE")
DATABASE_PRIVILEGES: tuple[str, ...] = ("CONNECT", "TEMPORARY", "CREATE")

READ = frozenset({"SELECT"})
APPEND = frozenset({"SELECT", "INSERT"})
WRITE = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE"})
#: The loader also refreshes planner statistics (ANALYZE) after it replaced a table.
LOAD = WRITE | {"MAINTAIN"}
#: Rows created and changed but never deleted (the ``admin`` tables).
UPSERT = frozenset({"SELECT", "INSERT", "UPDATE"})
_ADMIN_TABLES = frozenset({"feature_flags", "system_settings", "user_preferences"})

#: The audited break-the-glass function (SECURITY DEFINER), as regprocedure prints it.
BREAK_GLASS_FUNCTION = "auth.break_glass_open(uuid,text,text,integer,uuid,text,text,text)"

#: Functions and who may execute them (nobody else, PUBLIC included; S23).
FUNCTION_EXECUTE: dict[str, tuple[str, ...]] = {
    "auth.purge_audit_logs(integer)": (AUDITOR,),
    # Station row security (migration 0010): called by the application's policies. In
    # ``public``, so named as regprocedure prints them there (unqualified).
    "medz1_break_glass_patients()": (APP,),
    "medz1_patient_visible(text)": (APP,),
    # The per-row check of the per-patient ai tables (migration 0015).
    "ai.patient_visible(text)": (APP,),
    # Break-the-glass (migration 0015): the one way to write auth.break_glass_grants, with
    # the reason checked and the audit row appended in the same transaction (S16, S17).
    BREAK_GLASS_FUNCTION: (APP,),
    # The embedding job (as the loader) creates a new station's partial HNSW index
    # (migration 0014; SECURITY DEFINER, as the owner).
    "ai.embedding_station_index(text)": (LOADER,),
}

#: The only ``search_path`` a SECURITY DEFINER function may pin: the catalog, then
#: ``pg_temp`` last, so no schema a caller can write to is searched first (S23).
DEFINER_SEARCH_PATH = "pg_catalog, pg_temp"

#: Connection slots left free for the administrator (and the server's own tools) beyond
#: the sum of the login roles' limits (S36).
ADMIN_HEADROOM_CONNECTIONS = 5

#: The comment medz1 sets on a database it created or recognised as its own.
MARKER = "medz1: the med-z1 serving database (created and managed by medz1)"
#: The comment on a database medz1 was told to adopt (``up --adopt-database``): other
#: applications' objects live there too, so medz1 changes only the objects it declares
#: there (never the database's owner, never another application's object).
ADOPTED_MARKER = "medz1: schemas public, auth, ai, admin managed by medz1 (adopted database)"

#: The one column that only the application may read (security requirement S25).
PASSWORD_COLUMN = ("auth", "users", "password_hash")


#: PostgreSQL keeps role timeouts (ms) and connection limits as 32-bit integers.
PG_INT_MAX = 2_147_483_647


@dataclass(frozen=True)
class RoleLimits:
    """Per-role limits (S26); 0 means no limit for the timeouts, -1 for connections.

    Settings validate the bounds (``MEDZ1_<ROLE>_STATEMENT_TIMEOUT_MS``, ...); a value
    built in code is trusted as given.
    """

    statement_timeout_ms: Annotated[int, Field(ge=0, le=PG_INT_MAX)]
    idle_in_transaction_timeout_ms: Annotated[int, Field(ge=0, le=PG_INT_MAX)]
    connection_limit: Annotated[int, Field(ge=-1, le=PG_INT_MAX)]


@dataclass(frozen=True)
class RoleSpec:
    """One role medz1 manages.

    ``bypassrls`` is the one attribute a role may be declared with beyond LOGIN: the
    loader's, because ``COPY ... FROM`` refuses to run where row security applies.
    """

    name: str
    login: bool
    purpose: str
    alias: str
    limits: RoleLimits | None = None
    bypassrls: bool = False


#: The limits of each login role when settings do not change them (the one place they are
#: written: :class:`medz1.settings.Settings` takes its defaults from here).
DEFAULT_LIMITS: dict[str, RoleLimits] = {
    APP: RoleLimits(30_000, 60_000, 60),
    REPORTING: RoleLimits(300_000, 60_000, 10),
    LOADER: RoleLimits(0, 600_000, 4),
    AUDITOR: RoleLimits(60_000, 60_000, 5),
}


def role_specs(limits: dict[str, RoleLimits] | None = None) -> tuple[RoleSpec, ...]:
    """The managed roles, the owner first; ``limits`` override the defaults per role."""
    chosen = {**DEFAULT_LIMITS, **(limits or {})}
    return (
        RoleSpec(
            OWNER,
            login=False,
            purpose="owns every schema and object; migrations run as it",
            alias="owner",
        ),
        RoleSpec(
            APP, login=True, purpose="the med-z1 application", alias="app", limits=chosen[APP]
        ),
        RoleSpec(
            REPORTING,
            login=True,
            purpose="read-only clinical reporting",
            alias="reporting",
            limits=chosen[REPORTING],
        ),
        RoleSpec(
            LOADER,
            login=True,
            purpose="bulk loads of clinical data",
            alias="loader",
            limits=chosen[LOADER],
            bypassrls=True,
        ),
        RoleSpec(
            AUDITOR,
            login=True,
            purpose="reads the audit log",
            alias="auditor",
            limits=chosen[AUDITOR],
        ),
    )


LOGIN_ROLES: tuple[str, ...] = (APP, REPORTING, LOADER, AUDITOR)
MANAGED_ROLES: tuple[str, ...] = (OWNER, *LOGIN_ROLES)

#: The streaming-replication role of a reporting standby, created on the cluster by
#: ``medz1 replica create`` only. LOGIN REPLICATION, nothing else: the matrix grants it
#: nothing (not even CONNECT), and ``pg_hba.conf`` admits it for replication connections
#: on the unix socket alone. One connection per standby, plus one for a base backup.
REPLICATOR = "medz1_replicator"
REPLICATOR_SPEC = RoleSpec(
    REPLICATOR,
    login=True,
    purpose="streams WAL to reporting standbys",
    alias="replicator",
    limits=RoleLimits(0, 0, 5),
)


#: The per-transaction settings the station policies read (``set_config(..., true)``).
STATION_SETTING = "medz1.station"
SESSION_SETTING = "medz1.session"
#: The one patient a read is about (optional): checked once per statement.
PATIENT_SETTING = "medz1.patient"

#: Break-the-glass: the patient has an unexpired grant for the transaction's session
#: (read once per statement). A missing or malformed ``medz1.session`` matches nothing.
_BREAK_GLASS = (
    "((patient_key)::text = ANY (CAST((SELECT public.medz1_break_glass_patients()) AS text[])))"
)
#: A patient the application may see: at the transaction's station and not sensitive, or
#: opened by break-the-glass. A missing setting is NULL and a malformed one names no
#: station, so either shows no rows (fail closed). The settings are read inside
#: ``(SELECT ...)``, so the server evaluates them once per statement, not once per row.
_DEMOGRAPHICS_SCOPE = (
    "(((primary_station)::text = (SELECT pg_catalog.current_setting('medz1.station', true)) "
    f"AND (NOT is_sensitive)) OR {_BREAK_GLASS})"
)
#: A row of any other clinical table: its patient is the transaction's patient
#: (``medz1.patient``) and visible in ``patient_demographics`` (an uncorrelated sub-select,
#: held to that table's own policy: one InitPlan, one index probe per statement), or else,
#: for reads that name no patient, visible by the per-row check (migration 0015).
_PATIENT_SCOPE = (
    "(((patient_key)::text = (SELECT (d.patient_key)::text AS patient_key "
    "FROM public.patient_demographics d "
    "WHERE ((d.patient_key)::text = pg_catalog.current_setting('medz1.patient'::text, true)))) "
    "OR public.medz1_patient_visible((patient_key)::text))"
)
#: A row of a per-patient ``ai`` table: checked row by row (migration 0015) by a function of
#: ``ai`` that calls ``public.medz1_patient_visible``, the same rows as :data:`_PATIENT_SCOPE`
#: shows, without a policy of ``ai`` naming an object of ``public`` (a restore of ``public``
#: alone drops and recreates its objects).
_AI_PATIENT_SCOPE = "ai.patient_visible((patient_key)::text)"
#: The table of the patient's station; every other clinical table finds it through here.
DEMOGRAPHICS = "public.patient_demographics"
#: Policy names: the application's station scope and the reporting role's full read.
STATION_POLICY = "station_scope"
REPORTING_POLICY = "reporting_all"


@dataclass(frozen=True)
class RowPolicy:
    """One declared row-level security policy (permissive)."""

    table: str
    name: str
    command: str
    roles: tuple[str, ...]
    using: str

    @property
    def key(self) -> str:
        """``schema.table.policy``, as ``pg_policies`` names it."""
        return f"{self.table}.{self.name}"


def clinical_tables(metadata: MetaData) -> tuple[str, ...]:
    """Every clinical table (``public.patient_*`` with a ``patient_key``), sorted."""
    return tuple(
        sorted(
            f"public.{t.name}"
            for t in metadata.tables.values()
            if (t.schema or "public") == "public"
            and t.name.startswith("patient_")
            and "patient_key" in t.columns
        )
    )


#: The per-patient tables of ``ai`` (chart text, summaries) and the commands their station
#: policy covers: the loader writes embeddings (BYPASSRLS, every station), the application
#: only reads them; the application writes summaries of the patients it may see.
AI_PATIENT_TABLES: dict[str, str] = {
    "ai.chart_summaries": "ALL",
    "ai.patient_embeddings": "SELECT",
}


def scoped_tables(metadata: MetaData) -> tuple[str, ...]:
    """Every table under station row security: the clinical tables and the per-patient
    tables of ``ai`` (:data:`AI_PATIENT_TABLES`), sorted.
    """
    present = {f"{t.schema or 'public'}.{t.name}" for t in metadata.tables.values()}
    return tuple(sorted({*clinical_tables(metadata), *(present & AI_PATIENT_TABLES.keys())}))


def row_policies(tables: Iterable[str]) -> tuple[RowPolicy, ...]:
    """The station policies of the clinical ``tables`` (``schema.table``).

    The application (``med_z1_user``) sees a patient's rows when the patient is visible
    in ``patient_demographics`` (station and sensitivity there, break-the-glass grants);
    ``reporting_user`` reads every row (population reporting across stations, read only).
    The loader is not named: it holds BYPASSRLS (see :func:`role_specs`). Nobody else,
    the owner included (FORCE ROW LEVEL SECURITY), sees a row.
    """
    found: list[RowPolicy] = []
    for table in tables:
        if table in AI_PATIENT_TABLES:
            # Derived chart data of the AI features: the reporting role sees none of ``ai``.
            command = AI_PATIENT_TABLES[table]
            found.append(RowPolicy(table, STATION_POLICY, command, (APP,), _AI_PATIENT_SCOPE))
            continue
        using = _DEMOGRAPHICS_SCOPE if table == DEMOGRAPHICS else _PATIENT_SCOPE
        found.append(RowPolicy(table, STATION_POLICY, "SELECT", (APP,), using))
        found.append(RowPolicy(table, REPORTING_POLICY, "SELECT", (REPORTING,), "true"))
    return tuple(found)


@dataclass(frozen=True)
class Matrix:
    """The declared privileges: every (grantee, object, privilege) that must hold.

    Objects are named ``database``, ``schema:<name>``, ``table:<schema>.<table>``,
    ``column:<schema>.<table>.<column>`` and ``function:<signature>``. Grantees are role names or ``PUBLIC``.
    """

    cells: frozenset[tuple[str, str, str]]
    tables: tuple[str, ...]
    schemas: tuple[str, ...]
    default_privileges: frozenset[tuple[str, str, str, str]] = field(default_factory=frozenset)
    #: Tables under row-level security (forced), and whether it is on (MEDZ1_STATION_SCOPING).
    row_security: tuple[str, ...] = ()
    station_scoping: bool = True
    policies: tuple[RowPolicy, ...] = ()

    def allowed(self, grantee: str, obj: str, privilege: str) -> bool:
        """True when the matrix grants ``privilege`` on ``obj`` to ``grantee``."""
        return (grantee, obj, privilege) in self.cells

    def privileges(self, grantee: str, obj: str) -> frozenset[str]:
        """All privileges the matrix grants ``grantee`` on ``obj``."""
        return frozenset(p for g, o, p in self.cells if g == grantee and o == obj)


def _table_rules(table: str) -> dict[str, frozenset[str]]:
    """Table privileges per role for one ``schema.table``."""
    schema, name = table.split(".")
    if schema == "public":
        if name == "alembic_version":
            return {}
        return {APP: READ, REPORTING: READ, LOADER: LOAD}
    if schema == "auth":
        return {
            "users": {APP: WRITE},
            "sessions": {APP: WRITE},
            "audit_logs": {APP: APPEND, AUDITOR: READ},
            # Written only by the audit trigger and purge functions (SECURITY DEFINER, as
            # the owner); the auditor reads the chain's anchor to verify it.
            "audit_chain_head": {AUDITOR: READ},
            # The application's station policies read grants; it writes them only through
            # auth.break_glass_open (no INSERT, UPDATE or DELETE: a grant is never made
            # without its audit row, extended or hidden).
            "break_glass_grants": {APP: READ, AUDITOR: READ},
        }.get(name, {})
    if schema == "ai":
        # Interaction reference data is loaded by the loader and only read by the service.
        # Embeddings are written by the embedding job, which runs as the loader: it reads
        # every station's charts (BYPASSRLS), which the application role may not.
        return {
            "patient_embeddings": {APP: READ, LOADER: WRITE},
            "drug_interactions": {APP: READ, LOADER: LOAD},
            "drug_interaction_loads": {APP: READ, LOADER: APPEND},
        }.get(name, {APP: WRITE})
    if schema == "admin":
        # Flags, settings and preferences are created and changed, never deleted, by the
        # application (``medz1 flags|settings|prefs`` run as it); preferences go with the
        # user by the foreign key's cascade, which runs as the table's owner.
        return {APP: UPSERT} if name in _ADMIN_TABLES else {APP: READ}
    return {}


#: Default privileges (for tables a later migration adds), per schema: role -> privileges.
_DEFAULT_TABLE_RULES: dict[str, dict[str, frozenset[str]]] = {
    "public": {APP: READ, REPORTING: READ, LOADER: LOAD},
    "ai": {APP: WRITE},
    "admin": {APP: READ},
}

_SCHEMA_USAGE: dict[str, tuple[str, ...]] = {
    "public": (APP, REPORTING, LOADER),
    "auth": (APP, AUDITOR),
    "ai": (APP, LOADER),
    "admin": (APP,),
}


def declared_matrix(
    metadata: MetaData, schemas: Iterable[str], *, station_scoping: bool = True
) -> Matrix:
    """Build the matrix for the tables of ``metadata`` (plus Alembic's version table).

    ``station_scoping`` (``MEDZ1_STATION_SCOPING``) says whether row-level security is
    enabled on the clinical tables; it is forced and its policies declared either way.
    """
    schema_list = tuple(schemas)
    declared = sorted(f"{t.schema or 'public'}.{t.name}" for t in metadata.tables.values())
    tables = (*declared, "public.alembic_version")
    cells: set[tuple[str, str, str]] = set()
    for role in LOGIN_ROLES:
        cells.add((role, "database", "CONNECT"))
    cells.add((LOADER, "database", "TEMPORARY"))  # staging tables of the bulk loader
    cells.add((APP, "database", "TEMPORARY"))  # staging of embedding upserts (medz1.ai)
    for signature, grantees in FUNCTION_EXECUTE.items():
        for role in grantees:
            cells.add((role, f"function:{signature}", "EXECUTE"))
    for schema, roles in _SCHEMA_USAGE.items():
        for role in roles:
            cells.add((role, f"schema:{schema}", "USAGE"))
    for table in tables:
        for role, privileges in _table_rules(table).items():
            for privilege in privileges:
                cells.add((role, f"table:{table}", privilege))
    defaults = {
        (schema, "r", role, privilege)
        for schema, rules in _DEFAULT_TABLE_RULES.items()
        for role, privileges in rules.items()
        for privilege in privileges
    }
    return Matrix(
        cells=frozenset(cells),
        tables=tables,
        schemas=schema_list,
        default_privileges=frozenset(defaults),
        row_security=scoped_tables(metadata),
        station_scoping=station_scoping,
        policies=row_policies(scoped_tables(metadata)),
    )
