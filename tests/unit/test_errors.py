"""Errors carry a hint and an exit code."""

from __future__ import annotations

import importlib
import pkgutil

import psycopg
import pytest
from sqlalchemy import exc as sa_exc

import medz1
from medz1.cli.main import describe_unexpected
from medz1.db.errors import translate
from medz1.errors import (
    ConfigurationError,
    DatabaseMissingError,
    DatabaseServerError,
    DataError,
    Medz1Error,
    RetryableError,
)


def test_message_includes_the_hint() -> None:
    error = Medz1Error("the thing broke", hint="mend it")
    assert str(error) == "the thing broke (hint: mend it)"


def test_default_hint_is_used_when_none_is_given() -> None:
    assert "medz1 up" in str(DatabaseMissingError("no database"))


def _subclasses(cls: type[Medz1Error]) -> list[type[Medz1Error]]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def test_every_medz1_error_has_a_documented_exit_code() -> None:
    # Import every module so that every error class medz1 defines is seen.
    for module in pkgutil.walk_packages(medz1.__path__, "medz1."):
        if not module.name.endswith("__main__") and ".migrations" not in module.name:
            importlib.import_module(module.name)
    errors = _subclasses(Medz1Error)
    assert ConfigurationError in errors
    wrong = {e.__qualname__: e.exit_code for e in errors if e.exit_code not in range(2, 9)}
    assert wrong == {}  # 1 is left for unexpected errors; a subclass must choose 2-8


@pytest.mark.parametrize(
    ("code", "kind", "words"),
    [
        ("53100", DatabaseServerError, "disk is full"),
        ("53200", DatabaseServerError, "out of memory"),
        ("53300", DatabaseServerError, "max_connections"),
        ("57P02", RetryableError, "crash shutdown"),
        ("57P03", RetryableError, "cannot connect now"),
        ("58030", DatabaseServerError, "io error"),
        ("XX001", DatabaseServerError, "data corrupted"),
        ("22021", DataError, "character not in repertoire"),
        ("23P01", DataError, "exclusion violation"),
    ],
)
def test_conditions_no_test_can_cause_are_translated_by_sqlstate(
    code: str, kind: type[Medz1Error], words: str
) -> None:
    # Disk full, out of memory, crashes and corruption cannot be caused on the shared test
    # server; the translation reads only the SQLSTATE, which is all this error carries.
    error = translate(psycopg.errors.lookup(code)("Key (ssn)=(078-05-1120) SECRET"))
    assert isinstance(error, kind)
    assert error.exit_code == kind.exit_code
    assert words in str(error)
    assert "078-05-1120" not in str(error)


def test_unexpected_sqlalchemy_error_shows_neither_statement_nor_parameters() -> None:
    wrapped = sa_exc.StatementError(
        "bind failed",
        "UPDATE auth.users SET password_hash = %(h)s",
        {"h": "$argon2id$v=19$m=65536,t=3,p=4$SECRETHASH"},
        ValueError("cannot adapt the value\nsecond line with SECRETHASH"),
    )
    line = describe_unexpected(wrapped)
    assert line == "ValueError: cannot adapt the value"


def test_unexpected_server_error_shows_its_primary_message_only() -> None:
    original = psycopg.errors.lookup("42P01")("relation does not exist\nDETAIL:  SECRET")
    wrapped = sa_exc.ProgrammingError("SELECT secret FROM nowhere", {"p": "SECRET"}, original)
    assert "SECRET" not in describe_unexpected(wrapped)
    assert describe_unexpected(wrapped).startswith("UndefinedTable (SQLSTATE 42P01)")
