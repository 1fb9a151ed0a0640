"""Helpers of the AI tests: a few demo patients, role engines, embedding rows."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from sqlalchemy import Engine, text

from medz1.ai.chart_text import Chunk
from medz1.db.target import Target
from medz1.ops.demo import load_demo
from medz1.ops.grants import apply_grants
from medz1.provision.connect import engine_for_role
from medz1.provision.credentials import RolePlan
from tests.plugins.synthetic import scoped

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

    Station scoping is turned off in the test's database first: the AI features read
    charts as the application role across stations, which row security (on by default)
    would hide (the AI features do not take a station yet).
    """
    apply_grants(target, scoped(role_plan, station_scoping=False))
    load_demo(target, role_plan, patients=count)
    with role_engine(target, role_plan, "app") as app, app.connect() as conn:
        keys = conn.execute(text("SELECT patient_key FROM patient_demographics ORDER BY 1"))
        return [str(k) for k in keys.scalars()]


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
