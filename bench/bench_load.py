"""Load throughput: the medz1 loader vs the server's own COPY vs pandas ``to_sql``.

Run: ``pip install '.[bench]' && python bench/bench_load.py [--rows 1000000]``

All three load the same synthetic vitals rows into tables of the same definition
(``patient_vitals`` with its keys and indexes), measured side by side in one run:

- the server's ``COPY ... FROM 'file'`` of the rows as CSV (no client at all: the limit);
- the medz1 loader from Parquet: read, contract checks, binary COPY, in one transaction;
- pandas ``to_sql(method="multi", chunksize=1000)``, med-z1's way (on a sample, since it
  is slow; its rate is rows per second all the same).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from sqlalchemy import text

from bench._server import BenchDatabase, bench_database
from medz1.clinical.load import load, prepare
from medz1.clinical.synthetic import generate
from medz1.db.engine import make_engine
from medz1.provision.connect import engine_for_role

TABLE = "patient_vitals"


def vitals(rows: int) -> pa.Table:
    """At least ``rows`` synthetic vitals, cut to exactly ``rows``."""
    patients = max(10, rows // 110)
    while True:
        table = generate(patients, seed=7)[TABLE]
        if table.num_rows >= rows:
            return table.slice(0, rows)
        patients = int(patients * 1.3) + 1


def server_copy(db: BenchDatabase, csv: Path, columns: list[str]) -> float:
    """Seconds for the server's own COPY of the CSV file into a same-definition table."""
    engine = make_engine(db.target.url)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE bench_copy (LIKE {TABLE} INCLUDING ALL)"))
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(
            text(f"COPY bench_copy ({', '.join(columns)}) FROM '{csv}' (FORMAT csv, HEADER true)")
        )
    seconds = time.perf_counter() - started
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE bench_copy"))
    engine.dispose()
    return seconds


def medz1_load(db: BenchDatabase, parquet: Path) -> float:
    """Seconds for the medz1 loader, checks included, as the loader role."""
    engine = engine_for_role(db.target, "loader", db.role_plan.passwords)
    started = time.perf_counter()
    load(engine, prepare(parquet))
    seconds = time.perf_counter() - started
    engine.dispose()
    return seconds


def pandas_to_sql(db: BenchDatabase, data: pa.Table) -> float:
    """Seconds for pandas ``to_sql(if_exists="replace", method="multi", chunksize=1000)``."""
    engine = make_engine(db.target.url)
    frame = data.to_pandas()
    started = time.perf_counter()
    # med-z1's way: pandas creates the table itself (and loses its types, keys, indexes).
    frame.to_sql(
        "bench_pandas", engine, if_exists="replace", index=False, method="multi", chunksize=1000
    )
    seconds = time.perf_counter() - started
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE bench_pandas"))
    engine.dispose()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--pandas-rows", type=int, default=50_000)
    args = parser.parse_args()
    data = vitals(args.rows)
    with bench_database() as db:
        parquet = db.folder / f"{TABLE}.parquet"
        csv = db.folder / f"{TABLE}.csv"
        pq.write_table(data, parquet)
        pacsv.write_csv(data, csv)
        csv.chmod(0o644)  # the server's OS user reads it
        rate = {
            "server COPY (CSV file)": args.rows / server_copy(db, csv, data.column_names),
            "medz1 loader (Parquet)": args.rows / medz1_load(db, parquet),
            "medz1 loader, replacing": args.rows / medz1_load(db, parquet),
        }
        sample = data.slice(0, args.pandas_rows)
        rate["pandas to_sql (multi)"] = sample.num_rows / pandas_to_sql(db, sample)
    print(f"{args.rows:,} vitals rows ({args.pandas_rows:,} for pandas), 2 cores")
    for name, value in rate.items():
        print(f"  {name:<26} {value:>10,.0f} rows/s")
    loader = rate["medz1 loader (Parquet)"]
    print(
        f"medz1 loader {loader / rate['server COPY (CSV file)']:.2f}x server COPY, "
        f"{loader / rate['pandas to_sql (multi)']:.0f}x pandas to_sql; replacing "
        f"{rate['medz1 loader, replacing'] / rate['server COPY (CSV file)']:.2f}x server COPY"
    )


if __name__ == "__main__":
    main()
