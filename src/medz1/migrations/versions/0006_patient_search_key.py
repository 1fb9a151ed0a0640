"""Index the folded ``last, first`` name for ranked, accent-insensitive patient search.

``medz1 patients search`` (``medz1.dal.patients.search_patients``) matches a name as a
prefix of, or anywhere in, ``lower(unaccented(last || ', ' || first))``. A trigram GIN
index (``pg_trgm``) on exactly that expression serves both ``LIKE 'abc%'`` and
``LIKE '%abc%'``. The folding uses immutable built-ins only (``normalize(..., NFD)``, then
the combining marks U+0300 to U+036F removed, then ``lower``; an ASCII name is only
lower-cased) rather than the ``unaccent`` extension, whose function is only STABLE and
would need a wrapper function of our own.

``pg_trgm`` is a trusted extension: the database owner may create it. ``medz1 up``
installs it with ``vector`` before migrating; the statement here covers databases migrated
without ``up``.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The folded search key, as medz1.dal.patients.search_key writes it (frozen here): ASCII
#: names are only lower-cased; others are normalized to NFD and lose their combining marks.
_NAME = "coalesce(name_last, '') || ', ' || coalesce(name_first, '')"
SEARCH_KEY = (
    f"CASE WHEN octet_length({_NAME}) = char_length({_NAME}) THEN lower({_NAME}) "
    f"ELSE lower(regexp_replace(normalize({_NAME}, NFD), '[\\u0300-\\u036f]', '', 'g')) END"
)


def upgrade() -> None:
    """Create pg_trgm when missing, and the trigram index of the search key."""
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
    op.execute(
        "CREATE INDEX ix_patient_demographics_search_key ON public.patient_demographics "
        f"USING gin (({SEARCH_KEY}) public.gin_trgm_ops)"
    )


def downgrade() -> None:
    """Drop the index (the extension stays: ``medz1 up`` installs it)."""
    op.execute("DROP INDEX public.ix_patient_demographics_search_key")
