"""Rules for new passwords: S3 (length, Unicode) and S4 (blocklist, context words)."""

from __future__ import annotations

import random

import pytest

from medz1.auth.password_rules import (
    MAX_LENGTH,
    MIN_LENGTH,
    PasswordRuleError,
    PasswordRuleReason,
    blocklist,
    check_new_password,
    is_blocklisted,
)
from medz1.errors import DataError

# Words for random passphrases; written for this test, not taken from any password list.
_WORD_TEXT = """
acorn anchor apple arch atlas badge bamboo banjo barley basin beacon birch biscuit blanket
bonnet border bottle bramble breeze bridge brook bucket cabin cactus camel canal candle canoe
canyon carpet cedar cellar chalk cherry chimney cider clover cobalt comet copper coral cotton
crane crater cricket crystal dagger daisy delta desert dolphin dragonfly drum eagle echo ember
falcon feather fern fiddle flannel forest fossil fountain gadget garnet geyser ginger glacier
goblet granite gravel harbor harp hazel helmet hermit hollow honey horizon iceberg igloo indigo
island ivory jacket jasmine jigsaw juniper kayak kernel kettle kiwi ladder lagoon lantern lemon
lichen lilac linen lobster locket magnet mango maple marble meadow meteor mitten mosaic moss
nectar nickel noodle nutmeg oasis oatmeal olive onion orbit orchid otter oyster paddle pagoda
parcel pebble pepper pillow pinecone planet plum pocket pollen poppy prism puffin pumpkin quartz
quill quiver rabbit radish raven reef ribbon ripple rocket saddle saffron salmon sandal sapling
satchel scarf shovel silver sketch sleigh sparrow spindle spruce squash starling summit
teapot thimble thistle thunder timber tinsel toffee tulip tunnel turnip umbrella valley velvet
violet walnut walrus whistle willow window wizard yarrow yogurt zephyr zigzag
"""
WORDS = _WORD_TEXT.split()


def phrase(length: int) -> str:
    """A phrase of exactly ``length`` characters that is no common password."""
    return ("kettle orbit maple thistle " * 10)[:length]


def fullwidth(text: str) -> str:
    """``text`` in full-width forms, as an East Asian input method types it."""
    return "".join("\u3000" if char == " " else chr(ord(char) + 0xFEE0) for char in text)


def refusal(password: str, **kwargs: list[str]) -> PasswordRuleReason:
    with pytest.raises(PasswordRuleError) as refused:
        check_new_password(password, **kwargs)
    return refused.value.reason


# S3


def test_fourteen_characters_are_refused_with_a_reason() -> None:
    with pytest.raises(PasswordRuleError, match="shorter than 15") as refused:
        check_new_password(phrase(14))
    assert refused.value.reason is PasswordRuleReason.TOO_SHORT
    assert "words" in refused.value.hint


@pytest.mark.parametrize("length", [MIN_LENGTH, 64, MAX_LENGTH])
def test_lengths_from_15_to_128_are_accepted(length: int) -> None:
    assert check_new_password(phrase(length)) == phrase(length)


@pytest.mark.parametrize("length", [MAX_LENGTH + 1, 1025, 1_000_000])
def test_longer_than_128_characters_is_refused(length: int) -> None:
    assert refusal("x" * length) is PasswordRuleReason.TOO_LONG


def test_password_is_nfkc_normalised() -> None:
    assert check_new_password(fullwidth("kettle orbit maple")) == "kettle orbit maple"


@pytest.mark.parametrize(
    ("password", "accepted"),
    [
        ("e\u0301" * 15, True),  # 30 code points typed, 15 after composition
        ("e\u0301" * 14, False),
        ("\ufb01sh " + phrase(10), True),  # the fi ligature counts as two characters
    ],
)
def test_length_is_counted_after_normalisation(password: str, accepted: bool) -> None:
    if accepted:
        assert len(check_new_password(password)) >= MIN_LENGTH
    else:
        assert refusal(password) is PasswordRuleReason.TOO_SHORT


@pytest.mark.parametrize("char", ["\x00", "\t", "\n", "\r", "\x1b", "\x7f", "\x85"])
def test_control_characters_are_refused_with_an_explanation(char: str) -> None:
    with pytest.raises(PasswordRuleError, match=r"control character.*NUL") as refused:
        check_new_password(phrase(10) + char + phrase(10))
    assert refused.value.reason is PasswordRuleReason.CONTROL_CHARACTER


