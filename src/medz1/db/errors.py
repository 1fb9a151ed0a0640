"""Translate driver errors into medz1's typed errors, by SQLSTATE (never by message text).

A translated message names what the server refused (the SQLSTATE condition, the
constraint, table and column from the error's diagnostic fields) and never a value: the
server's DETAIL (``Failing row contains (...)``, ``Key (ssn)=(...)``) and, for data
exceptions, even its primary message can hold patient data, so neither is ever used for
classes 22 and 23. SQLSTATE codes: PostgreSQL documentation, appendix A "PostgreSQL Error
Codes".
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import errors as pg_errors
from sqlalchemy import exc as sa_exc

from medz1.db.engine import ROLE_ATTRIBUTE
from medz1.errors import (
    ConnectionFailedError,
    DatabaseMissingError,
    DatabaseServerError,
    DataError,
    Medz1Error,
    PrivilegeError,
    RetryableError,
)
from medz1.provision.declared import ROLE_ALIASES

#: SQLSTATE classes and codes medz1 gives a meaning of its own.
INVALID_CATALOG_NAME = "3D000"
INSUFFICIENT_PRIVILEGE = "42501"
INVALID_PASSWORD = "28P01"  # noqa: S105 - an SQLSTATE, not a password
INVALID_AUTHORIZATION = "28000"
CONNECTION_EXCEPTION_CLASS = "08"
OPERATOR_INTERVENTION_CLASS = "57"
DATA_EXCEPTION_CLASS = "22"
INTEGRITY_CONSTRAINT_VIOLATION_CLASS = "23"
INSUFFICIENT_RESOURCES_CLASS = "53"
SYSTEM_ERROR_CLASS = "58"
INTERNAL_ERROR_CLASS = "XX"
QUERY_CANCELED = "57014"
ADMIN_SHUTDOWN = "57P01"
CRASH_SHUTDOWN = "57P02"
CANNOT_CONNECT_NOW = "57P03"
DATABASE_DROPPED = "57P04"
IDLE_SESSION_TIMEOUT = "57P05"
IDLE_IN_TRANSACTION_SESSION_TIMEOUT = "25P03"
TRANSACTION_TIMEOUT = "25P04"
READ_ONLY_SQL_TRANSACTION = "25006"
LOCK_NOT_AVAILABLE = "55P03"
SERIALIZATION_FAILURE = "40001"
DEADLOCK_DETECTED = "40P01"
DISK_FULL = "53100"
OUT_OF_MEMORY = "53200"
TOO_MANY_CONNECTIONS = "53300"

_RETRY_HINT = "nothing was changed; run the command again"


def sqlstate(error: BaseException) -> str | None:
    """The SQLSTATE of a psycopg or SQLAlchemy-wrapped error, if the server sent one."""
    original = _original(error)
    if isinstance(original, psycopg.Error) and original.sqlstate:
        return str(original.sqlstate)
    return None


def _original(error: BaseException) -> BaseException:
    original = getattr(error, "orig", None)
    return original if isinstance(original, BaseException) else error


def _first_line(error: BaseException) -> str:
    """The primary message of a server error (never DETAIL, HINT or CONTEXT).

    Only used for classes whose primary message holds names, not values (28, 42501, 08).
    """
    original = _original(error)
    if isinstance(original, psycopg.Error) and original.diag.message_primary:
        return original.diag.message_primary.strip().splitlines()[0]
    text = str(original).strip().splitlines()
    return text[0] if text else type(original).__name__


def condition_name(code: str) -> str:
    """The SQLSTATE's condition in words, e.g. ``"23505"`` -> ``"unique violation"``."""
    try:
        name = pg_errors.lookup(code).__name__
    except KeyError:
        return f"SQLSTATE {code}"
    return re.sub(r"(?<!^)(?=[A-Z])", " ", name).lower()


