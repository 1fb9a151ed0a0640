"""Engines and the unit of work.

Engines are built from a URL by the edges (``cli/``, ``api/``) and passed down. The
:func:`unit_of_work` context manager is the one place that commits: query functions only
flush, so a state change and its audit row commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL
from sqlalchemy.orm import Session, sessionmaker

APPLICATION_NAME = "medz1"


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
    return create_engine(
        url.set(drivername="postgresql+psycopg"),
        pool_pre_ping=True,
        hide_parameters=True,
        connect_args=connect_args,
        **kwargs,
    )


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
