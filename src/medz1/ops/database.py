"""Create the medz1 database and the extensions it needs."""

from __future__ import annotations

import logging

from psycopg import sql
from sqlalchemy import Engine, text
from sqlalchemy.pool import NullPool

from medz1.db.engine import make_engine
from medz1.db.errors import translated
from medz1.db.target import Target

log = logging.getLogger(__name__)

#: Extensions the schema depends on (pgvector for ``ai.patient_embeddings``, pg_trgm for the
#: patient name search index of migration 0006).
REQUIRED_EXTENSIONS: tuple[str, ...] = ("vector", "pg_trgm")


def database_exists(target: Target) -> bool:
    """True when the medz1 database exists on the target server."""
    engine = make_engine(target.maintenance_url, poolclass=NullPool)
    try:
        with translated(what="the PostgreSQL server"), engine.connect() as conn:
            found = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": target.database}
            ).scalar()
    finally:
        engine.dispose()
    return found is not None


def ensure_database(target: Target) -> bool:
    """Create the medz1 database when missing; return True when it was created."""
    if database_exists(target):
        return False
    engine = make_engine(target.maintenance_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with translated(what="the PostgreSQL server"), engine.connect() as conn:
            statement = sql.SQL("CREATE DATABASE {} ENCODING 'UTF8' TEMPLATE template0").format(
                sql.Identifier(target.database)
            )
            conn.exec_driver_sql(statement.as_string())
    finally:
        engine.dispose()
    log.info("created database %s", target.database)
    return True


def missing_extensions(engine: Engine) -> list[str]:
    """Required extensions not installed in the database."""
    with translated(), engine.connect() as conn:
        present = set(conn.execute(text("SELECT extname FROM pg_extension")).scalars())
    return [name for name in REQUIRED_EXTENSIONS if name not in present]


def ensure_extensions(engine: Engine) -> list[str]:
    """Install missing required extensions; return the names installed."""
    missing = missing_extensions(engine)
    if not missing:
        return []
    with translated(), engine.begin() as conn:
        for name in missing:
            statement = sql.SQL("CREATE EXTENSION IF NOT EXISTS {} SCHEMA public").format(
                sql.Identifier(name)
            )
            conn.exec_driver_sql(statement.as_string())
    return missing
