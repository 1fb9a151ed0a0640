"""The loader stores every value exactly as the file says, or refuses it by row and column.

Each refusal names the file, the 1-based data row, the column (or constraint) and the
reason, never the other cells of the row, and leaves the table as it was.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, text

from medz1.clinical.arrow_types import arrow_schema
from medz1.clinical.load import load, prepare
from medz1.db.target import Target
from medz1.errors import DataError, UsageError
from medz1.models import metadata
from medz1.provision.connect import engine_for_role
from medz1.provision.credentials import RolePlan

pytestmark = pytest.mark.db

DEMO = "patient_demographics"
VITALS = "patient_vitals"
REACTIONS = "patient_allergy_reactions"
SSN = "123-45-6789"
NAME = "ZEBULON"
#: The required cells of one row of each table (the key columns).
BASE: dict[str, dict[str, Any]] = {
    DEMO: {"patient_key": "ICN1", "icn": "ICN1", "ssn": SSN, "name_last": NAME},
    VITALS: {
        "patient_key": "ICN1",
        "vital_sign_id": 1,
        "vital_type": "PULSE",
        "vital_abbr": "P",
        "taken_datetime": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
    },
    REACTIONS: {"allergy_sid": 1, "patient_key": "ICN1", "reaction_name": "HIVES"},
}
_DEFAULTED = {"last_updated", "created_at", "is_sensitive"}


@pytest.fixture
def loader(db_target: Target, role_plan: RolePlan) -> Iterator[Engine]:
    engine = engine_for_role(db_target, "loader", role_plan.passwords)
    yield engine
    engine.dispose()


def fields(table: str) -> list[pa.Field]:
    return [f for f in arrow_schema(metadata.tables[f"public.{table}"]) if f.name not in _DEFAULTED]


def parquet(
    tmp_path: Path, table: str, rows: Sequence[Mapping[str, Any]], **types: pa.DataType
) -> Path:
    """A Parquet file of ``rows`` (base cells filled in); ``types`` overrides column types."""
    full = [{**BASE[table], "vital_sign_id": i + 1, **row} for i, row in enumerate(rows)]
    if table != VITALS:
        full = [{k: v for k, v in row.items() if k != "vital_sign_id"} for row in full]
    columns = {
        f.name: pa.array([r.get(f.name) for r in full], types.get(f.name, f.type))
        for f in fields(table)
    }
    path = tmp_path / f"{table}.parquet"
    pq.write_table(pa.table(columns), path)
    return path


def csv(
    tmp_path: Path,
    table: str,
    rows: Sequence[Mapping[str, str]],
    *,
    sep: str = ",",
    empty: str = "",
) -> Path:
    """A CSV file whose cells are written exactly as given (quotes included)."""
    names = [f.name for f in fields(table)]
    base = {k: str(v) for k, v in BASE[table].items() if not isinstance(v, datetime)}
    base.setdefault("taken_datetime", "2024-01-02T03:04:05Z")
    lines = [sep.join(names)]
    for number, row in enumerate(rows, start=1):
        cells = {**base, "vital_sign_id": str(number), "allergy_sid": str(number), **row}
        lines.append(sep.join(cells.get(n, empty) for n in names))
    path = tmp_path / f"{table}.csv"
    path.write_bytes(("\n".join(lines) + "\n").encode())
    return path


def stored(engine: Engine, table: str, column: str) -> list[Any]:
    order = {DEMO: "patient_key", VITALS: "vital_sign_id", REACTIONS: "allergy_sid"}[table]
    with engine.connect() as conn:
        result = conn.execute(text(f"SELECT {column} FROM {table} ORDER BY {order}"))
        return list(result.scalars())


def digest(engine: Engine, table: str) -> tuple[int, str]:
    with engine.connect() as conn:
        row = conn.execute(
            text(
                f"SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') "
                f"FROM {table} t"
            )
        ).one()
    return int(row[0]), str(row[1])


@contextmanager
def unchanged(engine: Engine, table: str) -> Iterator[None]:
    """The table holds one earlier row, and still holds exactly it afterwards."""
    before = digest(engine, table)
    assert before[0] > 0
    yield
    assert digest(engine, table) == before


@pytest.fixture
def seeded(loader: Engine, tmp_path: Path) -> Engine:
    """Each table used here holds one valid row, so a refusal can be seen to change nothing."""
    folder = tmp_path / "seed"
    folder.mkdir()
    for table in BASE:
        load(loader, prepare(parquet(folder, table, [{}])))
    return loader


def refused(engine: Engine, path: Path, table: str, *patterns: str, **options: Any) -> DataError:
    """Load ``path``; assert it is refused naming the file and ``patterns``; table unchanged."""
    with unchanged(engine, table), pytest.raises(DataError) as caught:
        load(engine, prepare(path, **options))
    message = str(caught.value)
    assert path.name in message
    for pattern in patterns:
        assert pattern in message, message
    assert SSN not in message
    assert NAME not in message
    return caught.value


# --- CSV: only an unquoted empty field is NULL ------------------------------------------


@pytest.mark.parametrize(
    "word", ["NA", "N/A", "n/a", "#N/A", "#NA", "NULL", "null", "nan", "NaN", "-NaN", "1.#QNAN"]
)
def test_csv_null_like_words_in_a_text_column_are_text(
    seeded: Engine, tmp_path: Path, word: str
) -> None:
    load(seeded, prepare(csv(tmp_path, DEMO, [{"name_last": word, "name_first": f'"{word}"'}])))
    assert stored(seeded, DEMO, "name_last") == [word]
    assert stored(seeded, DEMO, "name_first") == [word]


@pytest.mark.parametrize("word", ["NA", "NULL", "nan", "#N/A"])
def test_csv_null_like_word_in_a_not_null_column_loads(
    seeded: Engine, tmp_path: Path, word: str
) -> None:
    load(seeded, prepare(csv(tmp_path, REACTIONS, [{"reaction_name": word}])))
    assert stored(seeded, REACTIONS, "reaction_name") == [word]


def test_csv_quoted_empty_is_an_empty_string_and_unquoted_empty_is_null(
    seeded: Engine, tmp_path: Path
) -> None:
    load(seeded, prepare(csv(tmp_path, DEMO, [{"name_last": '""', "name_first": ""}])))
    assert stored(seeded, DEMO, "name_last") == [""]
    assert stored(seeded, DEMO, "name_first") == [None]


def test_csv_null_option_names_the_null_string(seeded: Engine, tmp_path: Path) -> None:
    rows = [{"name_last": "NA", "name_first": "", "religion": '"NA"'}]
    load(seeded, prepare(csv(tmp_path, DEMO, rows, empty="NA"), null="NA"))
    assert stored(seeded, DEMO, "name_last") == [None]
    assert stored(seeded, DEMO, "name_first") == [""]
    assert stored(seeded, DEMO, "religion") == ["NA"]


@pytest.mark.parametrize("cell", ["00501", "1e3", "true", "0x10", " 12 ", "2024-01-02"])
def test_csv_text_that_looks_like_a_number_stays_text(
    seeded: Engine, tmp_path: Path, cell: str
) -> None:
    load(seeded, prepare(csv(tmp_path, DEMO, [{"address_zip": f'"{cell}"', "religion": cell}])))
    assert stored(seeded, DEMO, "address_zip") == [cell]
    assert stored(seeded, DEMO, "religion") == [cell]


@pytest.mark.parametrize("cell", ["0x10", "+5", " 5", "5.0", "1e3", '"1,000"', '""'])
def test_csv_integer_column_takes_only_plain_digits(
    seeded: Engine, tmp_path: Path, cell: str
) -> None:
    path = csv(tmp_path, DEMO, [{}, {"patient_key": "ICN2", "icn": "ICN2", "age": cell}])
    refused(seeded, path, DEMO, "row 2: age:", "is not an integer")


def test_csv_with_quoted_line_breaks_loads_at_any_size(seeded: Engine, tmp_path: Path) -> None:
    rows = 200_000  # about 20 MB: more than one 16 MB block of the CSV reader
    pad = "x" * 60
    names = [f"line one\nline two, {i}\r\n{pad}" for i in range(rows)]
    table = pa.table(
        {
            "allergy_sid": pa.array(range(rows), pa.int64()),
            "patient_key": pa.array(["ICN1"] * rows),
            "reaction_name": pa.array(names),
        }
    )
    path = tmp_path / f"{REACTIONS}.csv"
    pa.csv.write_csv(table, path)
    assert path.stat().st_size > 1 << 24
    load(seeded, prepare(path))
    with seeded.connect() as conn:
        last = conn.execute(
            text(f"SELECT reaction_name FROM {REACTIONS} WHERE allergy_sid = {rows - 1}")
        ).scalar_one()
    assert digest(seeded, REACTIONS)[0] == rows
    assert last == names[-1]


# --- timestamps ---------------------------------------------------------------------------

NAIVE = datetime(2024, 6, 1, 12, 0, 0)


@pytest.mark.parametrize("unit", ["s", "ms", "us", "ns"])
def test_naive_parquet_timestamp_is_refused_without_a_zone(
    seeded: Engine, tmp_path: Path, unit: str
) -> None:
    path = parquet(
        tmp_path, VITALS, [{}, {"taken_datetime": NAIVE}], taken_datetime=pa.timestamp(unit)
    )
    refused(seeded, path, VITALS, "row 1: taken_datetime:", "no time zone", "--assume-timezone")


def test_naive_parquet_timestamp_is_read_in_the_named_zone(seeded: Engine, tmp_path: Path) -> None:
    path = parquet(tmp_path, VITALS, [{"taken_datetime": NAIVE}], taken_datetime=pa.timestamp("us"))
    load(seeded, prepare(path, assume_timezone="America/New_York"))
    assert stored(seeded, VITALS, "taken_datetime") == [datetime(2024, 6, 1, 16, tzinfo=UTC)]


@pytest.mark.parametrize(
    ("wall", "reason"),
    [
        (datetime(2024, 3, 10, 2, 30), "does not exist in America/New_York"),
        (datetime(2024, 11, 3, 1, 30), "is ambiguous in America/New_York"),
    ],
)
def test_wall_times_missing_or_doubled_in_the_zone_are_refused(
    seeded: Engine, tmp_path: Path, wall: datetime, reason: str
) -> None:
    rows = [{"taken_datetime": NAIVE}, {"taken_datetime": wall}]
    path = parquet(tmp_path, VITALS, rows, taken_datetime=pa.timestamp("us"))
    refused(
        seeded, path, VITALS, "row 2: taken_datetime:", reason, assume_timezone="America/New_York"
    )


def test_unknown_zone_is_a_usage_error(seeded: Engine, tmp_path: Path) -> None:
    path = parquet(tmp_path, VITALS, [{}])
    with pytest.raises(UsageError, match="Mars/Olympus"):
        prepare(path, assume_timezone="Mars/Olympus")


def test_sub_microsecond_timestamp_is_refused_by_row(seeded: Engine, tmp_path: Path) -> None:
    ticks = pa.array([1_704_164_645_000_000_000, 1_704_164_645_000_000_001], pa.int64())
    path = parquet(tmp_path, VITALS, [{}, {}], taken_datetime=pa.timestamp("ns", tz="UTC"))
    table = pq.read_table(path)
    table = table.set_column(
        table.schema.get_field_index("taken_datetime"),
        "taken_datetime",
        ticks.cast(pa.timestamp("ns", tz="UTC")),
    )
    pq.write_table(table, path)
    refused(seeded, path, VITALS, "row 2: taken_datetime:", "nanoseconds")


@pytest.mark.parametrize("kind", [pa.timestamp("ns", tz="UTC"), pa.timestamp("s", tz="Asia/Tokyo")])
def test_aware_timestamps_of_any_unit_load_as_the_same_instant(
    seeded: Engine, tmp_path: Path, kind: pa.DataType
) -> None:
    instant = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    load(
        seeded,
        prepare(parquet(tmp_path, VITALS, [{"taken_datetime": instant}], taken_datetime=kind)),
    )
    assert stored(seeded, VITALS, "taken_datetime") == [instant]


def test_int96_timestamps_carry_no_zone_and_are_refused_without_one(
    seeded: Engine, tmp_path: Path
) -> None:
    path = parquet(tmp_path, VITALS, [{}], taken_datetime=pa.timestamp("ns"))
    pq.write_table(pq.read_table(path), path, use_deprecated_int96_timestamps=True)
    refused(seeded, path, VITALS, "row 1: taken_datetime:", "no time zone")


def test_date_into_a_timestamp_column_is_a_naive_midnight(seeded: Engine, tmp_path: Path) -> None:
    rows = [{"taken_datetime": date(2024, 6, 1)}]
    path = parquet(tmp_path, VITALS, rows, taken_datetime=pa.date32())
    refused(seeded, path, VITALS, "row 1: taken_datetime:", "no time zone")
    load(seeded, prepare(path, assume_timezone="UTC"))
    assert stored(seeded, VITALS, "taken_datetime") == [datetime(2024, 6, 1, tzinfo=UTC)]


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("2024-01-02T03:04:05Z", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2024-01-02 04:04:05.123456+01:00", datetime(2024, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)),
        ("2024-01-01T22:04:05-0500", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
    ],
)
def test_csv_time_with_an_offset_is_that_instant(
    seeded: Engine, tmp_path: Path, cell: str, expected: datetime
) -> None:
    load(seeded, prepare(csv(tmp_path, VITALS, [{"taken_datetime": cell}])))
    assert stored(seeded, VITALS, "taken_datetime") == [expected]


@pytest.mark.parametrize(
    ("cell", "reason"),
    [
        ("2024-01-02T03:04:05", "no time zone"),
        ("2024-01-02", "no time zone"),
        ("2024-01-02T03:04:05.1234567Z", "more than 6 fractional digits"),
        ("2024-02-30T00:00:00Z", "is not an ISO 8601 time"),
        ("2016-12-31T23:59:60Z", "is not an ISO 8601 time"),
        ("2024-01-02T24:00:00Z", "is not an ISO 8601 time"),
        ("2024-01-02t03:04:05z", "is not an ISO 8601 time"),
        ("0000-06-01T00:00:00Z", "before year 1"),
    ],
)
def test_csv_time_that_is_not_an_exact_instant_is_refused(
    seeded: Engine, tmp_path: Path, cell: str, reason: str
) -> None:
    path = csv(tmp_path, VITALS, [{}, {"taken_datetime": cell}])
    refused(seeded, path, VITALS, "row 2: taken_datetime:", reason)


def test_csv_naive_time_is_read_in_the_named_zone(seeded: Engine, tmp_path: Path) -> None:
    rows = [{"taken_datetime": "2024-06-01T12:00:00"}, {"taken_datetime": "2024-06-01T12:00Z"}]
    load(seeded, prepare(csv(tmp_path, VITALS, rows), assume_timezone="America/New_York"))
    assert stored(seeded, VITALS, "taken_datetime") == [
        datetime(2024, 6, 1, 16, tzinfo=UTC),
        datetime(2024, 6, 1, 12, tzinfo=UTC),
    ]


def test_timestamp_with_a_time_of_day_is_refused_by_a_date_column(
    seeded: Engine, tmp_path: Path
) -> None:
    rows: list[dict[str, Any]] = [
        {"dob": datetime(1950, 1, 2)},
        {"patient_key": "ICN2", "icn": "ICN2", "dob": datetime(1950, 1, 2, 13)},
    ]
    path = parquet(tmp_path, DEMO, rows, dob=pa.timestamp("us"))
    refused(seeded, path, DEMO, "row 2: dob:", "has a time of day")


def test_timestamp_at_midnight_loads_into_a_date_column(seeded: Engine, tmp_path: Path) -> None:
    path = parquet(tmp_path, DEMO, [{"dob": datetime(1950, 1, 2)}], dob=pa.timestamp("ns"))
    load(seeded, prepare(path))
    assert stored(seeded, DEMO, "dob") == [date(1950, 1, 2)]


def test_date_before_year_one_is_refused(seeded: Engine, tmp_path: Path) -> None:
    path = csv(tmp_path, DEMO, [{"dob": "0000-01-01"}])
    refused(seeded, path, DEMO, "row 1: dob:", "outside the dates stored")


# --- numbers ------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0.125, 2.675, 98.601, 1e-7])
def test_float_with_more_decimals_than_the_scale_is_refused(
    seeded: Engine, tmp_path: Path, value: float
) -> None:
    path = parquet(tmp_path, VITALS, [{"bmi": 20.5}, {"bmi": value}], bmi=pa.float64())
    refused(seeded, path, VITALS, "row 2: bmi:", repr(value), "does not fit numeric(5,2)")


@pytest.mark.parametrize("kind", [pa.float64(), pa.float32()])
def test_float_is_judged_by_its_shortest_decimal_form(
    seeded: Engine, tmp_path: Path, kind: pa.DataType
) -> None:
    path = parquet(tmp_path, VITALS, [{"bmi": 98.6}, {"bmi": 0.1}, {"bmi": 3.0}], bmi=kind)
    load(seeded, prepare(path))
    assert stored(seeded, VITALS, "bmi") == [Decimal("98.60"), Decimal("0.10"), Decimal("3.00")]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_nan_and_infinity_are_refused_by_numeric(
    seeded: Engine, tmp_path: Path, value: float
) -> None:
    path = parquet(tmp_path, VITALS, [{}, {"bmi": value}], bmi=pa.float64())
    refused(seeded, path, VITALS, "row 2: bmi:", "NaN or infinite")


@pytest.mark.parametrize(
    ("cell", "reason"),
    [
        ('"1,5"', "is not a decimal number"),
        (" 12 ", "is not a decimal number"),
        ("12345.6", "does not fit numeric(5,2)"),
        ("1.234", "does not fit numeric(5,2)"),
    ],
)
def test_csv_decimal_text_that_does_not_fit_exactly_is_refused(
    seeded: Engine, tmp_path: Path, cell: str, reason: str
) -> None:
    path = csv(tmp_path, VITALS, [{}, {"bmi": cell}])
    refused(seeded, path, VITALS, "row 2: bmi:", reason)


def test_decimal_exponent_text_loads_exactly(seeded: Engine, tmp_path: Path) -> None:
    load(seeded, prepare(csv(tmp_path, VITALS, [{"bmi": "2.25e1"}, {"bmi": "-.5"}])))
    assert stored(seeded, VITALS, "bmi") == [Decimal("22.50"), Decimal("-0.50")]


@pytest.mark.parametrize(
    ("values", "kind", "reason"),
    [
        ([120, 2**31], pa.int64(), "out of range for int32"),
        ([120.0, 120.5], pa.float64(), "is not a whole number"),
        ([True, False], pa.bool_(), "holds bool values"),
    ],
)
def test_integer_column_refuses_what_is_not_that_integer(
    seeded: Engine, tmp_path: Path, values: list[Any], kind: pa.DataType, reason: str
) -> None:
    path = parquet(tmp_path, VITALS, [{"systolic": v} for v in values], systolic=kind)
    refused(seeded, path, VITALS, "systolic:", reason)


def test_whole_floats_load_into_an_integer_column(seeded: Engine, tmp_path: Path) -> None:
    path = parquet(tmp_path, VITALS, [{"systolic": 120.0}], systolic=pa.float64())
    load(seeded, prepare(path))
    assert stored(seeded, VITALS, "systolic") == [120]


# --- values only the server would reject --------------------------------------------------


@pytest.mark.parametrize(
    ("cells", "constraint"),
    [
        ({"deceased_flag": "U"}, "ck_patient_demographics_deceased_flag_yn"),
        ({"service_connected_percent": Decimal("100.5")}, "service_connected_percent_range"),
        ({"icn": "ICN9"}, "ck_patient_demographics_icn_is_patient_key"),
    ],
)
def test_check_constraint_violation_is_refused_by_row_without_the_row(
    seeded: Engine, tmp_path: Path, cells: dict[str, Any], constraint: str
) -> None:
    path = parquet(tmp_path, DEMO, [{}, {"patient_key": "ICN2", "icn": "ICN2", **cells}])
    refused(seeded, path, DEMO, "row 2:", constraint)


@pytest.mark.parametrize(
    "cell", ['{"a": ', "{'a': 1}", '{"a": NaN}', '{"a": "\\u0000"}', '"\\ud800"', ""]
)
def test_json_postgresql_would_reject_is_refused_by_row(
    seeded: Engine, tmp_path: Path, cell: str
) -> None:
    path = parquet(
        tmp_path, VITALS, [{"qualifiers": '{"position": "sitting"}'}, {"qualifiers": cell}]
    )
    refused(seeded, path, VITALS, "row 2: qualifiers:", "is not valid JSON")


def test_valid_json_loads_as_jsonb(seeded: Engine, tmp_path: Path) -> None:
    path = parquet(tmp_path, VITALS, [{"qualifiers": '{"position": ["sitting", 1.5]}'}])
    load(seeded, prepare(path))
    assert stored(seeded, VITALS, "qualifiers") == [{"position": ["sitting", 1.5]}]


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_nul_character_in_text_is_refused_by_row(
    seeded: Engine, tmp_path: Path, suffix: str
) -> None:
    rows = [{}, {"patient_key": "ICN2", "icn": "ICN2", "name_first": "AB\x00C"}]
    path = parquet(tmp_path, DEMO, rows) if suffix == ".parquet" else csv(tmp_path, DEMO, rows)
    refused(seeded, path, DEMO, "row 2: name_first:", "NUL character")


def test_varchar_length_counts_characters_not_bytes(seeded: Engine, tmp_path: Path) -> None:
    path = parquet(tmp_path, DEMO, [{"address_state": "ÅÖ"}])
    load(seeded, prepare(path))
    assert stored(seeded, DEMO, "address_state") == ["ÅÖ"]
    path = parquet(
        tmp_path, DEMO, [{}, {"patient_key": "ICN2", "icn": "ICN2", "address_state": "ÅÖÄ"}]
    )
    refused(seeded, path, DEMO, "row 2: address_state:", "longer than 2 characters")


@pytest.mark.parametrize("mode", ["replace", "upsert"])
def test_a_constraint_only_the_server_knows_is_refused_by_row_and_name(
    seeded: Engine, engine: Engine, tmp_path: Path, mode: str
) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                f"ALTER TABLE {REACTIONS} ADD CONSTRAINT ck_reaction_not_secret "
                "CHECK (reaction_name <> 'SECRET')"
            )
        )
    rows: list[dict[str, Any]] = [
        {"allergy_sid": 5},
        {"allergy_sid": 6},
        {"allergy_sid": 7, "reaction_name": "SECRET"},
    ]
    path = parquet(tmp_path, REACTIONS, rows)
    with unchanged(seeded, REACTIONS), pytest.raises(DataError) as caught:
        load(seeded, prepare(path), mode=mode)  # type: ignore[arg-type]
    message = str(caught.value)
    assert "row 3" in message
    assert "ck_reaction_not_secret" in message
    assert "SECRET" not in message.replace("ck_reaction_not_secret", "")
    assert "ICN1" not in message


def test_duplicate_keys_are_named_by_row_not_by_value(seeded: Engine, tmp_path: Path) -> None:
    rows = [{"allergy_sid": 1}, {"allergy_sid": 2}, {"allergy_sid": 1}]
    error = refused(seeded, parquet(tmp_path, REACTIONS, rows), REACTIONS, "row 3:", "as row 1")
    assert "ICN1" not in str(error)


# --- file shape ---------------------------------------------------------------------------


def test_header_naming_a_column_twice_is_refused_by_name(seeded: Engine, tmp_path: Path) -> None:
    path = tmp_path / f"{REACTIONS}.csv"
    path.write_text("allergy_sid,patient_key,reaction_name,patient_key\n1,ICN1,HIVES,ICN1\n")
    refused(seeded, path, REACTIONS, "patient_key: appears 2 times in the header")


def test_invalid_utf8_is_refused_by_row_and_column(seeded: Engine, tmp_path: Path) -> None:
    path = tmp_path / f"{REACTIONS}.csv"
    path.write_bytes(b"allergy_sid,patient_key,reaction_name\n1,ICN1,HIVES\n2,ICN1,HIV\xe9S\n")
    refused(seeded, path, REACTIONS, "row 2: reaction_name:", "not valid UTF-8", "--encoding")


@pytest.mark.parametrize(
    ("header", "row", "expected"),
    [
        ("allergy_sid,patient_key,reaction_name,", "1,ICN1,HIVES,", "header field 4 has no column"),
        ("allergy_sid,,reaction_name", "1,ICN1,HIVES", "header field 2 has no column"),
        (
            "allergy_sid,patient_key,reaction_name",
            '1,ICN1,"HIVES\nSTILL",EXTRA',
            "row 2: has 4 fields",
        ),
        ("allergy_sid,patient_key,reaction_name", "1,ICN1", "row 2: has 2 fields"),
        ("allergy_sid,patient_key,reaction_name", "\n\n1,ICN1", "row 2: has 2 fields"),
        ("", "1,ICN1,HIVES", "is the header missing?"),
    ],
)
def test_csv_of_the_wrong_shape_is_refused_by_row(
    seeded: Engine, tmp_path: Path, header: str, row: str, expected: str
) -> None:
    path = tmp_path / f"{REACTIONS}.csv"
    first = f"{header}\n9,ICN1,FINE{',' if header.endswith(',') else ''}" if header else ""
    path.write_text(f"{first}\n{row}\n")
    error = refused(seeded, path, REACTIONS, expected)
    assert "HIVES" not in str(error)


def test_utf8_bom_is_not_part_of_the_first_column_name(seeded: Engine, tmp_path: Path) -> None:
    path = tmp_path / f"{REACTIONS}.csv"
    path.write_bytes(b"\xef\xbb\xbfallergy_sid,patient_key,reaction_name\n1,ICN1,HIVES\n")
    load(seeded, prepare(path))
    assert stored(seeded, REACTIONS, "allergy_sid") == [1]


def test_utf16_with_a_bom_loads_exactly(seeded: Engine, tmp_path: Path) -> None:
    path = tmp_path / f"{REACTIONS}.csv"
    path.write_bytes(
        "allergy_sid,patient_key,reaction_name\n1,ICN1,Ürtikaria 蕁麻疹\n".encode("utf-16")
    )
    load(seeded, prepare(path, encoding="utf16"))
    assert stored(seeded, REACTIONS, "reaction_name") == ["Ürtikaria 蕁麻疹"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"encoding": "bogus"}, "not a text encoding"),
        ({"encoding": "base64"}, "not a text encoding"),
        ({"encoding": "utf\x008"}, "not a text encoding"),
        ({"delimiter": "\x00"}, "cannot be NUL"),
        ({"delimiter": ";;"}, "one ASCII character"),
        ({"delimiter": "§"}, "one ASCII character"),
        ({"delimiter": '"'}, "quote character"),
        ({"delimiter": "\n"}, "line break"),
        ({"null": "a,b"}, "--null cannot contain"),
    ],
)
def test_options_that_cannot_read_a_csv_are_usage_errors(
    seeded: Engine, tmp_path: Path, options: dict[str, str], message: str
) -> None:
    path = csv(tmp_path, REACTIONS, [{}])
    with unchanged(seeded, REACTIONS), pytest.raises(UsageError, match=message):
        prepare(path, **options)  # type: ignore[arg-type]


def test_int96_times_outside_the_nanosecond_range_keep_their_instant(
    seeded: Engine, tmp_path: Path
) -> None:
    far = datetime(3000, 1, 1, 12)
    path = parquet(tmp_path, VITALS, [{"taken_datetime": far}], taken_datetime=pa.timestamp("us"))
    pq.write_table(pq.read_table(path), path, use_deprecated_int96_timestamps=True)
    load(seeded, prepare(path, assume_timezone="UTC"))
    assert stored(seeded, VITALS, "taken_datetime") == [far.replace(tzinfo=UTC)]


def test_empty_csv_file_is_refused_as_unreadable(seeded: Engine, tmp_path: Path) -> None:
    path = tmp_path / f"{REACTIONS}.csv"
    path.write_bytes(b"")
    refused(seeded, path, REACTIONS, "is empty: it has no header")


def test_date_past_the_last_day_postgresql_stores_is_refused(
    seeded: Engine, tmp_path: Path
) -> None:
    path = parquet(tmp_path, DEMO, [{}, {"patient_key": "ICN2", "icn": "ICN2"}])
    table = pq.read_table(path)
    days = pa.array([0, 2_145_042_906], pa.int32()).cast(pa.date32())
    pq.write_table(table.set_column(table.schema.get_field_index("dob"), "dob", days), path)
    refused(seeded, path, DEMO, "row 2: dob:", "outside the dates stored")


def test_parquet_naming_a_column_twice_is_refused_by_name(seeded: Engine, tmp_path: Path) -> None:
    path = parquet(tmp_path, REACTIONS, [{}])
    table = pq.read_table(path)
    pq.write_table(table.append_column("reaction_name", table.column("reaction_name")), path)
    refused(seeded, path, REACTIONS, "reaction_name: appears 2 times in the header")
