"""Chart summaries are stale as soon as the chart changes: a reload, an upsert, expiry."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from medz1.ai.summaries import chart_digest, get_summary, put_summary, stale_summaries
from medz1.clinical.load import LoadFile, load
from medz1.db.target import Target
from medz1.errors import DataError, NotFoundError
from medz1.ops.demo import demo_files
from medz1.provision.credentials import RolePlan
from tests.db.ai_support import as_station, load_patients, role_engine, stations

pytestmark = pytest.mark.db


@pytest.fixture
def app(db_target: Target, role_plan: RolePlan) -> Iterator[Engine]:
    with role_engine(db_target, role_plan, "app") as engine:
        yield engine


@pytest.fixture
def home(db_target: Target, role_plan: RolePlan) -> dict[str, str]:
    """Each patient's station: the application role reads a patient as its station."""
    load_patients(db_target, role_plan, 5)
    return stations(db_target, role_plan)


@pytest.fixture
def keys(home: dict[str, str]) -> list[str]:
    return sorted(home)


def _summarise(
    app: Engine, home: dict[str, str], keys: list[str], *, expires: datetime | None = None
) -> None:
    for key in keys:
        with as_station(app, home[key]) as session:
            digest = chart_digest(session, patient_key=key)
            put_summary(
                session,
                patient_key=key,
                kind="chart",
                model="test-llm",
                summary_text=f"summary of {key}",
                source_digest=digest,
                expires_at=expires,
            )


def _stale(app: Engine, home: dict[str, str]) -> list[str]:
    """The stale summaries, as seen by each station in turn."""
    found: list[str] = []
    for station in sorted(set(home.values())):
        with as_station(app, station) as session:
            found += [s.patient_key for s in stale_summaries(session)]
    return sorted(found)


def _reload(db_target: Target, role_plan: RolePlan, table: str, file: LoadFile, mode: str) -> None:
    with role_engine(db_target, role_plan, "loader") as loader:
        load(loader, [file], mode=mode)  # type: ignore[arg-type]


def test_a_fresh_summary_is_not_stale(app: Engine, home: dict[str, str], keys: list[str]) -> None:
    _summarise(app, home, keys)
    assert _stale(app, home) == []
    with as_station(app, home[keys[0]]) as session:
        summary = get_summary(session, patient_key=keys[0])
    assert summary is not None
    assert not summary.stale


def test_a_reload_of_the_same_rows_makes_every_summary_stale(
    db_target: Target, role_plan: RolePlan, app: Engine, home: dict[str, str], keys: list[str]
) -> None:
    _summarise(app, home, keys)
    vitals = next(f for f in demo_files(5) if f.table.name == "patient_vitals")
    _reload(db_target, role_plan, "patient_vitals", vitals, "replace")
    assert _stale(app, home) == keys


def test_an_upsert_of_one_patient_makes_only_that_summary_stale(
    db_target: Target, role_plan: RolePlan, app: Engine, home: dict[str, str], keys: list[str]
) -> None:
    _summarise(app, home, keys)
    labs = next(f for f in demo_files(5) if f.table.name == "patient_labs")
    one = labs.data.slice(0, 1)
    changed = one.set_column(one.schema.get_field_index("result_value"), "result_value", [["99"]])
    _reload(
        db_target, role_plan, "patient_labs", LoadFile(labs.path, labs.table, changed), "upsert"
    )
    assert _stale(app, home) == [one["patient_key"][0].as_py()]


def test_an_upsert_that_changes_nothing_leaves_summaries_fresh(
    db_target: Target, role_plan: RolePlan, app: Engine, home: dict[str, str], keys: list[str]
) -> None:
    _summarise(app, home, keys)
    labs = next(f for f in demo_files(5) if f.table.name == "patient_labs")
    _reload(db_target, role_plan, "patient_labs", labs, "upsert")
    assert _stale(app, home) == []


def test_an_expired_summary_is_stale(app: Engine, home: dict[str, str], keys: list[str]) -> None:
    _summarise(app, home, keys[:1], expires=datetime.now(UTC) - timedelta(minutes=1))
    with as_station(app, home[keys[0]]) as session:
        assert [s.reason for s in stale_summaries(session)] == ["expired"]


@pytest.mark.parametrize(
    ("digest", "text_"), [("a" * 63, "ok"), ("A" * 64, "ok"), ("a" * 64, "  ")]
)
def test_a_refused_summary_writes_nothing(
    app: Engine, engine: Engine, home: dict[str, str], keys: list[str], digest: str, text_: str
) -> None:
    with pytest.raises(DataError), as_station(app, home[keys[0]]) as session:
        put_summary(
            session,
            patient_key=keys[0],
            kind="chart",
            model="m",
            summary_text=text_,
            source_digest=digest,
        )
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM ai.chart_summaries")).scalar_one() == 0


def test_the_digest_of_an_unknown_patient_is_not_found(app: Engine) -> None:
    with pytest.raises(NotFoundError), as_station(app, "508") as session:
        chart_digest(session, patient_key="ICN999999")
