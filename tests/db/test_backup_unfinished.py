"""A killed restore leaves no half-built database under the asked name (S35): it builds
under ``<name>__medz1_restoring_<id>``, closed to PUBLIC from the start, and the next run
(or ``backup drop-restore``) removes what a kill left behind, never anything else.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg import sql
from sqlalchemy import Connection, text
from sqlalchemy.pool import NullPool

from medz1.db.engine import make_engine
from medz1.db.target import Target
from medz1.errors import NotFoundError, UsageError
from medz1.ops.backup import create, restore, verify
from medz1.ops.backup.scratch import (
    COMMENT_PREFIX,
    drop_unfinished,
    list_unfinished,
)
from medz1.ops.database import database_exists
from medz1.provision.credentials import RolePlan
from tests.db.test_backup import fill

pytestmark = pytest.mark.db

_POLL = 0.02


@pytest.fixture
def admin(db_target: Target) -> Iterator[Connection]:
    """An autocommit administrator connection to the maintenance database."""
    engine = make_engine(
        db_target.maintenance_url, poolclass=NullPool, isolation_level="AUTOCOMMIT"
    )
    with engine.connect() as conn:
        yield conn
    engine.dispose()


@pytest.fixture
def full_backup(db_target: Target, database_url_env: str, tmp_path: Path) -> Path:
    """A backup of every schema of the filled test database (also the CLI's database)."""
    engine = make_engine(db_target.url, poolclass=NullPool)
    fill(engine)
    engine.dispose()
    return create(db_target, root=tmp_path / "backups").path


def building(conn: Connection, into: str) -> list[str]:
    """Databases being built for ``into``."""
    rows = conn.execute(
        text("SELECT datname FROM pg_database WHERE starts_with(datname, :p)"),
        {"p": into + "__medz1_restoring_"},
    )
    return [str(r) for r in rows.scalars()]


def kill_mid_restore(backup: Path, into: str, conn: Connection, delay: float) -> bool:
    """Start ``medz1 backup restore`` in a subprocess, SIGKILL it ``delay`` s after its
    database appears; False when it finished first.
    """
    process = subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-m", "medz1", "backup", "restore", str(backup), "--into", into],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ),
    )
    try:
        while not building(conn, into):
            if process.poll() is not None:
                return False
            time.sleep(_POLL)
        time.sleep(delay)
        if process.poll() is not None:
            return False
        process.send_signal(signal.SIGKILL)
        return True
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def public_may_connect(conn: Connection, name: str) -> bool:
    """True when PUBLIC may connect to database ``name``: it allows connections and PUBLIC
    holds CONNECT (NULL ACL means it does). A kill between ``CREATE DATABASE ...
    ALLOW_CONNECTIONS false`` and the REVOKE leaves a database nobody may connect to.
    """
    return bool(
        conn.execute(
            text(
                "SELECT datallowconn AND (datacl IS NULL OR EXISTS (SELECT 1 FROM "
                "aclexplode(datacl) a WHERE a.grantee = 0 AND a.privilege_type = 'CONNECT')) "
                "FROM pg_database WHERE datname = :n"
            ),
            {"n": name},
        ).scalar()
    )


def wait_until_abandoned(target: Target, name: str) -> None:
    """The server notices the killed client's closed socket and frees its lock."""
    for _ in range(500):
        if not any(u.in_progress for u in list_unfinished(target) if u.name == name):
            return
        time.sleep(_POLL)


def check_leftovers_after_kill(target: Target, conn: Connection, into: str) -> None:
    """Nothing under the asked name; what is left is marked, closed to PUBLIC, listed."""
    assert not database_exists(Target(url=target.url.set(database=into), embedded=True))
    for name in building(conn, into):
        assert not public_may_connect(conn, name)
        wait_until_abandoned(target, name)
        [entry] = [u for u in list_unfinished(target) if u.name == name]
        assert (entry.into, entry.in_progress) == (into, False)


