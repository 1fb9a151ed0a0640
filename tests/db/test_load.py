"""The clinical loader: checked before touching the table, atomic, and keeps the table whole."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine, text

from medz1.clinical.arrow_types import arrow_schema
from medz1.clinical.load import load, prepare
from medz1.db.target import Target
from medz1.errors import DataError, NotFoundError
from medz1.models import metadata
from medz1.provision.connect import engine_for_role
from medz1.provision.credentials import RolePlan

pytestmark = pytest.mark.db

TABLE = "patient_allergy_reactions"


def reactions(rows: int, *, patients: int = 10, start: int = 0, name: str = "HIVES") -> pa.Table:
    """Valid rows for patient_allergy_reactions (a narrow clinical table)."""
    sids = list(range(start, start + rows))
    return pa.table(
        {
            "allergy_sid": pa.array(sids, pa.int64()),
            "patient_key": [f"ICN{100001 + i % patients}" for i in sids],
            "reaction_name": [name] * rows,
        }
    )


def write(table: pa.Table, path: Path) -> Path:
    if path.suffix == ".csv":
        pacsv.write_csv(table, path)
    else:
        pq.write_table(table, path)
    return path


@pytest.fixture
def loader(db_target: Target, role_plan: RolePlan) -> Iterator[Engine]:
    engine = engine_for_role(db_target, "loader", role_plan.passwords)
    yield engine
    engine.dispose()


def count(engine: Engine, table: str = TABLE) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def load_file(engine: Engine, path: Path, **kwargs: object) -> None:
    load(engine, prepare(path, **kwargs))  # type: ignore[arg-type]


@pytest.fixture
def loaded(loader: Engine, tmp_path: Path) -> Engine:
    """The reactions table holding 100 rows."""
    load_file(loader, write(reactions(100), tmp_path / f"{TABLE}.parquet"))
    return loader


def test_parquet_file_replaces_the_table(loaded: Engine, tmp_path: Path) -> None:
    load_file(loaded, write(reactions(250, start=1000), tmp_path / f"{TABLE}.parquet"))
    assert count(loaded) == 250


def test_csv_file_loads_with_its_types(loader: Engine, tmp_path: Path) -> None:
    load_file(loader, write(reactions(30), tmp_path / f"{TABLE}.csv"))
    with loader.connect() as conn:
        sid, created = conn.execute(
            text(f"SELECT allergy_sid, created_at FROM {TABLE} ORDER BY allergy_sid LIMIT 1")
        ).one()
    assert sid == 0
    assert created is not None  # left to its server default


def test_upsert_updates_and_inserts_by_natural_key(loaded: Engine, tmp_path: Path) -> None:
    changed = reactions(10, start=95)  # 5 existing keys, 5 new
    load(loaded, prepare(write(changed, tmp_path / f"{TABLE}.parquet")), mode="upsert")
    assert count(loaded) == 105


def test_upsert_with_prune_removes_rows_the_file_no_longer_has(
    loaded: Engine, tmp_path: Path
) -> None:
    only_patient_one = (
        reactions(100)
        .filter(pa.compute.equal(reactions(100).column("patient_key"), "ICN100001"))
        .slice(0, 3)
    )
    load(
        loaded,
        prepare(write(only_patient_one, tmp_path / f"{TABLE}.parquet")),
        mode="upsert",
        prune=True,
    )
    with loaded.connect() as conn:
        per_patient: dict[str, int] = dict(
            conn.execute(
                text(f"SELECT patient_key, count(*) FROM {TABLE} GROUP BY patient_key")
            ).all()
        )
    assert per_patient["ICN100001"] == 3
    assert per_patient["ICN100002"] == 10


def test_folder_loads_every_table_in_one_transaction(loader: Engine, tmp_path: Path) -> None:
    write(reactions(20), tmp_path / f"{TABLE}.parquet")
    schema = arrow_schema(metadata.tables["public.patient_demographics"])
    values = {"patient_key": "ICN100001", "icn": "ICN100001", "deceased_flag": "X"}
    # deceased_flag 'X' violates a CHECK constraint that only the database knows.
    row = pa.table({f.name: pa.array([values.get(f.name)], f.type) for f in schema})
    write(row, tmp_path / "patient_demographics.parquet")
    with pytest.raises(DataError, match="deceased_flag"):
        load(loader, prepare(tmp_path))
    assert count(loader) == 0  # the reactions file was rolled back with the rest


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (reactions(5).drop_columns(["reaction_name"]), "reaction_name: missing column"),
        (reactions(5).append_column("colour", pa.array(["red"] * 5)), "colour: unknown column"),
        (
            reactions(5).set_column(2, "reaction_name", pa.array(["x" * 101] * 5)),
            "longer than 100 characters",
        ),
        (
            reactions(5).set_column(2, "reaction_name", pa.array(["A", None, "B", "C", "D"])),
            "row 2: reaction_name: empty, but the column is NOT NULL",
        ),
        (pa.concat_tables([reactions(5), reactions(5)]), "duplicate key"),
        (reactions(0), "has no rows"),
    ],
)
def test_bad_file_is_refused_and_nothing_changes(
    loaded: Engine, tmp_path: Path, content: pa.Table, message: str
) -> None:
    path = write(content, tmp_path / f"{TABLE}.parquet")
    with pytest.raises(DataError, match=message) as caught:
        load_file(loaded, path)
    assert "nothing was changed" in caught.value.hint
    assert count(loaded) == 100


def test_empty_file_empties_the_table_only_when_asked(loaded: Engine, tmp_path: Path) -> None:
    load_file(loaded, write(reactions(0), tmp_path / f"{TABLE}.parquet"), allow_empty=True)
    assert count(loaded) == 0


def test_bad_value_in_row_900000_is_located(loaded: Engine, tmp_path: Path) -> None:
    rows = reactions(900_000)
    sids = rows.column("allergy_sid").cast(pa.string()).to_pylist()
    sids[899_999] = "nine"
    path = write(rows.set_column(0, "allergy_sid", pa.array(sids)), tmp_path / f"{TABLE}.csv")
    with pytest.raises(DataError, match=r"row 900,000: allergy_sid: is not an integer") as caught:
        load_file(loaded, path)
    assert "nine" not in str(caught.value)  # text cells are never echoed
    assert count(loaded) == 100


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("patient_alergies.parquet", b"", "did you mean patient_allergies"),
        (f"{TABLE}.xlsx", b"PK", "neither Parquet nor CSV"),
        (f"{TABLE}.parquet", b"PAR1 this is not parquet", "cannot be read as parquet"),
        (
            f"{TABLE}.csv",
            b"allergy_sid;patient_key;reaction_name\n1;ICN1;X\n",
            "another character",
        ),
        (
            f"{TABLE}.csv",
            "allergy_sid,patient_key,reaction_name\n1,ICN1,Ã©\xe9\n".encode("latin-1"),
            "--encoding",
        ),
    ],
)
def test_unreadable_input_is_one_clear_error(
    loaded: Engine, tmp_path: Path, name: str, data: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises((DataError, NotFoundError), match=message):
        load_file(loaded, path)
    assert count(loaded) == 100


def test_exception_mid_load_leaves_the_old_rows(loaded: Engine, tmp_path: Path) -> None:
    files = prepare(write(reactions(300_000, start=10_000), tmp_path / f"{TABLE}.parquet"))

    def fail(table: str, rows: int) -> None:
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        load(loaded, files, progress=fail)
    assert count(loaded) == 100


def test_reader_sees_only_the_old_or_the_new_rows(loaded: Engine, tmp_path: Path) -> None:
    files = prepare(write(reactions(400_000, start=10_000), tmp_path / f"{TABLE}.parquet"))
    seen: set[int] = set()
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            seen.add(count(loaded))

    reader = threading.Thread(target=poll)
    reader.start()
    try:
        load(loaded, files)
    finally:
        done.set()
        reader.join()
    seen.add(count(loaded))
    assert seen <= {100, 400_000}
    assert 400_000 in seen


def _catalog(engine: Engine) -> tuple[object, ...]:
    with engine.connect() as conn:
        return tuple(
            conn.execute(
                text(
                    "SELECT (SELECT array_agg(indexdef ORDER BY indexname) FROM pg_indexes "
                    f"WHERE tablename = '{TABLE}'), c.relacl::text, obj_description(c.oid), "
                    "(SELECT array_agg(col_description(c.oid, a.attnum) ORDER BY a.attnum) "
                    " FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0), "
                    "(SELECT array_agg(format_type(a.atttypid, a.atttypmod) ORDER BY a.attnum) "
                    " FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0) "
                    f"FROM pg_class c WHERE c.oid = 'public.{TABLE}'::regclass"
                )
            ).one()
        )


def test_indexes_grants_comments_and_types_survive_a_replace(
    loaded: Engine, engine: Engine, tmp_path: Path
) -> None:
    before = _catalog(engine)
    load_file(loaded, write(reactions(50, start=5000), tmp_path / f"{TABLE}.parquet"))
    assert _catalog(engine) == before


@pytest.mark.slow
def test_killed_loader_process_leaves_the_old_rows(
    loaded: Engine, db_target: Target, role_plan: RolePlan, tmp_path: Path
) -> None:
    path = write(reactions(2_000_000, start=10_000), tmp_path / f"{TABLE}.parquet")
    marker = tmp_path / "copying"
    script = (
        "import sys, pathlib\n"
        "from sqlalchemy.engine import make_url\n"
        "from medz1.clinical.load import load, prepare\n"
        "from medz1.db.engine import make_engine\n"
        "marker = pathlib.Path(sys.argv[2])\n"
        "def progress(table, rows):\n"
        "    marker.touch()\n"
        "load(make_engine(make_url(sys.argv[3])), prepare(pathlib.Path(sys.argv[1])), "
        "progress=progress)\n"
    )
    url = db_target.url.set(
        username="medz1_loader", password=role_plan.passwords["medz1_loader"].get_secret_value()
    )
    process = subprocess.Popen(  # noqa: S603 - the test's own interpreter and script
        [
            sys.executable,
            "-c",
            script,
            str(path),
            str(marker),
            url.render_as_string(hide_password=False),
        ],
        env={**os.environ},
    )
    deadline = time.monotonic() + 60
    while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    process.kill()
    process.wait()
    assert marker.exists()
    assert count(loaded) == 100
