"""Translate driver errors into medz1's typed errors, by SQLSTATE (never by message text)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from sqlalchemy import exc as sa_exc

from medz1.errors import (
    ConnectionFailedError,
    DatabaseMissingError,
    Medz1Error,
    PrivilegeError,
)

#: SQLSTATE classes and codes medz1 gives a meaning of its own.
INVALID_CATALOG_NAME = "3D000"
INSUFFICIENT_PRIVILEGE = "42501"
INVALID_PASSWORD = "28P01"  # noqa: S105 - an SQLSTATE, not a password
INVALID_AUTHORIZATION = "28000"
CONNECTION_EXCEPTION_CLASS = "08"
OPERATOR_INTERVENTION_CLASS = "57"


def sqlstate(error: BaseException) -> str | None:
    """The SQLSTATE of a psycopg or SQLAlchemy-wrapped error, if the server sent one."""
    original = getattr(error, "orig", error)
    if isinstance(original, psycopg.Error) and original.sqlstate:
        return str(original.sqlstate)
    return None


def _first_line(error: BaseException) -> str:
    original = getattr(error, "orig", error)
    text = str(original).strip().splitlines()
    return text[0] if text else type(original).__name__


def translate(error: BaseException, *, what: str = "the database") -> Medz1Error | None:
    """Map a driver error to a :class:`Medz1Error`, or None when it has no special meaning."""
    code = sqlstate(error)
    if code == INVALID_CATALOG_NAME:
        return DatabaseMissingError(f"{what} does not exist")
    if code in (INVALID_PASSWORD, INVALID_AUTHORIZATION):
        return ConnectionFailedError(
            f"{what} refused the login: {_first_line(error)}",
            hint="check the user name and password (MEDZ1_DATABASE_URL or the role's password)",
        )
    if code == INSUFFICIENT_PRIVILEGE:
        return PrivilegeError(
            f"permission denied: {_first_line(error)}",
            hint="connect as a role that holds this privilege (see `medz1 grants show`)",
        )
    connection_problem = code is None or code.startswith(
        (CONNECTION_EXCEPTION_CLASS, OPERATOR_INTERVENTION_CLASS)
    )
    if connection_problem and isinstance(
        error, (sa_exc.OperationalError, psycopg.OperationalError)
    ):
        return ConnectionFailedError(f"cannot connect to {what}: {_first_line(error)}")
    return None


@contextmanager
def translated(*, what: str = "the database") -> Iterator[None]:
    """Re-raise driver errors that have a medz1 meaning as typed errors."""
    try:
        yield
    except (sa_exc.DBAPIError, psycopg.Error) as exc:
        mapped = translate(exc, what=what)
        if mapped is None:
            raise
        raise mapped from exc