def _names(error: BaseException) -> str:
    """Constraint, table and column named by the error's diagnostics, quoted; never values."""
    original = _original(error)
    if not isinstance(original, psycopg.Error):
        return ""
    diag = original.diag
    parts = []
    if diag.constraint_name:
        parts.append(f'constraint "{diag.constraint_name}"')
    if diag.table_name:
        table = f"{diag.schema_name}.{diag.table_name}" if diag.schema_name else diag.table_name
        parts.append(f'table "{table}"')
    if diag.column_name:
        parts.append(f'column "{diag.column_name}"')
    if diag.datatype_name:
        parts.append(f'type "{diag.datatype_name}"')
    return " (" + ", ".join(parts) + ")" if parts else ""


def _role_name(error: BaseException) -> str | None:
    """The role the failed connection logged in as, when medz1 knows it."""
    original = _original(error)
    role = getattr(original, ROLE_ATTRIBUTE, None) or getattr(error, ROLE_ATTRIBUTE, None)
    if isinstance(role, str):
        return role
    user = getattr(getattr(original, "pgconn", None), "user", None)
    return user.decode("utf-8", "replace") if isinstance(user, bytes) else None


def _role_setting(error: BaseException, setting: str) -> str:
    """``MEDZ1_<ROLE>_<setting>`` for the role of the failed connection, when medz1 knows it."""
    role = _role_name(error)
    for alias, name in ROLE_ALIASES.items():
        if role == name:
            return f"MEDZ1_{alias.upper()}_{setting}"
    return f"MEDZ1_<ROLE>_{setting}"


def _role(error: BaseException) -> str:
    role = _role_name(error)
    return f'role "{role}"' if role else "role"


def describe(error: BaseException) -> str:
    """A driver error in one line without values: its condition and the names it concerns.

    For classes 22 and 23 only the diagnostic names (constraint, table, column); for other
    classes also the server's primary message, which names objects, not row values.
    """
    code = sqlstate(error)
    if code is None:
        return type(_original(error)).__name__
    if code.startswith((DATA_EXCEPTION_CLASS, INTEGRITY_CONSTRAINT_VIOLATION_CLASS)):
        return condition_name(code) + _names(error)
    return f"{condition_name(code)}: {_first_line(error)}"


def _data_error(code: str, error: BaseException, what: str) -> DataError:
    kind = "data" if code.startswith(DATA_EXCEPTION_CLASS) else "integrity constraint"
    return DataError(
        f"{what} refused the data: {condition_name(code)}{_names(error)}; nothing was changed",
        hint=f"correct the input that breaks this {kind} rule and run the command again",
    )


