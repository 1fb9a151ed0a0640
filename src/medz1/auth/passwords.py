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

Legacy bcrypt hashes are wrapped in argon2id at once (`PasswordHasher.wrap_legacy`,
``medz1 users upgrade-hashes``), as Django does for its old hashers: the stored form is
argon2id(bcrypt output), so no bcrypt-only hash stays at rest.

`PasswordHasher.check` makes every failure cost the same (S6): one argon2id verification
with the hasher's parameters plus one bcrypt computation of the legacy cost, the work a
wrapped legacy hash needs, whether the e-mail is unknown, the account locked or disabled,
the password wrong, or the hash argon2id or legacy. A successful check of an argon2id hash
costs only the argon2id verification. With med-z1's bcrypt cost 12 and argon2-cffi's
default parameters a failure costs about 0.24 s + 0.12 s of one core (``bench/bench_auth.py``
prints the figures); a store with no legacy hash left can drop the bcrypt part
(``legacy_bcrypt_cost=None``).
Nothing here logs a password or a hash, or puts either into an exception message.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
from dataclasses import dataclass, field
from typing import Literal

import argon2
import bcrypt
from argon2.exceptions import Argon2Error, HashingError, VerifyMismatchError

from medz1.auth.password_rules import (
    MAX_INPUT_CHARS,
    PasswordRuleError,
    PasswordRuleReason,
    normalize,
)
from medz1.errors import ConfigurationError, DataError

__all__ = [
    "BCRYPT_MAX_BYTES",
    "LEGACY_BCRYPT_COST",
    "MIN_MEMORY_COST_KIB",
    "MIN_PARALLELISM",
    "MIN_TIME_COST",
    "WRAPPED_PREFIX",
    "HashParams",
    "PasswordHasher",
    "Scheme",
    "Verification",
    "hash_meets_floor",
    "identify_scheme",
    "stored_hash_problem",
]

logger = logging.getLogger(__name__)

Scheme = Literal["argon2id", "argon2i", "argon2d", "bcrypt", "bcrypt-argon2id", "unknown"]

MIN_TIME_COST = 2
"""S1 floor (OWASP password storage cheat sheet): argon2id with t >= 2 ..."""
MIN_MEMORY_COST_KIB = 19 * 1024
"""... m >= 19 MiB ..."""
MIN_PARALLELISM = 1
"""... and p >= 1."""

BCRYPT_MAX_BYTES = 72
"""bcrypt reads at most this many bytes of a password; longer ones never match (S2)."""
LEGACY_BCRYPT_COST = 12
"""The bcrypt cost of med-z1's hashes (``$2b$12$``); failures spend one bcrypt of it (S6)."""
WRAPPED_PREFIX = "$bcrypt-argon2id"
"""First characters of a legacy bcrypt hash wrapped in argon2id (see ``wrap_legacy``)."""
_BCRYPT_SETTING_CHARS = 29  # "$2b$12$" and 22 characters of salt

