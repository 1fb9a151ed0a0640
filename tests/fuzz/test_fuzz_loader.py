"""S32: random and mutated data files (CSV and Parquet, against real clinical tables) are
loaded whole or refused with a documented error, and a refused load leaves the table as
it was.
"""

from __future__ import annotations

import io
import shutil
import tempfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from medz1.clinical.load import prepare
from medz1.clinical.synthetic import generate
from medz1.errors import Medz1Error
from tests.cli.conftest import Invoke
from tests.fuzz.budget import DOCUMENTED_CODES, FAST, FULL, Drawn, fuzz_settings

#: Real tables of different shapes: narrow, wide with timestamps and numbers, the root.
TABLES = ("patient_allergy_reactions", "patient_vitals", "patient_demographics")

#: Inputs that once ended in an unexpected error (exit 1); every run can draw them.
LOADER_FAULTS = (
    "clinical loader (contract.read_file / conform): a CSV whose header or text values are "
    "not valid UTF-8 (b'\\x80\\n') ends in 'unexpected UnicodeDecodeError'; --encoding "
    "bogus (LookupError), utf16 without BOM (UnicodeError), rot13 (TypeError), base64 "
    "(binascii.Error); --delimiter NUL or any non-ASCII character (ValueError 'Expecting an "
    "ASCII character'): all exit 1 instead of a refusal (exit 2 or 8)"
)


@cache
def valid_tables() -> dict[str, pa.Table]:
    """A few synthetic patients' rows of each fuzzed table."""
    tables = generate(3, seed=11)
    return {name: tables[name].slice(0, 40) for name in TABLES}


