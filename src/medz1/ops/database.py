"""Create the medz1 database and the extensions it needs."""

from __future__ import annotations

import logging

from psycopg import sql
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from medz1.db.engine import make_engine
from medz1.db.errors import INSUFFICIENT_PRIVILEGE, sqlstate, translated
from medz1.db.target import Target
from medz1.errors import ConfigurationError, PrivilegeError
from medz1.ops.migrate import script_directory
from medz1.provision.declared import ADOPTED_MARKER, MARKER

log = logging.getLogger(__name__)

#: Extensions the schema depends on (pgvector for ``ai.patient_embeddings``, pg_trgm for the
#: patient name search index of migration 0006).
REQUIRED_EXTENSIONS: tuple[str, ...] = ("vector", "pg_trgm")
#: SQLSTATEs of an extension the server cannot provide: its control file is missing
#: (58P01 undefined_file) or it is refused as not available (0A000).
UNDEFINED_FILE = "58P01"
FEATURE_NOT_SUPPORTED = "0A000"


def database_exists(target: Target) -> bool:
    """True when the medz1 database exists on the target server."""
    engine = make_engine(target.maintenance_url, poolclass=NullPool)
    try:
        with translated(what="the PostgreSQL server"), engine.connect() as conn:
            found = conn.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": target.database}
            ).scalar()
    finally:
        engine.dispose()
    return found is not None


