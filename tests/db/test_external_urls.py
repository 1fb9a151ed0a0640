"""A ``MEDZ1_DATABASE_URL`` listing several hosts (the first one down) with
``target_session_attrs`` reaches the server for the administrator, the roles and
pg_dump; ``MEDZ1_REPORTING_URL`` sends the reporting role's connections elsewhere.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from medz1.cli.common import CliContext
from medz1.db.engine import make_engine
from medz1.db.target import Target
from medz1.embedded import EmbeddedServer
from medz1.ops.backup import create
from medz1.ops.backup._tools import hosts_and_ports
from medz1.ops.grants import apply_grants
from medz1.provision.connect import engine_for_role
from medz1.provision.credentials import RolePlan
from medz1.provision.declared import APP, REPORTING
from tests.plugins.database import MANAGED, clone_database, drop_database, unique_number

pytestmark = pytest.mark.db


def _libpq_url(url: URL, *, first_host_down: bool) -> str:
    """``url`` written the libpq way, with a host that answers nothing listed first."""
    host, port = hosts_and_ports(url)
    assert host is not None
    hosts = [f"{quote(host, safe='')}:{port or 5432}"]
    if first_host_down:
        dead = "/nonexistent-medz1-socket:5432" if host.startswith("/") else "127.0.0.1:1"
        hosts.insert(0, quote(dead, safe=":"))
    credentials = quote(str(url.username), safe="")
    if url.password:
        credentials += ":" + quote(str(url.password), safe="")
    return (
        f"postgresql://{credentials}@{','.join(hosts)}/{url.database}"
        "?target_session_attrs=read-write"
    )


def _current(engine_url_target: Target, role: str, role_plan: RolePlan) -> tuple[str, str]:
    engine = engine_for_role(engine_url_target, role, role_plan.passwords, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            database, user = conn.execute(text("SELECT current_database(), current_user")).one()
            return str(database), str(user)
    finally:
        engine.dispose()


def test_several_hosts_with_the_first_down_reach_the_server(
    db_target: Target,
    database_url_env: str,
    role_plan: RolePlan,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("MEDZ1_DATABASE_URL", _libpq_url(db_target.url, first_host_down=True))
    where = CliContext().target()
    engine = make_engine(where.url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT current_database()")).scalar() == db_target.database
    finally:
        engine.dispose()
    assert _current(where, "app", role_plan) == (db_target.database, APP)
    report = create(where, root=tmp_path, schemas=["admin"])  # pg_dump: every host, in order
    assert report.path.is_dir()


@pytest.fixture
def reporting_copy(
    pg_server: EmbeddedServer, db_target: Target, role_plan: RolePlan
) -> Iterator[str]:
    """A second medz1 database on the same server, standing in for a reporting replica."""
    name = f"medz1_reporting_{os.getpid()}_{unique_number()}"
    clone_database(pg_server, name)
    try:
        apply_grants(Target(url=db_target.url.set(database=name), embedded=not MANAGED), role_plan)
        yield name
    finally:
        drop_database(pg_server, name)


def test_reporting_connections_go_to_the_reporting_url_as_the_reporting_role(
    db_target: Target,
    database_url_env: str,
    reporting_copy: str,
    role_plan: RolePlan,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The administrator's credentials in the URL are never used for the reporting role.
    replica = db_target.url.set(database=reporting_copy)
    monkeypatch.setenv("MEDZ1_REPORTING_URL", _libpq_url(replica, first_host_down=False))
    where = CliContext().target()
    assert _current(where, "reporting", role_plan) == (reporting_copy, REPORTING)
    assert _current(where, "app", role_plan) == (db_target.database, APP)