def _encode(table: pa.Table, kind: str) -> bytes:
    sink = io.BytesIO()
    if kind == "csv":
        pacsv.write_csv(table, sink)
    else:
        pq.write_table(table, sink)
    return sink.getvalue()


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` with a few bytes flipped, cut, repeated or inserted."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        if not out:
            break
        at = draw(st.integers(0, len(out) - 1))
        kind = draw(st.sampled_from(["flip", "cut", "insert", "repeat", "truncate"]))
        if kind == "flip":
            out[at] ^= draw(st.integers(1, 255))
        elif kind == "cut":
            del out[at : at + draw(st.integers(1, 64))]
        elif kind == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "repeat":
            out[at:at] = out[at : at + draw(st.integers(1, 200))]
        else:
            del out[at:]
    return bytes(out)


@st.composite
def data_files(draw: st.DrawFn, *, utf8_csv: bool = False) -> tuple[str, str, bytes]:
    """(table, suffix, content): random bytes, or a valid file of the table mutated.

    With ``utf8_csv`` a CSV's bytes are made valid UTF-8 (invalid sequences replaced), so
    the run leaves out the loader fault that is reported (see LOADER_FAULTS).
    """
    table = draw(st.sampled_from(TABLES))
    kind = draw(st.sampled_from(["csv", "parquet"]))
    valid = _encode(valid_tables()[table], kind)
    content = draw(
        st.one_of(
            st.binary(max_size=300),
            mutated(valid),
            st.just(valid[: len(valid) // 2]),
            st.text(max_size=200).map(lambda s: s.encode("utf-8", "surrogatepass")),
        )
    )
    if utf8_csv and kind == "csv":
        content = content.decode("utf-8", errors="replace").encode("utf-8")
    return table, "." + kind, content


#: CSV options as a person might pass them, and the ones known to break the loader.
SAFE_DELIMITERS = st.sampled_from([",", ";", "\t", "|", "x", " ", '"', "\n"])
SAFE_ENCODINGS = st.sampled_from(["utf8", "utf-8"])
ANY_DELIMITERS = st.one_of(SAFE_DELIMITERS, st.characters())
ANY_ENCODINGS = st.one_of(SAFE_ENCODINGS, st.text(max_size=12), st.just("utf16"))


@pytest.fixture
def folder() -> Iterator[Path]:
    """A scratch folder that lives across hypothesis examples (rewritten by each)."""
    path = Path(tempfile.mkdtemp(prefix="medz1-fuzz-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _fuzz_prepare(
    folder: Path,
    examples: int,
    delimiters: st.SearchStrategy[str],
    encodings: st.SearchStrategy[str],
    *,
    utf8_csv: bool = False,
    first: tuple[str, str, bytes] | None = None,
) -> None:
    drawn = Drawn()

    @fuzz_settings(examples)
    @given(file=data_files(utf8_csv=utf8_csv), delimiter=delimiters, encoding=encodings)
    def check(file: tuple[str, str, bytes], delimiter: str, encoding: str) -> None:
        drawn()
        table, suffix, content = file
        path = folder / f"{table}{suffix}"
        path.write_bytes(content)
        code = 0
        try:
            prepared = prepare(path, delimiter=delimiter, encoding=encoding)
        except Medz1Error as exc:
            code = exc.exit_code
        else:
            assert [f.table.name for f in prepared] == [table]
        finally:
            path.unlink()
        assert code in DOCUMENTED_CODES

    if first is not None:  # an input known to have failed is always tried first
        check = example(file=first, delimiter=",", encoding="utf8")(check)
    check()
    assert drawn.count >= examples


def test_fuzzed_files_are_read_or_refused(folder: Path) -> None:
    _fuzz_prepare(folder, FAST["loader_files"], SAFE_DELIMITERS, SAFE_ENCODINGS)


@pytest.mark.slow
def test_fuzzed_files_are_read_or_refused_full(folder: Path) -> None:
    _fuzz_prepare(folder, FULL["loader_files"], ANY_DELIMITERS, ANY_ENCODINGS)


def test_fuzzed_files_with_any_csv_options_are_read_or_refused(folder: Path) -> None:
    _fuzz_prepare(folder, FAST["loader_files"], ANY_DELIMITERS, ANY_ENCODINGS, utf8_csv=False)


# -- through `medz1 load`, on a database ---------------------------------------------------


def table_digest(engine: Engine, table: str) -> str:
    """MD5 of the table's rows in a fixed order."""
    with engine.connect() as conn:
        return str(
            conn.execute(
                text(
                    "SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) "
                    f"FROM public.{table} t"
                )
            ).scalar_one()
        )


def _seed(cli: Invoke, folder: Path) -> None:
    for name, data in valid_tables().items():
        pq.write_table(data, folder / f"{name}.parquet")
    result = cli("load", str(folder))
    assert result.code == 0, result.err
    for path in folder.iterdir():
        path.unlink()


def _fuzz_load(
    cli: Invoke,
    engine: Engine,
    folder: Path,
    examples: int,
    *,
    utf8_csv: bool = False,
    first: tuple[str, str, bytes] | None = None,
) -> None:
    _seed(cli, folder)
    drawn = Drawn()

    @fuzz_settings(examples)
    @given(file=data_files(utf8_csv=utf8_csv), mode=st.sampled_from(["replace", "upsert"]))
    def check(file: tuple[str, str, bytes], mode: str) -> None:
        drawn()
        table, suffix, content = file
        path = folder / f"{table}{suffix}"
        path.write_bytes(content)
        before = table_digest(engine, table)
        try:
            result = cli("load", str(path), "--mode", mode)
        finally:
            path.unlink()
        assert "Traceback" not in result.out + result.err
        assert result.code in DOCUMENTED_CODES, result.err
        if result.code != 0:
            assert table_digest(engine, table) == before, result.err

    if first is not None:  # an input known to have failed is always tried first
        check = example(file=first, mode="replace")(check)
    check()
    assert drawn.count >= examples


def test_fuzzed_loads_change_nothing_when_refused(
    cli: Invoke, engine: Engine, database_url_env: str, folder: Path
) -> None:
    _fuzz_load(cli, engine, folder, FAST["loader_db"])


@pytest.mark.slow
def test_fuzzed_loads_change_nothing_when_refused_full(
    cli: Invoke, engine: Engine, database_url_env: str, folder: Path
) -> None:
    _fuzz_load(cli, engine, folder, FULL["loader_db"])


def test_fuzzed_loads_of_any_bytes_change_nothing_when_refused(
    cli: Invoke, engine: Engine, database_url_env: str, folder: Path
) -> None:
    header_not_utf8 = ("patient_allergy_reactions", ".csv", b"\x80\n")
    _fuzz_load(cli, engine, folder, FAST["loader_db"], utf8_csv=False, first=header_not_utf8)
