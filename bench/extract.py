"""End-to-end extraction: `osiris run` X -> Parquet against CLI and pandas baselines, same run.

    .venv/bin/python bench/extract.py --rows 1000000 --rows 3000000 --rows 10000000 [--repeat 3]

For each size, seeds (once; reused while the row count and generator match) a table of N rows
x 10 mixed columns in PostgreSQL and MariaDB, plus the same rows as a CSV, then measures each
path as a whole child process (wall time, and peak RSS from os.wait4's ru_maxrss):

  osiris run  postgres.extractor -> parquet_writer   vs  psql -c "COPY t TO STDOUT" > /dev/null
  osiris run  mysql.extractor -> parquet_writer      vs  mariadb --quick --batch -e "SELECT * FROM t" > /dev/null
  osiris run  mysql.extractor `query:` (no key)      vs  mariadb --quick ... "SELECT * FROM t WHERE qty >= 0"
  osiris run  csv_extractor -> parquet_writer        vs  a pyarrow script (open_csv -> ParquetWriter)
  pandas.read_sql (SQLAlchemy over pymysql / psycopg, the original Osiris's path) + DataFrame.to_parquet

Each osiris figure is the whole `osiris run` process (interpreter start, compile, connect,
extract, write, session files), exactly what a user waits for; the per-step milliseconds from
the session's metrics.jsonl are printed too. Paths are interleaved round by round and the best
of --repeat rounds is kept, so a burst of load from other work on the machine hits every path.
MB/s counts the data at its CSV size (the same yardstick for every path).

Targets (sizes >= 3M rows): Postgres -> Parquet >= 80% of COPY's rows/s; MySQL -> Parquet >= 60%
of `mariadb --quick`'s; osiris peak RSS < 400 MB and flat (within 20%) from the smallest size
to the largest.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402

PANDAS_SCRIPT = """
import sys, warnings, pandas as pd, sqlalchemy as sa
url, table, out = sys.argv[1:4]
engine = sa.create_engine(url)
with engine.connect() as conn:
    frame = pd.read_sql(f"SELECT * FROM {table}", conn)
frame.to_parquet(out)
print(len(frame))
"""

PYARROW_CSV_SCRIPT = """
import sys, pyarrow.csv as pacsv, pyarrow.parquet as pq
source, out = sys.argv[1:3]
reader = pacsv.open_csv(source)
rows = 0
with pq.ParquetWriter(out, reader.schema, compression="zstd") as writer:
    for batch in reader:
        writer.write_batch(batch, row_group_size=1 << 20)
        rows += batch.num_rows