@pytest.mark.parametrize("char", ["\ud800", "\U000e0fff"])
def test_surrogates_and_unassigned_code_points_are_refused(char: str) -> None:
    assert refusal(phrase(20) + char) is PasswordRuleReason.INVALID_CHARACTER


@pytest.mark.parametrize(
    "password",
    [
        "Grüße aus München, Zürich",
        "пароль из четырёх слов",
        "🔑 ключ 鍵 clé kľúč",
        "  spaced   out  words  ",
    ],
)
def test_any_printable_unicode_and_spaces_are_accepted(password: str) -> None:
    assert check_new_password(password) == password


# S4


def test_blocklist_has_at_least_3000_entries_and_is_loaded_once() -> None:
    assert len(blocklist()) >= 3000
    assert blocklist() is blocklist()


def test_every_blocklist_entry_is_refused() -> None:
    entries = blocklist()
    accepted = []
    for entry in entries:
        try:
            check_new_password(entry)
        except PasswordRuleError:
            continue
        accepted.append(entry)
    assert accepted == []
    assert all(is_blocklisted(entry) for entry in entries)


@pytest.mark.parametrize("password", ["123456", "password", "qwerty", "Dragon", "iloveyou"])
def test_short_common_passwords_are_blocklisted_on_their_own(password: str) -> None:
    assert is_blocklisted(password)


@pytest.mark.parametrize(
    "password",
    [
        "passwordpassword",
        "PasswordPassword",
        "123456789012345",
        "qwertyuiopasdfgh",
        "1qaz2wsx3edc4rfv",
        "iloveyouiloveyou",
        "Correct Horse Battery Staple",
        "correct_horse_battery_staple",
        "Password Password",
        "qwerty-uiop-asdf-ghjk",
        fullwidth("PASSWORDPASSWORD"),
        "password12345678",
    ],
)
def test_long_common_passwords_are_refused_as_blocklisted(password: str) -> None:
    assert refusal(password) is PasswordRuleReason.BLOCKLISTED


def test_no_random_passphrase_is_refused() -> None:
    rng = random.Random(20240615)
    refused = []
    for _ in range(1000):
        words = rng.sample(WORDS, rng.choice([4, 5]))
        candidate = rng.choice([" ", "-"]).join(words)
        assert len(candidate) >= MIN_LENGTH
        try:
            check_new_password(candidate, context_words=["Palo Alto", "clinician@example.org"])
        except PasswordRuleError:
            refused.append(candidate)
    assert refused == []


@pytest.mark.parametrize(
    ("password", "context"),
    [
        ("my medz1 account is great", []),
        ("MED-Z1 rules the clinic ward", []),
        ("med z1 is the viewer i use", []),
        ("sunrise over palo alto hills", ["Palo Alto"]),
        ("sunrise over paloalto hills", ["Palo Alto"]),
        ("jane.doe likes walnut cake", ["jane.doe@example.org"]),
        ("JANE.DOE@EXAMPLE.ORG is me", ["jane.doe@example.org"]),
    ],
)
def test_context_words_are_refused(password: str, context: list[str]) -> None:
    assert refusal(password, context_words=context) is PasswordRuleReason.CONTEXT_WORD


def test_context_words_shorter_than_4_characters_are_ignored() -> None:
    password = "the va clinic in abc is nice"
    assert check_new_password(password, context_words=["VA", "abc", "a.b"]) == password


@pytest.mark.parametrize(
    ("password", "context"),
    [
        ("shortpw", []),
        ("x" * 200, []),
        ("pass\x00word is long enough", []),
        ("passwordpassword", []),
        ("secret palo alto garden gate", ["Palo Alto"]),
    ],
)
def test_error_never_contains_the_password(password: str, context: list[str]) -> None:
    with pytest.raises(PasswordRuleError) as refused:
        check_new_password(password, context_words=context)
    assert isinstance(refused.value, DataError)
    assert refused.value.exit_code == 8
    text = str(refused.value)
    assert password not in text
    assert "palo" not in text.lower()