def test_killed_restore_leaves_nothing_under_the_name_and_the_next_run_cleans_up(
    db_target: Target,
    full_backup: Path,
    empty_target: Target,
    role_plan: RolePlan,
    admin: Connection,
) -> None:
    into = empty_target.database
    assert kill_mid_restore(full_backup, into, admin, delay=0.0)
    check_leftovers_after_kill(db_target, admin, into)
    assert building(admin, into) != []
    restore(db_target, role_plan, full_backup, into=into)
    assert building(admin, into) == []
    assert list_unfinished(db_target) == []
    assert database_exists(empty_target)


@pytest.mark.slow
def test_five_kills_at_different_moments_leave_no_leftover_after_the_next_run(
    db_target: Target,
    full_backup: Path,
    empty_target: Target,
    role_plan: RolePlan,
    admin: Connection,
) -> None:
    into = empty_target.database
    kills = 0
    for delay in (0.0, 0.2, 0.5, 1.0, 2.0):
        if kill_mid_restore(full_backup, into, admin, delay):
            kills += 1
            check_leftovers_after_kill(db_target, admin, into)
        else:  # it finished first: start again from nothing
            drop_database(admin, into)
    assert kills >= 3
    restore(db_target, role_plan, full_backup, into=into)
    assert list_unfinished(db_target) == []


def drop_database(conn: Connection, name: str) -> None:
    """Drop ``name`` if it exists."""
    statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    conn.exec_driver_sql(statement.as_string())


def make_leftover(conn: Connection, name: str, comment: str | None) -> None:
    """A database shaped like one a killed restore left (or like one it did not)."""
    conn.exec_driver_sql(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)).as_string())
    if comment is not None:
        conn.exec_driver_sql(
            sql.SQL("COMMENT ON DATABASE {} IS {}")
            .format(sql.Identifier(name), sql.Literal(comment))
            .as_string()
        )


_LEFTOVER = "medz1_x__medz1_restoring_0a1b2c3d"
_MARK = COMMENT_PREFIX + '{"purpose": "restore", "into": "medz1_x", "started": "t"}'


def test_drop_restore_drops_a_leftover(db_target: Target, admin: Connection) -> None:
    make_leftover(admin, _LEFTOVER, _MARK)
    try:
        assert [u.name for u in list_unfinished(db_target)] == [_LEFTOVER]
        drop_unfinished(db_target, _LEFTOVER)
        assert list_unfinished(db_target) == []
    finally:
        drop_database(admin, _LEFTOVER)


@pytest.mark.parametrize(
    ("name", "comment"),
    [
        ("medz1_x__medz1_restoring_0a1b2c3d", None),  # the name without the marker
        ("medz1_x__medz1_restoring_0a1b2c3d", "a comment of someone else"),
        ("medz1_x_restoring", _MARK),  # the marker without the name
    ],
)
def test_drop_restore_never_drops_a_database_that_is_not_a_leftover(
    db_target: Target, admin: Connection, name: str, comment: str | None
) -> None:
    make_leftover(admin, name, comment)
    try:
        with pytest.raises(NotFoundError, match="not a database a medz1 restore left"):
            drop_unfinished(db_target, name)
        assert list_unfinished(db_target) == []
        assert building(admin, "medz1_x") in ([name], [])
        assert database_exists(Target(url=db_target.url.set(database=name), embedded=True))
    finally:
        drop_database(admin, name)


def test_drop_restore_refuses_a_database_a_live_restore_is_building(
    db_target: Target, admin: Connection
) -> None:
    make_leftover(admin, _LEFTOVER, _MARK)
    lock = text("SELECT pg_advisory_lock(1836724594, hashtext(:n))")
    try:
        admin.execute(lock, {"n": _LEFTOVER})  # as the building process holds it
        assert [u.in_progress for u in list_unfinished(db_target)] == [True]
        with pytest.raises(UsageError, match="being built by a running restore"):
            drop_unfinished(db_target, _LEFTOVER)
    finally:
        admin.execute(text("SELECT pg_advisory_unlock_all()"))
        drop_database(admin, _LEFTOVER)


def test_verify_works_while_a_database_named_like_its_scratch_exists(
    db_target: Target, full_backup: Path, role_plan: RolePlan, admin: Connection
) -> None:
    make_leftover(admin, "medz1_verify", None)
    try:
        assert verify(db_target, role_plan, full_backup).differences == []
    finally:
        drop_database(admin, "medz1_verify")
