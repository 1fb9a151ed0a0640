"""Engines and the unit of work.

Engines are built from a URL by the edges (``cli/``, ``api/``) and passed down. The
:func:`unit_of_work` context manager is the one place that commits: query functions only
flush, so a state change and its audit row commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, ExceptionContext
from sqlalchemy.orm import Session, sessionmaker

APPLICATION_NAME = "medz1"
#: Attribute set on a driver error raised through an engine: the role it connected as.
ROLE_ATTRIBUTE = "medz1_role"


def make_engine(url: URL, *, application_name: str = APPLICATION_NAME, **kwargs: Any) -> Engine:
    """Create an engine for ``url`` (psycopg 3 driver); nothing connects until first use.

    Every engine of medz1 is built here, always with ``hide_parameters=True``: SQLAlchemy
    would otherwise copy the bound values of a failed statement (a password hash, a
    patient's SSN) into the text of its exceptions and log records.

    Raises:
        ValueError: ``hide_parameters`` was passed (it cannot be turned off).
    """
    if "hide_parameters" in kwargs:
        raise ValueError("medz1 engines always hide bound parameters")
    connect_args: dict[str, Any] = {"connect_timeout": 10, "application_name": application_name}
    connect_args.update(kwargs.pop("connect_args", {}))
    kwargs.setdefault("pool_pre_ping", True)
    engine = create_engine(
        url.set(drivername="postgresql+psycopg"),
        hide_parameters=True,
        connect_args=connect_args,
        **kwargs,
    )
    role = url.username

    @event.listens_for(engine, "handle_error")
    def _remember_role(context: ExceptionContext) -> None:
        # The role names the setting to raise when a statement times out (db/errors.py).
        with suppress(AttributeError, TypeError):  # an exception type without a __dict__
            setattr(context.original_exception, ROLE_ATTRIBUTE, role)

    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory whose sessions never expire objects on commit."""
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


@contextmanager
def unit_of_work(engine: Engine) -> Iterator[Session]:
    """Yield a session; commit when the block ends normally, roll back on any exception."""
    session = session_factory(engine)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
