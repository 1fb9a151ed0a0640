"""The chart document: one row per patient, rebuilt by the loader in the load's transaction.

Each test loads its own synthetic patients through ``medz1_loader``, changes them the way
a later load would (upsert, replace, a refused file), and compares the chart read through
the document with the chart read from the clinical tables (``chart_json``), which has no
copy to go stale.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from medz1.clinical.load import load, prepare
from medz1.clinical.synthetic import generate, write_parquet
from medz1.dal.chart import (
    DOCUMENT_FORMAT,
    Chart,
    build_chart,
    chart_json,
    chart_params,
    patient_chart,
    refresh_documents,
)
from medz1.dal.json_reads import decode
from medz1.db.engine import make_engine
from medz1.db.target import Target
from medz1.errors import DataError, NotFoundError
from medz1.ops.grants import apply_grants
from medz1.provision.connect import engine_for_role
from medz1.provision.credentials import RolePlan
from tests.plugins.synthetic import scoped

pytestmark = pytest.mark.db

PATIENTS = 15


@pytest.fixture
def tables() -> dict[str, pa.Table]:
    return generate(PATIENTS, seed=13)


@pytest.fixture
def loader(db_target: Target, role_plan: RolePlan) -> Iterator[Engine]:
    engine = engine_for_role(db_target, "loader", role_plan.passwords)
    yield engine
    engine.dispose()


@pytest.fixture
def app(db_target: Target, role_plan: RolePlan) -> Iterator[Engine]:
    # These tests read patients of every station: station scoping off in this database.
    apply_grants(db_target, scoped(role_plan, station_scoping=False))
    engine = engine_for_role(db_target, "app", role_plan.passwords)
    yield engine
    engine.dispose()


@pytest.fixture
def admin(db_target: Target) -> Iterator[Engine]:
    engine = make_engine(db_target.url)
    yield engine
    engine.dispose()


def load_tables(loader: Engine, tables: dict[str, pa.Table], folder: Path, **kwargs: Any) -> None:
    write_parquet(tables, folder)
    load(loader, prepare(folder), **kwargs)


def from_tables(session: Session, key: str, as_of: datetime) -> Chart | None:
    """The chart read from the clinical tables (no document involved)."""
    return build_chart(decode(chart_json(session, chart_params(patient_key=key, as_of=as_of))))


def keys(tables: dict[str, pa.Table]) -> list[str]:
    return sorted(str(k) for k in tables["patient_demographics"].column("patient_key").to_pylist())


def documents(admin: Engine) -> dict[str, str]:
    with admin.connect() as conn:
        rows = conn.execute(
            text("SELECT patient_key, document::text FROM patient_chart_documents")
        ).all()
    return {str(key): str(document) for key, document in rows}


def test_a_load_builds_one_document_per_patient_read_by_the_chart(
    loader: Engine, app: Engine, admin: Engine, tables: dict[str, pa.Table], tmp_path: Path
) -> None:
    load_tables(loader, tables, tmp_path / "all")
    assert sorted(documents(admin)) == keys(tables)
    statements: list[str] = []
    execute = psycopg.Cursor.execute

    def counted(cursor: psycopg.Cursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        statements.append(str(query))
        return execute(cursor, query, *args, **kwargs)

    key = keys(tables)[0]
    with Session(app) as session:
        session.connection()
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(psycopg.Cursor, "execute", counted)
            chart = patient_chart(session, patient_key=key)
    assert chart is not None
    assert chart.demographics.patient_key == key
    assert len(statements) == 1
    assert "FROM patient_chart_documents" in statements[0]


def test_the_document_gives_the_tables_chart_at_any_clock(
    loader: Engine, app: Engine, tables: dict[str, pa.Table], tmp_path: Path
) -> None:
    # Facts relative to the present are applied by the reader; at every clock (past and
    # future: admissions grow long, prescriptions expire, reviews fall due) the chart
    # through the document equals the chart the SQL of the per-domain reads computes.
    load_tables(loader, tables, tmp_path / "all")
    with Session(app) as session:
        for days, key in itertools.product([0, 45, 400, 3 * 365, -2 * 365], keys(tables)):
            as_of = datetime.now(UTC) + timedelta(days=days, hours=7, minutes=13)
            assert patient_chart(session, patient_key=key, as_of=as_of) == from_tables(
                session, key, as_of
            ), key


def test_an_upsert_rebuilds_the_touched_documents_before_its_commit(
    loader: Engine, app: Engine, admin: Engine, tables: dict[str, pa.Table], tmp_path: Path
) -> None:
    load_tables(loader, tables, tmp_path / "all")
    before = documents(admin)
    key = keys(tables)[0]
    demographics = tables["patient_demographics"]
    row = demographics.filter(pc.equal(demographics.column("patient_key"), key))
    renamed = row.set_column(
        row.schema.get_field_index("name_first"),
        "name_first",
        pa.array(["Renamed"], row.schema.field("name_first").type),
    )
    folder = tmp_path / "upsert"
    folder.mkdir()
    pq.write_table(renamed, folder / "patient_demographics.parquet")
    load(loader, prepare(folder), mode="upsert")
    after = documents(admin)
    assert after[key] != before[key]
    assert {k: v for k, v in after.items() if k != key} == {
        k: v for k, v in before.items() if k != key
    }
    now = datetime.now(UTC)
    with Session(app) as session:
        chart = patient_chart(session, patient_key=key, as_of=now)
        assert chart is not None
        assert chart.demographics.name_first == "Renamed"
        assert chart == from_tables(session, key, now)


def test_a_replace_drops_the_documents_of_patients_it_removed(
    loader: Engine, app: Engine, admin: Engine, tables: dict[str, pa.Table], tmp_path: Path
) -> None:
    load_tables(loader, tables, tmp_path / "all")
    kept, removed = keys(tables)[:10], keys(tables)[10:]
    fewer = {
        name: table.filter(pc.is_in(table.column("patient_key"), pa.array(kept)))
        for name, table in tables.items()
    }
    load_tables(loader, fewer, tmp_path / "fewer")
    assert sorted(documents(admin)) == kept
    with Session(app) as session:
        assert all(patient_chart(session, patient_key=key) is None for key in removed)


def test_a_refused_load_leaves_the_documents_unchanged(
    loader: Engine, admin: Engine, tables: dict[str, pa.Table], tmp_path: Path
) -> None:
    load_tables(loader, tables, tmp_path / "all")
    before = documents(admin)
    folder = tmp_path / "bad"
    folder.mkdir()
    demographics = tables["patient_demographics"]
    bad = demographics.set_column(
        demographics.schema.get_field_index("icn"),
        "icn",
        pa.array(["ICN999999"] * demographics.num_rows, demographics.schema.field("icn").type),
    )
    pq.write_table(bad, folder / "patient_demographics.parquet")
    with pytest.raises(DataError):
        load(loader, prepare(folder))
    assert documents(admin) == before


def test_a_patient_without_a_current_document_is_read_from_the_tables(
    loader: Engine, app: Engine, admin: Engine, tables: dict[str, pa.Table], tmp_path: Path
) -> None:
    load_tables(loader, tables, tmp_path / "all")
    first, second = keys(tables)[:2]
    with admin.begin() as conn:
        conn.execute(
            text("DELETE FROM patient_chart_documents WHERE patient_key = :k"), {"k": first}
        )
        # A document of another layout is never decoded (it could not be).
        conn.execute(
            text(
                "UPDATE patient_chart_documents SET format = :f, document = '[]' "
                "WHERE patient_key = :k"
            ),
            {"f": DOCUMENT_FORMAT + 1, "k": second},
        )
    now = datetime.now(UTC)
    with Session(app) as session:
        for key in (first, second):
            chart = patient_chart(session, patient_key=key, as_of=now)
            assert chart is not None
            assert chart == from_tables(session, key, now)


def test_the_documents_table_is_not_a_load_target(tmp_path: Path) -> None:
    # The documents are derived from the clinical tables; a file cannot replace them.
    folder = tmp_path / "documents"
    folder.mkdir()
    pq.write_table(
        pa.table({"patient_key": ["ICN100001"], "format": [1], "document": ["{}"]}),
        folder / "patient_chart_documents.parquet",
    )
    with pytest.raises(NotFoundError, match="no clinical table named 'patient_chart_documents'"):
        prepare(folder)


def test_concurrent_loads_of_one_patient_keep_both_changes_in_its_document(
    loader: Engine, app: Engine, admin: Engine, tables: dict[str, pa.Table], tmp_path: Path
) -> None:
    # Two loads change one patient in different tables (no row lock in common). The
    # second's rebuild must start after the first commits, or its document (built from a
    # snapshot without the first's change) would overwrite the first's.
    load_tables(loader, tables, tmp_path / "all")
    key = keys(tables)[0]
    allergies = tables["patient_allergies"]
    reactions = tables["patient_allergy_reactions"]
    folder = tmp_path / "allergies"
    folder.mkdir()
    pq.write_table(
        allergies.filter(pc.not_equal(allergies.column("patient_key"), key)),
        folder / "patient_allergies.parquet",
    )
    pq.write_table(
        reactions.filter(pc.not_equal(reactions.column("patient_key"), key)),
        folder / "patient_allergy_reactions.parquet",
    )
    with admin.connect() as first:
        first.execute(
            text(
                "UPDATE patient_demographics SET name_first = 'Concurrent' WHERE patient_key = :k"
            ),
            {"k": key},
        )
        refresh_documents(first, [key])  # holds the rebuild lock until its commit
        second = threading.Thread(target=lambda: load(loader, prepare(folder)))
        second.start()
        second.join(timeout=3)  # the second load waits for the lock (or finishes, unsafely)
        first.commit()
    second.join()
    now = datetime.now(UTC)
    with Session(app) as session:
        chart = patient_chart(session, patient_key=key, as_of=now)
        assert chart is not None
        assert chart.demographics.name_first == "Concurrent"
        assert chart == from_tables(session, key, now)


def test_a_load_stores_documents_uncompressed(
    loader: Engine, admin: Engine, tables: dict[str, pa.Table], tmp_path: Path
) -> None:
    # Compressing (pglz) took a third of a document's rebuild, which every load waits for
    # (migration 0013). A document too large to stay in its row is moved out of line
    # uncompressed: pg_column_compression gives no method for it.
    load_tables(loader, tables, tmp_path / "all")
    with admin.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT pg_catalog.octet_length(document::text), "
                "pg_catalog.pg_column_compression(document) FROM patient_chart_documents"
            )
        ).all()
    assert len(rows) == PATIENTS
    large = [method for size, method in rows if size > 2500]
    assert large, "no document large enough to be moved out of line"
    assert large == [None] * len(large)
