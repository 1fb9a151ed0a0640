"""Errors carry a hint and an exit code."""

from __future__ import annotations

from medz1.errors import ConfigurationError, DatabaseMissingError, Medz1Error


def test_message_includes_the_hint() -> None:
    error = Medz1Error("the thing broke", hint="mend it")
    assert str(error) == "the thing broke (hint: mend it)"


def test_default_hint_is_used_when_none_is_given() -> None:
    assert "medz1 up" in str(DatabaseMissingError("no database"))


def test_exit_codes_are_not_zero() -> None:
    assert ConfigurationError("x").exit_code != 0
    assert Medz1Error("x").exit_code != 0
