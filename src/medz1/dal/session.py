"""Sessions for reads: one per request, ended by COMMIT so prepared statements survive.

psycopg prepares a statement on a connection once it has run a few times there
(``prepare_threshold``) and then skips parsing and planning it; for the one-statement
chart, planning is most of the server's work. But psycopg forgets every prepared
statement of a connection when a transaction on it ends with ROLLBACK, which is how a
plain ``Session`` ends (``close()`` rolls back). A read session therefore runs its
transaction READ ONLY and ends it with COMMIT: nothing can be written through it, and the
pooled connection goes back to the pool with its prepared statements.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.orm import Session


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    """Yield a session whose transaction is read-only and ends with COMMIT.

    An exception inside the block rolls back instead (and so costs the connection its
    prepared statements); the session is closed either way.

    Raises:
        sqlalchemy.exc.DBAPIError: Any driver error of the reads, unchanged; a write
            raises SQLSTATE 25006 (read-only transaction).
    """
    with Session(engine, autoflush=False, expire_on_commit=False) as session:
        session.connection(execution_options={"postgresql_readonly": True})
        yield session
        session.commit()
