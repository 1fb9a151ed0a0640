"""medz1: the serving database of the med-z1 clinical viewer."""

from __future__ import annotations

__all__ = ["__version__"]


def __getattr__(name: str) -> str:
    """``medz1.__version__``, read from the installed metadata on first use.

    ``importlib.metadata`` costs tens of milliseconds to import; every command line imports
    this package, and only ``--version``, backups and the web service need the version.
    """
    if name != "__version__":
        raise AttributeError(f"module 'medz1' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("medz1")
    except PackageNotFoundError:  # pragma: no cover - a source tree without install
        found = "0.0.0"
    globals()["__version__"] = found
    return found
