"""The whole exit-code table, each code reached through the real command by a real cause."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy import exc as sa_exc

from tests.cli.conftest import Invoke

#: A cause prepares the environment (or the database) and returns the command line.
Cause = Callable[[pytest.FixtureRequest, pytest.MonkeyPatch, Path], list[str]]


def _database(request: pytest.FixtureRequest) -> Engine:
    request.getfixturevalue("database_url_env")
    engine: Engine = request.getfixturevalue("engine")
    return engine


def _bad_setting(_r: pytest.FixtureRequest, mp: pytest.MonkeyPatch, _p: Path) -> list[str]:
    mp.setenv("MEDZ1_APP_STATEMENT_TIMEOUT_MS", "soon")
    return ["check"]


def _unreachable(_r: pytest.FixtureRequest, mp: pytest.MonkeyPatch, _p: Path) -> list[str]:
    mp.setenv("MEDZ1_DATABASE_URL", "postgresql://medz1@127.0.0.1:1/medz1")
    return ["migrate", "current"]


def _unknown_revision(r: pytest.FixtureRequest, _mp: pytest.MonkeyPatch, _p: Path) -> list[str]:
    _database(r)
    return ["migrate", "upgrade", "nosuchrev"]


def _grant_by_hand(r: pytest.FixtureRequest, _mp: pytest.MonkeyPatch, _p: Path) -> list[str]:
    with _database(r).begin() as conn:
        conn.execute(text("GRANT SELECT ON auth.users TO reporting_user"))
    return ["check"]


def _no_such_table(r: pytest.FixtureRequest, _mp: pytest.MonkeyPatch, _p: Path) -> list[str]:
    _database(r)
    return ["schema", "describe", "nosuch"]


def _revoked(r: pytest.FixtureRequest, _mp: pytest.MonkeyPatch, _p: Path) -> list[str]:
    with _database(r).begin() as conn:
        conn.execute(text("REVOKE SELECT ON auth.users FROM med_z1_user"))
    return ["users", "list"]


def _bad_file(r: pytest.FixtureRequest, _mp: pytest.MonkeyPatch, folder: Path) -> list[str]:
    _database(r)
    path = folder / "patient_allergy_reactions.csv"
    path.write_text("allergy_sid,patient_key,reaction_name\nnine,ICN100001,HIVES\n")
    return ["load", str(path)]


@pytest.mark.parametrize(
    ("cause", "code"),
    [
        pytest.param(_bad_setting, 2, id="2-bad-setting"),
        pytest.param(_unreachable, 3, id="3-unreachable-server"),
        pytest.param(_unknown_revision, 4, id="4-unknown-revision"),
        pytest.param(_grant_by_hand, 5, id="5-check-finds-a-grant-made-by-hand"),
        pytest.param(_no_such_table, 6, id="6-no-such-table"),
        pytest.param(_revoked, 7, id="7-insufficient-privilege"),
        pytest.param(_bad_file, 8, id="8-bad-load-file"),
    ],
)
def test_each_exit_code_has_a_real_cause(
    cli: Invoke,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    cause: Cause,
    code: int,
) -> None:
    result = cli(*cause(request, monkeypatch, tmp_path))
    assert result.code == code, result.err
    # A failed check prints its report; every other failure is one line with a hint.
    assert "difference(s) found" in result.out or (
        result.err.startswith("error: ") and "(hint: " in result.err
    )
    assert "Traceback" not in result.err


def _raise(error: BaseException) -> Callable[..., None]:
    def command(*_args: object, **_kwargs: object) -> None:
        raise error

    return command


def test_unexpected_error_prints_no_sql_parameters_or_detail(
    cli: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    server_error = psycopg.errors.lookup("42P01")(
        'relation "x" does not exist\nDETAIL:  Key (ssn)=(078-05-1120)'
    )
    wrapped = sa_exc.ProgrammingError(
        "UPDATE auth.users SET password_hash = %(h)s", {"h": "$argon2id$SECRETHASH"}, server_error
    )
    monkeypatch.setattr("medz1.cli.common.CliContext.admin_engine", _raise(wrapped))
    result = cli("schema", "list")
    assert result.code == 1
    assert result.err.startswith("error: unexpected UndefinedTable (SQLSTATE 42P01)")
    for leaked in ("UPDATE", "SECRETHASH", "078-05-1120", "DETAIL", "sqlalche.me"):
        assert leaked not in result.err + result.out


def test_driver_error_reaching_the_boundary_is_translated_by_sqlstate(
    cli: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused = psycopg.errors.lookup("23514")("new row violates\nDETAIL:  Failing row (1, SSN)")
    monkeypatch.setattr(
        "medz1.cli.common.CliContext.admin_engine",
        _raise(sa_exc.IntegrityError("INSERT ...", {"ssn": "078-05-1120"}, refused)),
    )
    result = cli("schema", "list")
    assert result.code == 8
    assert "check violation" in result.err
    assert "078-05-1120" not in result.err
    assert "Failing row" not in result.err
