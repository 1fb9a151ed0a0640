"""Declared, typed values: the schema that system settings and user preferences follow.

A :class:`Field` declares one key: its type, range or length, default and description.
:meth:`Field.check` validates a JSON value (from Python or the web), :meth:`Field.parse`
reads the text typed on the command line; both refuse anything that is not exactly a value
of the declared type (``true`` is not a number, ``3.5`` is not a whole number, NaN and
infinity are not numbers) with :class:`InvalidValueError` (exit 8), before anything is
written. Messages name the key and what was expected, never the refused value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal
from zoneinfo import available_timezones

from medz1.auth.inputs import has_control_characters
from medz1.errors import DataError, NotFoundError

ValueType = Literal["int", "float", "bool", "text", "time_zone"]

_INT = re.compile(r"-?[0-9]{1,18}", re.ASCII)
_FLOAT = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]{1,3})?", re.ASCII)
_TRUE = frozenset({"true", "on", "yes", "1"})
_FALSE = frozenset({"false", "off", "no", "0"})


class InvalidValueError(DataError):
    """A value does not match its declared type or range; nothing was written."""


class UnknownKeyError(NotFoundError):
    """No setting or preference is declared under that key."""


@cache
def time_zones() -> frozenset[str]:
    """Every IANA time zone name the system's tz database knows."""
    return frozenset(available_timezones())


@dataclass(frozen=True)
class Field:
    """One declared key: type, bounds, default and what it controls.

    ``minimum`` and ``maximum`` bound numbers (inclusive); ``max_length`` bounds text in
    characters. ``kind`` names what the key is in messages ("setting", "preference").
    """

    key: str
    type: ValueType
    description: str
    default: Any
    kind: str = "setting"
    minimum: int | float | None = None
    maximum: int | float | None = None
    max_length: int | None = None
    unit: str | None = None

    def __post_init__(self) -> None:
        """The default must itself be valid (a declaration error otherwise)."""
        self.check(self.default)

    def expected(self) -> str:
        """What a valid value is, in words: ``a whole number from 10 to 200``."""
        bounds = ""
        if self.minimum is not None and self.maximum is not None:
            bounds = f" from {self.minimum} to {self.maximum}"
        unit = f" ({self.unit})" if self.unit else ""
        if self.type == "int":
            return f"a whole number{bounds}{unit}"
        if self.type == "float":
            return f"a number{bounds}{unit}"
        if self.type == "bool":
            return "true or false"
        if self.type == "time_zone":
            return "an IANA time zone name such as America/New_York"
        return f"text of at most {self.max_length} characters without control characters"

    def _refuse(self) -> InvalidValueError:
        where = "medz1 settings list" if self.kind == "setting" else "docs/admin.md"
        return InvalidValueError(
            f"the {self.kind} {self.key} must be {self.expected()}",
            hint=f"give a value of that type and range; `{where}` lists every {self.kind}"
            if where.startswith("medz1")
            else f"give a value of that type and range; {where} lists every {self.kind}",
        )

    def check(self, value: object) -> Any:
        """``value`` as the declared type, or raise.

        Returns:
            The value to store: an ``int``, ``float`` (an int is accepted for a float),
            ``bool`` or ``str``.

        Raises:
            InvalidValueError: wrong JSON type (a boolean is never a number), out of range,
                not finite, too long, holding control characters, or an unknown time zone.
        """
        if self.type == "bool":
            if isinstance(value, bool):
                return value
            raise self._refuse()
        if self.type in ("int", "float"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise self._refuse()
            if self.type == "int" and not isinstance(value, int):
                raise self._refuse()
            if isinstance(value, float) and not math.isfinite(value):
                raise self._refuse()
            if (self.minimum is not None and value < self.minimum) or (
                self.maximum is not None and value > self.maximum
            ):
                raise self._refuse()
            return float(value) if self.type == "float" else value
        if not isinstance(value, str) or has_control_characters(value):
            raise self._refuse()
        if self.type == "time_zone":
            if value not in time_zones():
                raise self._refuse()
            return value
        if self.max_length is not None and len(value) > self.max_length:
            raise self._refuse()
        return value

    def parse(self, typed: str) -> Any:
        """The value of the text typed on the command line, checked.

        Whole numbers are plain digits with an optional leading minus; numbers also take a
        decimal point and an exponent; booleans are true/false, on/off, yes/no or 1/0 in
        any case. Text is taken as typed.

        Raises:
            InvalidValueError: the text is not a value of the declared type and range.
        """
        if self.type == "int":
            if not _INT.fullmatch(typed):
                raise self._refuse()
            return self.check(int(typed))
        if self.type == "float":
            if not _FLOAT.fullmatch(typed):
                raise self._refuse()
            return self.check(float(typed))
        if self.type == "bool":
            folded = typed.strip().lower()
            if folded in _TRUE:
                return True
            if folded in _FALSE:
                return False
            raise self._refuse()
        return self.check(typed)

    def as_json(self) -> dict[str, Any]:
        """The declaration as JSON-ready values."""
        return {
            "key": self.key,
            "type": self.type,
            "description": self.description,
            "default": self.default,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "max_length": self.max_length,
            "unit": self.unit,
        }


def declared(fields: Mapping[str, Field], key: object, *, kind: str, command: str) -> Field:
    """The field declared under ``key``.

    Args:
        fields: the declared fields by key.
        key: the key as given.
        kind: what a field is, for the message (``setting``, ``preference``).
        command: the command that lists the keys, for the hint.

    Returns:
        The field.

    Raises:
        UnknownKeyError: no such key (the key is not echoed: it was typed by the user and
            may be anything).
    """
    found = fields.get(key) if isinstance(key, str) else None
    if found is None:
        raise UnknownKeyError(f"there is no {kind} of that name", hint=f"see `{command}`")
    return found