def _server_condition(code: str, error: BaseException) -> Medz1Error | None:
    """Timeouts, lock and serialisation failures, resources and shutdowns (exit 3)."""
    if code == QUERY_CANCELED:
        return DatabaseServerError(
            f"the statement was cancelled: it ran longer than the statement_timeout of the "
            f"{_role(error)} (or an administrator cancelled it); nothing was changed",
            hint=f"raise {_role_setting(error, 'STATEMENT_TIMEOUT_MS')} and run `medz1 grants "
            "apply`, or narrow the work (fewer rows or files at a time)",
        )
    if code in (IDLE_IN_TRANSACTION_SESSION_TIMEOUT, TRANSACTION_TIMEOUT, IDLE_SESSION_TIMEOUT):
        return DatabaseServerError(
            f"the server ended the session: {condition_name(code)} of the {_role(error)}; "
            "the open transaction was rolled back",
            hint=f"raise {_role_setting(error, 'IDLE_IN_TRANSACTION_TIMEOUT_MS')} and run "
            "`medz1 grants apply`, or do less work between statements",
        )
    if code == READ_ONLY_SQL_TRANSACTION:
        return DatabaseServerError(
            "the write was refused: the server is a read-only standby (or the transaction "
            "was read only); nothing was changed",
            hint="write on the primary; a standby takes reads only (`medz1 replica status`)",
        )
    if code in (LOCK_NOT_AVAILABLE, DEADLOCK_DETECTED, SERIALIZATION_FAILURE):
        return RetryableError(
            f"the database gave up the transaction ({condition_name(code)}) because another "
            "session held or changed the same rows; this is temporary and can be retried",
            hint=_RETRY_HINT,
        )
    if code == TOO_MANY_CONNECTIONS:
        return DatabaseServerError(
            f"the server refused a connection of the {_role(error)}: too many connections",
            hint=f"close idle clients, or raise {_role_setting(error, 'CONNECTION_LIMIT')} "
            "and run `medz1 grants apply` (or the server's max_connections)",
        )
    if code == DISK_FULL:
        return DatabaseServerError(
            "the database server's disk is full; nothing was changed",
            hint="free space on the volume of the data directory and run the command again",
        )
    if code == OUT_OF_MEMORY or code.startswith(INSUFFICIENT_RESOURCES_CLASS):
        return DatabaseServerError(
            f"the database server ran out of resources ({condition_name(code)})",
            hint="run the command again later, or give the server more memory or disk",
        )
    if code in (ADMIN_SHUTDOWN, CRASH_SHUTDOWN, CANNOT_CONNECT_NOW, DATABASE_DROPPED):
        return RetryableError(
            f"the database server ended the connection ({condition_name(code)}): it is "
            "shutting down, restarting or starting up",
            hint="wait until it runs (`medz1 server status`) and run the command again",
        )
    if code.startswith((SYSTEM_ERROR_CLASS, INTERNAL_ERROR_CLASS)):
        return DatabaseServerError(
            f"the database server failed ({condition_name(code)})",
            hint="read the server's log; the data directory or its disk may be damaged",
        )
    return None


def translate(error: BaseException, *, what: str = "the database") -> Medz1Error | None:
    """Map a driver error to a :class:`Medz1Error`, or None when it has no special meaning.

    Args:
        error: a psycopg error or a SQLAlchemy ``DBAPIError`` wrapping one.
        what: how messages name the database or server.

    Returns:
        DataError (exit 8) for SQLSTATE classes 22 and 23, naming the constraint, table and
        column but never a value, and for a value the driver itself refuses (a NUL in text); PrivilegeError (7) for 42501; DatabaseMissingError,
        ConnectionFailedError, DatabaseServerError or RetryableError (3) for a missing
        database, refused logins and connections, timeouts, lock and serialisation
        failures, exhausted resources and shutdowns; None otherwise.
    """
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
    if code is not None and code.startswith(
        (DATA_EXCEPTION_CLASS, INTEGRITY_CONSTRAINT_VIOLATION_CLASS)
    ):
        return _data_error(code, error, what)
    if code is not None:
        mapped = _server_condition(code, error)
        if mapped is not None:
            return mapped
    if code is None and isinstance(_original(error), psycopg.DataError):
        # Refused by the driver before it reached the server (no SQLSTATE): a value
        # PostgreSQL cannot hold, such as a NUL character in text. Its text is not shown.
        return DataError(
            f"{what} cannot take a value given: it holds something PostgreSQL cannot store "
            "(for example a NUL character in text); nothing was changed",
            hint="remove control characters from the input and run the command again",
        )
    connection_problem = code is None or code.startswith(CONNECTION_EXCEPTION_CLASS)
    if connection_problem and isinstance(
        error, (sa_exc.OperationalError, psycopg.OperationalError)
    ):
        return ConnectionFailedError(f"cannot connect to {what}: {_first_line(error)}")
    return None


@contextmanager
def translated(*, what: str = "the database") -> Iterator[None]:
    """Re-raise driver errors that have a medz1 meaning as typed errors.

    Raises:
        Medz1Error: the translation of a driver error (see :func:`translate`); other
            driver errors propagate unchanged.
    """
    try:
        yield
    except (sa_exc.DBAPIError, psycopg.Error) as exc:
        mapped = translate(exc, what=what)
        if mapped is None:
            raise
        raise mapped from exc
