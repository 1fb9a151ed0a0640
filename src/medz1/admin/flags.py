"""Feature flags (``admin.feature_flags``): on/off, sticky percentage rollout, user and station
targeting and a kill switch, evaluated in Python from a cached snapshot.

Vocabulary follows the OpenFeature specification (evaluation API and provider): a flag is
named by its *flag key*; an evaluation is made for a *targeting key* (here the user's
e-mail address) and returns the value with a *reason* (``STATIC``, ``DEFAULT``,
``TARGETING_MATCH``, ``SPLIT``, ``DISABLED``, ``ERROR``), an *error code* when the reason is
``ERROR`` (``FLAG_NOT_FOUND``, ``TARGETING_KEY_MISSING``) and a *variant* (``on`` /
``off``), so an OpenFeature provider can wrap :meth:`FlagClient.evaluate` field for field.

Evaluation of one flag, first rule that applies:

1. no such flag: ``False``, ``ERROR`` / ``FLAG_NOT_FOUND``;
2. kill switch engaged (``killed``): ``False``, ``DISABLED``, whatever else the flag says;
3. the user is a target, or the station is: ``True``, ``TARGETING_MATCH``;
4. the flag is off: ``False``; on with a rollout of 100 %: ``True`` (reason ``STATIC``, or
   ``DEFAULT`` when the flag has targets the call did not match);
5. otherwise the rollout: ``True`` when the user's bucket (:func:`bucket`, 0-9999 from
   SHA-256 of flag key and targeting key) is below ``rollout_percent * 100``, ``SPLIT``;
   without a targeting key ``False``, ``ERROR`` / ``TARGETING_KEY_MISSING``.

The bucket depends only on the two keys, so a user keeps the answer from one process and
release to the next (sticky), and raising the percentage only adds users.

Writers lock the table (``SHARE ROW EXCLUSIVE``, which readers do not wait for) and give the
changed row ``max(version) + 1``, so versions grow in commit order. :class:`FlagClient`
keeps a snapshot of every flag; at most once per ``refresh_seconds`` it asks the database
for ``max(version)`` and the row count (one small query) and reloads only when they differ,
so evaluating a flag does not query the database.
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from medz1.admin.schema import InvalidValueError
from medz1.auth import audit
from medz1.auth.audit import AuditEvent, Event
from medz1.auth.inputs import as_utc, clean_text, normalize_email, require_utc
from medz1.db.errors import translated
from medz1.errors import Medz1Error, NotFoundError, UsageError

log = logging.getLogger(__name__)

#: Buckets of the rollout: a percentage with two decimals selects ``percent * 100`` of them.
BUCKETS = 10_000
MAX_KEY_LENGTH = 100
MAX_TARGETS = 1_000
MAX_DESCRIPTION_LENGTH = 1_000
_KEY = re.compile(r"[a-z][a-z0-9_-]*(?:\.[a-z0-9_-]+)*", re.ASCII)
_STATION = re.compile(r"[0-9]{3,5}[A-Z0-9]{0,5}", re.ASCII)


class Reason(enum.StrEnum):
    """Why an evaluation gave its value (OpenFeature resolution reasons)."""

    STATIC = "STATIC"
    DEFAULT = "DEFAULT"
    TARGETING_MATCH = "TARGETING_MATCH"
    SPLIT = "SPLIT"
    DISABLED = "DISABLED"
    ERROR = "ERROR"


class ErrorCode(enum.StrEnum):
    """What went wrong when the reason is ``ERROR`` (OpenFeature error codes)."""

    FLAG_NOT_FOUND = "FLAG_NOT_FOUND"
    TARGETING_KEY_MISSING = "TARGETING_KEY_MISSING"


@dataclass(frozen=True)
class Flag:
    """One stored flag."""

    flag_key: str
    enabled: bool
    killed: bool
    rollout_percent: Decimal
    target_users: frozenset[str]
    target_stations: frozenset[str]
    description: str | None
    version: int
    updated_at: datetime | None
    updated_by: str | None

    @property
    def has_targets(self) -> bool:
        """True when the flag names users or stations."""
        return bool(self.target_users or self.target_stations)

    def as_json(self) -> dict[str, Any]:
        """The flag as JSON-ready values (the percentage as a number)."""
        return {
            "flag_key": self.flag_key,
            "enabled": self.enabled,
            "killed": self.killed,
            "rollout_percent": float(self.rollout_percent),
            "target_users": sorted(self.target_users),
            "target_stations": sorted(self.target_stations),
            "description": self.description,
            "version": self.version,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
            "updated_by": self.updated_by,
        }


@dataclass(frozen=True)
class Evaluation:
    """The resolution of one flag for one user and station (OpenFeature's resolution
    details: value, variant, reason, error code, flag metadata).
    """

    flag_key: str
    value: bool
    reason: Reason
    variant: str | None
    error_code: ErrorCode | None = None
    flag_version: int | None = None

    def as_json(self) -> dict[str, Any]:
        """The evaluation as JSON-ready values."""
        return {
            "flag_key": self.flag_key,
            "value": self.value,
            "variant": self.variant,
            "reason": str(self.reason),
            "error_code": str(self.error_code) if self.error_code else None,
            "flag_metadata": {"version": self.flag_version},
        }


def bucket(flag_key: str, targeting_key: str) -> int:
    """The rollout bucket (0 to 9999) of a targeting key for a flag: stable and uniform.

    The first 8 bytes of SHA-256 over ``flag_key``, a unit separator and the targeting key,
    modulo 10,000. Different flags spread the same user differently.

    Args:
        flag_key: the flag.
        targeting_key: the user's targeting key (e-mail address).

    Returns:
        A bucket from 0 to 9999; the flag is on for the key when the bucket is below
        ``rollout_percent`` x 100.
    """
    digest = hashlib.sha256(f"{flag_key}\x1f{targeting_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def normalize_targeting_key(key: str | None) -> str | None:
    """The targeting key as compared and hashed: stripped and lower case (e-mail addresses
    compare case-insensitively); None or blank means no key.
    """
    if key is None:
        return None
    cleaned = key.strip().lower()
    return cleaned or None


def normalize_station(station: str | int | None) -> str | None:
    """The station as compared: its text, stripped and upper case; None or blank is none."""
    if station is None:
        return None
    cleaned = str(station).strip().upper()
    return cleaned or None


def evaluate(
    flag: Flag | None,
    flag_key: str,
    targeting_key: str | None = None,
    station: str | int | None = None,
) -> Evaluation:
    """Resolve ``flag`` (None when it does not exist) for a user and station (see module).

    Pure: no database, no clock.

    Args:
        flag: the stored flag; None when it does not exist.
        flag_key: the flag's key (named in the result).
        targeting_key: the user's targeting key (e-mail address); None for no user.
        station: the station number (sta3n); None for no station.

    Returns:
        The resolution: the value, its variant and the reason (the rule that decided).
    """
    if flag is None:
        return Evaluation(
            flag_key,
            value=False,
            reason=Reason.ERROR,
            variant=None,
            error_code=ErrorCode.FLAG_NOT_FOUND,
        )
    version = flag.version

    def result(reason: Reason, error: ErrorCode | None = None, *, value: bool) -> Evaluation:
        return Evaluation(
            flag.flag_key,
            value=value,
            reason=reason,
            variant="on" if value else "off",
            error_code=error,
            flag_version=version,
        )

    if flag.killed:
        return result(value=False, reason=Reason.DISABLED)
    user = normalize_targeting_key(targeting_key)
    site = normalize_station(station)
    if (user is not None and user in flag.target_users) or (
        site is not None and site in flag.target_stations
    ):
        return result(value=True, reason=Reason.TARGETING_MATCH)
    untargeted = Reason.DEFAULT if flag.has_targets else Reason.STATIC
    if not flag.enabled or flag.rollout_percent <= 0:
        return result(value=False, reason=untargeted)
    if flag.rollout_percent >= 100:
        return result(value=True, reason=untargeted)
    if user is None:
        return result(Reason.ERROR, ErrorCode.TARGETING_KEY_MISSING, value=False)
    threshold = int(flag.rollout_percent * 100)
    return result(Reason.SPLIT, value=bucket(flag.flag_key, user) < threshold)


@dataclass(frozen=True)
class Snapshot:
    """Every flag at one version: ``(max(version), count)`` of the table when read."""

    flags: Mapping[str, Flag]
    version: tuple[int, int]

    def evaluate(
        self, flag_key: str, user: str | None = None, station: str | int | None = None
    ) -> Evaluation:
        """:func:`evaluate` of the flag ``flag_key`` of this snapshot.

        Args:
            flag_key: the flag's key.
            user: the targeting key (the user's e-mail address); None for no user.
            station: the station number (sta3n); None for no station.

        Returns:
            The resolution: the value, its variant and the reason (the rule that decided).
        """
        return evaluate(self.flags.get(flag_key), flag_key, user, station)

    def is_enabled(
        self, flag_key: str, user: str | None = None, station: str | int | None = None
    ) -> bool:
        """True when the flag is on for this user and station (False for an unknown flag).

        Args:
            flag_key: the flag's key.
            user: the targeting key (the user's e-mail address); None for no user.
            station: the station number (sta3n); None for no station.

        Returns:
            True when the flag is on.
        """
        return self.evaluate(flag_key, user, station).value


# -- reading -----------------------------------------------------------------------------------

_COLUMNS = (
    "flag_key, enabled, killed, rollout_percent, target_users, target_stations, description, "
    "version, updated_at, updated_by"
)
_VERSION = text("SELECT coalesce(max(version), 0), count(*) FROM admin.feature_flags")


def _flag(row: Any) -> Flag:
    return Flag(
        flag_key=row.flag_key,
        enabled=bool(row.enabled),
        killed=bool(row.killed),
        rollout_percent=Decimal(row.rollout_percent),
        target_users=frozenset(str(user) for user in row.target_users or ()),
        target_stations=frozenset(str(site) for site in row.target_stations or ()),
        description=row.description,
        version=int(row.version),
        updated_at=as_utc(row.updated_at),
        updated_by=row.updated_by,
    )


def list_flags(session: Session) -> list[Flag]:
    """Every flag, by key."""
    rows = session.execute(text(f"SELECT {_COLUMNS} FROM admin.feature_flags ORDER BY flag_key"))
    return [_flag(row) for row in rows]


def read_snapshot(session: Session) -> Snapshot:
    """Every flag and the version they make, read in one statement."""
    flags = {flag.flag_key: flag for flag in list_flags(session)}
    newest = max((flag.version for flag in flags.values()), default=0)
    return Snapshot(flags, (newest, len(flags)))


def snapshot_version(session: Session) -> tuple[int, int]:
    """``(max(version), count)`` of the flags: changes whenever a flag is written."""
    row = session.execute(_VERSION).one()
    return int(row[0]), int(row[1])


def get_flag(session: Session, flag_key: str) -> Flag:
    """The flag ``flag_key``.

    Args:
        session: a session as the application role.
        flag_key: the flag's key.

    Raises:
        InvalidValueError: ``flag_key`` is not a valid key (exit 8).
        NotFoundError: no such flag (exit 6).
    """
    key = check_key(flag_key)
    row = session.execute(
        text(f"SELECT {_COLUMNS} FROM admin.feature_flags WHERE flag_key = :key"),
        {"key": key},
    ).first()
    if row is None:
        raise NotFoundError("there is no flag of that name", hint="see `medz1 flags list`")
    return _flag(row)


# -- checking input ----------------------------------------------------------------------------


def check_key(flag_key: object) -> str:
    """``flag_key`` if it is a valid key: lower-case dotted words (``ai.chart_summaries``).

    Raises:
        InvalidValueError: not text, longer than 100 characters, or other characters.
    """
    if (
        not isinstance(flag_key, str)
        or len(flag_key) > MAX_KEY_LENGTH
        or not _KEY.fullmatch(flag_key)
    ):
        raise InvalidValueError(
            "a flag key is lower-case words of letters, digits, _ and - joined by dots, "
            f"at most {MAX_KEY_LENGTH} characters",
            hint="for example ai.chart_summaries",
        )
    return flag_key


def check_percent(value: object) -> Decimal:
    """A rollout percentage: 0 to 100 with at most two decimals.

    Raises:
        InvalidValueError: not a finite number in range, or more than two decimals (never
            rounded).
    """
    refused = InvalidValueError(
        "a rollout percentage is a number from 0 to 100 with at most two decimals",
        hint="for example --rollout 25 or --rollout 2.5",
    )
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise refused
    try:
        number = Decimal(repr(value) if isinstance(value, float) else str(value).strip())
    except InvalidOperation:
        raise refused from None
    if not number.is_finite() or not 0 <= number <= 100:
        raise refused
    hundredths = number.quantize(Decimal("0.01"))
    if hundredths != number:
        raise refused
    return hundredths


def check_stations(stations: Iterable[object]) -> frozenset[str]:
    """VA station numbers (sta3n: three to five digits and an optional suffix, e.g. ``508``
    or ``528A7``), as upper-case text.

    Raises:
        InvalidValueError: a station is not a station number, or more than 1,000 are given.
    """
    found: set[str] = set()
    for station in stations:
        if isinstance(station, bool) or not isinstance(station, str | int):
            raise InvalidValueError("a station must be a VA station number", hint="e.g. 508")
        site = normalize_station(station)
        if site is None or not _STATION.fullmatch(site):
            raise InvalidValueError(
                "a station must be a VA station number (3 to 5 digits and an optional suffix)",
                hint="for example 508 or 528A7",
            )
        found.add(site)
    if len(found) > MAX_TARGETS:
        raise InvalidValueError(
            f"a flag targets at most {MAX_TARGETS} stations", hint="use the rollout instead"
        )
    return frozenset(found)


def check_users(session: Session, emails: Iterable[object]) -> frozenset[str]:
    """E-mail addresses of existing users, lower case.

    Args:
        session: a session as the application role.
        emails: the addresses as given (any case), at most 1,000.

    Raises:
        InvalidInputError: an address is malformed (exit 8).
        InvalidValueError: more than 1,000 addresses.
        NotFoundError: an address is not a user's (exit 6); the message names it, since the
            caller typed it.
    """
    found = frozenset(normalize_email(email) for email in emails)
    if len(found) > MAX_TARGETS:
        raise InvalidValueError(
            f"a flag targets at most {MAX_TARGETS} users", hint="use the rollout instead"
        )
    if not found:
        return found
    known = set(
        session.execute(
            text(
                "SELECT pg_catalog.lower(email) FROM auth.users "
                "WHERE pg_catalog.lower(email) = ANY(:emails)"
            ),
            {"emails": sorted(found)},
        ).scalars()
    )
    missing = sorted(found - known)
    if missing:
        raise NotFoundError(
            f"no user has the e-mail address {missing[0]}"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""),
            hint="see `medz1 users list`; targets must be existing users",
        )
    return found


# -- writing -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FlagChange:
    """The outcome of a write: the flag now, and the fields that changed (empty: none)."""

    flag: Flag
    changed: tuple[str, ...]
    created: bool = False


def _lock_and_next_version(session: Session) -> int:
    """Serialise flag writers and return the version the next change gets."""
    session.execute(text("LOCK TABLE admin.feature_flags IN SHARE ROW EXCLUSIVE MODE"))
    return int(
        session.execute(
            text("SELECT coalesce(max(version), 0) + 1 FROM admin.feature_flags")
        ).scalar_one()
    )


def _write(
    session: Session, values: dict[str, Any], *, create: bool, actor: str, at: datetime
) -> Flag:
    params = {
        **values,
        "target_users": json.dumps(values["target_users"]),
        "target_stations": json.dumps(values["target_stations"]),
        "updated_at": at,
        "updated_by": actor,
    }
    if create:
        sql = (
            "INSERT INTO admin.feature_flags (flag_key, enabled, killed, rollout_percent, "
            "target_users, target_stations, description, version, updated_at, updated_by) "
            "VALUES (:flag_key, :enabled, :killed, :rollout_percent, "
            "CAST(:target_users AS jsonb), CAST(:target_stations AS jsonb), :description, "
            ":version, :updated_at, :updated_by) "
        )
    else:
        sql = (
            "UPDATE admin.feature_flags SET enabled = :enabled, killed = :killed, "
            "rollout_percent = :rollout_percent, target_users = CAST(:target_users AS jsonb), "
            "target_stations = CAST(:target_stations AS jsonb), description = :description, "
            "version = :version, updated_at = :updated_at, updated_by = :updated_by "
            "WHERE flag_key = :flag_key "
        )
    row = session.execute(text(sql + f"RETURNING {_COLUMNS}"), params).one()
    return _flag(row)


def _audit(session: Session, flag: Flag, changed: Sequence[str], actor: str) -> None:
    snapshot = flag.as_json()
    audit.record(
        session,
        [
            Event(
                AuditEvent.FLAG_CHANGED,
                details={
                    "flag_key": flag.flag_key,
                    "changed": {name: snapshot[name] for name in changed},
                    "version": flag.version,
                    "actor": actor,
                },
            )
        ],
    )


def set_flag(
    session: Session,
    flag_key: object,
    *,
    enabled: bool | None = None,
    rollout_percent: object = None,
    users: Iterable[object] | None = None,
    stations: Iterable[object] | None = None,
    description: object = None,
    actor: str,
    now: datetime | None = None,
) -> FlagChange:
    """Create flag ``flag_key`` or change the given fields of it; audited.

    Fields left as None keep their value; a new flag needs ``enabled`` and starts with a
    rollout of 100 %, no targets and the kill switch released. ``users`` and ``stations``
    replace the flag's targets (an empty list clears them). Every input is checked before
    anything is written; then the table is locked against other writers, the row written
    with the next version, and a ``flag_changed`` event (fields changed, version, actor)
    recorded in the same transaction (S16). A call that changes nothing writes nothing.

    Args:
        session: a session as the application role.
        flag_key: the flag's key.
        enabled: on or off; None keeps it.
        rollout_percent: the share of users it is on for, 0 to 100; None keeps it.
        users: e-mail addresses of users it is always on for; None keeps them.
        stations: station numbers (sta3n) it is on for; None keeps them.
        description: what the flag is for; None keeps it.
        actor: who changes it (an e-mail address or ``system``), in the audit row.
        now: the clock (aware); None for this machine's clock.

    Returns:
        The flag after the call, and the fields that changed (empty: none).

    Raises:
        InvalidValueError: a bad key, percentage, station or description (exit 8).
        InvalidInputError: a malformed e-mail address (exit 8).
        NotFoundError: a targeted user does not exist (exit 6).
        UsageError: a new flag without ``enabled``; ``now`` is naive.
    """
    key = check_key(flag_key)
    if enabled is not None and not isinstance(enabled, bool):
        raise InvalidValueError("a flag is on or off: give True or False", hint="--on or --off")
    percent = None if rollout_percent is None else check_percent(rollout_percent)
    sites = None if stations is None else check_stations(stations)
    try:
        text_ = clean_text(description, field="description", max_length=MAX_DESCRIPTION_LENGTH)
    except Medz1Error as exc:
        raise InvalidValueError(exc.message, hint=exc.hint) from exc
    at = require_utc(now or datetime.now(UTC))
    who = actor[:100]
    targets = None if users is None else check_users(session, users)
    version = _lock_and_next_version(session)
    try:
        current: Flag | None = get_flag(session, key)
    except NotFoundError:
        current = None
    if current is None and enabled is None:
        raise UsageError("a new flag must be created on or off", hint="add --on or --off")
    on = enabled if enabled is not None else bool(current and current.enabled)
    wanted = {
        "flag_key": key,
        "enabled": on,
        "killed": current.killed if current else False,
        "rollout_percent": percent
        if percent is not None
        else (current.rollout_percent if current else Decimal(100)),
        "target_users": sorted(
            targets if targets is not None else (current.target_users if current else ())
        ),
        "target_stations": sorted(
            sites if sites is not None else (current.target_stations if current else ())
        ),
        "description": text_
        if description is not None
        else (current.description if current else None),
        "version": version,
    }
    if current is not None:
        before = {
            "enabled": current.enabled,
            "killed": current.killed,
            "rollout_percent": current.rollout_percent,
            "target_users": sorted(current.target_users),
            "target_stations": sorted(current.target_stations),
            "description": current.description,
        }
        changed = tuple(name for name, value in before.items() if wanted[name] != value)
        if not changed:
            return FlagChange(current, ())
    else:
        changed = (
            "enabled",
            "killed",
            "rollout_percent",
            "target_users",
            "target_stations",
            "description",
        )
    flag = _write(session, wanted, create=current is None, actor=who, at=at)
    _audit(session, flag, changed, who)
    return FlagChange(flag, changed, created=current is None)


def set_killed(
    session: Session,
    flag_key: object,
    *,
    killed: bool,
    actor: str,
    now: datetime | None = None,
) -> FlagChange:
    """Engage (``killed=True``) or release the kill switch of an existing flag; audited.

    The kill switch turns the flag off for everyone, targets included, without changing
    its other fields, so releasing it restores what the flag said before.

    Args:
        session: a session as the application role.
        flag_key: the flag's key.
        killed: engage (True) or release (False).
        actor: who changes it, in the audit row.
        now: the clock (aware); None for this machine's clock.

    Returns:
        The flag after the call, and the fields that changed (empty: none).

    Raises:
        InvalidValueError: a bad key (exit 8).
        NotFoundError: no such flag (exit 6).
    """
    key = check_key(flag_key)
    at = require_utc(now or datetime.now(UTC))
    who = actor[:100]
    version = _lock_and_next_version(session)
    current = get_flag(session, key)
    if current.killed == killed:
        return FlagChange(current, ())
    values = {
        "flag_key": key,
        "enabled": current.enabled,
        "killed": killed,
        "rollout_percent": current.rollout_percent,
        "target_users": sorted(current.target_users),
        "target_stations": sorted(current.target_stations),
        "description": current.description,
        "version": version,
    }
    flag = _write(session, values, create=False, actor=who, at=at)
    _audit(session, flag, ("killed",), who)
    return FlagChange(flag, ("killed",))


# -- the cached client -------------------------------------------------------------------------


@dataclass
class _Counters:
    checks: int = 0
    loads: int = 0


@dataclass
class FlagClient:
    """Evaluates flags from a snapshot kept in memory, refreshed by version.

    At most once per ``refresh_seconds`` (by ``clock``, seconds), an evaluation first runs
    :func:`snapshot_version` (one small query) and reloads every flag only when the
    version differs; all other evaluations touch no database. Thread-safe. When the check
    fails after a snapshot was loaded, the last snapshot keeps serving (logged) and the
    check is retried after the next interval; the first load's failure is raised.

    Example::

        flags = FlagClient(engine)
        if flags.is_enabled("ai.chart_summaries", user=user.email, station=user.home_site_sta3n):
            ...
    """

    engine: Engine
    refresh_seconds: float = 5.0
    clock: Callable[[], float] = time.monotonic
    counters: _Counters = field(default_factory=_Counters)
    _snapshot: Snapshot | None = field(default=None, init=False)
    _checked_at: float = field(default=0.0, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def refresh(self, *, force: bool = False) -> Snapshot:
        """The current snapshot, checking the version first when due (or ``force``).

        Raises:
            Medz1Error: the first load failed (connection, privilege, ...).
        """
        with self._lock:
            now = self.clock()
            due = self._snapshot is None or now - self._checked_at >= self.refresh_seconds
            if not (due or force):
                assert self._snapshot is not None
                return self._snapshot
            try:
                self._snapshot = self._reload_if_changed()
            except Medz1Error:
                if self._snapshot is None:
                    raise
                log.warning("feature flags: version check failed; serving the last snapshot")
            self._checked_at = now
            return self._snapshot

    def _reload_if_changed(self) -> Snapshot:
        with translated(), Session(self.engine) as session:
            self.counters.checks += 1
            current = self._snapshot
            if current is not None and snapshot_version(session) == current.version:
                session.commit()
                return current
            self.counters.loads += 1
            snapshot = read_snapshot(session)
            session.commit()
            return snapshot

    def evaluate(
        self, flag_key: str, user: str | None = None, station: str | int | None = None
    ) -> Evaluation:
        """Resolve ``flag_key`` for ``user`` (targeting key: the e-mail) and ``station``.

        Args:
            flag_key: the flag's key.
            user: the targeting key (the user's e-mail address); None for no user.
            station: the station number (sta3n); None for no station.

        Returns:
            The resolution: the value, its variant and the reason (the rule that decided).
        """
        return self.refresh().evaluate(flag_key, user, station)

    def is_enabled(
        self, flag_key: str, user: str | None = None, station: str | int | None = None
    ) -> bool:
        """True when the flag is on for this user and station (False for an unknown flag).

        Args:
            flag_key: the flag's key.
            user: the targeting key (the user's e-mail address); None for no user.
            station: the station number (sta3n); None for no station.

        Returns:
            True when the flag is on.
        """
        return self.evaluate(flag_key, user, station).value
