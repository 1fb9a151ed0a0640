"""S26: the per-role limits configured through medz1's settings and applied by
``medz1 grants apply`` fire for a connection that sets nothing itself.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from psycopg import errors
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from medz1.db.target import Target
from medz1.provision.connect import engine_for_role
from medz1.provision.credentials import RolePlan
from tests.cli.conftest import Invoke

pytestmark = pytest.mark.db


@pytest.fixture
def app_with_low_limits(
    cli: Invoke,
    monkeypatch: pytest.MonkeyPatch,
    database_url_env: str,
    db_target: Target,
    role_plan: RolePlan,
) -> Iterator[Engine]:
    """The application role after `grants apply` with 300 ms limits set in the environment."""
    monkeypatch.setenv("MEDZ1_APP_STATEMENT_TIMEOUT_MS", "300")
    monkeypatch.setenv("MEDZ1_APP_IDLE_IN_TRANSACTION_TIMEOUT_MS", "300")
    result = cli("grants", "apply")
    assert result.code == 0, result.err
    engine = engine_for_role(db_target, "app", role_plan.passwords)
    try:
        yield engine
    finally:
        engine.dispose()


def test_configured_statement_timeout_fires_without_any_set(app_with_low_limits: Engine) -> None:
    with app_with_low_limits.connect() as conn:
        assert conn.execute(text("SHOW statement_timeout")).scalar() == "300ms"
        with pytest.raises(DBAPIError) as caught:
            conn.execute(text("SELECT pg_sleep(2)"))
    assert isinstance(caught.value.orig, errors.QueryCanceled)


def test_configured_idle_in_transaction_timeout_ends_the_session(
    app_with_low_limits: Engine,
) -> None:
    with app_with_low_limits.connect() as conn:
        conn.execute(text("SELECT 1"))  # opens a transaction, then idles in it
        time.sleep(1)
        with pytest.raises(DBAPIError) as caught:
            conn.execute(text("SELECT 1"))
    assert isinstance(caught.value.orig, errors.IdleInTransactionSessionTimeout)
