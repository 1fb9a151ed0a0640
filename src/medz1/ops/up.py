"""``medz1 up``: create the database, its extensions and every schema object, idempotently."""

from __future__ import annotations

from dataclasses import dataclass

from medz1.db.engine import make_engine
from medz1.db.errors import translated
from medz1.db.target import Target
from medz1.ops import migrate
from medz1.ops.database import ensure_database, ensure_extensions
from medz1.ops.schema_info import SchemaSummary, list_schemas


@dataclass(frozen=True)
class UpReport:
    """What ``up`` did and what exists afterwards."""

    database: str
    database_created: bool
    extensions_installed: list[str]
    migration: migrate.MigrationResult
    schemas: list[SchemaSummary]

    @property
    def changed(self) -> bool:
        """True when anything was created or migrated."""
        return self.database_created or bool(self.extensions_installed) or self.migration.changed


def up(target: Target) -> UpReport:
    """Bring the target database to the state medz1 declares; a second run changes nothing."""
    created = ensure_database(target)
    engine = make_engine(target.url)
    try:
        installed = ensure_extensions(engine)
        with translated():
            result = migrate.upgrade(engine)
            with engine.connect() as conn:
                schemas = list_schemas(conn)
    finally:
        engine.dispose()
    return UpReport(
        database=target.database,
        database_created=created,
        extensions_installed=installed,
        migration=result,
        schemas=schemas,
    )
