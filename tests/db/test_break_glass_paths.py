"""Every way the application role could open a patient of another station is refused or
audited (migration 0015): grants are written only by ``auth.break_glass_open``, which
checks the reason and appends the ``break_glass`` audit row in the same transaction; a raw
INSERT, an UPDATE that extends a grant, a DELETE or TRUNCATE that hides one, and a change
of a patient's station or sensitivity are refused to the roles that read the chart.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from medz1.auth import break_glass, checkpoints
from medz1.db.engine import make_engine
from medz1.db.target import Target
from medz1.embedded import SUPERUSER, EmbeddedServer
from medz1.errors import UsageError
from medz1.ops.check import catalog_finding
from medz1.ops.grants import apply_grants, check_grants
from medz1.provision.connect import engine_for_role
from medz1.provision.credentials import RolePlan
from tests.plugins.database import MANAGED, clone_database, drop_database, unique_number

pytestmark = pytest.mark.db

_OPEN = text(
    "SELECT * FROM auth.break_glass_open(CAST(:session AS uuid), :patient, :reason, "
    "CAST(:minutes AS integer), CAST(:user AS uuid), :email, :ip, :agent)"
)


@pytest.fixture(scope="module")
def shared_target(
    pg_server: EmbeddedServer, template_target: Target, role_plan: RolePlan
) -> Iterator[Target]:
    """One migrated database for the tests that change no privilege (each compares the
    counts before and after itself, so they may share it).
    """
    name = f"medz1_break_glass_{os.getpid()}_{unique_number()}"
    clone_database(pg_server, name)
    target = Target(url=pg_server.url(name, user=SUPERUSER), embedded=not MANAGED)
    try:
        apply_grants(target, role_plan)
        yield target
    finally:
        drop_database(pg_server, name)


@pytest.fixture(scope="module")
def admin(shared_target: Target) -> Iterator[Engine]:
    engine = make_engine(shared_target.url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def app(shared_target: Target, role_plan: RolePlan) -> Iterator[Engine]:
    engine = engine_for_role(shared_target, "app", role_plan.passwords)
    yield engine
    engine.dispose()


def _counts(admin: Engine) -> tuple[int, int]:
    """(grants, break_glass audit rows), as the administrator sees them."""
    with admin.connect() as conn:
        grants = conn.execute(text("SELECT count(*) FROM auth.break_glass_grants")).scalar_one()
        audited = conn.execute(
            text("SELECT count(*) FROM auth.audit_logs WHERE event_type = 'break_glass'")
        ).scalar_one()
    return int(grants), int(audited)


def _sqlstate(exc: DBAPIError) -> str | None:
    orig = exc.orig
    return orig.sqlstate if isinstance(orig, psycopg.Error) else None


def _refused(engine: Engine, statement: str, params: dict[str, Any] | None = None) -> str | None:
    """Run ``statement`` in its own transaction; the SQLSTATE it failed with (None: it ran)."""
    try:
        with engine.begin() as conn:
            conn.execute(text(statement), params or {})
    except DBAPIError as exc:
        return _sqlstate(exc)
    return None


def _open_params(**overrides: object) -> dict[str, object]:
    params: dict[str, object] = {
        "session": str(uuid.uuid4()),
        "patient": "ICN100001",
        "reason": "covering the clinic of a colleague",
        "minutes": 30,
        "user": str(uuid.uuid4()),
        "email": "clinician@va.example.org",
        "ip": "10.0.0.7",
        "agent": "medz1-test",
    }
    params.update(overrides)
    return params


def _grant(admin: Engine, session: str) -> int:
    with admin.begin() as conn:
        return int(
            conn.execute(
                text(
                    "INSERT INTO auth.break_glass_grants (session_id, patient_key, reason, "
                    "granted_at, expires_at) VALUES (CAST(:s AS uuid), 'ICN100001', "
                    "'made by the administrator', now(), now() + interval '5 minutes') "
                    "RETURNING grant_id"
                ),
                {"s": session},
            ).scalar_one()
        )


def test_a_raw_insert_of_a_grant_is_refused_to_the_application(admin: Engine, app: Engine) -> None:
    before = _counts(admin)
    state = _refused(
        app,
        "INSERT INTO auth.break_glass_grants (session_id, patient_key, reason, granted_at, "
        "expires_at) VALUES (CAST(:s AS uuid), 'ICN100001', 'no audit row', now(), "
        "now() + interval '8 hours')",
        {"s": str(uuid.uuid4())},
    )
    assert state == "42501"
    assert _counts(admin) == before


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE auth.break_glass_grants SET expires_at = now() + interval '30 days' "
        "WHERE grant_id = :g",
        "UPDATE auth.break_glass_grants SET session_id = gen_random_uuid() WHERE grant_id = :g",
        "DELETE FROM auth.break_glass_grants WHERE grant_id = :g",
        "TRUNCATE auth.break_glass_grants",
    ],
    ids=["extend", "move-to-another-session", "delete", "truncate"],
)
def test_a_grant_cannot_be_extended_moved_or_hidden_by_the_application(
    admin: Engine, app: Engine, statement: str
) -> None:
    grant_id = _grant(admin, str(uuid.uuid4()))
    with admin.connect() as conn:
        before = conn.execute(
            text("SELECT session_id, expires_at FROM auth.break_glass_grants WHERE grant_id = :g"),
            {"g": grant_id},
        ).one()
    params = {} if statement.startswith("TRUNCATE") else {"g": grant_id}
    assert _refused(app, statement, params) == "42501"
    with admin.connect() as conn:
        after = conn.execute(
            text("SELECT session_id, expires_at FROM auth.break_glass_grants WHERE grant_id = :g"),
            {"g": grant_id},
        ).one()
    assert after == before


@pytest.mark.parametrize(
    "overrides",
    [
        {"reason": None},
        {"reason": ""},
        {"reason": " \t\n "},
        {"reason": "x" * 1001},
        {"reason": "looks fine\u0007"},
        {"reason": "hidden\u200btext"},
        {"reason": "two\u2028lines"},
        {"patient": None},
        {"patient": "ICN1' OR true --"},
        {"patient": "I" * 33},
        {"minutes": 0},
        {"minutes": 481},
        {"minutes": None},
        {"session": None},
    ],
    ids=[
        "no-reason",
        "empty-reason",
        "blank-reason",
        "long-reason",
        "bell",
        "zero-width",
        "line-separator",
        "no-patient",
        "injected-patient",
        "long-patient",
        "zero-minutes",
        "over-a-shift",
        "no-minutes",
        "no-session",
    ],
)
def test_the_grant_function_refuses_bad_input_and_writes_nothing(
    admin: Engine, app: Engine, overrides: dict[str, object]
) -> None:
    before = _counts(admin)
    with pytest.raises(DBAPIError) as caught, app.begin() as conn:
        conn.execute(_OPEN, _open_params(**overrides))
    assert _sqlstate(caught.value) == "22023"
    assert _counts(admin) == before


def test_a_direct_call_of_the_grant_function_is_audited_with_who_patient_and_reason(
    admin: Engine, app: Engine
) -> None:
    before = _counts(admin)
    params = _open_params(reason="  patient arrived by ambulance \n")
    with app.begin() as conn:
        made = conn.execute(_OPEN, params).one()
    assert _counts(admin) == (before[0] + 1, before[1] + 1)
    with admin.connect() as conn:
        grant = conn.execute(
            text(
                "SELECT session_id::text, user_id::text, patient_key, reason, "
                "expires_at - granted_at AS lasts FROM auth.break_glass_grants "
                "WHERE grant_id = :g"
            ),
            {"g": made.grant_id},
        ).one()
        row = conn.execute(
            text(
                "SELECT user_id::text, session_id::text, email, ip_address, user_agent, "
                "success, details, chain_seq, row_hash FROM auth.audit_logs "
                "WHERE event_type = 'break_glass' ORDER BY chain_seq DESC LIMIT 1"
            )
        ).one()
    assert grant.session_id == params["session"]
    assert grant.user_id == params["user"]
    assert grant.reason == "patient arrived by ambulance"
    assert grant.lasts.total_seconds() == 30 * 60
    assert (row.user_id, row.session_id, row.email, row.ip_address, row.user_agent) == (
        params["user"],
        params["session"],
        params["email"],
        params["ip"],
        params["agent"],
    )
    assert row.success is True
    assert row.details == {
        "patient_key": "ICN100001",
        "reason": "patient arrived by ambulance",
        "minutes": 30,
        "grant_id": made.grant_id,
    }
    # The function returns the audit row's chain position, for the checkpoint.
    assert (made.chain_seq, bytes(made.row_hash)) == (row.chain_seq, bytes(row.row_hash))


def test_the_library_grant_goes_through_the_audited_function(admin: Engine, app: Engine) -> None:
    before = _counts(admin)
    session_id = uuid.uuid4()
    with Session(app) as db, db.begin():
        made = break_glass.grant(
            db, session_id=session_id, patient_key="ICN100002", reason="night cover", minutes=5
        )
    assert _counts(admin) == (before[0] + 1, before[1] + 1)
    with admin.connect() as conn:
        details = conn.execute(
            text(
                "SELECT details FROM auth.audit_logs WHERE event_type = 'break_glass' "
                "AND session_id = :s"
            ),
            {"s": session_id},
        ).scalar_one()
    assert details["grant_id"] == made.grant_id
    assert (made.expires_at - made.granted_at).total_seconds() == 5 * 60


def test_a_grant_the_database_refuses_is_a_usage_error(
    app: Engine, admin: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Without the library's own check of the reason, the database's check still refuses
    # a blank one, and the library reports it as bad input (exit 2), writing nothing.
    monkeypatch.setattr(break_glass, "check_reason", lambda reason: str(reason))
    before = _counts(admin)
    with Session(app) as db, pytest.raises(UsageError) as caught, db.begin():
        break_glass.grant(db, session_id=uuid.uuid4(), patient_key="ICN100003", reason="   ")
    assert caught.value.exit_code == 2
    assert caught.value.hint
    assert _counts(admin) == before


@pytest.mark.parametrize("role", ["reporting", "loader", "auditor"])
def test_only_the_application_may_call_the_grant_function(
    shared_target: Target, role_plan: RolePlan, admin: Engine, role: str
) -> None:
    other = engine_for_role(shared_target, role, role_plan.passwords)
    before = _counts(admin)
    try:
        with pytest.raises(DBAPIError) as caught, other.begin() as conn:
            conn.execute(_OPEN, _open_params())
    finally:
        other.dispose()
    assert _sqlstate(caught.value) == "42501"
    assert _counts(admin) == before


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE public.patient_demographics SET is_sensitive = false",
        "UPDATE public.patient_demographics SET primary_station = '999'",
        "INSERT INTO public.patient_demographics (patient_key, is_sensitive) "
        "VALUES ('ICN999999', false)",
    ],
    ids=["unflag-sensitive", "move-station", "insert-patient"],
)
@pytest.mark.parametrize("role", ["app", "reporting"])
def test_the_reading_roles_cannot_change_a_patients_station_or_sensitivity(
    shared_target: Target, role_plan: RolePlan, role: str, statement: str
) -> None:
    reader = engine_for_role(shared_target, role, role_plan.passwords)
    try:
        assert _refused(reader, statement) == "42501"
    finally:
        reader.dispose()


@pytest.mark.parametrize(
    ("statement", "fragment"),
    [
        ("GRANT INSERT ON auth.break_glass_grants TO med_z1_user", "auth.break_glass_grants"),
        ("GRANT UPDATE ON auth.break_glass_grants TO med_z1_user", "auth.break_glass_grants"),
        ("GRANT DELETE ON auth.break_glass_grants TO med_z1_user", "auth.break_glass_grants"),
        (
            "GRANT EXECUTE ON FUNCTION auth.break_glass_open(uuid, text, text, integer, uuid, "
            "text, text, text) TO PUBLIC",
            "break_glass_open",
        ),
        (
            "REVOKE EXECUTE ON FUNCTION auth.break_glass_open(uuid, text, text, integer, "
            "uuid, text, text, text) FROM med_z1_user",
            "break_glass_open",
        ),
        (
            "GRANT UPDATE (is_sensitive) ON public.patient_demographics TO med_z1_user",
            "patient_demographics",
        ),
    ],
    ids=[
        "insert-grants",
        "update-grants",
        "delete-grants",
        "public-execute",
        "app-execute-revoked",
        "app-may-unflag",
    ],
)
def test_a_privilege_around_break_the_glass_changed_by_hand_is_reported_and_repaired(
    db_target: Target, engine: Engine, role_plan: RolePlan, statement: str, fragment: str
) -> None:
    assert check_grants(db_target, role_plan) == []
    with engine.begin() as conn:
        conn.execute(text(statement))
    try:
        lines = check_grants(db_target, role_plan)
        assert any(fragment in line for line in lines), lines
    finally:
        apply_grants(db_target, role_plan)
    assert check_grants(db_target, role_plan) == []


_SIGNATURE = "auth.break_glass_open(uuid, text, text, integer, uuid, text, text, text)"
#: A replacement that makes the grant and skips the reason check and the audit row.
_UNAUDITED = """
CREATE OR REPLACE FUNCTION auth.break_glass_open(
    session_id uuid, patient_key text, reason text, minutes integer, user_id uuid,
    email text, ip_address text, user_agent text)
