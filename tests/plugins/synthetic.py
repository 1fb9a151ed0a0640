"""Databases of synthetic patients: one shared, read-only database for the read layer's
tests (``synthetic_app``, ``read_session``) and :func:`synthetic_database` for a test
module that needs its own (other sizes, rows added, a pool of one connection).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from medz1.clinical.load import load, prepare
from medz1.clinical.synthetic import generate, write_parquet
from medz1.db.target import Target
from medz1.embedded import SUPERUSER, EmbeddedServer
from medz1.ops.grants import apply_grants
from medz1.provision.connect import engine_for_role
from medz1.provision.credentials import RolePlan
from tests.plugins.database import clone_database, drop_database, unique_number


@contextmanager
def synthetic_database(
    server: EmbeddedServer,
    role_plan: RolePlan,
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
        apply_grants(target, scoped(role_plan, station_scoping=station_scoping))
        write_parquet(generate(patients, seed=seed), folder)
        loader = engine_for_role(target, "loader", role_plan.passwords)
        try:
            load(loader, prepare(folder))
        finally:
            loader.dispose()
        yield target
    finally:
        drop_database(server, name)


def scoped(role_plan: RolePlan, *, station_scoping: bool) -> RolePlan:
    """``role_plan`` with station scoping (``MEDZ1_STATION_SCOPING``) on or off."""
    return role_plan.with_station_scoping(on=station_scoping)


@contextmanager
def app_engine(target: Target, role_plan: RolePlan) -> Iterator[Engine]:
    """An engine connecting as the application role, disposed afterwards."""
    engine = engine_for_role(target, "app", role_plan.passwords)
    try:
        yield engine
    finally:
        engine.dispose()


#: Patients in the shared synthetic database (enough rows for the planner to prefer
#: indexes) and the seed that draws them.
SHARED_PATIENTS = 200
SHARED_SEED = 3


@pytest.fixture(scope="session")
def synthetic_app(
    pg_server: EmbeddedServer,
    template_target: Target,
    role_plan: RolePlan,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Engine]:
    """The application role (med_z1_user) on a database of ``SHARED_PATIENTS`` synthetic
    patients, shared by the whole test session: its users only read (the role cannot
    change clinical tables).
    """
    folder = tmp_path_factory.mktemp("synthetic")
    with (
        synthetic_database(
            pg_server, role_plan, folder, patients=SHARED_PATIENTS, seed=SHARED_SEED
        ) as target,
        app_engine(target, role_plan) as engine,
    ):
        yield engine


@pytest.fixture
def read_session(synthetic_app: Engine) -> Iterator[Session]:
    """A session of the application role on the shared synthetic database."""
    with Session(synthetic_app) as session:
        yield session
