"""Errors carry a hint and an exit code."""

from __future__ import annotations

import importlib
import pkgutil

import medz1
from medz1.errors import ConfigurationError, DatabaseMissingError, Medz1Error


def test_message_includes_the_hint() -> None:
    error = Medz1Error("the thing broke", hint="mend it")
    assert str(error) == "the thing broke (hint: mend it)"


def test_default_hint_is_used_when_none_is_given() -> None:
    assert "medz1 up" in str(DatabaseMissingError("no database"))


def _subclasses(cls: type[Medz1Error]) -> list[type[Medz1Error]]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def test_every_medz1_error_has_a_documented_exit_code() -> None:
    # Import every module so that every error class medz1 defines is seen.
    for module in pkgutil.walk_packages(medz1.__path__, "medz1."):
        if not module.name.endswith("__main__") and ".migrations" not in module.name:
            importlib.import_module(module.name)
    errors = _subclasses(Medz1Error)
    assert ConfigurationError in errors
    wrong = {e.__qualname__: e.exit_code for e in errors if e.exit_code not in range(2, 9)}
    assert wrong == {}  # 1 is left for unexpected errors; a subclass must choose 2-8
