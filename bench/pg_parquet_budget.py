"""Where the CPU of PostgreSQL -> Parquet goes: ours part by part beside DuckDB's, one run.

    .venv/bin/python bench/pg_parquet_budget.py [--rows 3000000] [--reps 3]

On the table bench/peers.py seeds (N rows x 10 columns, bench/_common.py), each part runs in its
own child process, timed inside it (wall and the process's CPU seconds, every thread counted),
interleaved round by round; medians are printed:

  server   psql COPY (...) TO STDOUT (FORMAT binary) > /dev/null: the server's side of the stream
           (the psql client spends ~0.5 CPU s per 3M rows; the rest of the wall time is the server)
  ours     ADBC's COPY reader alone (amount as text, as the extractor asks), the text -> decimal128
           cast, the Parquet encode of the same rows (zstd, as our writer's default, and snappy),
           and the whole `osiris run`
  duckdb   DuckDB 1.5.5 + postgres_scanner (the peers' virtualenv): the scan alone into Arrow, and
           COPY ... TO parquet (the peer bench/peers.py times), in process and as a whole process

On a 2-core machine the path is CPU-bound (the server and the client share the cores), so the
sum of the CPU seconds over 2 is a floor for the wall time: the table shows how far each side is
from it and which part would have to shrink. Needs `bench/peers.py` to have run once (the peers'
virtualenv and the seeded table).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402
from peers import DUCKDB_SCRIPT, PEERS_VENV  # noqa: E402

SELECT = "id, qty, amount::text AS amount, name, note, day, created, active, score, ref"

OURS_PART = """
import json, sys, time
import pyarrow as pa, pyarrow.compute as pc, pyarrow.parquet as pq
import adbc_driver_postgresql.dbapi as adbc
dsn, table, select, part, out = sys.argv[1:6]
conn = adbc.connect(dsn); cur = conn.cursor()
cur.adbc_statement.set_options(**{"adbc.postgresql.batch_size_hint_bytes": str(16 << 20)})
t, w = time.process_time(), time.perf_counter()
cur.execute(f"SELECT {select} FROM {table}"); batches = list(cur.fetch_record_batch())
read = (time.process_time() - t, time.perf_counter() - w)
if part == "read":
    print(json.dumps(read)); sys.exit()
t, w = time.process_time(), time.perf_counter()
index = batches[0].schema.get_field_index("amount")
batches = [b.set_column(index, "amount", pc.cast(b.column(index), pa.decimal128(12, 2))) for b in batches]
cast = (time.process_time() - t, time.perf_counter() - w)
if part == "cast":
    print(json.dumps(cast)); sys.exit()
table = pa.Table.from_batches(batches)
t, w = time.process_time(), time.perf_counter()
pq.write_table(table, out, compression=part, row_group_size=262144, write_statistics=True,
               use_dictionary=["qty", "name", "day", "active"])
print(json.dumps((time.process_time() - t, time.perf_counter() - w)))
"""

DUCKDB_PART = """
import json, pathlib, sys, time, duckdb
dsn, table, part, out = sys.argv[1:5]
site = pathlib.Path(duckdb.__file__).parent.parent
ext = sorted(site.glob(f"duckdb_extension_*/extensions/v{duckdb.__version__}/postgres_scanner.duckdb_extension"))[0]
con = duckdb.connect()
con.execute("SET autoinstall_known_extensions = false; SET autoload_known_extensions = false")
con.execute(f"LOAD '{ext}'")
con.execute(f"ATTACH '{dsn}' AS db (TYPE postgres, READ_ONLY)")
t, w = time.process_time(), time.perf_counter()
if part == "scan":
    rows = sum(b.num_rows for b in con.execute(f"SELECT * FROM db.public.{table}").to_arrow_reader(1 << 20))
else:
    con.execute(f"COPY (SELECT * FROM db.public.{table}) TO '{out}' (FORMAT parquet)")
