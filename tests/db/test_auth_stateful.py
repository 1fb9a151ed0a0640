"""A model of users, logins, sessions and a clock, run against the real store (S16).

Hypothesis drives random sequences of actions; after every step two invariants hold: no
session is usable while its user is locked or disabled (and the store agrees with the model
about every token), and the audit rows written, counted per event type, are exactly the
events the model expects.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import text

from medz1.auth import audit, sessions, users
from medz1.auth.errors import AuthenticationFailed, SessionInvalid
from medz1.auth.sessions import SessionState
from medz1.db.engine import unit_of_work
from medz1.errors import NotFoundError
from tests.plugins.auth import PASSWORD, Store

pytestmark = pytest.mark.db

OTHER = "another long passphrase here"
STEPS = [1, 30, 59, 61, 300, 899, 901, 3600, 4 * 3600, 8 * 3600]


@dataclass
class MUser:
    user_id: uuid.UUID
    password: str = PASSWORD
    active: bool = True
    lock_flag: bool = False
    locked_until: datetime | None = None
    failures: int = 0
    deleted: bool = False

    def locked_at(self, now: datetime) -> bool:
        return self.lock_flag and (self.locked_until is None or self.locked_until > now)


@dataclass
class MSession:
    email: str
    session_id: uuid.UUID
    last: datetime
    expires: datetime
    absolute: datetime
    active: bool = True
    deleted: bool = False


@dataclass
class Model:
    users: dict[str, MUser] = field(default_factory=dict)
    sessions: dict[str, MSession] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)


class AuthMachine(RuleBasedStateMachine):
    """Users, logins, sessions and a clock; ``store`` is set by the test."""

    store: Store
    examples = 0
    emails = Bundle("emails")
    tokens = Bundle("tokens")

    def __init__(self) -> None:
        super().__init__()
        self.model = Model()
        self.config = self.store.config
        AuthMachine.examples += 1
        self.prefix = f"m{AuthMachine.examples}"
        # Each example starts a day after the last one ended, and clears what that left.
        self.store.tick(days=1)
        with unit_of_work(self.store.app) as session:
            sessions.purge_expired(session, now=self.store.now)
        self.baseline = int(
            self.store.scalar("SELECT coalesce(max(chain_seq), 0) FROM auth.audit_logs")
        )

    @property
    def now(self) -> datetime:
        return self.store.now

    # -- helpers -----------------------------------------------------------------------

    def _end(self, predicate: Any, event: str) -> None:
        for s in self.model.sessions.values():
            if s.active and not s.deleted and predicate(s):
                s.active = False
                self.model.counts[event] += 1

    def _peek(self, token: str) -> SessionState:
        s = self.model.sessions[token]
        user = self.model.users[s.email]
        if s.deleted:
            return SessionState.UNKNOWN
        if not s.active:
            return SessionState.ENDED
        if self.now >= s.absolute:
            return SessionState.ABSOLUTE_TIMEOUT
        if self.now >= s.expires:
            return SessionState.IDLE_TIMEOUT
        if not user.active:
            return SessionState.USER_DISABLED
        if user.locked_at(self.now):
            return SessionState.USER_LOCKED
        return SessionState.VALID

    def _new_session(self, email: str, session_id: uuid.UUID, token: str) -> None:
        absolute = self.now + self.config.session_absolute
        self.model.sessions[token] = MSession(
            email,
            session_id,
            self.now,
            min(self.now + self.config.session_idle, absolute),
            absolute,
        )

    # -- rules -------------------------------------------------------------------------

    @initialize(target=emails)
    def first_user(self) -> str:
        return self._create()

    @rule(target=emails)
    def create_user(self) -> str:
        return self._create()

    def _create(self) -> str:
        email = f"{self.prefix}-{len(self.model.users)}@va.example.org"
        record = self.store.create_user(email)
        self.model.users[email] = MUser(record.user_id)
        self.model.counts["user_created"] += 1
        return email

    @rule(target=tokens, email=emails)
    def login_right(self, email: str) -> Any:
        # Logins with the right password are what the other rules need; make them common.
        return self.login(email, right=True)

    @rule(target=tokens, email=emails, right=st.booleans())
    def login(self, email: str, right: bool) -> Any:
        user = self.model.users[email]
        password = user.password if right else "a wrong password, surely"
        attempt = self.store.attempt(email, password)
        counts = self.model.counts
        if user.deleted:
            counts["login_failed"] += 1
            assert not attempt.ok
            return multiple()
        if not self._password_check(user, right):
            assert not attempt.ok
            return multiple()
        result = attempt.unwrap()
        counts["login_success"] += 1
        self._new_session(email, result.session_id, result.token)
        return result.token

    def _password_check(self, user: MUser, right: bool) -> bool:
        """What a checked password does to the model (logins and password changes alike)."""
        counts = self.model.counts
        if user.lock_flag and not user.locked_at(self.now):
            user.lock_flag, user.locked_until, user.failures = False, None, 0
            counts["account_unlocked"] += 1
        locked = user.locked_at(self.now)
        if not user.active or locked or not right:
            counts["login_failed"] += 1
            if user.active:
                user.failures += 1
                if not locked and user.failures >= self.config.lockout_threshold:
                    user.lock_flag = True
                    user.locked_until = self.now + self.config.lockout_duration
                    counts["account_locked"] += 1
            return False
        user.failures = 0
        return True

    @rule(token=tokens)
    def validate(self, token: str) -> None:
        expected = self._peek(token)
        with unit_of_work(self.store.app) as session:
            state = sessions.validate(session, token=token, now=self.now, config=self.config).state
        assert state is expected
        s = self.model.sessions[token]
        if expected in (SessionState.IDLE_TIMEOUT, SessionState.ABSOLUTE_TIMEOUT):
            s.active = False
            self.model.counts["session_timeout"] += 1
        elif expected is SessionState.VALID and self.now - s.last >= self.config.activity_interval:
            s.last, s.expires = self.now, min(self.now + self.config.session_idle, s.absolute)

    @rule(token=tokens)
    def logout(self, token: str) -> None:
        s = self.model.sessions[token]
        try:
            with unit_of_work(self.store.app) as session:
                sessions.logout(session, token=token, now=self.now)
        except SessionInvalid:
            assert s.deleted
            return
        assert not s.deleted
        self._end(lambda other: other is s, "logout")

    @rule(token=tokens)
    def logout_everywhere(self, token: str) -> None:
        expected = self._peek(token)
        try:
            with unit_of_work(self.store.app) as session:
                sessions.logout_everywhere(session, token=token, now=self.now)
        except SessionInvalid:
            assert expected is not SessionState.VALID
            return
        assert expected is SessionState.VALID
        email = self.model.sessions[token].email
        self._end(lambda other: other.email == email, "logout")

    @rule(token=tokens)
    def revoke(self, token: str) -> None:
        s = self.model.sessions[token]
        try:
            with unit_of_work(self.store.app) as session:
                sessions.revoke_session(session, session_id=s.session_id, now=self.now)
        except NotFoundError:
            assert s.deleted
            return
        self._end(lambda other: other is s, "session_revoked")

    def _admin(self, email: str, action: Any) -> bool:
        user = self.model.users[email]
        try:
            with unit_of_work(self.store.app) as session:
                action(session, user_id=user.user_id, now=self.now)
        except NotFoundError:
            assert user.deleted
            return False
        assert not user.deleted
        return True

    @rule(email=emails)
    def disable(self, email: str) -> None:
        user = self.model.users[email]
        was_active = user.active
        if self._admin(email, users.disable_user) and was_active:
            user.active = False
            self._end(lambda s: s.email == email, "session_revoked")
            self.model.counts["user_disabled"] += 1

    @rule(email=emails)
    def enable(self, email: str) -> None:
        user = self.model.users[email]
        was_active = user.active
        if self._admin(email, users.enable_user) and not was_active:
            user.active = True
            self.model.counts["user_enabled"] += 1

    @rule(email=emails)
    def lock(self, email: str) -> None:
        user = self.model.users[email]
        if self._admin(email, users.lock_user):
            user.lock_flag, user.locked_until = True, None
            self.model.counts["account_locked"] += 1

    @rule(email=emails)
    def unlock(self, email: str) -> None:
        user = self.model.users[email]
        was_locked = user.lock_flag
        if self._admin(email, users.unlock_user):
            user.lock_flag, user.locked_until, user.failures = False, None, 0
            self.model.counts["account_unlocked"] += was_locked

    @rule(email=emails)
    def delete(self, email: str) -> None:
        if self._admin(email, users.delete_user):
            self._end(lambda s: s.email == email, "session_revoked")
            for s in self.model.sessions.values():
                if s.email == email:
                    s.deleted = True
            self.model.users[email].deleted = True
            self.model.counts["user_deleted"] += 1

    @rule(target=tokens, email=emails, right=st.booleans())
    def change_password(self, email: str, right: bool) -> Any:
        user = self.model.users[email]
        current = user.password if right else "surely not the password"
        new = OTHER if user.password == PASSWORD else PASSWORD
        try:
            with unit_of_work(self.store.app) as session:
                issued = users.change_password(
                    session,
                    user_id=user.user_id,
                    current_password=current,
                    new_password=new,
                    hasher=self.store.hasher,
                    now=self.now,
                    config=self.config,
                )
        except NotFoundError:
            assert user.deleted
            return multiple()
        except AuthenticationFailed:
            assert not user.deleted
            assert not self._password_check(user, right)
            return multiple()
        assert not user.deleted
        assert self._password_check(user, right)
        user.password = new
        self._end(lambda s: s.email == email, "session_revoked")
        self.model.counts["password_changed"] += 1
        self._new_session(email, issued.session.session_id, issued.token)
        return issued.token

    @rule(seconds=st.sampled_from(STEPS))
    def tick(self, seconds: int) -> None:
        self.store.tick(seconds=seconds)

    @rule()
    def purge(self) -> None:
        with unit_of_work(self.store.app) as session:
            sessions.purge_expired(session, now=self.now)
        self._end(lambda s: self.now >= s.absolute, "session_timeout")
        self._end(lambda s: self.now >= s.expires, "session_timeout")
        for s in self.model.sessions.values():
            if not s.active:
                s.deleted = True

    # -- invariants --------------------------------------------------------------------

    @invariant()
    def store_agrees_and_no_session_is_usable_for_a_locked_or_disabled_user(self) -> None:
        for token in self.model.sessions:
            with unit_of_work(self.store.app) as session:
                check = sessions.peek(session, token=token, now=self.now)
            assert check.state is self._peek(token)
            if check.valid:
                assert check.user is not None
                assert check.user.is_active
                assert not check.user.locked_at(self.now)

    @invariant()
    def audit_rows_per_event_type_equal_the_models(self) -> None:
        with self.store.admin.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT event_type, count(*) FROM auth.audit_logs WHERE chain_seq > :b "
                    "GROUP BY event_type"
                ),
                {"b": self.baseline},
            ).all()
        assert {t: n for t, n in rows} == {t: n for t, n in self.model.counts.items() if n}


def test_model_of_users_logins_sessions_and_clock(store: Store) -> None:
    AuthMachine.store = store
    run_state_machine_as_test(
        AuthMachine,
        settings=settings(max_examples=20, stateful_step_count=40, deadline=None),
    )
    with unit_of_work(store.admin) as session:
        assert audit.verify_chain(session).ok
