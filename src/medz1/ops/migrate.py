"""Run medz1's Alembic migrations from code: upgrade, downgrade, current, history.

Each call runs in one transaction on the connection it is given, so a failing
revision leaves no half-applied schema behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from psycopg import sql
from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

import medz1.migrations
from medz1.db.errors import describe
from medz1.errors import MigrationError
from medz1.provision.declared import OWNER

SCRIPT_LOCATION = Path(medz1.migrations.__file__).parent


@dataclass(frozen=True)
class Revision:
    """One migration of the history."""

    revision: str
    down_revision: str | None
    message: str
    is_head: bool


@dataclass(frozen=True)
class MigrationResult:
    """Revisions before and after a migration command."""

    before: str | None
    after: str | None

    @property
    def changed(self) -> bool:
        """True when the command moved the database to another revision."""
        return self.before != self.after


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic ``Config`` for medz1's migrations, bound to ``connection`` if given."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def script_directory() -> ScriptDirectory:
    """The migration scripts shipped inside the package."""
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The newest revision medz1 knows.

    Raises:
        MigrationError: the installed medz1 ships no migrations.
    """
    head = script_directory().get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise MigrationError("medz1 ships no migrations", hint="reinstall medz1")
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at, or None when it was never migrated."""
    return MigrationContext.configure(connection).get_current_revision()


def history() -> list[Revision]:
    """All revisions, oldest first."""
    head = head_revision()
    revisions = list(script_directory().walk_revisions())
    revisions.reverse()
    return [
        Revision(
            revision=rev.revision,
            down_revision=rev.down_revision if isinstance(rev.down_revision, str) else None,
            message=(rev.doc or "").strip(),
            is_head=rev.revision == head,
        )
        for rev in revisions
    ]


def _check_known(revision: str) -> None:
    if revision in ("head", "base") or revision.startswith(("+", "-")):
        return
    known = [rev.revision for rev in history()]
    if revision not in known:
        raise MigrationError(
            f"unknown revision {revision!r}",
            hint="see `medz1 migrate history`; known: " + ", ".join(known),
        )


def _become_owner(connection: Connection) -> None:
    """Run as ``medz1_owner`` once it owns the database (``grants apply`` hands it over),
    so every object migrations create is its own.
    """
    can_become = connection.execute(
        text(
            "SELECT EXISTS (SELECT 1 FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba "
            "WHERE d.datname = current_database() AND r.rolname = :owner "
            "AND pg_has_role(current_user, r.oid, 'MEMBER'))"
        ),
        {"owner": OWNER},
    ).scalar()
    if can_become:
        connection.exec_driver_sql(
            sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(OWNER)).as_string()
        )


def _run(engine: Engine, action: str, revision: str) -> MigrationResult:
    _check_known(revision)
    with engine.begin() as connection:
        _become_owner(connection)
        before = current_revision(connection)
        config = alembic_config(connection)
        try:
            if action == "upgrade":
                command.upgrade(config, revision)
            else:
                command.downgrade(config, revision)
        except CommandError as exc:
            raise MigrationError(str(exc), hint="see `medz1 migrate history`") from exc
        except DBAPIError as exc:
            # The whole run is one transaction: nothing of it stays.
            raise MigrationError(
                f"the {action} to {revision} failed and was rolled back: {describe(exc)}",
                hint="remove or rename what is in the way (see `medz1 check`), then run again",
            ) from exc
        after = current_revision(connection)
    return MigrationResult(before=before, after=after)


def upgrade(engine: Engine, revision: str = "head") -> MigrationResult:
    """Upgrade the database to ``revision`` (default: the newest), in one transaction.

    Args:
        engine: an administrator engine on the medz1 database; migrations run as
            ``medz1_owner`` once it owns the database.
        revision: a revision id, ``head``, or a relative step such as ``+1``.

    Returns:
        The revisions before and after.

    Raises:
        MigrationError: the revision is unknown, or a migration failed (nothing of the run
            stays).
    """
    return _run(engine, "upgrade", revision)


def downgrade(engine: Engine, revision: str) -> MigrationResult:
    """Downgrade the database to ``revision`` (``base`` removes everything), in one transaction.

    Args:
        engine: an administrator engine on the medz1 database.
        revision: a revision id, ``base``, or a relative step such as ``-1``.

    Returns:
        The revisions before and after.

    Raises:
        MigrationError: the revision is unknown, or a migration failed (nothing of the run
            stays).
    """
    return _run(engine, "downgrade", revision)
