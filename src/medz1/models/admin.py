"""Operational tables of schema ``admin``: feature flags, system settings, user preferences."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Text,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from medz1.db.types import UTCDateTime
from medz1.models.base import Base

UPDATED_AT = "When the row was last changed (UTC)"
UPDATED_BY = "Who last changed the row: an administrator's e-mail or 'system'"


class FeatureFlag(Base):
    """A named switch that turns a feature of the viewer or service on or off.

    Evaluated by :mod:`medz1.admin.flags`: the kill switch wins, then user and station
    targets, then ``enabled`` with the percentage rollout. ``version`` grows with every
    change (writers serialise on a table lock), so a cached snapshot knows it is stale.
    """

    __tablename__ = "feature_flags"
    __table_args__ = (
        CheckConstraint("rollout_percent BETWEEN 0 AND 100", name="rollout_percent_range"),
        CheckConstraint("version >= 1", name="version_positive"),
        CheckConstraint("jsonb_typeof(target_users) = 'array'", name="target_users_array"),
        CheckConstraint("jsonb_typeof(target_stations) = 'array'", name="target_stations_array"),
        {
            "schema": "admin",
            "comment": "Feature flags: named on/off switches for features of the viewer "
            "and the service",
        },
    )

    flag_key: Mapped[str] = mapped_column(
        String(100), primary_key=True, comment="Flag name, e.g. ai.chart_summaries"
    )
    enabled: Mapped[bool] = mapped_column(
        Boolean, server_default=text("false"), comment="True when the feature is on"
    )
    description: Mapped[str | None] = mapped_column(
        Text, comment="What the flag controls, for administrators"
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), server_default=text("now()"), comment=UPDATED_AT
    )
    updated_by: Mapped[str | None] = mapped_column(String(100), comment=UPDATED_BY)
    rollout_percent: Mapped[Decimal] = mapped_column(
        Numeric(5, 2),
        server_default=text("100"),
        comment="Share of users (0-100) the flag is on for when enabled, by a stable hash "
        "of flag key and user",
    )
    target_users: Mapped[list[str]] = mapped_column(
        JSONB,
        server_default=text("'[]'::jsonb"),
        comment="E-mail addresses (lower case) the flag is always on for, a JSON array",
    )
    target_stations: Mapped[list[str]] = mapped_column(
        JSONB,
        server_default=text("'[]'::jsonb"),
        comment="VA station numbers (sta3n, text) the flag is always on for, a JSON array",
    )
    killed: Mapped[bool] = mapped_column(
        Boolean,
        server_default=text("false"),
        comment="Kill switch: when true the flag is off for everyone, targets included",
    )
    version: Mapped[int] = mapped_column(
        BigInteger,
        server_default=text("1"),
        comment="Grows with every change of any flag; caches reload when the newest differs",
    )


class SystemSetting(Base):
    """A named system-wide setting with a JSON value."""

    __tablename__ = "system_settings"
    __table_args__ = (
        {
            "schema": "admin",
            "comment": "System-wide settings stored in the database, one JSON value per key",
        },
    )

    setting_key: Mapped[str] = mapped_column(
        String(100), primary_key=True, comment="Setting name, e.g. session.idle_timeout_minutes"
    )
    value: Mapped[Any] = mapped_column(
        JSONB, nullable=False, comment="Setting value as JSON (number, text, object, ...)"
    )
    description: Mapped[str | None] = mapped_column(
        Text, comment="What the setting controls, for administrators"
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), server_default=text("now()"), comment=UPDATED_AT
    )
    updated_by: Mapped[str | None] = mapped_column(String(100), comment=UPDATED_BY)


class UserPreference(Base):
    """One preference of one user (e.g. default vitals view), deleted with the user."""

    __tablename__ = "user_preferences"
    __table_args__ = (
        PrimaryKeyConstraint("user_id", "preference_key"),
        {
            "schema": "admin",
            "comment": "Per-user preferences of the viewer, one JSON value per user and key; "
            "deleted with the user",
        },
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        Uuid,
        ForeignKey("auth.users.user_id", ondelete="CASCADE"),
        comment="User the preference belongs to (auth.users.user_id)",
    )
    preference_key: Mapped[str] = mapped_column(
        String(100), comment="Preference name, e.g. vitals.default_range_days"
    )
    value: Mapped[Any] = mapped_column(
        JSONB, nullable=False, comment="Preference value as JSON (number, text, object, ...)"
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), server_default=text("now()"), comment=UPDATED_AT
    )
