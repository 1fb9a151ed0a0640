"""Checks of the fields users and clients send: e-mail, names, station, IP, User-Agent, clock.

Each check returns the cleaned value or raises :class:`InvalidInputError` with a message
that names the field, never its value (it may be a password typed in the wrong box).
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from datetime import UTC, datetime

from medz1.auth.errors import InvalidInputError
from medz1.errors import UsageError

MAX_EMAIL_LENGTH = 254
"""RFC 5321's limit on a forward path, less the angle brackets."""
MAX_USER_AGENT_LENGTH = 1024
"""Longer User-Agent headers are refused (real ones are a few hundred characters)."""

# A dot-atom local part (RFC 5322 section 3.2.3, no quoted strings) and a domain of LDH
# labels (RFC 5321 section 4.1.2, RFC 1035) with an alphabetic top-level label; ASCII only,
# either case. Addresses are compared and stored in lower case.
_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(rf"{_LOCAL}@(?:{_LABEL}\.)+[A-Za-z]{{2,63}}", re.ASCII)
_REFUSED_CATEGORIES = frozenset({"Cc", "Cs", "Cf", "Zl", "Zp"})


def normalize_email(email: object) -> str:
    """Return ``email`` stripped and in lower case, or raise if it is not an address.

    The rule: an address is ASCII only (RFC 5321 section 4.1.2 mailbox syntax, dot-atom
    local part of RFC 5322, LDH domain labels; an internationalised domain is given in its
    ``xn--`` A-label form). Internationalised addresses (RFC 6531 SMTPUTF8) are refused,
    not folded. The address is validated exactly as given (after stripping surrounding
    white space) and only then lower-cased, so no character can become another by case
    mapping or compatibility normalisation: KELVIN SIGN (U+212A), which ``lower()`` turns
    into ``k``, LATIN SMALL LETTER DOTLESS I, the Turkish dotted capital I, fullwidth
    letters, ligatures such as U+FB01 and the ANGSTROM SIGN (U+212B) are all refused,
    never mapped onto the ASCII address of another user. Lower-casing is safe afterwards:
    on ASCII text it maps A-Z to a-z and nothing else (RFC 5321 lets the local part be case
    sensitive; medz1 treats it case-insensitively, as every mail system it serves does).

    Raises:
        InvalidInputError: not a string, too long, not ASCII, or not an address.
    """
    if not isinstance(email, str):
        raise InvalidInputError("the e-mail address is not text", hint="give name@example.org")
    cleaned = email.strip()
    if len(cleaned) > MAX_EMAIL_LENGTH:
        raise InvalidInputError(
            f"the e-mail address is longer than {MAX_EMAIL_LENGTH} characters",
            hint="give a shorter address",
        )
    if not cleaned.isascii():
        raise InvalidInputError(
            "the e-mail address holds a character outside ASCII",
            hint="give the address in ASCII (an internationalised domain as its xn-- form)",
        )
    if not _EMAIL.fullmatch(cleaned) or len(cleaned.partition("@")[0]) > 64:
        raise InvalidInputError(
            "the e-mail address is malformed",
            hint="give an address like name@example.org (letters, digits and . _ + - only)",
        )
    return cleaned.lower()


def clean_text(value: object, *, field: str, max_length: int, required: bool = False) -> str | None:
    """Return ``value`` stripped, or None when empty and not ``required``.

    Raises:
        InvalidInputError: not text, empty when required, too long, or holding control,
            format or line-separator characters (NUL included).
    """
    if value is None:
        if required:
            raise InvalidInputError(f"the {field} is missing", hint=f"give a {field}")
        return None
    if not isinstance(value, str):
        raise InvalidInputError(f"the {field} is not text", hint=f"give the {field} as text")
    cleaned = value.strip()
    if not cleaned:
        if required:
            raise InvalidInputError(f"the {field} is empty", hint=f"give a {field}")
        return None
    if len(cleaned) > max_length:
        raise InvalidInputError(
            f"the {field} is longer than {max_length} characters", hint="shorten it"
        )
    if has_control_characters(cleaned):
        raise InvalidInputError(
            f"the {field} contains a control character (such as NUL or a line break)",
            hint="remove it",
        )
    return cleaned


def has_control_characters(value: str) -> bool:
    """True when ``value`` holds a control, surrogate, format or line-separator character."""
    return any(unicodedata.category(char) in _REFUSED_CATEGORIES for char in value)


def clean_station(value: object) -> int | None:
    """A VA station number (sta3n, 1 to 99999) or None.

    Raises:
        InvalidInputError: not a whole number in range.
    """
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 99_999:
        raise InvalidInputError(
            "the home station must be a VA station number (sta3n) from 1 to 99999",
            hint="for example 508",
        )
    return value


def clean_ip(value: object) -> str | None:
    """An IPv4 or IPv6 address in its compressed text form, or None.

    Raises:
        InvalidInputError: not an IP address.
    """
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 45:
        raise InvalidInputError("the client IP address is malformed", hint="give IPv4 or IPv6")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise InvalidInputError(
            "the client IP address is malformed", hint="give IPv4 or IPv6"
        ) from None


def clean_user_agent(value: object) -> str | None:
    """The User-Agent header, or None.

    Raises:
        InvalidInputError: not text, too long or with control characters.
    """
    return clean_text(value, field="User-Agent", max_length=MAX_USER_AGENT_LENGTH)


def require_utc(now: datetime) -> datetime:
    """``now`` converted to UTC; a naive datetime is refused.

    Raises:
        UsageError: ``now`` has no time zone.
    """
    if now.tzinfo is None or now.tzinfo.utcoffset(now) is None:
        raise UsageError(
            "a naive datetime was given as the clock",
            hint="pass an aware datetime, for example datetime.now(UTC)",
        )
    return now.astimezone(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """A datetime read from the database, converted to UTC (None stays None)."""
    if value is None:
        return None
    if value.tzinfo is None:  # pragma: no cover - timestamptz always comes back aware
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
