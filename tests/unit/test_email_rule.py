"""E-mail addresses are validated as given, then lower-cased: no character becomes another."""

from __future__ import annotations

import sys
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from medz1.auth.errors import InvalidInputError
from medz1.auth.inputs import normalize_email


def _folds_to_ascii(char: str) -> bool:
    """True when case mapping or compatibility normalisation turns ``char`` into ASCII."""
    mapped = (char.lower(), char.upper(), char.casefold(), unicodedata.normalize("NFKC", char))
    return any(any(c.isascii() and c.isalnum() for c in m) for m in mapped)


@pytest.mark.parametrize(
    "address",
    [
        "\u212aelvin@va.example.org",  # KELVIN SIGN, lower() -> k
        "d\u0131ana@va.example.org",  # LATIN SMALL LETTER DOTLESS I, upper() -> I
        "\u0130stanbul@va.example.org",  # LATIN CAPITAL LETTER I WITH DOT ABOVE
        "\uff47reg@va.example.org",  # FULLWIDTH LATIN SMALL LETTER G, NFKC -> g
        "\ufb01nn@va.example.org",  # LATIN SMALL LIGATURE FI, casefold() -> fi
        "\u212bngstrom@va.example.org",  # ANGSTROM SIGN
        "gre\u00dfe@va.example.org",  # SHARP S, casefold() -> ss
        "greg@va.\u212aample.org",  # in the domain too
    ],
)
def test_addresses_that_case_mapping_would_turn_into_ascii_are_refused(address: str) -> None:
    with pytest.raises(InvalidInputError, match="outside ASCII"):
        normalize_email(address)


def test_every_character_that_folds_to_ascii_is_refused() -> None:
    # Every non-ASCII character that lower(), upper(), casefold() or NFKC maps onto ASCII.
    folding = [chr(c) for c in range(0x80, sys.maxunicode + 1) if _folds_to_ascii(chr(c))]
    assert len(folding) > 1000  # fullwidth, mathematical, circled letters, ligatures, ...
    accepted = []
    for char in folding:
        try:
            normalize_email(f"a{char}b@va.example.org")
        except InvalidInputError:
            continue
        accepted.append(char)
    assert accepted == []


@given(st.text(max_size=40))
def test_an_accepted_address_is_the_ascii_input_lower_cased(raw: str) -> None:
    try:
        normal = normalize_email(raw)
    except InvalidInputError:
        return
    assert raw.strip().isascii()
    assert normal == raw.strip().lower()


def test_upper_case_ascii_is_still_accepted_and_lower_cased() -> None:
    assert normalize_email(" Kelvin@VA.Example.ORG ") == "kelvin@va.example.org"
