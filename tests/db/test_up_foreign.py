"""``up`` never takes over a database that holds another application's objects.

Each test builds such a database itself: a table owned by another role (readable by
PUBLIC) and a function in ``public``. Without ``--adopt-database`` ``up`` refuses and
changes nothing; with it, only medz1's own objects are changed.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from psycopg import sql
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from medz1.cli.main import run
from medz1.db.engine import make_engine
from medz1.db.target import Target
from medz1.embedded import SUPERUSER, EmbeddedServer
from medz1.errors import ConfigurationError
from medz1.ops.up import up
from medz1.provision.credentials import RolePlan
from medz1.provision.declared import ADOPTED_MARKER, LOGIN_ROLES, MARKER, OWNER
from tests.plugins.database import drop_database, unique_number

pytestmark = pytest.mark.db

_STATE = """
SELECT json_build_object(
  'datdba', (SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()),
  'datacl', (SELECT datacl::text FROM pg_database WHERE datname = current_database()),
  'public_connect', has_database_privilege('public', current_database(), 'CONNECT'),
  'table_owner', (SELECT pg_get_userbyid(relowner) FROM pg_class
                  WHERE oid = 'public.orders'::regclass),
  'table_acl', (SELECT relacl::text FROM pg_class WHERE oid = 'public.orders'::regclass),
  'sequence_owner', (SELECT pg_get_userbyid(relowner) FROM pg_class
                     WHERE oid = 'public.order_numbers'::regclass),
  'function_owner', (SELECT pg_get_userbyid(proowner) FROM pg_proc
                     WHERE oid = 'public.order_total(integer)'::regprocedure),
  'function_acl', (SELECT proacl::text FROM pg_proc
                   WHERE oid = 'public.order_total(integer)'::regprocedure),
  'schema_owner', (SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'shop'),
  'comment', (SELECT shobj_description(oid, 'pg_database') FROM pg_database
              WHERE datname = current_database())
)::text
"""


def _state(conn: Connection) -> str:
    return str(conn.execute(text(_STATE)).scalar_one())


@pytest.fixture
def foreign_target(pg_server: EmbeddedServer) -> Iterator[tuple[Target, str]]:
    """A database of another application: its role owns a schema, a table, a sequence and
    a function in ``public``; PUBLIC may read the table and connect.
    """
    number = unique_number()
    name = f"other_app_db_{number}"
    role = f"other_app_{number}"
    admin = make_engine(
        pg_server.url("postgres", user=SUPERUSER), poolclass=NullPool, isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.exec_driver_sql(sql.SQL("CREATE ROLE {}").format(sql.Identifier(role)).as_string())
        # A CREATEROLE administrator (the managed-server run) must be able to SET ROLE to
        # hand the objects below to it (PostgreSQL 16+); a superuser needs nothing.
        conn.exec_driver_sql(
            sql.SQL("GRANT {} TO CURRENT_USER").format(sql.Identifier(role)).as_string()
        )
        conn.exec_driver_sql(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)).as_string())
    target = Target(url=pg_server.url(name, user=SUPERUSER), embedded=True)
    engine = make_engine(target.url, poolclass=NullPool)
    with engine.begin() as conn:
        for statement in (
            "CREATE TABLE public.orders (id integer PRIMARY KEY, total numeric)",
            "CREATE SEQUENCE public.order_numbers",
            "CREATE FUNCTION public.order_total(integer) RETURNS numeric LANGUAGE sql "
            "AS 'SELECT total FROM public.orders WHERE id = $1'",
            "CREATE SCHEMA shop",
            "GRANT SELECT ON public.orders TO PUBLIC",
        ):
            conn.exec_driver_sql(statement)
        # The other application may create in public (a new owner needs it unless the
        # administrator is a superuser).
        conn.exec_driver_sql(
            sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(sql.Identifier(role)).as_string()
        )
        for statement in (
            "ALTER TABLE public.orders OWNER TO {}",
            "ALTER SEQUENCE public.order_numbers OWNER TO {}",
            "ALTER FUNCTION public.order_total(integer) OWNER TO {}",
            "ALTER SCHEMA shop OWNER TO {}",
        ):
            conn.exec_driver_sql(sql.SQL(statement).format(sql.Identifier(role)).as_string())
    engine.dispose()
    try:
        yield target, role
    finally:
        drop_database(pg_server, name)
        with admin.connect() as conn:
            conn.exec_driver_sql(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)).as_string())
        admin.dispose()


def test_up_refuses_a_database_holding_other_objects_and_changes_nothing(
    foreign_target: tuple[Target, str], role_plan: RolePlan
) -> None:
    target, role = foreign_target
    engine = make_engine(target.url, poolclass=NullPool)
    with engine.connect() as conn:
        before = _state(conn)
    with pytest.raises(ConfigurationError) as refused:
        up(target, role_plan)
    assert refused.value.exit_code == 2
    assert "public.orders" in str(refused.value)
    assert "--adopt-database" in (refused.value.hint or "")
    with engine.connect() as conn:
        after = _state(conn)
        migrated = conn.execute(text("SELECT to_regclass('public.alembic_version')")).scalar()
    engine.dispose()
    assert after == before
    assert role in after
    assert OWNER not in after
    assert migrated is None


def test_adopting_changes_only_medz1_objects(
    foreign_target: tuple[Target, str], role_plan: RolePlan
) -> None:
    target, role = foreign_target
    engine = make_engine(target.url, poolclass=NullPool)
    with engine.connect() as conn:
        before = conn.execute(text(f"SELECT ({_STATE})::json")).scalar_one()
    report = up(target, role_plan, adopt=True)
    assert report.adopted
    with engine.connect() as conn:
        after = conn.execute(text(f"SELECT ({_STATE})::json")).scalar_one()
        medz1_owners = set(
            conn.execute(
                text(
                    "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE (n.nspname IN ('auth', 'ai', 'admin') AND c.relkind = 'r') "
                    "OR c.oid = 'public.patient_demographics'::regclass"
                )
            ).scalars()
        )
        version_owner = conn.execute(
            text(
                "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'public.alembic_version'::regclass"
            )
        ).scalar()
    engine.dispose()
    for key in ("datdba", "table_owner", "table_acl", "sequence_owner", "function_owner"):
        assert after[key] == before[key], key
    assert after["function_acl"] == before["function_acl"]
    assert after["schema_owner"] == role
    assert after["comment"] == ADOPTED_MARKER
    assert before["public_connect"] is True
    assert after["public_connect"] is False
    assert medz1_owners == {OWNER}
    assert version_owner == OWNER
    assert not up(target, role_plan).changed  # adopted once: later runs need no flag


def test_up_marks_the_database_it_creates(empty_target: Target, role_plan: RolePlan) -> None:
    up(empty_target, role_plan)
    engine = make_engine(empty_target.url, poolclass=NullPool)
    with engine.connect() as conn:
        comment = conn.execute(
            text(
                "SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                "WHERE datname = current_database()"
            )
        ).scalar()
    engine.dispose()
    assert comment == MARKER


def test_the_command_refuses_then_adopts_and_says_so(
    foreign_target: tuple[Target, str],
    role_plan: RolePlan,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    target, _ = foreign_target

    def cli(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exited:
            run(list(args))
        captured = capsys.readouterr()
        return int(exited.value.code or 0), captured.out, captured.err

    url = target.url.set(drivername="postgresql").render_as_string(hide_password=False)
    monkeypatch.setenv("MEDZ1_DATABASE_URL", url)
    for alias, name in zip(("APP", "REPORTING", "LOADER", "AUDITOR"), LOGIN_ROLES, strict=True):
        monkeypatch.setenv(f"MEDZ1_{alias}_PASSWORD", role_plan.passwords[name].get_secret_value())
    code, _, err = cli("up")
    assert code == 2
    assert "--adopt-database" in err
    code, out, err = cli("up", "--adopt-database")
    assert code == 0, err
    assert "adopted" in out
    assert "PUBLIC's CONNECT on the database is revoked" in out
