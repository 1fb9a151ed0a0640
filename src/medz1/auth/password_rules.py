"""Rules for new passwords (security requirements S3 and S4, NIST SP 800-63B-4).

A new password is NFKC-normalised, then must have 15 to 128 characters (Unicode code points),
no control, surrogate or unassigned character, must not be a common password and must not
contain a word tied to the account or to medz1. There are no composition rules (no "one
digit, one symbol") and no forced rotation. Spaces and any printable Unicode are welcome, so a
passphrase of four or more random words is the advice every error gives.

Error messages say what is wrong and what to do; they never contain the password, its length
or the context word it contained.
"""

from __future__ import annotations

import enum
import functools
import gzip
import importlib.resources
import re
import unicodedata
from collections.abc import Iterable

from medz1.errors import DataError

__all__ = [
    "MAX_INPUT_CHARS",
    "MAX_LENGTH",
    "MIN_CONTEXT_WORD_LENGTH",
    "MIN_LENGTH",
    "PRODUCT_WORDS",
    "PasswordRuleError",
    "PasswordRuleReason",
    "blocklist",
    "check_new_password",
    "is_blocklisted",
    "normalize",
]

MIN_LENGTH = 15
"""Fewest characters (code points after NFKC) a new password may have (S3)."""

MAX_LENGTH = 128
"""Most characters (code points after NFKC) a new password may have (S3)."""

MAX_INPUT_CHARS = 1024
"""Longest input looked at at all, before normalising: a guard against huge inputs.

NFKC shrinks text at most fourfold (no character decomposes into more than four code points),
so nothing longer can normalise to ``MAX_LENGTH`` characters; `medz1.auth.passwords` refuses
to hash or verify anything longer too.
"""

MIN_CONTEXT_WORD_LENGTH = 4
"""Context words shorter than this are ignored: they would refuse too many good passwords."""

PRODUCT_WORDS = ("medz1", "med-z1")
"""Context words that every password is checked against."""

_ADVICE = "for example four or more random words separated by spaces"
_SEPARATORS = re.compile(r"[\s\-_.]+")
_DATA_FILES = ("common-passwords.txt.gz", "long-common-passwords.txt")
# Control (Cc), surrogate (Cs) and unassigned (Cn) code points. Unassigned ones are refused
# because a later Unicode version may give them an NFKC mapping, and the stored hash would
# then no longer match what the user types.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cs", "Cn"})


class PasswordRuleReason(enum.StrEnum):
    """Why a new password was refused; stable values an API can return."""

    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    CONTROL_CHARACTER = "control_character"
    INVALID_CHARACTER = "invalid_character"
    BLOCKLISTED = "blocklisted"
    CONTEXT_WORD = "context_word"


class PasswordRuleError(DataError):
    """A new password breaks a rule; ``reason`` says which. The message never holds it."""

    def __init__(self, reason: PasswordRuleReason, message: str, *, hint: str) -> None:
        super().__init__(message, hint=hint)
        self.reason = reason


def normalize(password: str) -> str:
    """Return the NFKC form of ``password``, the form medz1 checks, hashes and verifies.

    Args:
        password: the password as typed.

    Returns:
        The NFKC-normalised password (for example full-width letters become ASCII).
    """
    return unicodedata.normalize("NFKC", password)


