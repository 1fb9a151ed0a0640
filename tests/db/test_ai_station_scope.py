"""Station scoping of the AI tables: a clinician's search and summaries see only their
station's patients (plus break-the-glass), the embedding job sees every station, a new
station gets its search index, and a policy changed by hand is reported.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import numpy as np
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from medz1.ai.demo import prepare
from medz1.ai.embedder import HashingEmbedder
from medz1.ai.embeddings import replace_embeddings, search, search_statement, vector_literal
from medz1.ai.summaries import chart_digest, put_summary, stale_summaries
from medz1.auth import break_glass
from medz1.db.engine import make_engine
from medz1.db.target import Target
from medz1.errors import NotFoundError
from medz1.ops.check import catalog_finding
from medz1.ops.compare import schema_differences
from medz1.ops.grants import apply_grants, check_grants
from medz1.provision.credentials import RolePlan
from tests.db.ai_support import (
    add_patients,
    as_station,
    chunks,
    load_patients,
    role_engine,
    stations,
    unit_vectors,
)

pytestmark = pytest.mark.db
MODEL = "test-model"


@pytest.fixture
def app(db_target: Target, role_plan: RolePlan) -> Iterator[Engine]:
    with role_engine(db_target, role_plan, "app") as engine:
        yield engine


@pytest.fixture
def near(db_target: Target, role_plan: RolePlan) -> np.ndarray:
    """P1 (508), P2 (640) and P3 (a sensitive patient of 508), 20 chunks each, all close
    to the returned query vector; stored by the loader.
    """
    add_patients(db_target, role_plan, {"P1": "508", "P2": "640", "P3": "508"})
    with role_engine(db_target, role_plan, "loader") as loader, loader.begin() as conn:
        conn.execute(
            text("UPDATE patient_demographics SET is_sensitive = true WHERE patient_key = 'P3'")
        )
    query: np.ndarray = unit_vectors(1, 1)[0]
    rng = np.random.default_rng(2)
    data = query + rng.normal(0, 0.05, (60, 384)).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    found = chunks("P1", 20, station="508") + chunks("P2", 20, station="640")
    found += chunks("P3", 20, station="508")
    with role_engine(db_target, role_plan, "loader") as loader, loader.begin() as conn:
        replace_embeddings(
            conn, model=MODEL, patient_keys=["P1", "P2", "P3"], chunks=found, vectors=data
        )
    return query


def _patients(session: Session, query: np.ndarray, **kwargs: object) -> set[str]:
    return {h.patient_key for h in search(session, query, model=MODEL, k=60, **kwargs)}  # type: ignore[arg-type]


def test_a_clinician_search_sees_only_the_patients_of_their_station(
    app: Engine, near: np.ndarray
) -> None:
    with as_station(app, "508") as session:
        assert _patients(session, near) == {"P1"}
        assert _patients(session, near, station="508") == {"P1"}
        assert _patients(session, near, station="640") == set()
        assert _patients(session, near, patient_key="P2") == set()
    with as_station(app, "640") as session:
        assert _patients(session, near) == {"P2"}


def test_a_search_without_a_station_scope_finds_nothing(app: Engine, near: np.ndarray) -> None:
    with as_station(app, None) as session:
        assert _patients(session, near) == set()
        assert _patients(session, near, station="508") == set()


def test_a_break_glass_patient_joins_the_station_search_of_that_session_only(
    app: Engine, near: np.ndarray
) -> None:
    session_id, other = uuid.uuid4(), uuid.uuid4()
    with Session(app) as granting:
        for patient in ("P2", "P3"):
            break_glass.grant(granting, session_id=session_id, patient_key=patient, reason="test")
        granting.commit()
    with as_station(app, "508", session_id) as session:
        found = search(session, near, model=MODEL, k=60, station="508", break_glass=True)
        assert {h.patient_key for h in found} == {"P1", "P2", "P3"}
        assert len(found) == 60  # P3 is at 508 and opened: each chunk once
        assert [h.distance for h in found] == sorted(h.distance for h in found)
    with as_station(app, "508", other) as session:
        assert _patients(session, near, station="508", break_glass=True) == {"P1"}


def test_summaries_are_written_and_listed_only_for_the_station_patients(
    db_target: Target, role_plan: RolePlan, app: Engine
) -> None:
    keys = load_patients(db_target, role_plan, 5)
    home = stations(db_target, role_plan)
    station = home[keys[0]]
    mine = [k for k in keys if home[k] == station]
    others = [k for k in keys if home[k] != station]
    assert others, "the demo patients span several stations"
    for key in keys:
        with as_station(app, home[key]) as session:
            put_summary(
                session,
                patient_key=key,
                kind="chart",
                model="m",
                summary_text="s",
                source_digest="0" * 64,  # never the chart's digest: every summary is stale
            )
    with as_station(app, station) as session:
        assert [s.patient_key for s in stale_summaries(session)] == mine
        with pytest.raises(NotFoundError):
            chart_digest(session, patient_key=others[0])
    with pytest.raises(NotFoundError), as_station(app, station) as session:
        put_summary(
            session,
            patient_key=others[0],
            kind="other",
            model="m",
            summary_text="s",
            source_digest="0" * 64,
        )


def test_the_demo_embeds_every_chart_with_scoping_on(
    db_target: Target, role_plan: RolePlan, engine: Engine
) -> None:
    keys = load_patients(db_target, role_plan, 5)
    report = prepare(db_target, role_plan, embedder=HashingEmbedder())
    assert (report.embeddings.embedded, report.embeddings.unchanged) == (5, 0)
    with engine.connect() as conn:
        stored = conn.execute(
            text("SELECT DISTINCT patient_key, station FROM ai.patient_embeddings ORDER BY 1")
        ).all()
    home = stations(db_target, role_plan)
    assert [(k, s) for k, s in stored] == [(k, home[k]) for k in keys]


def test_a_new_station_gets_its_index_which_a_scoped_search_uses(
    db_target: Target, role_plan: RolePlan, app: Engine, engine: Engine, near: np.ndarray
) -> None:
    with engine.connect() as conn:
        names = conn.execute(
            text(
                "SELECT indexname FROM pg_indexes WHERE schemaname = 'ai' "
                "AND indexdef LIKE '%hnsw%' ORDER BY 1"
            )
        ).scalars()
        assert list(names) == [
            "ix_patient_embeddings_embedding_hnsw",
            "ix_patient_embeddings_hnsw_s508",
            "ix_patient_embeddings_hnsw_s640",
        ]
        # Made at run time, not by a migration: `medz1 check` does not call it drift.
        assert schema_differences(conn) == []
    with as_station(app, "640") as session:
        session.execute(text("SET LOCAL enable_seqscan = off"))
        plan = session.execute(
            text(f"EXPLAIN (COSTS OFF) {search_statement(station='640')}"),
            {"q": vector_literal(near), "model": MODEL, "k": 10},
        ).scalars()
        assert "Index Scan using ix_patient_embeddings_hnsw_s640" in "\n".join(plan)


@pytest.fixture
def _roles_repaired(db_target: Target, role_plan: RolePlan) -> Iterator[None]:
    """Roles are shared by the test session: repair them after the test."""
    yield
    apply_grants(db_target, role_plan)


@pytest.mark.usefixtures("_roles_repaired")
@pytest.mark.parametrize(
    ("statement", "line"),
    [
        (
            "DROP POLICY station_scope ON ai.patient_embeddings",
            "policy ai.patient_embeddings.station_scope: missing",
        ),
        (
            "DROP POLICY station_scope ON ai.chart_summaries",
            "policy ai.chart_summaries.station_scope: missing",
        ),
        (
            "ALTER TABLE ai.patient_embeddings NO FORCE ROW LEVEL SECURITY",
            "table ai.patient_embeddings: row level security is not forced (the owner bypasses it)",
        ),
        (
            "ALTER TABLE ai.chart_summaries DISABLE ROW LEVEL SECURITY",
            "table ai.chart_summaries: row level security is off (MEDZ1_STATION_SCOPING is on)",
        ),
    ],
)
def test_ai_row_security_changed_by_hand_is_reported_and_repaired(
    db_target: Target, engine: Engine, role_plan: RolePlan, statement: str, line: str
) -> None:
    assert check_grants(db_target, role_plan) == []
    with engine.begin() as conn:
        conn.execute(text(statement))
    assert line in check_grants(db_target, role_plan)
    apply_grants(db_target, role_plan)
    assert check_grants(db_target, role_plan) == []
    admin = make_engine(db_target.url)
    try:
        with admin.connect() as conn:
            assert catalog_finding(conn, role_plan).differences == []
    finally:
        admin.dispose()
