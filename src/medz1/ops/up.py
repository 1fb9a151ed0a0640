"""``medz1 up``: create the database, roles, every schema object and the grants, idempotently."""

from __future__ import annotations

from dataclasses import dataclass

from medz1.db.engine import make_engine
from medz1.db.errors import translated
from medz1.db.target import Target
from medz1.ops import migrate
from medz1.ops.database import claim_database, ensure_database, ensure_extensions
from medz1.ops.grants import apply_grants, apply_roles
from medz1.ops.schema_info import SchemaSummary, list_schemas
from medz1.provision.credentials import RolePlan
from medz1.provision.declared import ADOPTED_MARKER


@dataclass(frozen=True)
class UpReport:
    """What ``up`` did and what exists afterwards."""

    database: str
    database_created: bool
    extensions_installed: list[str]
    roles_repaired: list[str]
    migration: migrate.MigrationResult
    grants_repaired: list[str]
    schemas: list[SchemaSummary]
    #: True when the database holds other applications' objects and was adopted.
    adopted: bool = False

    @property
    def changed(self) -> bool:
        """True when anything was created, repaired or migrated."""
        return (
            self.database_created
            or bool(self.extensions_installed)
            or bool(self.roles_repaired)
            or self.migration.changed
            or bool(self.grants_repaired)
        )


def up(target: Target, role_plan: RolePlan, *, audit: bool = True, adopt: bool = False) -> UpReport:
    """Bring the target database to the state medz1 declares; a second run changes nothing.

    Order: database, its marker (a database holding other applications' objects is
    refused unless ``adopt``), extensions (administrator), roles and ownership, migrations
    (as the owner, one transaction), grants (one transaction; each change is audited
    unless ``audit`` is False). In an adopted database only the objects medz1 declares are
    changed.

    Args:
        target: the server and database to bring up (created when missing).
        role_plan: the declared roles, their passwords and the privilege matrix.
        audit: write a ``grants_changed`` audit row for each change of grants (S16).
        adopt: take over a database that holds objects medz1 did not create.

    Returns:
        What was created, installed, migrated and granted, and the schemas found after.

    Raises:
        ConfigurationError: the database is not medz1's and ``adopt`` is False; nothing
            was changed.
        ConnectionFailedError: the server cannot be reached.
        PrivilegeError: the administrator connection lacks a privilege a step needs.
        MigrationError: a migration failed (its transaction was rolled back).
    """
    created = ensure_database(target)
    adopted = claim_database(target, created=created, adopt=adopt) == ADOPTED_MARKER
    engine = make_engine(target.url)
    try:
        installed = ensure_extensions(engine)
        roles = apply_roles(target, role_plan)
        with translated():
            result = migrate.upgrade(engine)
        grants = apply_grants(target, role_plan, audit=audit, earlier_changes=roles)
        with translated(), engine.connect() as conn:
            schemas = list_schemas(conn)
    finally:
        engine.dispose()
    return UpReport(
        database=target.database,
        database_created=created,
        extensions_installed=installed,
        roles_repaired=roles,
        migration=result,
        grants_repaired=grants.repaired,
        schemas=schemas,
        adopted=adopted,
    )
