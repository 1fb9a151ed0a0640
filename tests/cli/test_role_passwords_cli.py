"""The password of a login role that already exists is never changed behind the user's
back: ``up`` and ``grants apply`` refuse when they do not know it, leave it alone when the
one they know differs, and only ``grants apply --rotate-passwords`` sets new ones (audited,
one event per role, never the password). ``grants check`` says when it cannot compare.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg import sql
from pydantic import SecretStr
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from medz1.db.engine import make_engine
from medz1.db.target import Target
from medz1.ops.grants import apply_grants, check_grants
from medz1.provision.apply import password_differences
from medz1.provision.connect import engine_for_role
from medz1.provision.credentials import RolePlan, secrets_path
from medz1.provision.declared import APP, LOGIN_ROLES, OWNER
from medz1.settings import load_settings
from tests.cli.conftest import Invoke
from tests.plugins.database import MANAGED, unique_number

pytestmark = pytest.mark.db

_ALIASES = ("APP", "REPORTING", "LOADER", "AUDITOR")


@pytest.fixture
def elsewhere(database_url_env: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """``MEDZ1_DATABASE_URL`` set, run from a new folder by a user with no password file
    and no ``MEDZ1_*_PASSWORD``: the roles exist on the server already.
    """
    for alias in _ALIASES:
        monkeypatch.delenv(f"MEDZ1_{alias}_PASSWORD", raising=False)
    monkeypatch.delenv("MEDZ1_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "user-data"))
    (tmp_path / "another-folder").mkdir()
    monkeypatch.chdir(tmp_path / "another-folder")
    return tmp_path


def _logs_in(target: Target, passwords: dict[str, SecretStr]) -> bool:
    engine = engine_for_role(target, "app", passwords, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT 1")).scalar() == 1
    except OperationalError:
        return False
    finally:
        engine.dispose()


def _leaks(output: str, role_plan: RolePlan) -> list[str]:
    return [r for r, p in role_plan.passwords.items() if p.get_secret_value() in output]


@pytest.mark.parametrize("command", [("up",), ("grants", "apply")])
def test_unknown_password_of_an_existing_role_is_refused_and_left_alone(
    cli: Invoke, elsewhere: Path, db_target: Target, role_plan: RolePlan, command: tuple[str, ...]
) -> None:
    result = cli(*command)
    output = result.out + result.err
    assert result.code == 2, output
    assert "MEDZ1_APP_PASSWORD" in output
    assert "--rotate-passwords" in output
    assert _logs_in(db_target, role_plan.passwords)  # the running application still can
    assert not secrets_path(load_settings()).exists()
    assert _leaks(output, role_plan) == []


def test_a_known_password_that_differs_is_reported_never_set(
    cli: Invoke,
    database_url_env: str,
    monkeypatch: pytest.MonkeyPatch,
    db_target: Target,
    role_plan: RolePlan,
) -> None:
    monkeypatch.setenv("MEDZ1_APP_PASSWORD", "a-different-password-0123456789")
    # An administrator who may not read pg_authid (the managed-service server) learns it
    # by logging in as the role, and says so.
    differs = (
        "role med_z1_user: the password known here does not log it in (it differs"
        if MANAGED
        else "role med_z1_user: password differs from the one known here"
    )
    applied = cli("grants", "apply")
    assert applied.code == 5
    assert differs in applied.out
    assert cli("up").code == 0
    checked = cli("grants", "check")
    assert checked.code == 5
    assert differs in checked.out
    assert _logs_in(db_target, role_plan.passwords)


def test_check_says_a_password_is_unknown_here(
    cli: Invoke, elsewhere: Path, role_plan: RolePlan
) -> None:
    result = cli("grants", "check")
    assert result.code == 5
    for role in LOGIN_ROLES:
        assert f"role {role}: password unknown here" in result.out
    assert "password is not" not in result.out
    assert "differs" not in result.out


def _audited_rotations(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [
            str(change)
            for change in conn.execute(
                text(
                    "SELECT details->>'change' FROM auth.audit_logs "
                    "WHERE event_type = 'grants_changed' AND details->>'change' LIKE '%rotated'"
                    " ORDER BY chain_seq"
                )
            ).scalars()
        ]


def test_rotate_passwords_sets_stores_and_audits_each_role(
    cli: Invoke,
    elsewhere: Path,
    monkeypatch: pytest.MonkeyPatch,
    db_target: Target,
    engine: Engine,
    role_plan: RolePlan,
) -> None:
    try:
        result = cli("grants", "apply", "--rotate-passwords")
        assert result.code == 0, result.err
        stored = json.loads(secrets_path(load_settings()).read_text(encoding="utf-8"))
        assert sorted(stored) == sorted(LOGIN_ROLES)
        rotated = {role: SecretStr(value) for role, value in stored.items()}
        assert rotated[APP].get_secret_value() != role_plan.passwords[APP].get_secret_value()
        assert _logs_in(db_target, rotated)
        assert not _logs_in(db_target, role_plan.passwords)
        changes = _audited_rotations(engine)
        assert changes == [f"role {role}: password rotated" for role in LOGIN_ROLES]
        with engine.connect() as conn:
            details = " ".join(
                conn.execute(text("SELECT details::text FROM auth.audit_logs")).scalars()
            )
        assert [v for v in stored.values() if v in details or v in result.out] == []
        # Run again from the same user: the file is found, nothing changes.
        assert cli("grants", "apply").code == 0
        assert _logs_in(db_target, rotated)
    finally:
        for alias, role in zip(_ALIASES, LOGIN_ROLES, strict=True):
            monkeypatch.setenv(
                f"MEDZ1_{alias}_PASSWORD", role_plan.passwords[role].get_secret_value()
            )
        assert cli("grants", "apply", "--rotate-passwords").code == 0
    assert _logs_in(db_target, role_plan.passwords)


@pytest.fixture
def limited_admin(db_target: Target) -> Iterator[Target]:
    """An administrator that is not a superuser and may not read ``pg_authid``."""
    name = f"medz1_test_admin_{unique_number()}"
    secret = f"limited-{unique_number()}-password"
    admin = make_engine(db_target.url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}")
            .format(sql.Identifier(name), sql.Literal(secret))
            .as_string()
        )
        conn.exec_driver_sql(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}")
            .format(sql.Identifier(db_target.database), sql.Identifier(name))
            .as_string()
        )
        # An administrator that owns medz1's objects through the owner role, as a
        # non-superuser administrator of an external server would.
        conn.exec_driver_sql(
            sql.SQL("GRANT {} TO {}")
            .format(sql.Identifier(OWNER), sql.Identifier(name))
            .as_string()
        )
    try:
        yield Target(url=db_target.url.set(username=name, password=secret), embedded=False)
    finally:
        with admin.connect() as conn:
            # Not DROP OWNED BY: a CREATEROLE administrator holds no privileges of the
            # roles it creates (PostgreSQL 16+), so it may not; the role owns nothing.
            conn.exec_driver_sql(
                sql.SQL("REVOKE CONNECT ON DATABASE {} FROM {}")
                .format(sql.Identifier(db_target.database), sql.Identifier(name))
                .as_string()
            )
            conn.exec_driver_sql(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)).as_string())
        admin.dispose()


def test_a_password_the_administrator_cannot_read_is_compared_by_logging_in(
    limited_admin: Target, role_plan: RolePlan
) -> None:
    # The administrator may not read pg_authid: the server answers by a login as the
    # role, so the known passwords match and a wrong one differs (never "as declared").
    passwords = dict(role_plan.passwords)
    passwords[APP] = SecretStr("not-the-password-0123456789")
    engine = make_engine(limited_admin.url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            differences = [
                d.description for d in password_differences(conn, role_plan.specs, passwords)
            ]
    finally:
        engine.dispose()
    assert len(differences) == 1
    assert differences[0].startswith(f"role {APP}: the password known here does not log it in")


def test_restore_stores_no_generated_password_for_an_existing_role(
    cli: Invoke,
    database_url_env: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    db_target: Target,
    empty_target: Target,
    role_plan: RolePlan,
) -> None:
    created = cli("backup", "create", "--schema", "auth")
    assert created.code == 0, created.err
    path = created.out.split("backup written: ", 1)[1].splitlines()[0].strip()
    # Another user restores: no password is known there for the roles, which exist.
    for alias in _ALIASES:
        monkeypatch.delenv(f"MEDZ1_{alias}_PASSWORD", raising=False)
    monkeypatch.setenv("MEDZ1_DATA_DIR", str(tmp_path / "another-user"))
    restored = cli("backup", "restore", path, "--into", empty_target.database)
    assert restored.code == 0, restored.out + restored.err
    store = secrets_path(load_settings())
    stored = json.loads(store.read_text(encoding="utf-8")) if store.exists() else {}
    assert stored == {}  # a password stored here would not be the role's
    assert _logs_in(db_target, role_plan.passwords)


def test_restore_keeps_the_password_of_an_existing_role(
    cli: Invoke,
    database_url_env: str,
    monkeypatch: pytest.MonkeyPatch,
    db_target: Target,
    empty_target: Target,
    role_plan: RolePlan,
) -> None:
    created = cli("backup", "create", "--schema", "auth")
    assert created.code == 0, created.err
    path = created.out.split("backup written: ", 1)[1].splitlines()[0].strip()
    monkeypatch.setenv("MEDZ1_APP_PASSWORD", "a-different-password-0123456789")
    restored = cli("backup", "restore", path, "--into", empty_target.database)
    assert "a-different-password" not in restored.out + restored.err
    assert _logs_in(db_target, role_plan.passwords)  # the role's password was not changed


def test_an_expiry_date_set_on_an_external_server_is_reported_not_reset(
    db_target: Target, engine: Engine, role_plan: RolePlan
) -> None:
    external = Target(url=db_target.url, embedded=False)
    with engine.connect() as conn:
        conn.execute(text("ALTER ROLE medz1_auditor VALID UNTIL '2999-01-01 00:00:00+00'"))
        conn.commit()
    try:
        report = apply_grants(external, role_plan)
        differences = check_grants(external, role_plan)
        with engine.connect() as conn:
            expiry = conn.execute(
                text("SELECT rolvaliduntil::date::text FROM pg_roles WHERE rolname = :r"),
                {"r": "medz1_auditor"},
            ).scalar()
        assert expiry == "2999-01-01"
        assert [line for line in report.unrepairable if "VALID UNTIL" in line] == [
            line for line in differences if "VALID UNTIL" in line
        ]
        assert any("medz1_auditor: VALID UNTIL" in line for line in differences)
    finally:
        with engine.connect() as conn:
            conn.execute(text("ALTER ROLE medz1_auditor VALID UNTIL 'infinity'"))
            conn.commit()