print(rows)
"""

OURS = {
    "pg": "osiris run: postgres.extractor -> parquet_writer",
    "my": "osiris run: mysql.extractor -> parquet_writer",
    "csv": "osiris run: csv_extractor -> parquet_writer",
    "myq": "osiris run: mysql.extractor (a query, no key: cxstream) -> parquet_writer",
}
BASE = {
    "pg": 'psql -c "COPY t TO STDOUT" > /dev/null',
    "my": 'mariadb --quick --batch -e "SELECT * FROM t" > /dev/null',
    "csv": "pyarrow script: open_csv -> ParquetWriter (zstd)",
    "myq": 'mariadb --quick --batch -e "SELECT * FROM t WHERE qty >= 0" > /dev/null',
}
PANDAS = {
    "pd_my": "pandas.read_sql (SQLAlchemy + pymysql) + to_parquet",
    "pd_pg": "pandas.read_sql (SQLAlchemy + psycopg) + to_parquet",
}
TARGETS = {"pg": 0.80, "my": 0.60}


def paths_for(rows: int, table: str, files: dict[str, Path], work: Path, args: argparse.Namespace) -> dict:
    """name -> zero-argument measuring function."""
    out = work / "out"
    out.mkdir(exist_ok=True)
    sink = {"path": str(out / "result.parquet")}
    pipes = {
        "pg": c.pipeline(work, "pg_to_parquet", [
            ("extract", "postgres.extractor", "read", {"table": table}),
            ("write", "filesystem.parquet_writer", "write", sink)]),
        "my": c.pipeline(work, "mysql_to_parquet", [
            ("extract", "mysql.extractor", "read", {"table": table}),
            ("write", "filesystem.parquet_writer", "write", sink)]),
        "myq": c.pipeline(work, "mysql_query_to_parquet", [
            ("extract", "mysql.extractor", "read", {"query": f"SELECT * FROM {table} WHERE qty >= 0"}),
            ("write", "filesystem.parquet_writer", "write", sink)]),
        "csv": c.pipeline(work, "csv_to_parquet", [
            ("extract", "filesystem.csv_extractor", "read", {"path": str(files["csv"])}),
            ("write", "filesystem.parquet_writer", "write", sink)]),
    }
    select = f"SELECT * FROM {table}"
    measures = {f"ours_{key}": (lambda p=pipe: c.osiris_run(p, work, rows, args.osiris_arg))
                for key, pipe in pipes.items()}
    measures |= {
        "base_pg": lambda: c.run(c.psql_argv("-c", f"COPY {table} TO STDOUT"), stdout=os.devnull),
        "base_my": lambda: c.run(c.mariadb_argv() + ["-e", select], stdout=os.devnull),
        "base_myq": lambda: c.run(c.mariadb_argv() + ["-e", f"{select} WHERE qty >= 0"], stdout=os.devnull),
        "base_csv": lambda: c.run([c.PYTHON, "-c", PYARROW_CSV_SCRIPT, str(files["csv"]), sink["path"]]),
    }
    if rows <= args.pandas_max_rows:
        password = f":{c.MY['password']}" if c.MY["password"] else ""
        my_url = f"mysql+pymysql://{c.MY['user']}{password}@{c.MY['host']}:{c.MY['port']}/{c.DB}"
        pg_url = c.PG_DSN.replace("postgresql://", "postgresql+psycopg://")
        python = c.baseline_python(args.data_dir)
        measures["pd_my"] = lambda: c.run([python, "-c", PANDAS_SCRIPT, my_url, table, sink["path"]])
        measures["pd_pg"] = lambda: c.run([python, "-c", PANDAS_SCRIPT, pg_url, table, sink["path"]])
    if args.only:
        measures = {name: m for name, m in measures.items()
                    if ("pandas" if name.startswith("pd_") else name.split("_")[1]) in args.only}
    return measures


def warm_up(args: argparse.Namespace) -> None:
    """Run each osiris pipeline once on 1,000 rows so bytecode and OS caches are warm."""
    files = c.ensure_files(args.data_dir, 1000)
    table = c.ensure_seeded(files, 1000)
    with tempfile.TemporaryDirectory(prefix="osiris-bench-extract-") as tmp:
        work = Path(tmp)
        c.connections_file(work)
        for name, measure in paths_for(1000, table, files, work, args).items():
            if name.startswith("ours_"):
                measure()


def bench_size(rows: int, args: argparse.Namespace) -> dict[str, c.Run]:
    files = c.ensure_files(args.data_dir, rows)
    table = c.ensure_seeded(files, rows)
    csv_mb = files["csv"].stat().st_size / 2**20
    loads = []
    with tempfile.TemporaryDirectory(prefix="osiris-bench-extract-") as tmp:
        work = Path(tmp)
        c.connections_file(work)
        measures = paths_for(rows, table, files, work, args)
        runs: dict[str, list[c.Run]] = {name: [] for name in measures}
        for round_no in range(args.repeat):
            if rows >= args.quiet_from:
                c.wait_for_quiet(args.quiet_load, args.max_wait)
            loads.append(os.getloadavg()[0])
            for name, measure in measures.items():
                if name.startswith("pd_") and round_no >= args.pandas_repeat:
                    continue
                runs[name].append(measure())
    best = {name: min(found, key=lambda r: r.seconds) for name, found in runs.items() if found}
    for name, found in runs.items():  # report the worst RSS seen, the best time
        if found:
            best[name].rss_mb = max(r.rss_mb for r in found)
    report(rows, csv_mb, best, loads)
    return best


def report(rows: int, csv_mb: float, best: dict[str, c.Run], loads: list[float]) -> None:
    def line(label: str, run: c.Run, base: c.Run | None) -> list[object]:
        rate = rows / run.seconds
        ratio = f"{base.seconds / run.seconds:.0%}" if base else ""
        return [label, f"{rate:,.0f}", f"{csv_mb / run.seconds:,.0f}", f"{run.rss_mb:,.0f} MB",
                f"{run.cpu_s:,.1f}", ratio]

    table = []
    for key in [k for k in ("pg", "my", "myq", "csv") if f"ours_{k}" in best]:
        table.append(line(OURS[key], best[f"ours_{key}"], best[f"base_{key}"]))
        table.append(line(f"baseline: {BASE[key]}", best[f"base_{key}"], best[f"base_{key}"]))
    for key, base in (("pd_my", "base_my"), ("pd_pg", "base_pg")):
        if key in best:
            table.append(line(PANDAS[key], best[key], best[base]))
    c.print_table(["path", "rows/s", "MB/s", "peak RSS", "CPU s", "vs baseline"], table,
                  f"### {rows:,} rows x 10 columns ({csv_mb:,.0f} MB as CSV); 1-min load during the "
                  f"rounds: {', '.join(f'{x:.2f}' for x in loads)}")
    steps = []
    for key in [k for k in ("pg", "my", "myq", "csv") if f"ours_{k}" in best]:
        run = best[f"ours_{key}"]
        total = run.seconds * 1000
        engine = run.step_ms.get("(run)", 0)
        steps.append([OURS[key].removeprefix("osiris run: "), f"{run.step_ms.get('extract', 0):,.0f}",
                      f"{run.step_ms.get('write', 0):,.0f}", f"{engine:,.0f}", f"{total:,.0f}",
                      f"{total - engine:,.0f}", f"{run.step_rss.get('write', 0):,.0f} MB"])
    c.print_table(["osiris run", "extract ms", "write ms", "run ms (metrics)", "process ms",
                   "start-up + compile ms", "step peak RSS"], steps,
                  "ms per step (the session's metrics.jsonl; extract and write overlap: they stream)")


def check_targets(results: dict[int, dict[str, c.Run]]) -> bool:
    print("\n### Targets\n")
    ok = True
    for rows, best in sorted(results.items()):
        if rows < 3_000_000:
            continue
        for key, want in TARGETS.items():
            if f"ours_{key}" not in best:
                continue
            got = best[f"base_{key}"].seconds / best[f"ours_{key}"].seconds
            ok &= got >= want
            print(f"- {rows:,} rows: {OURS[key]} at {got:.0%} of the baseline (target >= {want:.0%}): "
                  f"{'met' if got >= want else 'NOT met'}")
    for key in [k for k in OURS if all(f"ours_{k}" in best for best in results.values())]:
        rss = {rows: best[f"ours_{key}"].rss_mb for rows, best in sorted(results.items())}
        top = max(rss.values())
        low, high = rss[min(rss)], rss[max(rss)]
        flat = high <= low * 1.2
        ok &= top < 400 and flat
        print(f"- {OURS[key]} peak RSS {', '.join(f'{v:.0f}' for v in rss.values())} MB over "
              f"{', '.join(f'{r:,}' for r in rss)} rows: < 400 MB {'met' if top < 400 else 'NOT met'}, "
              f"flat (<= +20% smallest -> largest) {'met' if flat else 'NOT met'}")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, action="append", help="table size (repeatable); default 1000000")
    parser.add_argument("--repeat", type=int, default=3, help="rounds per size; the best is kept")
    parser.add_argument("--pandas-repeat", type=int, default=1, help="rounds that include the pandas paths")
    parser.add_argument("--pandas-max-rows", type=int, default=3_000_000,
                        help="skip pandas above this size (it holds everything: ~0.8 GB per 1M rows)")
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "osiris-bench")
    parser.add_argument("--quiet-load", type=float, default=1.0,
                        help="before each round of a big size, wait until the 1-min load is below this")
    parser.add_argument("--quiet-from", type=int, default=3_000_000, help="sizes from which to wait for quiet")
    parser.add_argument("--max-wait", type=float, default=120, help="longest wait for quiet, seconds")
    parser.add_argument("--osiris-arg", action="append", default=[], metavar="ARG",
                        help="extra `osiris run` argument (repeatable), e.g. --osiris-arg=--step-memory=128MiB")
    parser.add_argument("--only", action="append", default=[], metavar="KEY",
                        help="measure only these paths: pg, my, myq, csv (with their baselines), pandas")
    args = parser.parse_args()
    sizes = args.rows or [1_000_000]
    extra = "".join(f" --osiris-arg={a}" for a in args.osiris_arg)
    print(f"# bench/extract.py --rows {' --rows '.join(map(str, sizes))} --repeat {args.repeat}{extra}\n")
    print(f"machine: {c.machine_line()}; Postgres and MariaDB on loopback")
    print(f"columns: {c.PG_COLUMNS}; NULLs in {c.NULLABLE}")
    warm_up(args)
    results = {rows: bench_size(rows, args) for rows in sizes}
    met = check_targets(results)
    print(f"\nmachine at the end: {c.machine_line()}")
    sys.exit(0 if met else 1)


if __name__ == "__main__":
    main()
