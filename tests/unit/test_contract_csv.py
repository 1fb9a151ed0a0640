"""A CSV file of every clinical table conforms to exactly the values of its Parquet twin."""

from __future__ import annotations

from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from medz1.clinical.load import prepare
from medz1.clinical.synthetic import generate


def test_csv_and_parquet_of_the_same_rows_conform_identically(tmp_path: Path) -> None:
    (tmp_path / "csv").mkdir()
    (tmp_path / "parquet").mkdir()
    for name, table in generate(20, seed=11).items():
        pacsv.write_csv(table, tmp_path / "csv" / f"{name}.csv")
        pq.write_table(table, tmp_path / "parquet" / f"{name}.parquet")
    from_csv = prepare(tmp_path / "csv")
    from_parquet = prepare(tmp_path / "parquet")
    assert [f.table.name for f in from_csv] == [f.table.name for f in from_parquet]
    for csv_file, parquet_file in zip(from_csv, from_parquet, strict=True):
        assert csv_file.data.equals(parquet_file.data), csv_file.table.name
