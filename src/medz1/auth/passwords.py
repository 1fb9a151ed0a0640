"""Password hashing and verification (security requirements S1, S2, S5 and S6).

New hashes are argon2id with parameters stored in the hash (S1). `PasswordHasher.verify`
also checks argon2i/argon2d hashes and the bcrypt hashes med-z1 stored (``$2b$12$...``) and
says when a hash should be replaced by a new argon2id one after a successful login (S5).

Passwords are NFKC-normalised before hashing and verifying, so the same password typed on
another keyboard or input method (full-width letters, compatibility ligatures, a no-break
space) still matches. med-z1 hashed the password as typed, so a bcrypt hash is tried with the
password as typed and with its NFKC form; the argon2id hash that replaces it stores the NFKC
form. The whole password is always verified: a password longer than bcrypt's 72-byte limit
never matches a bcrypt hash, instead of matching on its first 72 bytes (S2). A med-z1 user
whose password was longer than that has to reset it.

`PasswordHasher.dummy_verify` costs what a real verification costs, for unknown e-mails (S6).
Nothing here logs a password or a hash, or puts either into an exception message.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from typing import Literal

import argon2
import bcrypt
from argon2.exceptions import Argon2Error, HashingError, VerifyMismatchError

from medz1.auth.policy import MAX_INPUT_CHARS, PasswordPolicyError, PolicyReason, normalize
from medz1.errors import ConfigurationError, DataError

__all__ = [
    "BCRYPT_MAX_BYTES",
    "MIN_MEMORY_COST_KIB",
    "MIN_PARALLELISM",
    "MIN_TIME_COST",
    "HashParams",
    "PasswordHasher",
    "Scheme",
    "Verification",
    "hash_meets_floor",
    "identify_scheme",
]

logger = logging.getLogger(__name__)

Scheme = Literal["argon2id", "argon2i", "argon2d", "bcrypt", "unknown"]

MIN_TIME_COST = 2
"""S1 floor (OWASP password storage cheat sheet): argon2id with t >= 2 ..."""
MIN_MEMORY_COST_KIB = 19 * 1024
"""... m >= 19 MiB ..."""
MIN_PARALLELISM = 1
"""... and p >= 1."""

BCRYPT_MAX_BYTES = 72
"""bcrypt reads at most this many bytes of a password; longer ones never match (S2)."""

_ARGON2_PREFIXES: tuple[tuple[str, Scheme], ...] = (
    ("$argon2id$", "argon2id"),
    ("$argon2i$", "argon2i"),
    ("$argon2d$", "argon2d"),
)
# Modular crypt format: $2a$, $2b$ or $2y$, a two-digit cost, 22 characters of salt and 31 of
# checksum. $2x$ (a crypt_blowfish bug mode) is deliberately not recognised.
_BCRYPT_HASH = re.compile(r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")


@dataclass(frozen=True)
class HashParams:
    """Argon2id cost parameters; the defaults are argon2-cffi's (RFC 9106 low-memory profile).

    Attributes:
        time_cost: number of passes over memory (t).
        memory_cost_kib: memory in KiB (m); 65536 is 64 MiB.
        parallelism: number of lanes (p).
    """

    time_cost: int = 3
    memory_cost_kib: int = 65536
    parallelism: int = 4

    def meets_floor(self) -> bool:
        """Tell whether these parameters are at least the S1 floor (m 19 MiB, t 2, p 1)."""
        return (
            self.time_cost >= MIN_TIME_COST
            and self.memory_cost_kib >= MIN_MEMORY_COST_KIB
            and self.parallelism >= MIN_PARALLELISM
        )

    def validate(self, *, allow_weak: bool = False) -> None:
        """Refuse parameters argon2 cannot use, or that are below the S1 floor.

        Args:
            allow_weak: accept parameters below the floor; for tests only, never production.

        Raises:
            ConfigurationError: the parameters are unusable, or weak without ``allow_weak``.
        """
        if (
            self.time_cost < 1
            or self.parallelism < 1
            or self.memory_cost_kib < 8 * self.parallelism
        ):
            raise ConfigurationError(
                "argon2 parameters out of range: time_cost and parallelism must be at least 1 "
                "and memory_cost_kib at least 8 x parallelism",
                hint="use the defaults of HashParams()",
            )
        if not allow_weak and not self.meets_floor():
            raise ConfigurationError(
                f"argon2 parameters {self} are below the minimum of time_cost={MIN_TIME_COST}, "
                f"memory_cost_kib={MIN_MEMORY_COST_KIB}, parallelism={MIN_PARALLELISM} "
                "(security requirement S1)",
                hint="use the defaults of HashParams(), or stronger parameters",
            )

    @classmethod
    def from_hash(cls, stored_hash: str) -> HashParams:
        """Read the parameters stored in an argon2 hash.

        Args:
            stored_hash: an encoded argon2 hash (``$argon2id$v=19$m=...,t=...,p=...$...``).

        Returns:
            Its time cost, memory cost and parallelism.

        Raises:
            DataError: the text is not an argon2 hash.
        """
        try:
            parameters = argon2.extract_parameters(stored_hash)
        except ValueError as exc:  # argon2's InvalidHashError is a ValueError
            raise DataError(
                "the stored password hash is not an argon2 hash",
                hint="check the password_hash column; identify_scheme() tells its scheme",
            ) from exc
        return cls(parameters.time_cost, parameters.memory_cost, parameters.parallelism)


@dataclass(frozen=True)
class Verification:
    """The outcome of `PasswordHasher.verify`.

    Attributes:
        ok: the password matches the stored hash.
        needs_rehash: only when ``ok``: the hash is bcrypt, another argon2 type or has other
            parameters than the hasher's, so the caller should store ``hash(password)``.
        scheme: the scheme of the stored hash, ``unknown`` when it was not recognised.
    """

    ok: bool
    needs_rehash: bool
    scheme: Scheme


def identify_scheme(stored_hash: str) -> Scheme:
    """Tell the scheme of a stored hash from its format, without checking it.

    Args:
        stored_hash: the value of a password hash column.

    Returns:
        ``argon2id``, ``argon2i``, ``argon2d``, ``bcrypt``, or ``unknown``.
    """
    for prefix, scheme in _ARGON2_PREFIXES:
        if stored_hash.startswith(prefix):
            return scheme
    if _BCRYPT_HASH.fullmatch(stored_hash):
        return "bcrypt"
    return "unknown"


def hash_meets_floor(stored_hash: str) -> bool:
    """Tell whether a stored hash is argon2id with parameters at least the S1 floor.

    Args:
        stored_hash: the value of a password hash column.

    Returns:
        True for an argon2id hash meeting the floor; False for anything else.
    """
    if identify_scheme(stored_hash) != "argon2id":
        return False
    try:
        return HashParams.from_hash(stored_hash).meets_floor()
    except DataError:
        return False


class PasswordHasher:
    """Hashes new passwords with argon2id and verifies argon2 and legacy bcrypt hashes.

    Build one per process from settings and share it; it is thread-safe.
    """

    def __init__(self, params: HashParams | None = None, *, allow_weak: bool = False) -> None:
        """Create a hasher.

        Args:
            params: argon2id cost parameters; ``HashParams()`` when omitted.
            allow_weak: accept parameters below the S1 floor; for tests only.

        Raises:
            ConfigurationError: the parameters are unusable, or weak without ``allow_weak``.
        """
        self.params = params if params is not None else HashParams()
        self.params.validate(allow_weak=allow_weak)
        self._argon2 = argon2.PasswordHasher(
            time_cost=self.params.time_cost,
            memory_cost=self.params.memory_cost_kib,
            parallelism=self.params.parallelism,
            type=argon2.Type.ID,
        )
        # The hash of a random secret nobody knows, with the current parameters, so that
        # dummy_verify does the same work as verifying a real user's hash (S6).
        self._dummy_hash = self._hash_normalized(secrets.token_urlsafe(32))

    def hash(self, password: str) -> str:
        """Hash a password with argon2id; it is NFKC-normalised first.

        This does not apply the rules for new passwords: call
        `medz1.auth.policy.check_new_password` before hashing a password a user chose.

        Args:
            password: the password.

        Returns:
            The encoded hash, ``$argon2id$v=19$m=...,t=...,p=...$salt$hash``.

        Raises:
            PasswordPolicyError: the password is longer than ``MAX_INPUT_CHARS`` characters or
                contains a lone surrogate, which no UTF-8 text can hold.
            ConfigurationError: argon2 could not allocate the memory the parameters ask for.
        """
        if len(password) > MAX_INPUT_CHARS:
            raise PasswordPolicyError(
                PolicyReason.TOO_LONG,
                f"the password is longer than {MAX_INPUT_CHARS} characters and was not hashed",
                hint="check it with medz1.auth.policy.check_new_password first",
            )
        if _has_surrogate(password):
            raise PasswordPolicyError(
                PolicyReason.INVALID_CHARACTER,
                "the password contains a lone surrogate code point and was not hashed",
                hint="check it with medz1.auth.policy.check_new_password first",
            )
        return self._hash_normalized(normalize(password))

    def verify(self, stored_hash: str, password: str) -> Verification:
        """Check a password against a stored argon2 or bcrypt hash.

        A hash in a format not recognised, a malformed hash, a password longer than
        ``MAX_INPUT_CHARS`` characters or holding a lone surrogate all give ``ok`` False; a
        malformed or unrecognised hash is logged as a warning, without the hash or password.

        Args:
            stored_hash: the value of the user's password hash column.
            password: the password as typed.

        Returns:
            Whether it matched, whether the hash should be replaced, and the hash's scheme.
        """
        scheme = identify_scheme(stored_hash)
        if scheme == "unknown":
            logger.warning("a stored password hash has an unrecognised format; no match")
            return Verification(ok=False, needs_rehash=False, scheme=scheme)
        if len(password) > MAX_INPUT_CHARS or _has_surrogate(password):
            # Never a valid password (hash() refuses them), so never a match; refusing early
            # also keeps a huge input from costing anything.
            return Verification(ok=False, needs_rehash=False, scheme=scheme)
        if scheme == "bcrypt":
            ok = self._verify_bcrypt(stored_hash, password)
            return Verification(ok=ok, needs_rehash=ok, scheme=scheme)
        ok = self._verify_argon2(stored_hash, password, scheme)
        return Verification(
            ok=ok, needs_rehash=ok and self._needs_rehash(stored_hash), scheme=scheme
        )

    def dummy_verify(self, password: str) -> None:
        """Spend the time of a verification, for a login whose e-mail matches no user (S6).

        The password is checked against the hash of a random secret made with the same
        parameters, through the same code as `verify`; the outcome is discarded.

        Args:
            password: the password as typed.
        """
        self.verify(self._dummy_hash, password)

    def _hash_normalized(self, normalized: str) -> str:
        try:
            return self._argon2.hash(normalized)
        except HashingError as exc:
            raise ConfigurationError(
                "argon2 could not hash a password with the configured parameters",
                hint="lower memory_cost_kib or parallelism to what this machine can allocate",
            ) from exc

    def _verify_argon2(self, stored_hash: str, password: str, scheme: Scheme) -> bool:
        try:
            return self._argon2.verify(stored_hash, normalize(password))
        except VerifyMismatchError:
            return False
        except (Argon2Error, ValueError) as exc:
            # The exception's text comes from libargon2 and holds no secret, but only its type
            # is logged: the stored hash is no business of a log file.
            logger.warning(
                "a stored %s hash could not be checked (%s); no match", scheme, type(exc).__name__
            )
            return False

    def _needs_rehash(self, stored_hash: str) -> bool:
        try:
            return self._argon2.check_needs_rehash(stored_hash)
        except ValueError:
            # It verified but its parameters cannot be read back: replace it.
            return True

    def _verify_bcrypt(self, stored_hash: str, password: str) -> bool:
        hashed = stored_hash.encode("ascii")  # identify_scheme matched an ASCII-only pattern
        # med-z1 hashed the password as typed; try that first, then the NFKC form medz1 uses.
        for candidate in dict.fromkeys((password, normalize(password))):
            secret = candidate.encode("utf-8")
            try:
                if len(secret) > BCRYPT_MAX_BYTES:
                    # Never a match (S2). Still do the work of one check (its cost is set by
                    # the hash, not the input), so the time does not depend on the length.
                    bcrypt.checkpw(b"", hashed)
                elif bcrypt.checkpw(secret, hashed):
                    return True
            except ValueError as exc:
                logger.warning(
                    "a stored bcrypt hash could not be checked (%s); no match", type(exc).__name__
                )
                return False
        return False


def _has_surrogate(text: str) -> bool:
    # Lone surrogates are the only code points a Python str can hold that UTF-8 cannot encode.
    return any("\ud800" <= char <= "\udfff" for char in text)
