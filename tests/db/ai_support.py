"""Helpers of the AI tests: a few demo patients, role engines, embedding rows."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from medz1.ai.chart_text import Chunk
from medz1.dal.session import Scope, set_scope
from medz1.db.engine import unit_of_work
from medz1.db.target import Target
from medz1.ops.demo import load_demo
from medz1.provision.connect import engine_for_role
from medz1.provision.credentials import RolePlan

DIM = 384


@contextmanager
def role_engine(target: Target, role_plan: RolePlan, role: str) -> Iterator[Engine]:
    """An engine logged in as ``role`` (alias), disposed afterwards."""
    engine = engine_for_role(target, role, role_plan.passwords)
    try:
        yield engine
    finally:
        engine.dispose()


def load_patients(target: Target, role_plan: RolePlan, count: int = 5) -> list[str]:
    """Load ``count`` synthetic demo patients as the loader; return their keys, sorted.

    Station scoping stays on (the test database's grants follow the default plan, where
    ``MEDZ1_STATION_SCOPING`` is on): the application role sees a patient only through a
    station scope (:func:`as_station`).
    """
    assert role_plan.matrix.station_scoping
    load_demo(target, role_plan, patients=count)
    return sorted(stations(target, role_plan))


def stations(target: Target, role_plan: RolePlan) -> dict[str, str]:
    """Every patient's primary station, read as the loader (which sees every station)."""
    with role_engine(target, role_plan, "loader") as loader, loader.connect() as conn:
        rows = conn.execute(text("SELECT patient_key, primary_station FROM patient_demographics"))
        return {str(k): str(s) for k, s in rows}


def add_patients(target: Target, role_plan: RolePlan, patients: dict[str, str]) -> None:
    """Add bare patients (key -> primary station) as the loader."""
    with role_engine(target, role_plan, "loader") as loader, loader.begin() as conn:
        for key, station in patients.items():
            conn.execute(
                text(
                    "INSERT INTO patient_demographics (patient_key, icn, primary_station) "
                    "VALUES (:k, :k, :s)"
                ),
                {"k": key, "s": station},
            )


@contextmanager
def as_station(
    engine: Engine, station: str | None, session_id: uuid.UUID | None = None
) -> Iterator[Session]:
    """A unit of work of ``engine`` (the application role) read as ``station``."""
    with unit_of_work(engine) as session:
        set_scope(session, Scope(station, session_id))
        yield session


def unit_vectors(seed: int, count: int) -> np.ndarray:
    """``count`` random vectors of norm 1 (float32)."""
    rng = np.random.default_rng(seed)
    data = rng.normal(0, 1, (count, DIM)).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    return data


def chunks(patient: str, count: int, *, station: str | None = "508") -> list[Chunk]:
    """``count`` chunks of one patient, each its own source row."""
    return [
        Chunk(patient, "test", str(i), 0, f"text {i} of {patient}", station) for i in range(count)
    ]


def embedding_rows(engine: Engine) -> list[tuple[str, str, str, int, str]]:
    """Every stored chunk: (patient, source table, source id, chunk number, digest), sorted."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT patient_key, source_table, source_id, chunk_number, text_digest "
                "FROM ai.patient_embeddings ORDER BY 1, 2, 3, 4"
            )
        ).all()
    return [(str(a), str(b), str(c), int(d), str(e)) for a, b, c, d, e in rows]
