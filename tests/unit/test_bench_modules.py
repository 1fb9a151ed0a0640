"""Every benchmark in ``bench/`` still imports: benchmarks are not part of the test run, so
a helper renamed in one of them (``bench_chart``) would otherwise break another
(``bench_rls``) unnoticed until someone measures.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
MODULES = sorted(p.stem for p in BENCH.glob("*.py") if p.stem != "__init__")


def test_there_are_benchmarks() -> None:
    assert "bench_chart" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_the_benchmark_imports(name: str) -> None:
    module = importlib.import_module(f"bench.{name}")
    if name.startswith("bench_"):
        assert callable(getattr(module, "main", None)), f"bench/{name}.py has no main()"
