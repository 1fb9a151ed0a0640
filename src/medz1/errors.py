"""The typed errors of medz1.

Library code raises these; only the edges (``cli/`` and ``api/``) turn them into a message
and an exit code or an HTTP status. Each error carries a hint that tells the user what to do.
Messages never contain passwords, tokens or the password part of a connection URL.
"""

from __future__ import annotations


class Medz1Error(Exception):
    """Base class of every error medz1 raises on purpose."""

    exit_code: int = 1
    default_hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint

    def __str__(self) -> str:
        return f"{self.message} (hint: {self.hint})" if self.hint else self.message


class ConfigurationError(Medz1Error):
    """A setting is missing, malformed or contradicts another."""

    exit_code = 2


class UsageError(Medz1Error):
    """The command was called with arguments that cannot work."""

    exit_code = 2


class ServerError(Medz1Error):
    """The embedded PostgreSQL server could not be started, stopped or inspected."""

    exit_code = 3


class ConnectionFailedError(Medz1Error):
    """The database server cannot be reached or refused the connection."""

    exit_code = 3
    default_hint = (
        "check MEDZ1_DATABASE_URL, or unset it to use the embedded server (`medz1 server "
        "start`); when the server refused too many connections, close idle clients or raise "
        "the role's MEDZ1_<ROLE>_CONNECTION_LIMIT (or the server's max_connections)"
    )


class DatabaseServerError(Medz1Error):
    """The database server gave up the work: a timeout, exhausted resources, a shutdown."""

    exit_code = 3
    #: True when the same command may simply be run again (SQLSTATE 40001, 40P01, 55P03,
    #: 57P01-57P04): nothing was changed and the cause is temporary.
    retryable: bool = False


class RetryableError(DatabaseServerError):
    """A temporary refusal (serialisation failure, deadlock, lock, restart); run it again."""

    retryable = True


class DatabaseMissingError(Medz1Error):
    """The server is up but the medz1 database does not exist yet."""

    exit_code = 3
    default_hint = "run `medz1 up` to create and migrate it"


class MigrationError(Medz1Error):
    """A migration could not be applied or the revision asked for does not exist."""

    exit_code = 4


class CheckFailedError(Medz1Error):
    """``medz1 check`` found differences between what medz1 declares and the database."""

    exit_code = 5


class NotFoundError(Medz1Error):
    """A named object (table, user, patient, backup) does not exist."""

    exit_code = 6


class PrivilegeError(Medz1Error):
    """The database refused an action for lack of privilege (SQLSTATE 42501)."""

    exit_code = 7


class DataError(Medz1Error):
    """Input data (a file, a value) was refused; nothing was changed."""

    exit_code = 8
