"""One way the database departs from what medz1 declares, and the statement that repairs it."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql


@dataclass(frozen=True)
class Difference:
    """One difference; ``repair`` is None when a human (or a migration) must decide."""

    description: str
    repair: sql.Composed | None = None
