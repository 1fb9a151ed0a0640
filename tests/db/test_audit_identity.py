"""Every audit row about a user names that user the same way: its id and its e-mail address.

The kinds of event come from :class:`medz1.auth.audit.AuditEvent` (the registry of what the
code writes), not from a list kept here: a new kind is about a user (and must appear in the
scenario below) unless it is declared as being about something else.
"""

from __future__ import annotations

import uuid

import bcrypt
from sqlalchemy import text

from medz1.auth import sessions, users
from medz1.auth.audit import AuditEvent
from medz1.auth.config import AuthConfig
from medz1.auth.errors import AuthenticationFailed
from medz1.db.engine import unit_of_work
from tests.plugins.auth import LEGACY_COST, PASSWORD, Store

#: Kinds about something other than a user (roles, the audit trail, a backup, settings).
NOT_ABOUT_A_USER = frozenset(
    {
        AuditEvent.GRANTS_CHANGED,
        AuditEvent.AUDIT_PURGED,
        AuditEvent.BACKUP_RESTORED,
        AuditEvent.FLAG_CHANGED,
        AuditEvent.SETTING_CHANGED,
    }
)
#: Kinds written by the service for a logged-in user (tests/api/test_audit_identity.py).
WRITTEN_BY_THE_SERVICE = frozenset(
    {AuditEvent.PATIENT_VIEW, AuditEvent.ACCESS_DENIED, AuditEvent.BREAK_GLASS}
)
NEW_PASSWORD = "violet tractor underneath quietly plum"


def _legacy_hash(store: Store, user_id: uuid.UUID) -> None:
    stored = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(LEGACY_COST)).decode()
    with store.admin.begin() as conn:
        conn.execute(
            text("UPDATE auth.users SET password_hash = :h WHERE user_id = :u"),
            {"h": stored, "u": user_id},
        )


def _token(store: Store, email: str, config: AuthConfig | None = None) -> str:
    attempt = store.attempt(email, config=config)
    assert attempt.result is not None
    return attempt.result.token


def _every_path_about_a_user(store: Store) -> dict[uuid.UUID, str]:
    """Write audit rows through every function of medz1.auth that writes one about a user."""
    strict = AuthConfig(lockout_threshold=2)
    one = store.create_user()
    two = store.create_user()
    three = store.create_user()
    dormant = store.create_user()
    emails = {u.user_id: u.email for u in (one, two, three, dormant)}
    with unit_of_work(store.app) as db:
        users.update_user(
            db, user_id=one.user_id, changes=users.NewUser(email=one.email), now=store.now
        )
        users.set_admin(db, user_id=one.user_id, admin=True, now=store.now)
    # Log in twice with one session per user: the second ends the first.
    _token(store, one.email)
    _token(store, one.email, AuthConfig(single_session=True))
    # Failures up to the lock, then the lock expires on the next attempt.
    for _ in range(2):
        assert not store.attempt(one.email, "not the password at all", config=strict).ok
    store.tick(minutes=20)
    token = _token(store, one.email, strict)
    with unit_of_work(store.app) as db:
        users.lock_user(db, user_id=one.user_id, now=store.now)
        users.unlock_user(db, user_id=one.user_id, now=store.now)
        sessions.logout(db, token=token, now=store.now)
    token = _token(store, one.email)
    with unit_of_work(store.app) as db:
        sessions.logout_everywhere(db, token=token, now=store.now)
    # Time-outs: found by a validation and by the purge.
    token = _token(store, two.email)
    store.tick(minutes=16)
    with unit_of_work(store.app) as db:
        sessions.validate(db, token=token, now=store.now, config=store.config)
    _token(store, two.email)
    store.tick(minutes=16)
    with unit_of_work(store.app) as db:
        sessions.purge_expired(db, now=store.now)
    # An administrator ends sessions, one and all.
    first = store.attempt(two.email).result
    assert first is not None
    with unit_of_work(store.app) as db:
        sessions.revoke_session(db, session_id=first.session_id, now=store.now)
    _token(store, two.email)
    with unit_of_work(store.app) as db:
        sessions.revoke_user_sessions(db, user_id=two.user_id, now=store.now)
    # Passwords: set by an administrator, changed by the user (wrongly, then rightly).
    _token(store, two.email)
    with unit_of_work(store.app) as db:
        users.set_password(
            db, user_id=two.user_id, new_password=PASSWORD, hasher=store.hasher, now=store.now
        )
    for current in ("wrong", PASSWORD):
        try:
            with unit_of_work(store.app) as db:
                users.change_password(
                    db,
                    user_id=two.user_id,
                    current_password=current,
                    new_password=NEW_PASSWORD,
                    hasher=store.hasher,
                    now=store.now,
                    config=store.config,
                )
        except AuthenticationFailed:
            assert current == "wrong"
    # Legacy bcrypt hashes: rehashed by a login and by the upgrade.
    _legacy_hash(store, three.user_id)
    _token(store, three.email)
    _legacy_hash(store, three.user_id)
    with unit_of_work(store.app) as db:
        users.upgrade_legacy_hashes(db, hasher=store.hasher, now=store.now)
    # Disable (ending a session), enable, dormancy, deletion (ending a session).
    _token(store, three.email)
    with unit_of_work(store.app) as db:
        users.disable_user(db, user_id=three.user_id, now=store.now, reason="left the VA")
        users.enable_user(db, user_id=three.user_id, now=store.now)
    store.tick(days=31)
    with unit_of_work(store.app) as db:
        assert dormant.user_id in {
            u.user_id for u in users.disable_dormant(db, now=store.now, config=store.config)
        }
        users.enable_user(db, user_id=one.user_id, now=store.now)
    _token(store, one.email)
    with unit_of_work(store.app) as db:
        users.delete_user(db, user_id=one.user_id, now=store.now)
    return emails


def test_every_audit_row_about_a_user_names_its_email(store: Store) -> None:
    emails = _every_path_about_a_user(store)
    with store.admin.connect() as conn:
        rows = conn.execute(
            text("SELECT event_type, user_id, email FROM auth.audit_logs ORDER BY chain_seq")
        ).all()
    about_users = set(AuditEvent) - NOT_ABOUT_A_USER - WRITTEN_BY_THE_SERVICE
    assert {row.event_type for row in rows} >= {str(kind) for kind in about_users}
    unnamed = sorted({row.event_type for row in rows if row.user_id and row.email is None})
    assert unnamed == []
    wrong = [row.event_type for row in rows if row.user_id and row.email != emails.get(row.user_id)]
    assert wrong == []
    assert all(row.user_id in emails for row in rows if row.user_id)
