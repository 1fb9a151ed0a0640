"""Typed errors of the authentication store.

Messages never contain a password, a token or a hash. A failed login has one message
whatever the cause (unknown e-mail, wrong password, locked or disabled account), so the
answer does not tell an attacker which accounts exist (S6).
"""

from __future__ import annotations

from medz1.errors import DataError, Medz1Error

LOGIN_FAILED_MESSAGE = "invalid e-mail or password"


class AuthenticationFailed(Medz1Error):  # noqa: N818 - the name says what happened
    """A login (or a password check) was refused; the message is the same for every cause."""

    exit_code = 7
    default_hint = (
        "check the e-mail address and password; repeated failures lock the account for a while"
    )

    def __init__(self, message: str = LOGIN_FAILED_MESSAGE, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)


class SessionInvalid(Medz1Error):  # noqa: N818 - the name says what happened
    """A session token is unknown, ended, expired, or its user may not use it now."""

    exit_code = 7
    default_hint = "log in again"

    def __init__(self, message: str = "the session is not valid", *, hint: str | None = None):
        super().__init__(message, hint=hint)


class InvalidInputError(DataError):
    """A field (e-mail, name, station, address) was refused; nothing was changed."""


class UserExistsError(DataError):
    """A user with that e-mail address (compared case-insensitively) already exists."""

    default_hint = "use another e-mail address, or `medz1 users show EMAIL` to see the user"
