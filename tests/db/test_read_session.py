"""Read sessions keep the chart prepared on pooled connections, and the chart is never stale."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from medz1.clinical.load import load, prepare
from medz1.clinical.synthetic import generate
from medz1.dal.chart import CHART_SQL, READ_DOCUMENT_SQL, patient_chart
from medz1.dal.session import read_session
from medz1.db.engine import unit_of_work
from medz1.db.target import Target
from medz1.embedded import EmbeddedServer
from medz1.provision.connect import engine_for_role
from medz1.provision.credentials import RolePlan
from tests.plugins.synthetic import synthetic_database

pytestmark = pytest.mark.db

PATIENTS, SEED = 30, 5
#: More than psycopg's prepare_threshold (5) executions of one statement on a connection.
WARM_UP = 8


@pytest.fixture
def target(
    pg_server: EmbeddedServer,
    template_target: Target,
    role_plan: RolePlan,
    tmp_path: Path,
) -> Iterator[Target]:
    with synthetic_database(
        pg_server, role_plan, tmp_path / "data", patients=PATIENTS, seed=SEED
    ) as t:
        yield t


@pytest.fixture
def app(target: Target, role_plan: RolePlan) -> Iterator[Engine]:
    """The application role on a pool of ONE connection, so every session reuses it."""
    engine = engine_for_role(target, "app", role_plan.passwords, pool_size=1, max_overflow=0)
    yield engine
    engine.dispose()


def chart_statements_prepared(session: Session) -> list[bool]:
    """Whether each statement of a chart read is prepared: the document's primary-key
    lookup (default list sizes) and the chart over the tables (other sizes).
    """
    prepared = list(session.execute(text("SELECT statement FROM pg_prepared_statements")).scalars())
    return [
        any(statement.startswith(head[:40]) for statement in prepared)
        for head in (CHART_SQL, READ_DOCUMENT_SQL)
    ]


def test_read_sessions_keep_the_chart_prepared_on_the_pooled_connection(app: Engine) -> None:
    for _ in range(WARM_UP):
        with read_session(app) as session:
            assert patient_chart(session, patient_key="ICN100001") is not None
            assert patient_chart(session, patient_key="ICN100001", encounters=6) is not None
    with read_session(app) as session:
        assert chart_statements_prepared(session) == [True, True]


def test_a_session_that_rolls_back_loses_the_prepared_chart(app: Engine) -> None:
    # The reason read_session commits: psycopg forgets its prepared statements on ROLLBACK.
    for _ in range(WARM_UP):
        with Session(app) as session:
            patient_chart(session, patient_key="ICN100001")
            patient_chart(session, patient_key="ICN100001", encounters=6)
    with Session(app) as session:
        assert chart_statements_prepared(session) == [False, False]


def test_a_read_session_cannot_write(app: Engine) -> None:
    with pytest.raises(DBAPIError) as caught, read_session(app) as session:
        session.execute(text("UPDATE patient_demographics SET name_last = name_last WHERE false"))
    assert getattr(caught.value.orig, "sqlstate", None) == "25006"


def test_the_pooled_connection_is_writable_again_after_a_read_session(app: Engine) -> None:
    with read_session(app) as session:
        assert session.execute(text("SHOW transaction_read_only")).scalar_one() == "on"
    with unit_of_work(app) as session:  # the same (only) pooled connection
        assert session.execute(text("SHOW transaction_read_only")).scalar_one() == "off"


def test_the_chart_after_a_load_commits_shows_it(
    app: Engine, target: Target, role_plan: RolePlan, tmp_path: Path
) -> None:
    with read_session(app) as session:
        key = session.execute(
            text("SELECT min(patient_key) FROM patient_allergies WHERE is_active")
        ).scalar_one()
    for _ in range(WARM_UP):
        with read_session(app) as session:
            before = patient_chart(session, patient_key=key)
    assert before is not None
    assert before.allergies
    tables = generate(PATIENTS, seed=SEED)
    people = tables["patient_demographics"]
    one = people.filter(pc.equal(people["patient_key"], key))
    renamed = one.set_column(
        one.schema.get_field_index("name_last"),
        "name_last",
        pa.array(["Upsertname"], one.schema.field("name_last").type),
    )
    (tmp_path / "upsert").mkdir()
    pq.write_table(renamed, tmp_path / "upsert" / "patient_demographics.parquet")
    folder = tmp_path / "replace"
    folder.mkdir()
    allergies = tables["patient_allergies"]
    pq.write_table(
        allergies.filter(pc.not_equal(allergies["patient_key"], key)),
        folder / "patient_allergies.parquet",
    )
    reactions = tables["patient_allergy_reactions"]
    pq.write_table(
        reactions.filter(pc.not_equal(reactions["patient_key"], key)),
        folder / "patient_allergy_reactions.parquet",
    )
    loader = engine_for_role(target, "loader", role_plan.passwords)
    try:
        load(loader, prepare(tmp_path / "upsert"), mode="upsert")
        load(loader, prepare(folder))
    finally:
        loader.dispose()
    with read_session(app) as session:
        assert chart_statements_prepared(session)[1]  # the document read stays prepared
        after = patient_chart(session, patient_key=key)
    assert after is not None
    assert after.demographics.name_last == "Upsertname"
    assert before.demographics.name_last != "Upsertname"
    assert after.allergies == ()
