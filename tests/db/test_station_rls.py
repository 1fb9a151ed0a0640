"""Station row-level security: stations x users x the clinical tables, break-the-glass.

One database of synthetic patients of several stations, with scoping on. The application
role reads through :func:`medz1.dal.session.read_session` with the scope of a user of each
station; the administrator (who bypasses row security) says what each station owns.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from medz1.auth import break_glass
from medz1.auth.audit import AuditEvent
from medz1.dal.session import Scope, read_session, set_scope
from medz1.db.engine import make_engine
from medz1.db.target import Target
from medz1.embedded import EmbeddedServer
from medz1.errors import UsageError
from medz1.models import metadata
from medz1.provision.connect import engine_for_role
from medz1.provision.credentials import RolePlan
from medz1.provision.declared import clinical_tables
from tests.plugins.synthetic import synthetic_database

pytestmark = pytest.mark.db

TABLES = clinical_tables(metadata)


def test_every_clinical_table_of_the_models_is_scoped() -> None:
    # The ten med-z1 clinical tables and medz1's chart documents (migration 0011).
    assert len(TABLES) == 11
    assert "public.patient_chart_documents" in TABLES
    assert all(t.startswith("public.patient_") for t in TABLES)


@pytest.fixture(scope="module")
def scoped_target(
    pg_server: EmbeddedServer,
    template_target: Target,
    role_plan: RolePlan,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Target]:
    folder: Path = tmp_path_factory.mktemp("rls")
    with synthetic_database(
        pg_server, role_plan, folder, patients=24, seed=3, station_scoping=True
    ) as target:
        yield target


@pytest.fixture(scope="module")
def admin(scoped_target: Target) -> Iterator[Engine]:
    engine = make_engine(scoped_target.url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def app(scoped_target: Target, role_plan: RolePlan) -> Iterator[Engine]:
    engine = engine_for_role(scoped_target, "app", role_plan.passwords)
    yield engine
    engine.dispose()


def _truth(admin: Engine) -> dict[str, dict[str, int]]:
    """Rows per table per patient, as the administrator (no row security) sees them."""
    with admin.connect() as conn:
        return {
            table: {
                str(k): int(n)
                for k, n in conn.execute(
                    text(f"SELECT patient_key, count(*) FROM {table} GROUP BY patient_key")
                )
            }
            for table in TABLES
        }


def _stations(admin: Engine) -> dict[str, list[str]]:
    with admin.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT primary_station, array_agg(patient_key ORDER BY patient_key) "
                "FROM patient_demographics WHERE NOT is_sensitive GROUP BY 1"
            )
        )
        return {str(s): list(keys) for s, keys in rows}


def _seen(session: Session) -> dict[str, dict[str, int]]:
    return {
        table: {
            str(k): int(n)
            for k, n in session.execute(
                text(f"SELECT patient_key, count(*) FROM {table} GROUP BY patient_key")
            )
        }
        for table in TABLES
    }


def _expected(truth: dict[str, dict[str, int]], patients: set[str]) -> dict[str, dict[str, int]]:
    return {t: {k: n for k, n in per.items() if k in patients} for t, per in truth.items()}


def _audit_count(admin: Engine, event: str) -> int:
    with admin.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM auth.audit_logs WHERE event_type = :e"), {"e": event}
            ).scalar_one()
        )


def test_each_station_sees_exactly_its_patients_in_every_table(admin: Engine, app: Engine) -> None:
    truth = _truth(admin)
    stations = _stations(admin)
    assert len(stations) >= 2  # the matrix needs a foreign station
    for station, patients in stations.items():
        # Two users of the station (different sessions) see the same rows.
        for _user in range(2):
            with read_session(app, Scope(station, uuid.uuid4())) as session:
                seen = _seen(session)
            assert seen == _expected(truth, set(patients)), station
            assert any(seen[t] for t in TABLES)


def test_naming_a_patient_checks_it_once_and_never_widens_the_scope(
    admin: Engine, app: Engine
) -> None:
    truth = _truth(admin)
    stations = _stations(admin)
    station, own = next(iter(stations.items()))
    foreign = next(p for s, ps in stations.items() if s != station for p in ps)
    with read_session(app, Scope(station, uuid.uuid4(), own[0])) as session:
        assert _seen(session) == _expected(truth, set(own))
    with read_session(app, Scope(station, uuid.uuid4(), foreign)) as session:
        assert _seen(session) == _expected(truth, set(own))  # still nothing of `foreign`
    with read_session(app, Scope(None, uuid.uuid4(), own[0])) as session:
        assert _seen(session) == _expected(truth, set())


def test_break_the_glass_opens_one_foreign_patient_in_every_table_and_is_audited(
    admin: Engine, app: Engine
) -> None:
    truth = _truth(admin)
    stations = _stations(admin)
    before = _audit_count(admin, AuditEvent.BREAK_GLASS)
    grants = 0
    for station, own in stations.items():
        foreign = next(p for s, ps in stations.items() if s != station for p in ps)
        session_id = uuid.uuid4()
        with read_session(app, Scope(station, session_id)) as session:
            assert _seen(session) == _expected(truth, set(own))  # nothing of `foreign`
        with Session(app) as db, db.begin():
            break_glass.grant(
                db,
                session_id=session_id,
                patient_key=foreign,
                reason="covering the clinic of a colleague",
            )
        grants += 1
        with read_session(app, Scope(station, session_id)) as session:
            assert _seen(session) == _expected(truth, {*own, foreign})
        with read_session(app, Scope(station, session_id, foreign)) as session:
            assert _seen(session) == _expected(truth, {*own, foreign})
        # The grant is this session's only: another user of the station sees none of it.
        with read_session(app, Scope(station, uuid.uuid4())) as session:
            assert _seen(session) == _expected(truth, set(own))
    assert _audit_count(admin, AuditEvent.BREAK_GLASS) - before == grants
    with admin.connect() as conn:
        details = conn.execute(
            text(
                "SELECT details FROM auth.audit_logs WHERE event_type = 'break_glass' "
                "ORDER BY chain_seq DESC LIMIT 1"
            )
        ).scalar_one()
    assert details["reason"] == "covering the clinic of a colleague"
    assert details["patient_key"] in {p for ps in stations.values() for p in ps}


def test_an_expired_grant_opens_nothing(admin: Engine, app: Engine) -> None:
    stations = _stations(admin)
    station, other = list(stations)[:2]
    foreign = stations[other][0]
    session_id = uuid.uuid4()
    with Session(app) as db, db.begin():
        made = break_glass.grant(
            db, session_id=session_id, patient_key=foreign, reason="night cover", minutes=1
        )
    with admin.begin() as conn:
        conn.execute(
            text(
                "UPDATE auth.break_glass_grants SET granted_at = now() - interval '2 hours', "
                "expires_at = now() - interval '1 hour' WHERE grant_id = :g"
            ),
            {"g": made.grant_id},
        )
    with read_session(app, Scope(station, session_id)) as session:
        assert (
            session.execute(
                text("SELECT count(*) FROM patient_demographics WHERE patient_key = :k"),
                {"k": foreign},
            ).scalar_one()
            == 0
        )


def test_a_sensitive_patient_needs_break_the_glass_at_the_home_station(
    scoped_target: Target, role_plan: RolePlan, tmp_path: Path, admin: Engine
) -> None:
    truth = _truth(admin)
    stations = _stations(admin)
    station, patients = next(iter(stations.items()))
    sensitive = patients[0]
    engine = engine_for_role(scoped_target, "app", role_plan.passwords)
    try:
        with admin.begin() as conn:
            conn.execute(
                text("UPDATE patient_demographics SET is_sensitive = true WHERE patient_key = :k"),
                {"k": sensitive},
            )
        session_id = uuid.uuid4()
        with read_session(engine, Scope(station, session_id)) as session:
            assert _seen(session) == _expected(truth, set(patients[1:]))
        with Session(engine) as db, db.begin():
            break_glass.grant(
                db, session_id=session_id, patient_key=sensitive, reason="patient asked for it"
            )
        with read_session(engine, Scope(station, session_id)) as session:
            assert _seen(session) == _expected(truth, set(patients))
    finally:
        with admin.begin() as conn:
            conn.execute(text("UPDATE patient_demographics SET is_sensitive = false"))
        engine.dispose()


@pytest.mark.parametrize(
    "settings",
    [
        {},  # nothing set: the transaction has no station
        {"medz1.station": ""},
        {"medz1.station": "' OR true --"},
        {"medz1.station": "%"},
        {"medz1.station": "*"},
        {"medz1.session": "not-a-uuid"},
        {"medz1.session": "00000000-0000-0000-0000-000000000000"},
    ],
)
def test_a_missing_or_malformed_setting_shows_no_rows(
    app: Engine, settings: dict[str, str]
) -> None:
    with Session(app) as session:
        for name, value in settings.items():
            session.execute(text("SELECT set_config(:n, :v, true)"), {"n": name, "v": value})
        assert all(
            session.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() == 0 for t in TABLES
        )


def test_a_station_set_outside_the_transaction_does_not_leak_into_the_next(
    admin: Engine, app: Engine
) -> None:
    station = next(iter(_stations(admin)))
    with Session(app) as session:
        set_scope(session, Scope(station))
        assert session.execute(text("SELECT count(*) FROM patient_demographics")).scalar_one()
        session.commit()
        # The same connection, a new transaction: no station any more.
        assert session.execute(text("SELECT count(*) FROM patient_demographics")).scalar_one() == 0


@pytest.mark.parametrize("reason", [None, "", "   \n ", "x" * 1001, "ok\x00no", 42])
def test_break_the_glass_without_a_reason_is_refused_and_writes_nothing(
    admin: Engine, app: Engine, reason: object
) -> None:
    before = _audit_count(admin, AuditEvent.BREAK_GLASS)
    with admin.connect() as conn:
        grants = conn.execute(text("SELECT count(*) FROM auth.break_glass_grants")).scalar_one()
    with Session(app) as db, db.begin(), pytest.raises(UsageError) as caught:
        break_glass.grant(db, session_id=uuid.uuid4(), patient_key="ICN100001", reason=reason)
    assert caught.value.exit_code == 2
    assert caught.value.hint
    assert _audit_count(admin, AuditEvent.BREAK_GLASS) == before
    with admin.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM auth.break_glass_grants")).scalar_one() == (
            grants
        )


def test_reporting_reads_every_row_and_the_owner_none(
    scoped_target: Target, role_plan: RolePlan, admin: Engine
) -> None:
    truth = _truth(admin)
    for role, expected in (("reporting", truth), ("owner", {t: {} for t in TABLES})):
        engine = engine_for_role(scoped_target, role, role_plan.passwords)
        try:
            with Session(engine) as session:
                assert _seen(session) == expected, role
        finally:
            engine.dispose()


def _plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _plan_nodes(child)


def test_the_chart_read_checks_its_patient_once_and_skips_the_break_glass_lookup(
    admin: Engine, app: Engine
) -> None:
    # The chart is read from the patient's document (one table reference). Its policy
    # check is one InitPlan probing patient_demographics, with no function call per
    # statement, and the break-the-glass lookup is never run for a patient of the station.
    station, own = next(iter(_stations(admin).items()))
    with read_session(app, Scope(station, uuid.uuid4(), own[0])) as session:
        (plan,) = session.execute(
            text(
                "EXPLAIN (ANALYZE, VERBOSE, FORMAT JSON) SELECT document::text "
                "FROM patient_chart_documents WHERE patient_key = :k"
            ),
            {"k": own[0]},
        ).scalar_one()
    nodes = list(_plan_nodes(plan["Plan"]))
    assert nodes[0]["Relation Name"] == "patient_chart_documents"
    assert nodes[0]["Actual Rows"] == 1
    outputs = " ".join(" ".join(n.get("Output", [])) for n in nodes)
    assert "medz1_scoped_patient" not in outputs
    probes = [n for n in nodes if n.get("Relation Name") == "patient_demographics"]
    assert len(probes) == 1
    assert probes[0]["Parent Relationship"] == "InitPlan"
    assert probes[0]["Actual Loops"] == 1
    lookups = [n for n in nodes if "medz1_break_glass_patients()" in n.get("Output", [])]
    assert len(lookups) == 1
    assert lookups[0]["Actual Loops"] == 0
