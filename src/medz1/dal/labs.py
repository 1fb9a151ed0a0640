"""Lab reads: recent panels (results grouped by accession) and the trend of one test.

Same conventions as :mod:`medz1.dal.patients`: session first, keyword-only arguments,
frozen records, no commit, one JSON expression per read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from medz1.dal.json_reads import JsonRead, columns, json_rows, many, row_array
from medz1.dal.patients import aware, check_page


@dataclass(frozen=True)
class LabResult:
    """One lab result with its units, reference range and abnormal flags."""

    lab_chem_sid: int
    lab_test_sid: int
    lab_test_name: str
    lab_test_code: str | None
    loinc_code: str | None
    panel_name: str | None
    accession_number: str
    result_value: str | None
    result_numeric: Decimal | None
    result_unit: str | None
    abnormal_flag: str | None
    is_abnormal: bool | None
    is_critical: bool | None
    ref_range_text: str | None
    ref_range_low: Decimal | None
    ref_range_high: Decimal | None
    collection_datetime: datetime
    result_datetime: datetime
    specimen_type: str | None


@dataclass(frozen=True)
class PanelResult:
    """One result of a lab panel; accession, collection time and specimen are the panel's."""

    lab_chem_sid: int
    lab_test_sid: int
    lab_test_name: str
    loinc_code: str | None
    result_value: str | None
    result_numeric: Decimal | None
    result_unit: str | None
    abnormal_flag: str | None
    is_abnormal: bool | None
    is_critical: bool | None
    ref_range_text: str | None
    ref_range_low: Decimal | None
    ref_range_high: Decimal | None
    result_datetime: datetime


@dataclass(frozen=True)
class LabPanel:
    """The results of one accession (one specimen collection), in the panel's test order."""

    accession_number: str
    panel_name: str | None
    collection_datetime: datetime
    specimen_type: str | None
    collection_location: str | None
    sta3n: str | None
    results: tuple[PanelResult, ...]

    @property
    def abnormal(self) -> int:
        """Number of abnormal results in the panel."""
        return sum(1 for r in self.results if r.is_abnormal)


@dataclass(frozen=True)
class PanelPage:
    """Parameters of the paged read of recent panels."""

    patient_key: str
    panels_limit: int
    panels_offset: int


@dataclass(frozen=True)
class TrendPage:
    """Parameters of the paged trend of one test."""

    patient_key: str
    test: str
    limit: int
    offset: int


@dataclass(frozen=True)
class TrendPageSince:
    """Parameters of the paged trend of one test since a moment."""

    patient_key: str
    test: str
    since: datetime
    limit: int
    offset: int


# Panels are accessions, ranked by their newest result. Rather than grouping the patient's
# whole lab history, a loose index scan of ix_patient_labs_patient_collected walks the
# distinct collection times newest first, one probe each, until there are limit + offset
# of them: every time holds at least one accession, so the panels asked for were all
# collected at or after the last time found. Only that slice of rows is grouped, and only
# the panels on the page are turned into JSON. An accession is one specimen collection:
# its results are expected to share a collection time, and results of an accession older
# than the slice are not shown.
RECENT_PANELS_SQL = json_rows(
    "WITH RECURSIVE times(at, n) AS ("
    "  SELECT pg_catalog.max(collection_datetime), 1 FROM patient_labs WHERE patient_key = :patient_key"
    "  UNION ALL"
    "  SELECT (SELECT pg_catalog.max(o.collection_datetime) FROM patient_labs o"
    "          WHERE o.patient_key = :patient_key AND o.collection_datetime < t.at), t.n + 1"
    "  FROM times t WHERE t.at IS NOT NULL AND t.n < :panels_limit + :panels_offset"
    "), "
    "panels AS ("
    "  SELECT s.accession_number, pg_catalog.min(s.collection_datetime) AS first_collected,"
    "  pg_catalog.max(s.collection_datetime) AS last_collected FROM patient_labs s"
    "  WHERE s.patient_key = :patient_key AND s.collection_datetime >= (SELECT pg_catalog.min(at) FROM times)"
    "  GROUP BY s.accession_number ORDER BY last_collected DESC, s.accession_number DESC"
    "  LIMIT :panels_limit OFFSET :panels_offset"
    ") "
    # LATERAL keeps the plan a nested loop over the few panels whatever the parameters, so
    # the server can reuse one generic plan instead of planning the statement every time.
    "SELECT p.accession_number, r.panel_name, p.last_collected AS collection_datetime, "
    "r.specimen_type, r.collection_location, r.sta3n, r.results "
    "FROM panels p CROSS JOIN LATERAL ("
    "  SELECT pg_catalog.min(l.panel_name) AS panel_name, pg_catalog.min(l.specimen_type) AS specimen_type,"
    "  pg_catalog.min(l.collection_location) AS collection_location, pg_catalog.min(l.sta3n) AS sta3n,"
    f"  pg_catalog.json_agg({row_array(PanelResult, 'l')} ORDER BY l.lab_test_sid, l.lab_chem_sid) AS results"
    "  FROM patient_labs l WHERE l.patient_key = :patient_key"
    "  AND l.accession_number = p.accession_number"
    "  AND l.collection_datetime BETWEEN p.first_collected AND p.last_collected) r",
    LabPanel,
    order="q.collection_datetime DESC, q.accession_number DESC",
)
RECENT_PANELS = JsonRead(RECENT_PANELS_SQL, PanelPage, many(LabPanel))


def _trend(*, since: bool) -> str:
    condition = "AND l.collection_datetime >= :since " if since else ""
    return json_rows(
        f"SELECT {columns(LabResult, 'l')} FROM patient_labs l "
        "WHERE l.patient_key = :patient_key "
        "AND (pg_catalog.lower(l.lab_test_name) = pg_catalog.lower(:test) OR l.loinc_code = :test) "
        f"{condition}ORDER BY l.collection_datetime DESC, l.lab_chem_sid DESC "
        "LIMIT :limit OFFSET :offset",
        LabResult,
        order="q.collection_datetime DESC, q.lab_chem_sid DESC",
    )


TREND = JsonRead(_trend(since=False), TrendPage, many(LabResult))
TREND_SINCE = JsonRead(_trend(since=True), TrendPageSince, many(LabResult))


def recent_lab_panels(
    session: Session, *, patient_key: str, limit: int = 5, offset: int = 0
) -> list[LabPanel]:
    """The patient's most recent lab panels (accessions), newest first, with their results.

    Args:
        session: a session, read as the caller's role.
        patient_key: the patient's ICN.
        limit: panels per page, 1 to 1000.
        offset: panels to skip, 0 or more.

    Raises:
        UsageError: The page is out of range.
    """
    check_page(limit, offset)
    return RECENT_PANELS.run(session, PanelPage(patient_key, limit, offset))


def lab_trend(
    session: Session,
    *,
    patient_key: str,
    test: str,
    since: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[LabResult]:
    """Results of one test, newest first, paged.

    Args:
        session: An open session.
        patient_key: The patient's ICN.
        test: The test's name (``HEMOGLOBIN A1C``, any case) or its LOINC code (``4548-4``).
        since: Only results collected at or after this aware datetime.
        limit: Page size (1 to 1000).
        offset: Rows to skip.

    Raises:
        UsageError: ``since`` is naive or the page is out of range.
    """
    check_page(limit, offset)
    if since is None:
        return TREND.run(session, TrendPage(patient_key, test.strip(), limit, offset))
    page = TrendPageSince(patient_key, test.strip(), aware(since), limit, offset)
    return TREND_SINCE.run(session, page)
