"""Probes: ``/healthz`` (the process answers) and ``/readyz`` (the database is usable).

``/readyz`` connects as ``med_z1_user`` through the service's pool and checks that every
table and index the models of this medz1 version declare exists (read from
``pg_catalog``; the application role may not read ``alembic_version`` by role_plan), which
holds once the newest migration is applied. Not ready answers 503 with ``Retry-After``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from medz1.api.problems import RETRY_AFTER_SECONDS, problem
from medz1.api.security import service_of
from medz1.db.engine import unit_of_work
from medz1.db.errors import translated
from medz1.models import metadata

router = APIRouter(tags=["operations"])

_PRESENT = text(
    "SELECT count(*) FROM pg_catalog.pg_class c "
    "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname || '.' || c.relname = ANY(:names)"
)


def expected_relations() -> list[str]:
    """``schema.name`` of every table and named index the models declare."""
    names = []
    for table in metadata.tables.values():
        names.append(f"{table.schema}.{table.name}")
        names += [f"{table.schema}.{index.name}" for index in table.indexes if index.name]
    return sorted(set(names))


@router.get("/healthz")
def healthz() -> JSONResponse:
    """The process is up."""
    return JSONResponse({"status": "ok"})


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    """The database answers and has the newest migration's schema."""
    names = expected_relations()
    with translated(), unit_of_work(service_of(request).engine) as db:
        present = int(db.execute(_PRESENT, {"names": names}).scalar_one())
    if present != len(names):
        missing = len(names) - present
        return problem(
            503,
            f"the database lacks {missing} table(s) or index(es) of this medz1 version; "
            "run `medz1 migrate`",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    return JSONResponse({"status": "ready"})