_ARGON2_PREFIXES: tuple[tuple[str, Scheme], ...] = (
    ("$argon2id$", "argon2id"),
    ("$argon2i$", "argon2i"),
    ("$argon2d$", "argon2d"),
)
# Modular crypt format: $2a$, $2b$ or $2y$, a two-digit cost, 22 characters of salt and 31 of
# checksum. $2x$ (a crypt_blowfish bug mode) is deliberately not recognised.
_BCRYPT_HASH = re.compile(r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}")
_BCRYPT_SETTING = re.compile(r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{22}")


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
        bcrypt_runs: bcrypt computations done (each costs what the hash's cost says).
        argon2_runs: argon2 verifications done.
    """

    ok: bool
    needs_rehash: bool
    scheme: Scheme
    # The work done is a measure, not part of the outcome: two outcomes compare equal
    # whatever it cost to reach them.
    bcrypt_runs: int = field(default=0, compare=False)
    argon2_runs: int = field(default=0, compare=False)


def identify_scheme(stored_hash: str) -> Scheme:
    """Tell the scheme of a stored hash from its format, without checking it.

    Args:
        stored_hash: the value of a password hash column.

    Returns:
        ``argon2id``, ``argon2i``, ``argon2d``, ``bcrypt``, ``bcrypt-argon2id`` (a legacy
        hash wrapped by ``PasswordHasher.wrap_legacy``), or ``unknown``.
    """
    if stored_hash.startswith(WRAPPED_PREFIX):
        body = stored_hash[len(WRAPPED_PREFIX) :]
        setting, inner = body[:_BCRYPT_SETTING_CHARS], body[_BCRYPT_SETTING_CHARS:]
        if _BCRYPT_SETTING.fullmatch(setting) and inner.startswith("$argon2id$"):
            return "bcrypt-argon2id"
        return "unknown"
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


def stored_hash_problem(stored_hash: str) -> str | None:
    """Tell what keeps a stored hash from meeting S1, or None when it meets it.

    An argon2id hash meets S1 when its parameters are at least the floor (m 19 MiB, t 2,
    p 1); so does a legacy hash wrapped in such an argon2id hash (``bcrypt-argon2id``),
    since no bcrypt-only hash is then at rest. A bare bcrypt hash, an argon2i or argon2d
    hash, weaker parameters or an unrecognised format do not.

    Args:
        stored_hash: the value of a password hash column.

    Returns:
        None, or a sentence saying what is wrong and what to do (never the hash itself).
    """
    scheme = identify_scheme(stored_hash)
    if scheme == "bcrypt":
        return "a bare legacy bcrypt hash: run `medz1 users upgrade-hashes` to wrap it in argon2id"
    if scheme == "unknown":
        return "a hash in an unrecognised format: set a new password for the user"
    if scheme in ("argon2i", "argon2d"):
        return f"an {scheme} hash, not argon2id: it is replaced at the user's next login"
    inner = (
        stored_hash[len(WRAPPED_PREFIX) + _BCRYPT_SETTING_CHARS :]
        if scheme == "bcrypt-argon2id"
        else stored_hash
    )
    try:
        params = HashParams.from_hash(inner)
    except DataError:
        return "an argon2id hash whose parameters cannot be read: set a new password"
    if not params.meets_floor():
        return (
            f"argon2id parameters m={params.memory_cost_kib} KiB, t={params.time_cost}, "
            f"p={params.parallelism} are below the floor m={MIN_MEMORY_COST_KIB} KiB, "
            f"t={MIN_TIME_COST}, p={MIN_PARALLELISM}: it is replaced at the user's next login"
        )
    return None


class PasswordHasher:
    """Hashes new passwords with argon2id and verifies argon2, wrapped and legacy bcrypt hashes.

    Build one per process from settings and share it; it is thread-safe. Login and every
    other password check go through :meth:`check`, which makes every failure cost the same
    (S6); :meth:`verify` alone does only the work the stored hash needs.
    """

    def __init__(
        self,
        params: HashParams | None = None,
        *,
        allow_weak: bool = False,
        legacy_bcrypt_cost: int | None = LEGACY_BCRYPT_COST,
    ) -> None:
        """Create a hasher.

        Args:
            params: argon2id cost parameters; ``HashParams()`` when omitted.
            allow_weak: accept parameters below the S1 floor; for tests only.
            legacy_bcrypt_cost: the cost of the legacy bcrypt hashes the store may hold
                (med-z1: 12). Every failing :meth:`check` spends one bcrypt computation of
                this cost per candidate form of the password, as checking a wrapped legacy
                hash does, so a legacy account answers as slowly as any other (S6). None
                when the store holds no legacy hash: failures then cost one argon2id check.

        Raises:
            ConfigurationError: the parameters are unusable, or weak without ``allow_weak``.
        """
        self.params = params if params is not None else HashParams()
        self.params.validate(allow_weak=allow_weak)
        if legacy_bcrypt_cost is not None and not 4 <= legacy_bcrypt_cost <= 31:
            raise ConfigurationError(
                f"bcrypt cost {legacy_bcrypt_cost} is out of range (4 to 31)",
                hint="give the cost of the stored legacy hashes (med-z1 used 12), or None",
            )
        self.legacy_bcrypt_cost = legacy_bcrypt_cost
        self._argon2 = argon2.PasswordHasher(
            time_cost=self.params.time_cost,
            memory_cost=self.params.memory_cost_kib,
            parallelism=self.params.parallelism,
            type=argon2.Type.ID,
        )
        # The hash of a random secret nobody knows, with the current parameters, so that a
        # dummy check does the same work as checking a real user's hash (S6).
        self._dummy_hash = self._hash_normalized(secrets.token_urlsafe(32))
        self._dummy_bcrypt = (
            bcrypt.gensalt(legacy_bcrypt_cost) if legacy_bcrypt_cost is not None else None
        )

    def hash(self, password: str) -> str:
        """Hash a password with argon2id; it is NFKC-normalised first.

        This does not apply the rules for new passwords: call
        `medz1.auth.password_rules.check_new_password` before hashing a password a user chose.

        Args:
            password: the password.

        Returns:
            The encoded hash, ``$argon2id$v=19$m=...,t=...,p=...$salt$hash``.

        Raises:
            PasswordRuleError: the password is longer than ``MAX_INPUT_CHARS`` characters or
                contains a lone surrogate, which no UTF-8 text can hold.
            ConfigurationError: argon2 could not allocate the memory the parameters ask for.
        """
        if len(password) > MAX_INPUT_CHARS:
            raise PasswordRuleError(
                PasswordRuleReason.TOO_LONG,
                f"the password is longer than {MAX_INPUT_CHARS} characters and was not hashed",
                hint="check it with medz1.auth.password_rules.check_new_password first",
            )
        if _has_surrogate(password):
            raise PasswordRuleError(
                PasswordRuleReason.INVALID_CHARACTER,
                "the password contains a lone surrogate code point and was not hashed",
                hint="check it with medz1.auth.password_rules.check_new_password first",
            )
        return self._hash_normalized(normalize(password))

    def wrap_legacy(self, stored_hash: str) -> str:
        """Wrap a legacy bcrypt hash in argon2id, without knowing the password (S1, S5).

        The result is ``$bcrypt-argon2id`` + the bcrypt setting (``$2b$12$`` and the salt)
        + ``argon2id(the whole bcrypt hash)``: no bcrypt-only hash is left at rest, and
        checking a password computes bcrypt with the stored setting, then argon2id over its
        output. The next successful login replaces it with a plain argon2id hash.

        Args:
            stored_hash: a bcrypt hash (``identify_scheme`` says ``bcrypt``).

        Returns:
            The wrapped hash (about 145 characters).

        Raises:
            DataError: ``stored_hash`` is not a bcrypt hash.
        """
        if identify_scheme(stored_hash) != "bcrypt":
            raise DataError(
                "only a bcrypt hash can be wrapped in argon2id",
                hint="check the hash with identify_scheme() first",
            )
        return (
            WRAPPED_PREFIX
            + stored_hash[:_BCRYPT_SETTING_CHARS]
            + self._hash_normalized(stored_hash)
        )

    def verify(self, stored_hash: str, password: str) -> Verification:
        """Check a password against a stored argon2, wrapped or bcrypt hash.

        A hash in a format not recognised, a malformed hash, a password longer than
        ``MAX_INPUT_CHARS`` characters or holding a lone surrogate all give ``ok`` False; a
        malformed or unrecognised hash is logged as a warning, without the hash or password.
        This does only the work the hash needs: use :meth:`check` where a failure must not
        reveal the kind of hash (S6).

        Args:
            stored_hash: the value of the user's password hash column.
            password: the password as typed.

        Returns:
            Whether it matched, whether the hash should be replaced, the hash's scheme and
            the work done.
        """
        scheme = identify_scheme(stored_hash)
        if scheme == "unknown":
            logger.warning("a stored password hash has an unrecognised format; no match")
            return Verification(ok=False, needs_rehash=False, scheme=scheme)
        if not isinstance(password, str) or not _checkable(password):
            # Never a valid password (hash() refuses them), so never a match; refusing early
            # also keeps a huge input from costing anything.
            return Verification(ok=False, needs_rehash=False, scheme=scheme)
        if scheme == "bcrypt":
            ok, runs = self._verify_bcrypt(stored_hash, password)
            return Verification(ok=ok, needs_rehash=ok, scheme=scheme, bcrypt_runs=runs)
        if scheme == "bcrypt-argon2id":
            return self._verify_wrapped(stored_hash, password)
        ok = self._verify_argon2(stored_hash, normalize(password), scheme)
        return Verification(
            ok=ok,
            needs_rehash=ok and self._needs_rehash(stored_hash),
            scheme=scheme,
            argon2_runs=1,
        )

    def check(self, stored_hash: str | None, password: object) -> Verification:
        """Check a password where a failure must cost what any other failure costs (S6).

        ``stored_hash`` None (unknown e-mail, locked or disabled account, refused attempt)
        or anything not text as ``password`` never matches. A failure always spends, in
        all, one argon2id verification with this hasher's parameters and, when
        ``legacy_bcrypt_cost`` is set, one bcrypt computation of that cost, per candidate
        form of the password (the typed form and its NFKC form when they differ; the
        number depends on the typed password only, never on the account): what checking
        a wrapped legacy hash costs. Work the real verification did not do is done
        against dummy hashes.

        Args:
            stored_hash: the user's stored hash, or None when it must not be checked.
            password: the password as received (anything; only text can match).

        Returns:
            The verification (``ok`` False for every failure).
        """
        text_password = password if isinstance(password, str) else ""
        if stored_hash is None or not isinstance(password, str):
            result = Verification(ok=False, needs_rehash=False, scheme="unknown")
        else:
            result = self.verify(stored_hash, password)
        if not result.ok:
            self._pad(text_password, result)
        return result

    def dummy_verify(self, password: object) -> None:
        """Spend the time of a failed :meth:`check`, for an attempt whose hash must not be
        checked (S6); the outcome is discarded.

        Args:
            password: the password as received.
        """
        self.check(None, password)

    def _pad(self, password: str, done: Verification) -> None:
        forms = _candidates(password) if _checkable(password) else [""]
        bcrypt_target = len(forms) if self._dummy_bcrypt is not None else 0
        for index in range(done.argon2_runs, len(forms)):
            self._argon2_check(self._dummy_hash, forms[index][:MAX_INPUT_CHARS])
        for index in range(done.bcrypt_runs, bcrypt_target):
            secret = forms[index].encode("utf-8", "replace")
            assert self._dummy_bcrypt is not None  # bcrypt_target is 0 otherwise
            self._bcrypt_compute(secret[:BCRYPT_MAX_BYTES], self._dummy_bcrypt)

    def _hash_normalized(self, normalized: str) -> str:
        try:
            return self._argon2.hash(normalized)
        except HashingError as exc:
            raise ConfigurationError(
                "argon2 could not hash a password with the configured parameters",
                hint="lower memory_cost_kib or parallelism to what this machine can allocate",
            ) from exc

    def _argon2_check(self, stored_hash: str, secret: str) -> bool:
        """One argon2 verification: the unit of work a spy counts (raises on a bad hash)."""
        try:
            return self._argon2.verify(stored_hash, secret)
        except VerifyMismatchError:
            return False

    def _bcrypt_compute(self, secret: bytes, setting: bytes) -> bytes:
        """One bcrypt computation with the cost and salt of ``setting``: the other unit."""
        return bcrypt.hashpw(secret, setting)

    def _verify_argon2(self, stored_hash: str, secret: str, scheme: Scheme) -> bool:
        try:
            return self._argon2_check(stored_hash, secret)
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

    def _verify_bcrypt(self, stored_hash: str, password: str) -> tuple[bool, int]:
        hashed = stored_hash.encode("ascii")  # identify_scheme matched an ASCII-only pattern
        runs = 0
        # med-z1 hashed the password as typed; try that first, then the NFKC form medz1 uses.
        for candidate in _candidates(password):
            secret = candidate.encode("utf-8")
            if len(secret) > BCRYPT_MAX_BYTES:
                continue  # never a match (S2); check() spends the work it would have cost
            try:
                runs += 1
                if hmac.compare_digest(self._bcrypt_compute(secret, hashed), hashed):
                    return True, runs
            except ValueError as exc:
                logger.warning(
                    "a stored bcrypt hash could not be checked (%s); no match", type(exc).__name__
                )
                return False, runs
        return False, runs

    def _verify_wrapped(self, stored_hash: str, password: str) -> Verification:
        body = stored_hash[len(WRAPPED_PREFIX) :]
        setting, inner = body[:_BCRYPT_SETTING_CHARS].encode("ascii"), body[_BCRYPT_SETTING_CHARS:]
        bcrypt_runs = argon2_runs = 0
        for candidate in _candidates(password):
            secret = candidate.encode("utf-8")
            if len(secret) > BCRYPT_MAX_BYTES:
                continue  # never a match (S2)
            try:
                bcrypt_runs += 1
                legacy = self._bcrypt_compute(secret, setting).decode("ascii")
            except ValueError as exc:
                logger.warning(
                    "a stored wrapped hash could not be checked (%s); no match",
                    type(exc).__name__,
                )
                break
            argon2_runs += 1
            if self._verify_argon2(inner, legacy, "bcrypt-argon2id"):
                return Verification(
                    ok=True,
                    needs_rehash=True,
                    scheme="bcrypt-argon2id",
                    bcrypt_runs=bcrypt_runs,
                    argon2_runs=argon2_runs,
                )
        return Verification(
            ok=False,
            needs_rehash=False,
            scheme="bcrypt-argon2id",
            bcrypt_runs=bcrypt_runs,
            argon2_runs=argon2_runs,
        )


def _checkable(password: str) -> bool:
    return len(password) <= MAX_INPUT_CHARS and not _has_surrogate(password)


def _candidates(password: str) -> list[str]:
    """The forms of a password checked against a legacy hash: as typed, then NFKC."""
    return list(dict.fromkeys((password, normalize(password))))


def _has_surrogate(text: str) -> bool:
    # Lone surrogates are the only code points a Python str can hold that UTF-8 cannot encode.
    return any("\ud800" <= char <= "\udfff" for char in text)
