"""medz1: the serving database of the med-z1 clinical viewer."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("medz1")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = ["__version__"]
