"""Configuration of the authentication store, built once from settings at an edge."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from medz1.auth.passwords import HashParams, PasswordHasher
from medz1.settings import Settings

#: Audit rows younger than this are never purged (six years and two leap days, S21).
MIN_AUDIT_RETENTION_DAYS = 2192


@dataclass(frozen=True)
class AuthConfig:
    """Lockout, session and retention rules (security requirements S8, S10, S14, S21).

    Attributes:
        lockout_threshold: consecutive failed logins that lock an account.
        lockout_duration: how long such a lock lasts.
        session_idle: a session ends after this long without use.
        session_absolute: a session ends this long after login, however active.
        single_session: a login ends the user's other sessions (med-z1's behaviour).
        dormant_after: accounts without a login for this long are disabled by
            :func:`medz1.auth.users.disable_dormant`.
        audit_retention_days: audit rows younger than this are never purged.
        activity_interval: a validation writes the session's new activity time only when
            the stored one is older than this, so a busy session is not written on every
            request; the idle timeout may therefore end a session up to this much early.
    """

    lockout_threshold: int = 5
    lockout_duration: timedelta = timedelta(minutes=15)
    session_idle: timedelta = timedelta(minutes=15)
    session_absolute: timedelta = timedelta(hours=8)
    single_session: bool = False
    dormant_after: timedelta = timedelta(days=30)
    audit_retention_days: int = MIN_AUDIT_RETENTION_DAYS
    activity_interval: timedelta = timedelta(seconds=60)

    @classmethod
    def from_settings(cls, settings: Settings) -> AuthConfig:
        """The rules configured by ``MEDZ1_LOCKOUT_*``, ``MEDZ1_SESSION_*`` and friends."""
        return cls(
            lockout_threshold=settings.lockout_threshold,
            lockout_duration=timedelta(minutes=settings.lockout_minutes),
            session_idle=timedelta(minutes=settings.session_idle_minutes),
            session_absolute=timedelta(hours=settings.session_absolute_hours),
            single_session=settings.single_session,
            dormant_after=timedelta(days=settings.dormant_days),
            audit_retention_days=max(settings.audit_retention_days, MIN_AUDIT_RETENTION_DAYS),
        )


def hash_params_from_settings(settings: Settings) -> HashParams:
    """The argon2id parameters of ``MEDZ1_ARGON2_*``."""
    return HashParams(
        time_cost=settings.argon2_time_cost,
        memory_cost_kib=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
    )


def hasher_from_settings(settings: Settings) -> PasswordHasher:
    """A password hasher with the configured argon2id parameters.

    Raises:
        ConfigurationError: the parameters are below the S1 floor or are unusable.
    """
    return PasswordHasher(hash_params_from_settings(settings))
