"""A patient's chart as text chunks to embed: notes-like fields of the clinical tables.

One SQL statement reads, for the given patients, one text per source row: allergies
(allergen, type, severity, reactions, comment), record flag actions (flag, action,
narrative), inpatient encounters (locations, diagnoses, disposition) and lab panels (one
text per accession: every result with unit, flag and reference range). Each text is cut
into chunks of at most :data:`CHUNK_WORDS` words. A chunk carries the patient's primary
station (sta3n): the station whose clinicians may see it (the station policy of ``ai``
keys on the patient's station, as for the clinical tables), so a station's search reads
that station's rows only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.orm import Session

#: Longest chunk, in words (well inside a small sentence model's 256-token window).
CHUNK_WORDS = 160

_SOURCES = """
SELECT a.patient_key, 'patient_allergies' AS source_table, a.allergy_sid::text AS source_id,
       d.primary_station AS station,
       concat_ws(' ', 'Allergy:', a.allergen_standardized, '(' || a.allergen_type || ')',
                 'severity ' || lower(a.severity) || '.', 'Reactions: ' || a.reactions || '.',
                 a.comment) AS body
  FROM public.patient_allergies a
  LEFT JOIN public.patient_demographics d ON d.patient_key = a.patient_key
 WHERE a.patient_key = ANY(:keys)
UNION ALL
SELECT h.patient_key, 'patient_flag_history',
       h.assignment_id::text || '/' || h.action_code::text || '/'
         || to_char(h.history_date AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS'),
       d.primary_station,
       concat_ws(' ', 'Record flag', f.flag_name, '-', h.action_name || ':', h.history_comments)
  FROM public.patient_flag_history h
  LEFT JOIN public.patient_flags f
    ON f.patient_key = h.patient_key AND f.assignment_id = h.assignment_id
  LEFT JOIN public.patient_demographics d ON d.patient_key = h.patient_key
 WHERE h.patient_key = ANY(:keys)
UNION ALL
SELECT e.patient_key, 'patient_encounters', e.inpatient_id::text,
       d.primary_station,
       concat_ws(' ', 'Admission', to_char(e.admit_datetime AT TIME ZONE 'UTC', 'YYYY-MM-DD'),
                 'to ' || e.admit_location_name || ',',
                 'admitting diagnosis ' || e.admit_diagnosis_code || '.',
                 'Discharged ' || to_char(e.discharge_datetime AT TIME ZONE 'UTC', 'YYYY-MM-DD'),
                 'to ' || e.discharge_location_name || ':',
                 e.discharge_diagnosis_text, '(' || e.discharge_diagnosis_code || ').',
                 'Disposition ' || e.discharge_disposition || '.')
  FROM public.patient_encounters e
  LEFT JOIN public.patient_demographics d ON d.patient_key = e.patient_key
 WHERE e.patient_key = ANY(:keys)
UNION ALL
SELECT l.patient_key, 'patient_labs', l.accession_number,
       min(d.primary_station),
       concat_ws(' ', 'Lab', coalesce(min(l.panel_name), min(l.lab_test_name)),
                 to_char(min(l.collection_datetime) AT TIME ZONE 'UTC', 'YYYY-MM-DD') || ':',
                 string_agg(concat_ws(' ', l.lab_test_name, l.result_value, l.result_unit,
                                      l.abnormal_flag, '(ref ' || l.ref_range_text || ')'),
                            '; ' ORDER BY l.lab_test_name, l.lab_chem_sid))
  FROM public.patient_labs l
  LEFT JOIN public.patient_demographics d ON d.patient_key = l.patient_key
 WHERE l.patient_key = ANY(:keys)
 GROUP BY l.patient_key, l.accession_number
"""
_ORDERED = f"SELECT * FROM ({_SOURCES}) s ORDER BY patient_key, source_table, source_id"


@dataclass(frozen=True)
class Chunk:
    """One chunk of chart text, where it came from and its digest."""

    patient_key: str
    source_table: str
    source_id: str
    chunk_number: int
    text: str
    station: str | None

    @property
    def digest(self) -> str:
        """SHA-256 (hex) of the text in UTF-8 (``ai.patient_embeddings.text_digest``)."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def split_words(body: str, size: int = CHUNK_WORDS) -> list[str]:
    """``body`` cut into texts of at most ``size`` words (whitespace collapsed).

    Args:
        body: the text.
        size: the most words per piece.

    Returns:
        The pieces in order; empty for text without words.
    """
    words = body.split()
    return [" ".join(words[i : i + size]) for i in range(0, len(words), size)]


def chart_chunks(session: Session, *, patient_keys: Sequence[str]) -> list[Chunk]:
    """The text chunks of the given patients' charts, ordered by patient and source.

    One statement; rows without text give no chunk. Runs as a role that may read every
    listed patient's rows: the loader (BYPASSRLS) for the embedding job; the application
    role reads only the patients its station scope shows.

    Args:
        session: a session as a role that reads the clinical tables.
        patient_keys: the patients' ICNs.

    Returns:
        The chunks (ICN, source table and id, chunk number, text, station).
    """
    rows = session.execute(text(_ORDERED), {"keys": list(patient_keys)}).all()
    return list(_chunks(rows))


def _chunks(rows: Iterable[Row[Any]]) -> Iterable[Chunk]:
    for row in rows:
        patient_key, source_table, source_id, station, body = tuple(row)
        for number, piece in enumerate(split_words(str(body or ""))):
            yield Chunk(patient_key, source_table, source_id, number, piece, station)


def all_patient_keys(session: Session) -> list[str]:
    """Every patient key in ``patient_demographics``, sorted."""
    found = session.execute(
        text("SELECT patient_key FROM public.patient_demographics ORDER BY patient_key")
    )
    return [str(k) for k in found.scalars()]