def ensure_database(target: Target) -> bool:
    """Create the medz1 database when missing; return True when it was created."""
    if database_exists(target):
        return False
    engine = make_engine(target.maintenance_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with translated(what="the PostgreSQL server"), engine.connect() as conn:
            statement = sql.SQL("CREATE DATABASE {} ENCODING 'UTF8' TEMPLATE template0").format(
                sql.Identifier(target.database)
            )
            conn.exec_driver_sql(statement.as_string())
    finally:
        engine.dispose()
    log.info("created database %s", target.database)
    return True


def missing_extensions(engine: Engine) -> list[str]:
    """Required extensions not installed in the database."""
    with translated(), engine.connect() as conn:
        present = set(conn.execute(text("SELECT extname FROM pg_extension")).scalars())
    return [name for name in REQUIRED_EXTENSIONS if name not in present]


def ensure_extensions(engine: Engine) -> list[str]:
    """Install missing required extensions; return the names installed.

    ``pg_trgm`` is a trusted extension (any role with CREATE on the database may install
    it); ``vector`` is not, so on a server where medz1's administrator is no superuser (a
    managed service) someone allowed to must create it first.

    Raises:
        PrivilegeError: the administrator may not create an extension (SQLSTATE 42501,
            or 0A000 when the server does not offer it); names the extension, the database
            and the statement to ask for. Nothing was installed.
    """
    missing = missing_extensions(engine)
    if not missing:
        return []
    with translated(), engine.begin() as conn:
        for name in missing:
            create_extension(conn, name)
    return missing


def create_extension(conn: Connection, name: str, schema: str = "public") -> None:
    """``CREATE EXTENSION IF NOT EXISTS name SCHEMA schema`` in a savepoint of ``conn``.

    Args:
        conn: an administrator connection to the medz1 database, in a transaction.
        name: the extension's name (``pgcrypto``, ``vector``).
        schema: the schema that receives its objects.

    Raises:
        PrivilegeError: the administrator may not create it (SQLSTATE 42501: it needs a
            superuser or, on a managed service, its administrator role) or the server does
            not offer it (58P01, 0A000); names the extension, the database and the
            statement to ask for. The savepoint is rolled back.
    """
    statement = sql.SQL("CREATE EXTENSION IF NOT EXISTS {} SCHEMA {}").format(
        sql.Identifier(name), sql.Identifier(schema)
    )
    try:
        with conn.begin_nested():
            conn.exec_driver_sql(statement.as_string())
    except DBAPIError as exc:
        code = sqlstate(exc)
        if code not in (INSUFFICIENT_PRIVILEGE, UNDEFINED_FILE, FEATURE_NOT_SUPPORTED):
            raise
        database = str(conn.execute(text("SELECT current_database()")).scalar_one())
        reason = (
            "this administrator may not create it (it needs a superuser, or the managed "
            "service's administrator role)"
            if code == INSUFFICIENT_PRIVILEGE
            else "the server does not have it installed"
        )
        raise PrivilegeError(
            f"cannot create extension {name} in database {database}: {reason}; "
            "nothing was installed",
            hint=f"ask the server's administrator to run `{statement.as_string()}` in "
            f"database {database} (managed services: enable {name} for the database), "
            "then run the command again",
        ) from exc


#: Extensions that are no one's in particular (built in) or that medz1 installs.
_OWN_EXTENSIONS = ("plpgsql", *REQUIRED_EXTENSIONS)
_OWN_SCHEMAS = ("public", "auth", "ai", "admin")

_FOREIGN_OBJECTS = text(
    """
    WITH members AS (SELECT objid FROM pg_depend WHERE deptype = 'e'),
         system AS (SELECT oid FROM pg_namespace
                    WHERE nspname IN ('pg_catalog', 'information_schema', 'pg_toast')
                       OR nspname LIKE 'pg_temp%' OR nspname LIKE 'pg_toast_temp%')
    SELECT 'schema ' || quote_ident(nspname) FROM pg_namespace
    WHERE oid NOT IN (SELECT oid FROM system) AND NOT (nspname = ANY(:own_schemas))
      AND oid NOT IN (SELECT objid FROM members)
    UNION ALL
    SELECT 'extension ' || extname FROM pg_extension WHERE NOT (extname = ANY(:own_extensions))
    UNION ALL
    SELECT CASE c.relkind WHEN 'S' THEN 'sequence ' WHEN 'v' THEN 'view '
                          WHEN 'm' THEN 'materialized view ' WHEN 'f' THEN 'foreign table '
                          ELSE 'table ' END || c.oid::regclass::text
    FROM pg_class c
    WHERE c.relnamespace NOT IN (SELECT oid FROM system)
      AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
      AND c.oid NOT IN (SELECT objid FROM members)
    UNION ALL
    SELECT 'function ' || p.oid::regprocedure::text FROM pg_proc p
    WHERE p.pronamespace NOT IN (SELECT oid FROM system)
      AND p.oid NOT IN (SELECT objid FROM members)
    UNION ALL
    SELECT 'type ' || t.oid::regtype::text FROM pg_type t
    WHERE t.typnamespace NOT IN (SELECT oid FROM system)
      AND t.oid NOT IN (SELECT objid FROM members)
      AND t.typrelid = 0 AND t.typcategory <> 'A'
    ORDER BY 1
    """
)


def database_marker(conn: Connection) -> str | None:
    """The comment on the current database (medz1's marker, or None)."""
    found = conn.execute(
        text(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database "
            "WHERE datname = current_database()"
        )
    ).scalar()
    return None if found is None else str(found)


def set_database_marker(conn: Connection, database: str, marker: str) -> None:
    """``COMMENT ON DATABASE`` with ``marker`` (needs the database's owner or a superuser).

    Args:
        conn: an administrator connection on the server.
        database: the database's name (quoted as an identifier).
        marker: the comment, :data:`MARKER` or :data:`ADOPTED_MARKER`.

    Raises:
        sqlalchemy.exc.DBAPIError: the server refused (42501 when ``conn``'s role owns
            neither the database nor a role that does).
    """
    statement = sql.SQL("COMMENT ON DATABASE {} IS {}").format(
        sql.Identifier(database), sql.Literal(marker)
    )
    conn.exec_driver_sql(statement.as_string())


def _mark(conn: Connection, database: str, marker: str) -> None:
    """Set the marker, or say whose database it is when this administrator may not."""
    try:
        with conn.begin_nested():
            set_database_marker(conn, database, marker)
    except DBAPIError as exc:
        if sqlstate(exc) != INSUFFICIENT_PRIVILEGE:
            raise
        owner = conn.execute(
            text("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = :d"),
            {"d": database},
        ).scalar_one()
        admin = conn.execute(text("SELECT current_user")).scalar_one()
        raise PrivilegeError(
            f"database {database} is owned by {owner}, and administrator {admin} is neither "
            "its owner nor a member of its owner: medz1 cannot mark it as its own or hand it "
            "to medz1_owner; nothing was changed",
            hint=f"ask the server's administrator to run `ALTER DATABASE {database} OWNER TO "
            f"{admin}` (or to create the database with OWNER {admin}), then run `medz1 up` again",
        ) from exc


def foreign_objects(conn: Connection) -> list[str]:
    """Objects medz1 did not create: schemas other than its four, extensions other than
    those it installs, and every table, view, sequence, function and type (used on a
    database medz1 does not recognise as its own, where medz1 has created nothing).
    """
    conn.execute(text("SET LOCAL search_path = pg_catalog"))  # names come out qualified
    rows = conn.execute(
        _FOREIGN_OBJECTS,
        {"own_schemas": list(_OWN_SCHEMAS), "own_extensions": list(_OWN_EXTENSIONS)},
    ).scalars()
    return [str(row) for row in rows]


def medz1_revision(conn: Connection) -> bool:
    """True when the database's ``alembic_version`` holds a revision of medz1's history."""
    if not conn.execute(text("SELECT to_regclass('public.alembic_version') IS NOT NULL")).scalar():
        return False
    known = {rev.revision for rev in script_directory().walk_revisions()}
    found = conn.execute(text("SELECT version_num FROM public.alembic_version")).scalars()
    versions = set(found)
    return bool(versions) and versions <= known


def claim_database(target: Target, *, created: bool, adopt: bool) -> str:
    """Make sure the database is medz1's before ``up`` changes anything; mark it.

    A database medz1 created, one whose ``alembic_version`` holds a medz1 revision, or one
    that holds nothing (an empty database made for medz1) gets the medz1 marker. A
    database that holds other applications' objects is refused unless ``adopt`` is set;
    then it gets the adopted marker and medz1 manages only its own schemas there.

    Args:
        target: the server and database, reached as the administrator.
        created: ``up`` has just created the database.
        adopt: accept a database that holds other applications' objects.

    Returns:
        The database's marker after the call (:data:`MARKER` or :data:`ADOPTED_MARKER`).

    Raises:
        ConfigurationError: the database holds objects medz1 did not create and
            ``adopt`` is False (nothing was changed).
        PrivilegeError: the administrator may not comment on the database (it neither
            owns it nor is a member of its owner); nothing was changed.
    """
    engine = make_engine(target.url, poolclass=NullPool)
    try:
        with translated(), engine.begin() as conn:
            marker = database_marker(conn)
            if marker in (MARKER, ADOPTED_MARKER):
                return marker
            wanted = MARKER
            if not created and not medz1_revision(conn):
                foreign = foreign_objects(conn)
                if foreign:
                    if not adopt:
                        shown = ", ".join(foreign[:5]) + (" ..." if len(foreign) > 5 else "")
                        raise ConfigurationError(
                            f"database {target.database} is not medz1's: it holds "
                            f"{len(foreign)} object(s) medz1 did not create ({shown}); "
                            "nothing was changed",
                            hint="point MEDZ1_DATABASE_URL at a database of its own, or pass "
                            "--adopt-database to let medz1 take ownership of its own schemas "
                            "only (the other objects are left as they are)",
                        )
                    wanted = ADOPTED_MARKER
            _mark(conn, target.database, wanted)
            log.info("database %s marked as medz1's", target.database)
            return wanted
    finally:
        engine.dispose()


def existing_roles(target: Target, names: tuple[str, ...]) -> frozenset[str]:
    """Which of ``names`` exist as roles on the target server (roles are server-wide).

    Args:
        target: the server, reached through its maintenance database as the administrator.
        names: role names to look for.

    Returns:
        The names of ``names`` that exist.

    Raises:
        ConnectionFailedError: the server cannot be reached.
    """
    engine = make_engine(target.maintenance_url, poolclass=NullPool)
    try:
        with translated(what="the PostgreSQL server"), engine.connect() as conn:
            found = conn.execute(
                text("SELECT rolname FROM pg_roles WHERE rolname = ANY(:names)"),
                {"names": list(names)},
            ).scalars()
            return frozenset(str(name) for name in found)
    finally:
        engine.dispose()
