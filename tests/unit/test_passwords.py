"""PasswordHasher without a database: legacy hashes wrapped in argon2id (S1, S5), the cost
of a failed check (S6), and what keeps a stored hash from meeting S1."""

from __future__ import annotations

from collections import Counter

import bcrypt
import pytest

from medz1.auth.passwords import (
    WRAPPED_PREFIX,
    HashParams,
    PasswordHasher,
    identify_scheme,
    stored_hash_problem,
)
from medz1.errors import ConfigurationError, DataError

CHEAP = HashParams(time_cost=1, memory_cost_kib=8, parallelism=1)
FLOOR = HashParams(time_cost=2, memory_cost_kib=19 * 1024, parallelism=1)
PASSWORD = "quiet harbor lamp at dawn"
COST = 4


class WorkSpy(PasswordHasher):
    """Counts argon2 verifications and bcrypt computations by cost."""

    def __init__(self, params: HashParams = CHEAP, legacy: int | None = COST) -> None:
        super().__init__(params, allow_weak=True, legacy_bcrypt_cost=legacy)
        self.work: Counter[tuple[str, object]] = Counter()

    def _argon2_check(self, stored_hash: str, secret: str) -> bool:
        self.work["argon2id", HashParams.from_hash(stored_hash)] += 1
        return super()._argon2_check(stored_hash, secret)

    def _bcrypt_compute(self, secret: bytes, setting: bytes) -> bytes:
        self.work["bcrypt", int(setting[4:6])] += 1
        return super()._bcrypt_compute(secret, setting)


def _bcrypt(password: str = PASSWORD) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(COST)).decode()


def test_wrapped_legacy_hash_verifies_the_old_password_only() -> None:
    hasher = WorkSpy()
    wrapped = hasher.wrap_legacy(_bcrypt())
    assert identify_scheme(wrapped) == "bcrypt-argon2id"
    assert "$2b$" + f"{COST:02d}$" in wrapped
    ok = hasher.verify(wrapped, PASSWORD)
    assert (ok.ok, ok.needs_rehash) == (True, True)
    assert not hasher.verify(wrapped, PASSWORD + "x").ok


def test_wrapped_hash_is_not_matched_on_72_bytes() -> None:
    long_password = "a" * 72 + "tail"
    legacy = bcrypt.hashpw(long_password.encode()[:72], bcrypt.gensalt(COST)).decode()
    hasher = WorkSpy()
    assert not hasher.verify(hasher.wrap_legacy(legacy), "a" * 72 + "other").ok


@pytest.mark.parametrize("stored", ["$argon2id$v=19$m=8,t=1,p=1$abc$def", "plain text", ""])
def test_only_a_bcrypt_hash_can_be_wrapped(stored: str) -> None:
    with pytest.raises(DataError):
        WorkSpy().wrap_legacy(stored)


@pytest.mark.parametrize(
    "stored", [WRAPPED_PREFIX + "$2b$04$short", WRAPPED_PREFIX + "$2b$04$" + "a" * 22 + "$x"]
)
def test_malformed_wrapped_hash_is_unknown_and_never_matches(stored: str) -> None:
    assert identify_scheme(stored) == "unknown"
    assert not WorkSpy().verify(stored, PASSWORD).ok


def _kinds(hasher: PasswordHasher) -> dict[str, str | None]:
    return {
        "none": None,
        "argon2id": hasher.hash(PASSWORD),
        "wrapped": hasher.wrap_legacy(_bcrypt()),
        "bcrypt": _bcrypt(),
        "garbage": "not a hash",
    }


@pytest.mark.parametrize("password", ["a wrong password here", "ﬁne ﬁsh wrong ﬁx", None])
def test_every_failed_check_costs_one_argon2_and_one_bcrypt_per_form(password: object) -> None:
    hasher = WorkSpy()
    forms = 2 if password == "ﬁne ﬁsh wrong ﬁx" else 1  # the ligature differs from NFKC
    for kind, stored in _kinds(hasher).items():
        hasher.work.clear()
        assert not hasher.check(stored, password).ok, kind
        assert hasher.work == Counter({("argon2id", CHEAP): forms, ("bcrypt", COST): forms}), kind


def test_without_legacy_hashes_a_failed_check_costs_one_argon2_only() -> None:
    hasher = WorkSpy(legacy=None)
    for stored in (None, hasher.hash(PASSWORD), "not a hash"):
        hasher.work.clear()
        assert not hasher.check(stored, "a wrong password here").ok
        assert hasher.work == Counter({("argon2id", CHEAP): 1})


def test_successful_argon2_check_does_no_padding() -> None:
    hasher = WorkSpy()
    stored = hasher.hash(PASSWORD)
    hasher.work.clear()
    assert hasher.check(stored, PASSWORD).ok
    assert hasher.work == Counter({("argon2id", CHEAP): 1})


def test_legacy_cost_out_of_range_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="bcrypt cost 3 is out of range"):
        PasswordHasher(CHEAP, allow_weak=True, legacy_bcrypt_cost=3)


def test_stored_hash_problem_names_what_is_wrong() -> None:
    floor = PasswordHasher(FLOOR)
    weak = PasswordHasher(CHEAP, allow_weak=True)
    assert stored_hash_problem(floor.hash(PASSWORD)) is None
    assert stored_hash_problem(floor.wrap_legacy(_bcrypt())) is None
    assert "upgrade-hashes" in str(stored_hash_problem(_bcrypt()))
    assert "below the floor" in str(stored_hash_problem(weak.hash(PASSWORD)))
    assert "below the floor" in str(stored_hash_problem(weak.wrap_legacy(_bcrypt())))
    assert "unrecognised" in str(stored_hash_problem("not a hash"))
    assert "argon2i hash" in str(stored_hash_problem("$argon2i$v=19$m=8,t=1,p=1$abc$def"))
