"""Alembic environment of medz1: online only, on a connection handed in by medz1.

medz1 runs migrations from code (``medz1.ops.migrate``), passing an open connection in
``config.attributes["connection"]``. The whole upgrade runs in one transaction, so a
failing revision leaves the database exactly as it was (PostgreSQL DDL is transactional).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from medz1.models import metadata
from medz1.ops.compare import include_name

connection: Connection | None = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only reached when alembic is run by hand
    raise SystemExit("run migrations through `medz1 migrate`, not the alembic command")

context.configure(
    connection=connection,
    target_metadata=metadata,
    include_schemas=True,
    include_name=include_name,
    compare_type=True,
    compare_server_default=True,
    transaction_per_migration=False,
)
with context.begin_transaction():
    context.run_migrations()