print(json.dumps((time.process_time() - t, time.perf_counter() - w)))
"""


def _timed_inside(argv: list[str]) -> tuple[float, float]:
    """(CPU s, wall s) a child measured around its own work."""
    done = c.run(argv)
    cpu, wall = json.loads(done.stdout.strip().splitlines()[-1])
    return cpu, wall


def parts(rows: int, table: str, work: Path, duck: str | None) -> dict[str, Callable[[], tuple[float, float]]]:
    dsn_url = c.PG_DSN
    dsn_kv = f"dbname={c.DB} host=127.0.0.1 user=postgres"
    out = str(work / "part.parquet")
    measured = {
        "server: psql COPY binary, amount as text": lambda: _whole(c.psql_argv(
            "-c", f"COPY (SELECT {SELECT} FROM {table}) TO STDOUT (FORMAT binary)")),
        "server: psql COPY binary, SELECT *": lambda: _whole(c.psql_argv(
            "-c", f"COPY (SELECT * FROM {table}) TO STDOUT (FORMAT binary)")),
        "ours: ADBC COPY reader (amount as text)": lambda: _timed_inside(
            [c.PYTHON, "-c", OURS_PART, dsn_url, table, SELECT, "read", out]),
        "ours: amount text -> decimal128 cast": lambda: _timed_inside(
            [c.PYTHON, "-c", OURS_PART, dsn_url, table, SELECT, "cast", out]),
        "ours: Parquet encode, zstd (default)": lambda: _timed_inside(
            [c.PYTHON, "-c", OURS_PART, dsn_url, table, SELECT, "zstd", out]),
        "ours: Parquet encode, snappy": lambda: _timed_inside(
            [c.PYTHON, "-c", OURS_PART, dsn_url, table, SELECT, "snappy", out]),
    }
    pipeline = c.pipeline(work, "budget", [("extract", "postgres.extractor", "read", {"table": table}),
                                           ("write", "filesystem.parquet_writer", "write", {"path": out})])
    measured["ours: whole `osiris run`"] = lambda: _osiris(pipeline, work, rows)
    if duck:
        measured["duckdb: scan into Arrow (in process)"] = lambda: _timed_inside(
            [duck, "-c", DUCKDB_PART, dsn_kv, table, "scan", out])
        measured["duckdb: COPY TO parquet (in process)"] = lambda: _timed_inside(
            [duck, "-c", DUCKDB_PART, dsn_kv, table, "copy", out])
        measured["duckdb: whole process (bench/peers.py's peer)"] = lambda: _whole(
            [duck, "-c", DUCKDB_SCRIPT, "pg", dsn_kv, table, out])
    return measured


def _whole(argv: list[str]) -> tuple[float, float]:
    done = c.run(argv, stdout=os.devnull)
    return done.cpu_s, done.seconds


def _osiris(pipeline: Path, work: Path, rows: int) -> tuple[float, float]:
    done = c.osiris_run(pipeline, work, rows)
    return done.cpu_s, done.seconds


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=3_000_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "osiris-bench")
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    files = c.ensure_files(args.data_dir, args.rows)
    table = c.ensure_seeded(files, args.rows)
    duck = str(PEERS_VENV / "bin" / "python") if (PEERS_VENV / "installed").exists() else None
    print(f"# bench/pg_parquet_budget.py --rows {args.rows} --reps {args.reps}\n\nmachine: {c.machine_line()}")
    with tempfile.TemporaryDirectory(prefix="osiris-bench-budget-") as tmp:
        work = Path(tmp)
        c.connections_file(work)
        measured = parts(args.rows, table, work, duck)
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in measured}
        for rep in range(args.reps):
            print(f"round {rep + 1}/{args.reps}", file=sys.stderr, flush=True)
            for name, measure in measured.items():
                results[name].append(measure())
    rows = [[name, f"{statistics.median(cpu for cpu, _ in found):.2f}",
             f"{statistics.median(wall for _, wall in found):.2f}"] for name, found in results.items()]
    c.print_table(["part", "CPU s (median)", "wall s (median)"], rows,
                  f"### {args.rows:,} rows: CPU by part, medians of {args.reps}")
    print(f"\nmachine at the end: {c.machine_line()}")


if __name__ == "__main__":
    main()
