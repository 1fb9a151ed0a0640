"""``medz1 up``: create the database, roles, every schema object and the grants, idempotently."""

from __future__ import annotations

from dataclasses import dataclass

from medz1.db.engine import make_engine
from medz1.db.errors import translated
from medz1.db.target import Target
from medz1.ops import migrate
from medz1.ops.database import ensure_database, ensure_extensions
from medz1.ops.grants import apply_grants, apply_roles
from medz1.ops.schema_info import SchemaSummary, list_schemas
from medz1.provision.credentials import Policy


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


def up(target: Target, policy: Policy, *, audit: bool = True) -> UpReport:
    """Bring the target database to the state medz1 declares; a second run changes nothing.

    Order: database, extensions (administrator), roles and ownership, migrations (as the
    owner, one transaction), grants (one transaction; each change is audited unless
    ``audit`` is False).
    """
    created = ensure_database(target)
    engine = make_engine(target.url)
    try:
        installed = ensure_extensions(engine)
        roles = apply_roles(target, policy)
        with translated():
            result = migrate.upgrade(engine)
        grants = apply_grants(target, policy, audit=audit, earlier_changes=roles)
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
    )