RETURNS TABLE (grant_id bigint, granted_at timestamptz, expires_at timestamptz,
               chain_seq bigint, row_hash bytea)
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $fn$
INSERT INTO auth.break_glass_grants AS g
    (session_id, user_id, patient_key, reason, granted_at, expires_at)
VALUES ($1, $5, $2, 'x', now(), now() + interval '8 hours')
RETURNING g.grant_id, g.granted_at, g.expires_at, 0::bigint, ''::bytea
$fn$
"""


@pytest.mark.parametrize(
    "statement",
    [_UNAUDITED, f"ALTER FUNCTION {_SIGNATURE} RESET search_path"],
    ids=["replaced-without-audit", "search-path-unpinned"],
)
def test_the_grant_function_changed_by_hand_is_reported_by_check(
    db_target: Target, engine: Engine, role_plan: RolePlan, statement: str
) -> None:
    with engine.connect() as conn:
        assert catalog_finding(conn, role_plan).differences == []
    with engine.begin() as conn:
        conn.execute(text(statement))
    with engine.connect() as conn:
        lines = catalog_finding(conn, role_plan).differences
    assert any("break_glass_open" in line for line in lines), lines


def test_a_committed_grant_is_checkpointed_and_a_rolled_back_one_is_not(
    shared_target: Target, admin: Engine, app: Engine, tmp_path: Path
) -> None:
    opened = checkpoints.log_for(tmp_path / "data", None, create_key=True)
    assert opened is not None
    database = str(shared_target.url.database)
    with checkpoints.installed(lambda: opened):
        with Session(app) as db:
            break_glass.grant(
                db, session_id=uuid.uuid4(), patient_key="ICN100004", reason="rolled back"
            )
            db.rollback()
        assert opened.scan(database).current == []
        with Session(app) as db, db.begin():
            break_glass.grant(
                db, session_id=uuid.uuid4(), patient_key="ICN100004", reason="ward round"
            )
    with admin.connect() as conn:
        newest = conn.execute(
            text(
                "SELECT chain_seq, row_hash FROM auth.audit_logs "
                "WHERE event_type = 'break_glass' ORDER BY chain_seq DESC LIMIT 1"
            )
        ).one()
    points = opened.scan(database).current
    assert [(p.seq, p.row_hash) for p in points] == [(newest.chain_seq, bytes(newest.row_hash))]
