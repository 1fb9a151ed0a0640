"""Helpers shared by test modules (not fixtures): databases of synthetic patients."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from sqlalchemy import Engine

from medz1.clinical.load import load, prepare
from medz1.clinical.synthetic import generate, write_parquet
from medz1.db.target import Target
from medz1.embedded import SUPERUSER, EmbeddedServer
from medz1.ops.grants import apply_grants
from medz1.provision.connect import engine_for_role
from medz1.provision.credentials import Policy
from tests.conftest import clone_database, drop_database, unique_number


@contextmanager
def synthetic_database(
    server: EmbeddedServer,
    policy: Policy,
    folder: Path,
    *,
    patients: int,
    seed: int = 7,
    station_scoping: bool = False,
) -> Iterator[Target]:
    """A migrated database of its own holding ``patients`` synthetic patients, loaded from
    Parquet by medz1_loader; dropped afterwards.

    Station scoping (row-level security) is off unless asked for: these databases serve
    tests of what the reads return, which read patients of every station; the tests of
    the scoping itself turn it on.
    """
    name = f"medz1_clinical_{os.getpid()}_{unique_number()}"
    clone_database(server, name)
    target = Target(url=server.url(name, user=SUPERUSER), embedded=True)
    try:
        apply_grants(target, scoped(policy, station_scoping))
        write_parquet(generate(patients, seed=seed), folder)
        loader = engine_for_role(target, "loader", policy.passwords)
        try:
            load(loader, prepare(folder))
        finally:
            loader.dispose()
        yield target
    finally:
        drop_database(server, name)


def scoped(policy: Policy, station_scoping: bool) -> Policy:
    """``policy`` with station scoping (``MEDZ1_STATION_SCOPING``) on or off."""
    return replace(policy, matrix=replace(policy.matrix, station_scoping=station_scoping))


@contextmanager
def app_engine(target: Target, policy: Policy) -> Iterator[Engine]:
    """An engine connecting as the application role, disposed afterwards."""
    engine = engine_for_role(target, "app", policy.passwords)
    try:
        yield engine
    finally:
        engine.dispose()
