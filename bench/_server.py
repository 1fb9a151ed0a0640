"""A throw-away medz1 database for benchmarks: its own bundled server in a temporary folder.

Benchmarks never touch a developer's ``.medz1``; the folder is removed afterwards.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from medz1.db.target import Target
from medz1.embedded import SUPERUSER, EmbeddedServer
from medz1.models import SCHEMAS, metadata
from medz1.ops.up import up
from medz1.provision.credentials import RolePlan
from medz1.provision.declared import LOGIN_ROLES, declared_matrix, role_specs


@dataclass(frozen=True)
class BenchDatabase:
    """A migrated medz1 database with roles, on a private server."""

    server: EmbeddedServer
    target: Target
    role_plan: RolePlan
    folder: Path


@contextmanager
def bench_database(
    name: str = "medz1", *, station_scoping: bool = False
) -> Iterator[BenchDatabase]:
    """Start a private server, create and migrate ``name``, yield it, then remove it all.

    Station scoping is off unless asked for: the benchmarks read patients of every station
    (``bench_rls`` measures what scoping costs).
    """
    folder = Path(tempfile.mkdtemp(prefix="medz1-bench-"))
    server = EmbeddedServer(folder / "data")
    server.start()
    try:
        role_plan = RolePlan(
            specs=role_specs(),
            matrix=declared_matrix(metadata, SCHEMAS, station_scoping=station_scoping),
            passwords={role: SecretStr(secrets.token_urlsafe(24)) for role in LOGIN_ROLES},
        )
        target = Target(url=server.url(name, user=SUPERUSER), embedded=True)
        up(target, role_plan)
        yield BenchDatabase(server=server, target=target, role_plan=role_plan, folder=folder)
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