def check_new_password(password: str, *, context_words: Iterable[str] = ()) -> str:
    """Check a new password against the rules and return the form to hash.

    Args:
        password: the password as typed.
        context_words: words tied to the account that must not appear in the password, such
            as station names and the user's e-mail (its local part is added automatically).
            The product names in ``PRODUCT_WORDS`` are always checked. Words shorter than
            ``MIN_CONTEXT_WORD_LENGTH`` characters are ignored.

    Returns:
        The NFKC-normalised password.

    Raises:
        PasswordRuleError: the password breaks a rule; ``reason`` tells which.
    """
    if len(password) > MAX_INPUT_CHARS:
        # Refused before normalising so a huge input costs nothing.
        raise _too_long()
    normalized = normalize(password)
    _check_characters(normalized)
    if len(normalized) < MIN_LENGTH:
        raise PasswordRuleError(
            PasswordRuleReason.TOO_SHORT,
            f"the password is shorter than {MIN_LENGTH} characters",
            hint=f"use a longer one, {_ADVICE}",
        )
    if len(normalized) > MAX_LENGTH:
        raise _too_long()
    if is_blocklisted(normalized):
        raise PasswordRuleError(
            PasswordRuleReason.BLOCKLISTED,
            "the password is on the list of common passwords that attackers try first",
            hint=f"choose one nobody else is likely to use, {_ADVICE}",
        )
    if _contains_context_word(normalized, context_words):
        raise PasswordRuleError(
            PasswordRuleReason.CONTEXT_WORD,
            "the password contains a word tied to this account or service "
            "(the product name, a station name or the e-mail address)",
            hint=f"leave out words an attacker could guess from the account, {_ADVICE}",
        )
    return normalized


def is_blocklisted(password: str) -> bool:
    """Tell whether ``password`` is a common password, ignoring case and separators.

    Args:
        password: the password as typed or already normalised.

    Returns:
        True when its NFKC, case-folded form is in `blocklist`, as written or with spaces,
        hyphens, underscores and dots removed.
    """
    folded = normalize(password).casefold()
    return folded in blocklist() or _compact(folded) in _compact_blocklist()


@functools.cache
def blocklist() -> frozenset[str]:
    """Return the common passwords refused as new passwords (NFKC, case-folded).

    The lists in ``medz1/auth/data`` (see the README there for sources and licenses) are read
    on the first call and kept for the life of the process.

    Returns:
        The blocklist, more than 30,000 entries.
    """
    entries: set[str] = set()
    data = importlib.resources.files("medz1.auth").joinpath("data")
    for name in _DATA_FILES:
        raw = data.joinpath(name).read_bytes()
        if name.endswith(".gz"):
            raw = gzip.decompress(raw)
        for line in raw.decode("utf-8").splitlines():
            if line and not line.startswith("#"):
                entries.add(normalize(line).casefold())
    return frozenset(entries)


@functools.cache
def _compact_blocklist() -> frozenset[str]:
    return frozenset(_compact(entry) for entry in blocklist())


def _compact(text: str) -> str:
    return _SEPARATORS.sub("", text)


def _too_long() -> PasswordRuleError:
    return PasswordRuleError(
        PasswordRuleReason.TOO_LONG,
        f"the password is longer than {MAX_LENGTH} characters",
        hint=f"use a shorter one, {_ADVICE}",
    )


def _check_characters(normalized: str) -> None:
    categories = {unicodedata.category(char) for char in normalized}
    if "Cc" in categories:
        raise PasswordRuleError(
            PasswordRuleReason.CONTROL_CHARACTER,
            "the password contains a control character (such as NUL, tab or a line break), "
            "which cannot be typed the same way on every device and is cut off by some systems",
            hint="remove it; spaces and any printable character, in any script, are allowed",
        )
    if categories & _REFUSED_CATEGORIES:
        raise PasswordRuleError(
            PasswordRuleReason.INVALID_CHARACTER,
            "the password contains a code point that is not a character "
            "(a lone surrogate or one Unicode has not assigned yet)",
            hint="remove it; spaces and any printable character, in any script, are allowed",
        )


def _contains_context_word(normalized: str, context_words: Iterable[str]) -> bool:
    folded = normalized.casefold()
    compact = _compact(folded)
    for word in _expand_context_words(context_words):
        if word in folded or _compact(word) in compact:
            return True
    return False


def _expand_context_words(context_words: Iterable[str]) -> set[str]:
    words: set[str] = set()
    for raw in (*PRODUCT_WORDS, *context_words):
        word = normalize(raw).casefold().strip()
        if "@" in word:
            # An e-mail address: its local part alone is as guessable as the whole address.
            words.add(word.rpartition("@")[0])
        words.add(word)
    return {word for word in words if len(_compact(word)) >= MIN_CONTEXT_WORD_LENGTH}
