"""A write a read-only server refuses (a standby, SQLSTATE 25006) is a typed error (exit 3)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from medz1.db.errors import translate
from medz1.errors import DatabaseServerError

pytestmark = pytest.mark.db


def test_write_refused_as_read_only_is_a_server_error_naming_the_standby(engine: Engine) -> None:
    # A hot standby answers every write with 25006; a read-only transaction does the same
    # on the shared test server without the seconds a standby takes to make.
    with engine.connect() as conn:
        conn.execute(text("SET TRANSACTION READ ONLY"))
        with pytest.raises(DBAPIError) as refused:
            conn.execute(text("INSERT INTO admin.feature_flags (flag_key) VALUES ('x')"))
    mapped = translate(refused.value)
    assert isinstance(mapped, DatabaseServerError)
    assert mapped.exit_code == 3
    assert "read-only standby" in mapped.message
    assert "write on the primary" in str(mapped)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM admin.feature_flags")).scalar_one() == 0
