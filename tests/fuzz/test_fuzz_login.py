"""S32: random login inputs (e-mail, password, client address, user agent) give a login
attempt or a medz1 error, never another exception; the attempt is audited.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from medz1.errors import Medz1Error
from tests.fuzz.budget import DOCUMENTED_CODES, FAST, FULL, Drawn, fuzz_settings
from tests.plugins.auth import PASSWORD, Store

EMAIL = "fuzz.target@va.example.org"

AUTH_FAULT = (
    "auth/login.py authenticate: a password that is not a str (None, bytes) raises "
    "TypeError from the hasher instead of a generic AuthenticationFailed/InvalidInputError "
    "(an API edge would answer 500)"
)

texts = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", "\x00", "a\x00b", "x" * 5000, EMAIL, EMAIL.upper() + "\x00"]),
)
not_text = st.one_of(st.none(), st.binary(max_size=20), st.integers(), st.just(PASSWORD.encode()))


@pytest.fixture(autouse=True)
def _user(store: Store) -> None:
    """The one user every fuzzed login tries."""
    store.create_user(EMAIL)


def _fuzz_login(store: Store, examples: int, values: st.SearchStrategy[Any], first: Any) -> None:
    drawn = Drawn()

    @fuzz_settings(examples)
    @given(email=values, password=values, ip=values, agent=values)
    def check(email: Any, password: Any, ip: Any, agent: Any) -> None:
        drawn()
        before = store.events("login_failed")
        code = 0
        try:
            attempt = store.attempt(email, password, ip=ip, user_agent=agent)
        except Medz1Error as exc:
            code = exc.exit_code
        else:
            if not attempt.ok:  # every refused attempt leaves its audit row
                assert store.events("login_failed") == before + 1
        assert code in DOCUMENTED_CODES

    check = example(email=EMAIL, password=first, ip=None, agent=None)(check)
    check()
    assert drawn.count >= examples


def test_fuzzed_login_inputs_give_an_attempt_or_a_medz1_error(store: Store) -> None:
    _fuzz_login(store, FAST["login"], texts, "\x00")


@pytest.mark.slow
def test_fuzzed_login_inputs_give_an_attempt_or_a_medz1_error_full(store: Store) -> None:
    _fuzz_login(store, FULL["login"], texts, "\x00")


def test_fuzzed_login_inputs_of_any_type_give_an_attempt_or_a_medz1_error(
    store: Store,
) -> None:
    _fuzz_login(store, FAST["login"], st.one_of(texts, not_text), None)
