"""Shared helpers of the admin feature tests (no tests here)."""

from __future__ import annotations

from sqlalchemy import Engine, text

#: Everything an admin write can touch: the three admin tables and the audit log.
_STATE = (
    "SELECT (SELECT coalesce(string_agg(f::text, '|' ORDER BY flag_key), '') "
    "        FROM admin.feature_flags f), "
    "       (SELECT coalesce(string_agg(s::text, '|' ORDER BY setting_key), '') "
    "        FROM admin.system_settings s), "
    "       (SELECT coalesce(string_agg(p::text, '|' ORDER BY user_id, preference_key), '') "
    "        FROM admin.user_preferences p), "
    "       (SELECT count(*) FROM auth.audit_logs)"
)


def admin_state(engine: Engine) -> tuple[str, str, str, int]:
    """Every row of the admin tables as text, and the number of audit rows."""
    with engine.connect() as conn:
        row = conn.execute(text(_STATE)).one()
    return str(row[0]), str(row[1]), str(row[2]), int(row[3])


def audit_details(engine: Engine, event_type: str) -> list[dict[str, object]]:
    """The ``details`` of every audit row of ``event_type``, oldest first."""
    with engine.connect() as conn:
        return [
            dict(row[0])
            for row in conn.execute(
                text(
                    "SELECT details FROM auth.audit_logs WHERE event_type = :t ORDER BY chain_seq"
                ),
                {"t": event_type},
            )
        ]
