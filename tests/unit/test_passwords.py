"""Password hashing and verification: S1, S2, S5 and S6 (the dummy hash, the cost of every
failed check), legacy hashes wrapped in argon2id, and what keeps a stored hash from S1.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable

import argon2
import bcrypt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medz1.auth.password_rules import PasswordRuleError, PasswordRuleReason
from medz1.auth.passwords import (
    MIN_MEMORY_COST_KIB,
    MIN_PARALLELISM,
    MIN_TIME_COST,
    WRAPPED_PREFIX,
    HashParams,
    PasswordHasher,
    Scheme,
    Verification,
    hash_meets_floor,
    identify_scheme,
    stored_hash_problem,
)
from medz1.errors import ConfigurationError, DataError

CHEAP = HashParams(time_cost=1, memory_cost_kib=8, parallelism=1)
SECRET = "sentinel-Passw0rd-never-logged"
LEGACY_PASSWORD = "legacy passphrase from med-z1"
FLOOR = HashParams(time_cost=2, memory_cost_kib=19 * 1024, parallelism=1)
PASSWORD = "quiet harbor lamp at dawn"
COST = 4


def fullwidth(text: str) -> str:
    """``text`` in full-width forms, as an East Asian input method types it."""
    return "".join("\u3000" if char == " " else chr(ord(char) + 0xFEE0) for char in text)


FULLWIDTH_LEGACY = fullwidth("my legacy pass")
FULLWIDTH_FISH = fullwidth("full width") + "\u3000\ufb01sh"  # fi ligature


@pytest.fixture(scope="module")
def production() -> PasswordHasher:
    return PasswordHasher()


@pytest.fixture(scope="module")
def cheap() -> PasswordHasher:
    return PasswordHasher(CHEAP, allow_weak=True)


@pytest.fixture(scope="module")
def legacy_hash() -> str:
    """A bcrypt hash as med-z1 stored it: cost 12, made once (it takes about 0.25 s)."""
    return bcrypt.hashpw(LEGACY_PASSWORD.encode(), bcrypt.gensalt(12)).decode()


def cheap_bcrypt(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()


def old_argon2(password: str, type_: argon2.Type = argon2.Type.ID) -> str:
    return argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1, type=type_).hash(
        password
    )


# S1


def test_production_hash_is_argon2id_with_parameters_at_least_the_floor(
    production: PasswordHasher,
) -> None:
    stored = production.hash(SECRET)
    parameters = argon2.extract_parameters(stored)
    assert parameters.type is argon2.Type.ID
    assert parameters.time_cost >= MIN_TIME_COST
    assert parameters.memory_cost >= MIN_MEMORY_COST_KIB
    assert parameters.parallelism >= MIN_PARALLELISM
    assert hash_meets_floor(stored)
    assert production.verify(stored, SECRET).ok


def test_default_params_are_argon2_cffi_rfc_9106_low_memory_profile() -> None:
    profile = argon2.profiles.RFC_9106_LOW_MEMORY
    expected = HashParams(profile.time_cost, profile.memory_cost, profile.parallelism)
    assert HashParams() == expected


def test_floor_itself_is_accepted() -> None:
    HashParams(MIN_TIME_COST, MIN_MEMORY_COST_KIB, MIN_PARALLELISM).validate()


@pytest.mark.parametrize(
    "params",
    [HashParams(time_cost=1), HashParams(memory_cost_kib=MIN_MEMORY_COST_KIB - 1), CHEAP],
)
def test_params_below_floor_are_refused_unless_allow_weak(params: HashParams) -> None:
    with pytest.raises(ConfigurationError, match="S1"):
        PasswordHasher(params)
    params.validate(allow_weak=True)


@pytest.mark.parametrize("params", [HashParams(0, 8, 1), HashParams(1, 8, 0), HashParams(1, 15, 2)])
def test_unusable_params_are_refused_even_with_allow_weak(params: HashParams) -> None:
    with pytest.raises(ConfigurationError, match="out of range"):
        params.validate(allow_weak=True)


@pytest.mark.parametrize(
    "make", [old_argon2, cheap_bcrypt, lambda pw: old_argon2(pw, argon2.Type.I), lambda _: "x"]
)
def test_weak_or_foreign_hashes_do_not_meet_the_floor(make: Callable[[str], str]) -> None:
    assert not hash_meets_floor(make(SECRET))


# S2


SHARED_72 = pytest.mark.parametrize(
    "prefix", ["a" * 72, "é" * 36, "€" * 24, "🔑" * 18], ids=["ascii", "latin", "euro", "emoji"]
)


@SHARED_72
def test_argon2_passwords_sharing_72_leading_bytes_never_both_verify(
    cheap: PasswordHasher, prefix: str
) -> None:
    assert len(prefix.encode()) == 72
    first, second = prefix + "tail one", prefix + "tail two"
    assert not cheap.verify(cheap.hash(first), second).ok
    assert not cheap.verify(cheap.hash(second), first).ok


@SHARED_72
def test_bcrypt_passwords_sharing_72_leading_bytes_never_both_verify(
    cheap: PasswordHasher, prefix: str
) -> None:
    # What an old bcrypt library stored for any password starting with these 72 bytes.
    stored = cheap_bcrypt(prefix)
    results = [cheap.verify(stored, pw).ok for pw in (prefix, prefix + "x", prefix + "yz")]
    assert results == [True, False, False]


# S5


def test_legacy_bcrypt_hash_verifies_and_needs_rehash(
    cheap: PasswordHasher, legacy_hash: str
) -> None:
    assert legacy_hash.startswith("$2b$12$")
    assert len(legacy_hash) == 60
    assert cheap.verify(legacy_hash, LEGACY_PASSWORD) == Verification(True, True, "bcrypt")


def test_legacy_bcrypt_hash_refuses_a_wrong_password(
    cheap: PasswordHasher, legacy_hash: str
) -> None:
    result = cheap.verify(legacy_hash, LEGACY_PASSWORD + "!")
    assert (result.ok, result.needs_rehash, result.scheme) == (False, False, "bcrypt")


@pytest.mark.parametrize("variant", ["$2a$", "$2y$"])
def test_bcrypt_variants_verify(cheap: PasswordHasher, variant: str) -> None:
    stored = variant + cheap_bcrypt(SECRET)[4:]
    assert cheap.verify(stored, SECRET).ok


@pytest.mark.parametrize("stored_form", [FULLWIDTH_LEGACY, "my legacy pass"])
def test_bcrypt_hash_verifies_with_typed_or_nfkc_form(
    cheap: PasswordHasher, stored_form: str
) -> None:
    # med-z1 hashed the password as typed: full-width here, or the ASCII form.
    assert cheap.verify(cheap_bcrypt(stored_form), FULLWIDTH_LEGACY).ok


@pytest.mark.parametrize(
    ("chosen", "typed"),
    [
        (FULLWIDTH_FISH, "full width fish"),
        ("full width fish", FULLWIDTH_FISH),
    ],
)
def test_argon2_hash_verifies_across_nfkc_forms(
    cheap: PasswordHasher, chosen: str, typed: str
) -> None:
    assert cheap.verify(cheap.hash(chosen), typed).ok


@pytest.mark.parametrize(
    ("type_", "scheme"),
    [(argon2.Type.ID, "argon2id"), (argon2.Type.I, "argon2i"), (argon2.Type.D, "argon2d")],
)
def test_argon2_hash_with_old_type_or_params_verifies_and_needs_rehash(
    type_: argon2.Type, scheme: Scheme
) -> None:
    current = PasswordHasher(
        HashParams(time_cost=2, memory_cost_kib=16, parallelism=1), allow_weak=True
    )
    stored = old_argon2(SECRET, type_)
    assert current.verify(stored, SECRET) == Verification(True, True, scheme)


def test_current_hash_needs_no_rehash(cheap: PasswordHasher) -> None:
    result = cheap.verify(cheap.hash(SECRET), SECRET)
    assert (result.ok, result.needs_rehash, result.scheme) == (True, False, "argon2id")


@pytest.mark.parametrize("type_", [argon2.Type.ID, argon2.Type.I, argon2.Type.D])
def test_argon2_hash_refuses_a_wrong_password(cheap: PasswordHasher, type_: argon2.Type) -> None:
    result = cheap.verify(old_argon2(SECRET, type_), SECRET + "x")
    assert (result.ok, result.needs_rehash) == (False, False)


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        SECRET,
        "$2b$12$tooshort",
        "$2x$04$" + "a" * 53,
        "$argon2id$v=19$m=8,t=1,p=1$bm90IGJhc2U2NA$!!!",
        "$argon2id$v=19$m=8,t=1,p=1$é",
        "$argon2id$",
        "$2b$04$" + "." * 53,
    ],
)
def test_garbage_hash_does_not_verify_and_logs_no_secret(
    cheap: PasswordHasher, garbage: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        assert not cheap.verify(garbage, SECRET).ok
    assert SECRET not in caplog.text
    assert not garbage or garbage not in caplog.text


@pytest.mark.parametrize(
    ("stored", "scheme"),
    [("$argon2id$v=19$...", "argon2id"), ("$2b$12$" + "a" * 53, "bcrypt"), ("md5$x", "unknown")],
)
def test_identify_scheme_reads_the_format(stored: str, scheme: Scheme) -> None:
    assert identify_scheme(stored) == scheme


# Limits and S6


def test_huge_password_is_refused_without_hashing(
    cheap: PasswordHasher, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored = cheap.hash(SECRET)

    def boom(*_: object) -> None:
        raise AssertionError("argon2 must not run")

    monkeypatch.setattr(argon2.PasswordHasher, "hash", boom)
    monkeypatch.setattr(argon2.PasswordHasher, "verify", boom)
    huge = "p" * 1_000_000
    with pytest.raises(PasswordRuleError) as refused:
        cheap.hash(huge)
    assert refused.value.reason is PasswordRuleReason.TOO_LONG
    assert not cheap.verify(stored, huge).ok


def test_lone_surrogate_is_refused_by_hash_and_never_verifies(cheap: PasswordHasher) -> None:
    with pytest.raises(PasswordRuleError) as refused:
        cheap.hash("abc\ud800def")
    assert refused.value.reason is PasswordRuleReason.INVALID_CHARACTER
    assert not cheap.verify(cheap.hash(SECRET), SECRET + "\ud800").ok


def test_dummy_verify_checks_a_hash_made_with_the_same_parameters(
    cheap: PasswordHasher, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    real_verify = argon2.PasswordHasher.verify

    def spy(self: argon2.PasswordHasher, hash: str | bytes, password: str | bytes) -> bool:
        seen.append(str(hash))
        return real_verify(self, hash, password)

    monkeypatch.setattr(argon2.PasswordHasher, "verify", spy)
    assert cheap.dummy_verify(SECRET) is None  # type: ignore[func-returns-value]
    assert [identify_scheme(h) for h in seen] == ["argon2id"]
    assert HashParams.from_hash(seen[0]) == cheap.params


@settings(max_examples=50, deadline=None)
@given(password=st.text(max_size=200))
def test_any_password_verifies_and_a_longer_one_does_not(
    cheap: PasswordHasher, password: str
) -> None:
    stored = cheap.hash(password)
    assert cheap.verify(stored, password).ok
    assert not cheap.verify(stored, password + "x").ok


# Legacy hashes wrapped in argon2id, the cost of a failed check (S6), the S1 floor


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
