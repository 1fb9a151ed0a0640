"""Patient search: by name (prefix or contains, any case, accents ignored), ICN, SSN last four;
ranked, paged, with the number of matches in all; each kind served by an index.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import TextClause

from medz1.dal import patients
from medz1.db.engine import make_engine
from medz1.db.target import Target
from medz1.embedded import EmbeddedServer
from medz1.provision.credentials import RolePlan
from tests.plugins.synthetic import app_engine, synthetic_database

pytestmark = pytest.mark.db

#: Patients added to the synthetic ones: (ICN, last name, first name, SSN last four).
EXTRA = [
    ("ICN900001", "Núñez", "José", "9901"),
    ("ICN900002", "NUNEZ", "Ana", "9902"),
    ("ICN900003", "Nunezberg", "Élodie", "9903"),
    ("ICN900004", "Abnúnez", "Zoë", "9904"),
    ("ICN900005", "O_Brien%", "Pat", "9905"),
    ("ICN900006", "Other", "Nunez", "9901"),
]


@pytest.fixture(scope="module")
def target(
    pg_server: EmbeddedServer,
    template_target: Target,
    role_plan: RolePlan,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Target]:
    folder = tmp_path_factory.mktemp("search")
    with synthetic_database(pg_server, role_plan, folder, patients=200, seed=9) as t:
        admin = make_engine(t.url)
        with admin.begin() as conn:
            for key, last, first, last4 in EXTRA:
                conn.execute(
                    text(
                        "INSERT INTO patient_demographics "
                        "(patient_key, icn, name_last, name_first, ssn_last4) "
                        "VALUES (:k, :k, :last, :first, :last4)"
                    ),
                    {"k": key, "last": last, "first": first, "last4": last4},
                )
            conn.execute(text("ANALYZE patient_demographics"))
        admin.dispose()
        yield t


@pytest.fixture
def session(target: Target, role_plan: RolePlan) -> Iterator[Session]:
    with app_engine(target, role_plan) as engine, Session(engine) as s:
        yield s


def keys(result: patients.SearchResult) -> list[str]:
    return [p.patient_key for p in result.matches]


@pytest.mark.parametrize("query", ["nunez", "NÚÑEZ", "Nuñez", "  núnez "])
def test_name_search_ignores_case_and_accents_and_ranks_exact_prefix_contains(
    session: Session, query: str
) -> None:
    found = patients.search_patients(session, query=query)
    ranked = [(p.patient_key, p.rank) for p in found.matches if p.patient_key.startswith("ICN9")]
    # Exact last name (1) first, by first name; then prefix (2); then contains (3): the
    # last name Abnúnez and the first name Nunez of "Other, Nunez".
    assert ranked == [
        ("ICN900002", 1),
        ("ICN900001", 1),
        ("ICN900003", 2),
        ("ICN900004", 3),
        ("ICN900006", 3),
    ]
    assert found.total == len(found.matches)


def test_last_comma_first_matches_a_prefix_of_both(session: Session) -> None:
    assert keys(patients.search_patients(session, query="nunez, jo")) == ["ICN900001"]
    assert keys(patients.search_patients(session, query="núñez,ANA")) == ["ICN900002"]


def test_a_text_shorter_than_three_characters_matches_prefixes_only(session: Session) -> None:
    found = patients.search_patients(session, query="ÚN", limit=1000).matches
    assert "ICN900001" not in {p.patient_key for p in found}  # Núñez contains "un"
    assert all(patients.fold_text(p.name_last or "").startswith("un") for p in found)
    assert "ICN900001" in keys(patients.search_patients(session, query="uñe", limit=1000))


def test_ssn_last_four_is_an_exact_match(session: Session) -> None:
    found = patients.search_patients(session, query="9901")
    assert sorted(keys(found)) == ["ICN900001", "ICN900006"]
    assert {p.rank for p in found.matches} == {0}
    assert patients.search_patients(session, query="990").matches == []


def test_total_counts_every_match_beyond_the_page(session: Session) -> None:
    everything = patients.search_patients(session, query="nunez", limit=1000)
    page = patients.search_patients(session, query="nunez", limit=2)
    past = patients.search_patients(session, query="nunez", limit=2, offset=999)
    assert len(page.matches) == 2
    assert page.total == past.total == len(everything.matches) == 5
    assert past.matches == []


def test_wildcards_match_only_themselves(session: Session) -> None:
    assert keys(patients.search_patients(session, query="o_brien%")) == ["ICN900005"]
    assert keys(patients.search_patients(session, query="o%b")) == []


def test_search_results_show_no_full_ssn(session: Session) -> None:
    found = patients.search_patients(session, query="nunez").matches[0]
    assert not hasattr(found, "ssn")


def plan(session: Session, statement: TextClause, params: dict[str, object]) -> str:
    session.execute(text("SET LOCAL enable_seqscan = off"))
    rows = session.execute(text(f"EXPLAIN {statement.text}"), params).scalars()
    return "\n".join(rows)


PAGE = {"limit": 20, "offset": 0, "as_of": datetime(2030, 1, 1, tzinfo=UTC)}


@pytest.mark.parametrize(
    ("statement", "params"),
    [
        (patients.SEARCH_BY_ICN, {"icn": "ICN100001"}),
        (patients.SEARCH_BY_LAST4, {"last4": "9901"}),
    ],
    ids=["icn", "last4"],
)
def test_identifier_search_can_use_an_index(
    session: Session, statement: TextClause, params: dict[str, object]
) -> None:
    # With sequential scans priced out, a plan still holding one means no index fits.
    shown = plan(session, statement, {**params, **PAGE})
    assert "Index" in shown
    assert "Seq Scan" not in shown


@pytest.mark.parametrize(
    ("query", "kind"),
    [("nunez", "prefix"), ("nunez", "contains"), ("nunez, jo", "prefix"), ("nu", "prefix")],
)
def test_name_search_can_use_the_search_key_index(session: Session, query: str, kind: str) -> None:
    key = patients.like_prefix(patients.fold_text(query))
    pattern = "%" + key if kind == "contains" else key
    params = {"exact": key, "prefix": key, "pattern": pattern, **PAGE}
    shown = plan(session, patients.SEARCH_BY_NAME, params)
    assert "ix_patient_demographics_search_key" in shown
    assert "Seq Scan" not in shown


#: The folded name computed (not a reference to a value computed below: EXPLAIN VERBOSE
#: shows those in parentheses).
_FOLD_COMPUTED = re.compile(r"(?<!\()CASE WHEN \(octet_length\(")


@pytest.mark.parametrize("query", ["nunez", "nu"])
def test_name_search_folds_each_matching_name_once_in_the_scan(
    session: Session, query: str
) -> None:
    # The trigram index is lossy, so its recheck folds each candidate's name once; the key
    # the ranking and the order use must be folded once more by the scan, and only be
    # referenced above it. Pulled up into the outer query, the subquery had the key folded
    # again in the rank (twice) and the order, above the scan.
    key = patients.like_prefix(patients.fold_text(query))
    pattern = key if len(query) < patients.CONTAINS_MIN else "%" + key
    params = {"exact": key, "prefix": key, "pattern": pattern, **PAGE}
    session.execute(text("SET LOCAL enable_seqscan = off"))
    shown = list(
        session.execute(
            text(f"EXPLAIN (VERBOSE, COSTS OFF) {patients.SEARCH_BY_NAME.text}"), params
        ).scalars()
    )
    computing = [
        (shown[i - 1].strip(), line.strip())
        for i, line in enumerate(shown)
        if line.strip().startswith("Output:") and _FOLD_COMPUTED.search(line)
    ]
    assert len(computing) == 1, computing
    node, _ = computing[0]
    assert "Scan on public.patient_demographics p" in node, computing
