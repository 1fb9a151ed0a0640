"""Sessions that outlive their role's timeouts: the trace of a raised ``SET``.

``statement_timeout`` and ``idle_in_transaction_session_timeout`` are role defaults
(``ALTER ROLE ... IN DATABASE ... SET``); PostgreSQL lets every session change them with
``SET`` (they are user-settable and nothing can forbid it). What a session set cannot be
read from outside, but its effect can: a statement running, or a transaction idling,
longer than the role's declared limit. ``medz1 check`` reports those (S26), naming the
role, the backend pid and the duration, never the query text.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Connection

from medz1.provision.declared import RoleSpec

_ACTIVITY = """
SELECT usename, pid, state,
       (extract(epoch FROM clock_timestamp() - query_start) * 1000)::bigint,
       (extract(epoch FROM clock_timestamp() - state_change) * 1000)::bigint
FROM pg_stat_activity
WHERE usename = ANY(:roles) AND datname = current_database() AND pid <> pg_backend_pid()
  AND state IN ('active', 'idle in transaction', 'idle in transaction (aborted)')
ORDER BY 1, 2
"""


@dataclass(frozen=True)
class Overrun:
    """One session past its role's declared limit."""

    role: str
    pid: int
    what: str  # "statement running" or "transaction idle"
    elapsed_ms: int
    limit_ms: int

    def describe(self) -> str:
        """One line, without the query text."""
        return (
            f"role {self.role}: {self.what} for {self.elapsed_ms} ms in backend {self.pid}, "
            f"longer than its declared limit of {self.limit_ms} ms (a session raised it with SET)"
        )


def overruns(conn: Connection, specs: tuple[RoleSpec, ...]) -> list[Overrun]:
    """Sessions of medz1's login roles running or idling in a transaction past their
    declared ``statement_timeout`` / ``idle_in_transaction_session_timeout``.
    """
    limits = {s.name: s.limits for s in specs if s.login and s.limits}
    rows = conn.execute(text(_ACTIVITY), {"roles": list(limits)}).all()
    found = []
    for role, pid, state, running_ms, idle_ms in rows:
        limit = limits[str(role)]
        if state == "active":
            if limit.statement_timeout_ms and running_ms > limit.statement_timeout_ms:
                found.append(
                    Overrun(role, pid, "statement running", running_ms, limit.statement_timeout_ms)
                )
        elif (
            limit.idle_in_transaction_timeout_ms and idle_ms > limit.idle_in_transaction_timeout_ms
        ):
            found.append(
                Overrun(
                    role, pid, "transaction idle", idle_ms, limit.idle_in_transaction_timeout_ms
                )
            )
    return found
