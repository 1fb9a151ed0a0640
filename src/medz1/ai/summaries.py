"""Chart summaries that know when they are stale.

A summary is stored per patient and kind with the digest of the chart rows it was made
from (:func:`chart_digest`: SHA-256 over every row of every clinical table of the patient,
computed by the server in one statement). Any change to those rows (a reload, an upsert
that changes a value, a new or deleted row) changes the digest, so the summary reads as
stale at once; so does one past its ``expires_at``. Functions take a session and never
commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, text
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from medz1.errors import DataError, NotFoundError
from medz1.models import metadata


def _clinical_tables() -> list[Table]:
    # The source rows only: a derived table (the chart documents, rebuilt with a new
    # build time at every load) would make every summary stale after any load.
    from medz1.clinical.contract import DERIVED_TABLES

    return sorted(
        (
            t
            for t in metadata.tables.values()
            if t.schema == "public" and "patient_key" in t.c and t.name not in DERIVED_TABLES
        ),
        key=lambda t: t.name,
    )


def _digest_sql(patient: str) -> str:
    """SQL of the chart digest of the patient named by the SQL expression ``patient``.

    Each table contributes its rows' text sorted (or '' when it has none), in table-name
    order, so the digest depends on the rows only.
    """
    parts = [
        f'coalesce((SELECT string_agg(t::text, chr(10) ORDER BY t::text COLLATE "C") '
        f"FROM public.{t.name} t WHERE t.patient_key = {patient}), '')"
        for t in _clinical_tables()
    ]
    joined = " || chr(30) || ".join(parts)
    return f"encode(sha256(convert_to({joined}, 'UTF8')), 'hex')"


_CHART_DIGEST = f"SELECT {_digest_sql(':patient')}"
_EXISTS = "SELECT EXISTS (SELECT 1 FROM public.patient_demographics WHERE patient_key = :patient)"


@dataclass(frozen=True)
class Summary:
    """A stored summary and whether it still matches the chart."""

    patient_key: str
    kind: str
    model: str
    summary_text: str
    source_digest: str
    generated_at: datetime
    expires_at: datetime | None
    stale: bool


@dataclass(frozen=True)
class StaleSummary:
    """A summary that no longer matches its chart, and why."""

    patient_key: str
    kind: str
    model: str
    generated_at: datetime
    reason: str


def chart_digest(session: Session, *, patient_key: str) -> str:
    """SHA-256 (hex) of every clinical row of the patient.

    Args:
        session: a session as the application role.
        patient_key: the patient's ICN.

    Raises:
        NotFoundError: No patient with that key (exit 6).
    """
    if not session.execute(text(_EXISTS), {"patient": patient_key}).scalar_one():
        raise NotFoundError(
            f"no patient with ICN {patient_key}", hint="find it with `medz1 patients search`"
        )
    return str(session.execute(text(_CHART_DIGEST), {"patient": patient_key}).scalar_one())


def put_summary(
    session: Session,
    *,
    patient_key: str,
    kind: str,
    model: str,
    summary_text: str,
    source_digest: str,
    expires_at: datetime | None = None,
) -> None:
    """Store (or replace) the patient's summary of ``kind``, made from ``source_digest``.

    Take ``source_digest`` from :func:`chart_digest` BEFORE reading the chart to
    summarise: a change in between then shows as stale rather than being hidden.

    Args:
        session: a session as the application role.
        patient_key: the patient's ICN.
        kind: what the summary is of (``chart`` ...).
        model: the model that wrote it.
        summary_text: the summary.
        source_digest: :func:`chart_digest` of the chart it was made from (64 hex digits).
        expires_at: when it should no longer be shown (aware); None for never.

    Raises:
        DataError: an empty kind, model or text, or a digest that is not SHA-256 hex (exit 8).
        NotFoundError: a patient that does not exist or that the transaction's station
            scope does not show (exit 6); the station policy of ``ai.chart_summaries``
            would refuse the row anyway.
    """
    if not kind or not model or not summary_text.strip():
        raise DataError("kind, model and summary text must not be empty", hint="nothing stored")
    if len(source_digest) != 64 or set(source_digest) - set("0123456789abcdef"):
        raise DataError("the source digest is not SHA-256 hex", hint="use chart_digest()")
    if not session.execute(text(_EXISTS), {"patient": patient_key}).scalar_one():
        raise NotFoundError(
            "no patient with that ICN that this station may open",
            hint="summarise a patient of the station the session reads as; nothing stored",
        )
    session.execute(
        text(
            "INSERT INTO ai.chart_summaries (patient_key, kind, model, summary_text, "
            "source_digest, generated_at, expires_at) VALUES (:p, :kind, :model, :body, "
            ":digest, now(), :expires) ON CONFLICT (patient_key, kind) DO UPDATE SET "
            "model = EXCLUDED.model, summary_text = EXCLUDED.summary_text, "
            "source_digest = EXCLUDED.source_digest, generated_at = EXCLUDED.generated_at, "
            "expires_at = EXCLUDED.expires_at"
        ),
        {
            "p": patient_key,
            "kind": kind,
            "model": model,
            "body": summary_text,
            "digest": source_digest,
            "expires": expires_at,
        },
    )


_STALE_EXPR = (
    f"(s.expires_at IS NOT NULL AND s.expires_at <= now()) OR s.source_digest <> "
    f"{_digest_sql('s.patient_key')}"
)


def get_summary(session: Session, *, patient_key: str, kind: str = "chart") -> Summary | None:
    """The patient's summary of ``kind`` with its staleness, or None.

    Args:
        session: a session as the application role.
        patient_key: the patient's ICN.
        kind: what the summary is of.

    Returns:
        The summary, ``stale`` when the chart changed since or it expired; None when none
        is stored.
    """
    row = session.execute(
        text(
            "SELECT s.patient_key, s.kind, s.model, s.summary_text, s.source_digest, "
            f"s.generated_at, s.expires_at, {_STALE_EXPR} AS stale "
            "FROM ai.chart_summaries s WHERE s.patient_key = :p AND s.kind = :kind"
        ),
        {"p": patient_key, "kind": kind},
    ).one_or_none()
    return None if row is None else Summary(*row)


def stale_summaries(session: Session) -> list[StaleSummary]:
    """Every stored summary that no longer matches its chart or has expired."""
    rows = session.execute(
        text(
            "SELECT s.patient_key, s.kind, s.model, s.generated_at, CASE "
            "WHEN s.expires_at IS NOT NULL AND s.expires_at <= now() THEN 'expired' "
            "ELSE 'chart changed' END FROM ai.chart_summaries s "
            f"WHERE {_STALE_EXPR} ORDER BY s.patient_key, s.kind"
        )
    ).all()
    return [StaleSummary(*row) for row in rows]


def invalidate(session: Session, *, patient_key: str, kind: str | None = None) -> int:
    """Delete the patient's summaries (of one kind, or all); return how many.

    Args:
        session: a session as the application role.
        patient_key: the patient's ICN.
        kind: one kind; None for all.

    Returns:
        The number of summaries deleted.
    """
    clause = " AND kind = :kind" if kind is not None else ""
    deleted = cast(
        "CursorResult[Any]",
        session.execute(
            text(f"DELETE FROM ai.chart_summaries WHERE patient_key = :p{clause}"),
            {"p": patient_key, "kind": kind},
        ),
    ).rowcount
    return int(deleted or 0)
