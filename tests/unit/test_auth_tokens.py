"""Session tokens (S11), the canonical form of audit rows, input checks and configuration."""

from __future__ import annotations

import hashlib
import random
import re
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medz1.auth import audit, demo, sessions
from medz1.auth.config import AuthConfig, hasher_from_settings
from medz1.auth.errors import InvalidInputError
from medz1.auth.inputs import clean_ip, clean_text, normalize_email, require_utc
from medz1.auth.password_rules import check_new_password
from medz1.auth.passwords import HashParams, PasswordHasher
from medz1.errors import ConfigurationError, UsageError
from medz1.settings import load_settings


def test_tokens_do_not_follow_the_random_module() -> None:
    # A token from a seeded, predictable generator would repeat after the same seed.
    random.seed(2026)
    first = sessions.new_token()
    random.seed(2026)
    assert sessions.new_token() != first


def test_token_is_256_bits_of_url_safe_text_and_never_a_uuid() -> None:
    token = sessions.new_token()
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)  # 32 bytes, base64url, no padding
    with pytest.raises(ValueError, match="badly formed"):
        uuid.UUID(token)


def test_only_the_sha256_of_a_token_is_kept() -> None:
    token = sessions.new_token()
    assert sessions.token_digest(token) == hashlib.sha256(token.encode()).digest()
    assert token.encode() not in sessions.token_digest(token)


@pytest.mark.parametrize(
    "token", ["", "x" * 42, "x" * 44, "a" * 42 + "=", "a" * 42 + "\x00", None, 7]
)
def test_malformed_tokens_are_recognised(token: object) -> None:
    assert not sessions.well_formed(token)


ROW = {
    "audit_id": 7,
    "user_id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "event_type": "login_success",
    "event_timestamp": datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
    "email": "ü@va.example.org",
    "ip_address": "10.0.0.1",
    "user_agent": None,
    "success": True,
    "failure_reason": None,
    "session_id": None,
    "details": '{"a": 1}',
}


def test_canonical_text_is_length_prefixed_with_dashes_for_null() -> None:
    assert audit.canonical_bytes(3, ROW) == (
        b"medz1-audit-v1"
        + b"1:3"
        + b"1:7"
        + b"36:12345678-1234-5678-1234-567812345678"
        + b"13:login_success"
        + b"16:1767323045678901"
        + "17:ü@va.example.org".encode()
        + b"8:10.0.0.1"
        + b"-"
        + b"4:true"
        + b"-"
        + b"-"
        + b'8:{"a": 1}'
    )


def test_canonical_time_does_not_depend_on_the_zone() -> None:
    local = datetime(2026, 1, 1, 22, 4, 5, 678901, tzinfo=timezone(timedelta(hours=-5)))
    assert audit.canonical_bytes(1, ROW) == audit.canonical_bytes(
        1, {**ROW, "event_timestamp": local}
    )


@given(st.text(), st.text())
def test_moving_text_between_fields_changes_the_hash(first: str, second: str) -> None:
    a = {**ROW, "email": first + second, "user_agent": None}
    b = {**ROW, "email": first, "user_agent": second}
    assert audit.row_hash(b"\x00" * 32, 1, a) != audit.row_hash(b"\x00" * 32, 1, b)


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        (" Greg.House@VA.gov ", "greg.house@va.gov"),
        ("a+tag@sub.va.example.org", "a+tag@sub.va.example.org"),
    ],
)
def test_emails_are_stripped_and_lower_cased(raw: str, normal: str) -> None:
    assert normalize_email(raw) == normal


@pytest.mark.parametrize(
    "raw", ["a b@va.gov", "a@va", "a@va.g", ".a@va.gov", "a..b@va.gov", "a@va..gov", None, 5]
)
def test_malformed_emails_are_refused(raw: object) -> None:
    with pytest.raises(InvalidInputError):
        normalize_email(raw)


def test_text_fields_refuse_control_and_format_characters() -> None:
    for bad in ("a\x00b", "a\u200bb", "a\u2028b", "a\x1bb"):
        with pytest.raises(InvalidInputError, match="control character"):
            clean_text(bad, field="name", max_length=10)
    assert clean_text("  Grüße  ", field="name", max_length=10) == "Grüße"


def test_ip_addresses_are_normalised_or_refused() -> None:
    assert clean_ip("2001:0db8:0000:0000:0000:0000:0000:0001") == "2001:db8::1"
    with pytest.raises(InvalidInputError):
        clean_ip("10.0.0.256")


def test_naive_clock_is_refused() -> None:
    with pytest.raises(UsageError, match="naive"):
        require_utc(datetime(2026, 1, 1))


def test_config_and_hasher_come_from_settings() -> None:
    settings = load_settings(lockout_threshold=3, session_idle_minutes=5, single_session=True)
    config = AuthConfig.from_settings(settings)
    assert (config.lockout_threshold, config.session_idle, config.single_session) == (
        3,
        timedelta(minutes=5),
        True,
    )
    assert hasher_from_settings(settings).params == HashParams()


def test_weak_argon2_settings_are_refused_and_weak_hashers_are_built_only_in_code() -> None:
    with pytest.raises(ConfigurationError, match="S1"):
        hasher_from_settings(load_settings(argon2_time_cost=1))
    weak = HashParams(time_cost=1, memory_cost_kib=8, parallelism=1)
    with pytest.raises(ConfigurationError, match="S1"):
        PasswordHasher(weak)
    assert PasswordHasher(weak, allow_weak=True).params.time_cost == 1


def test_demo_passwords_are_random_and_pass_the_rules() -> None:
    passwords = {demo.generate_password(("atlanta",)) for _ in range(50)}
    assert len(passwords) == 50
    assert all(check_new_password(p) == p and len(p) == 24 for p in passwords)
