"""End-to-end loading: `osiris run` Parquet -> Postgres / MySQL against the CLIs' bulk loads, same run.

    .venv/bin/python bench/load.py --rows 1000000 [--rows 3000000] [--repeat 2] [--paths my]

For each size, generates (once; cached) N rows x 10 mixed columns as Parquet, CSV and a
MariaDB-native TSV, then measures each path as a whole child process (wall time, and peak
RSS from GNU time / os.wait4), loading into an empty table with the same DDL and primary key
(truncated before every run, row count checked after):

  osiris run  parquet_extractor -> postgres.writer (append: COPY via ADBC)
                                    vs  psql -c "\\copy t FROM 'data.csv' CSV HEADER"
  osiris run  parquet_extractor -> mysql.writer load_method insert
  osiris run  parquet_extractor -> mysql.writer load_method load_data
                                    vs  mariadb -e "LOAD DATA LOCAL INFILE 'data.tsv' INTO TABLE t"

The osiris figures include interpreter start, compile, reading the Parquet file and the
commit: what a user waits for. The CLIs read a text file that is already in their load
format, so they are the ceiling. Paths are interleaved round by round; the best round counts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402

LABELS = {
    "ours_pg": "osiris run: parquet -> postgres.writer (append, COPY)",
    "base_pg": "baseline: psql \\copy FROM csv",
    "ours_my_insert": "osiris run: parquet -> mysql.writer (insert)",
    "ours_my_load_data": "osiris run: parquet -> mysql.writer (load_data)",
    "base_my": "baseline: mariadb LOAD DATA LOCAL INFILE (tsv)",
}
BASE_OF = {"ours_pg": "base_pg", "base_pg": "base_pg", "ours_my_insert": "base_my",
           "ours_my_load_data": "base_my", "base_my": "base_my"}
GROUPS = {"pg": {"ours_pg", "base_pg"}, "my": {"ours_my_insert", "ours_my_load_data", "base_my"},
          "my_insert": {"ours_my_insert", "base_my"}, "my_load_data": {"ours_my_load_data", "base_my"}}
"""--paths: each path comes with its baseline."""
PG_TARGET, MY_TARGET = "load_pg", "load_my"


def reset() -> None:
    """Empty target tables with the seeded table's DDL (outside the timed runs)."""
    c.pg_sql(f"DROP TABLE IF EXISTS {PG_TARGET}; CREATE TABLE {PG_TARGET} ({c.PG_COLUMNS})")
    c.mysql_sql(f"DROP TABLE IF EXISTS {MY_TARGET}; CREATE TABLE {MY_TARGET} ({c.MY_COLUMNS})")


def counted(measure, system: str, rows: int):
    """Run `measure` against an empty target, then check every row arrived."""
    def wrapped() -> c.Run:
        reset()
        result = measure()
        got = int(c.pg_sql(f"SELECT count(*) FROM {PG_TARGET}") if system == "pg"
                  else c.mysql_sql(f"SELECT count(*) FROM {MY_TARGET}"))
        if got != rows:
            raise SystemExit(f"{system}: loaded {got} rows, expected {rows}")
        return result
    return wrapped


def paths_for(rows: int, files: dict[str, Path], work: Path, wanted: set[str]) -> dict:
    source = ("extract", "filesystem.parquet_extractor", "read", {"path": str(files["parquet"])})
    pipes = {
        "ours_pg": c.pipeline(work, "parquet_to_pg", [
            source, ("write", "postgres.writer", "write", {"table": PG_TARGET, "write_mode": "append"})]),
    }
    for method in ("insert", "load_data"):
        pipes[f"ours_my_{method}"] = c.pipeline(work, f"parquet_to_mysql_{method}", [
            source, ("write", "mysql.writer", "write",
                     {"table": MY_TARGET, "write_mode": "append", "load_method": method})])
    measures = {name: counted(lambda p=pipe: c.osiris_run(p, work, rows), "pg" if name.endswith("pg") else "my",
                              rows) for name, pipe in pipes.items()}
    measures["base_pg"] = counted(lambda: c.run(c.psql_argv(
        "-c", f"\\copy {PG_TARGET} FROM '{files['csv']}' CSV HEADER")), "pg", rows)
    measures["base_my"] = counted(lambda: c.run(c.mariadb_argv("--local-infile=1") + [
        "-e", f"LOAD DATA LOCAL INFILE '{files['tsv']}' INTO TABLE {MY_TARGET}"]), "my", rows)
    order = ("ours_pg", "base_pg", "ours_my_insert", "ours_my_load_data", "base_my")
    return {name: measures[name] for name in order if name in wanted}


def bench_size(rows: int, args: argparse.Namespace) -> dict[str, c.Run]:
    files = c.ensure_files(args.data_dir, rows)
    c.ensure_databases()
    csv_mb = files["csv"].stat().st_size / 2**20
    loads = []
    with tempfile.TemporaryDirectory(prefix="osiris-bench-load-") as tmp:
        work = Path(tmp)
        connections = c.connections_file(work)  # the Parquet file is outside the work dir (OML083 without this)
        connections.write_text(f"filesystem:\n  roots: [{json.dumps(str(args.data_dir))}]\n" + connections.read_text())
        measures = paths_for(rows, files, work, set().union(*(GROUPS[g] for g in args.paths)))
        runs: dict[str, list[c.Run]] = {name: [] for name in measures}
        for _ in range(args.repeat):
            if rows >= args.quiet_from:
                c.wait_for_quiet(args.quiet_load, args.max_wait)
            loads.append(os.getloadavg()[0])
            for name, measure in measures.items():
                runs[name].append(measure())
    best = {}
    for name, found in runs.items():
        best[name] = min(found, key=lambda r: r.seconds)
        best[name].rss_mb = max(r.rss_mb for r in found)
    table = []
    for name, run in best.items():
        base = best[BASE_OF[name]]
        table.append([LABELS[name], f"{rows / run.seconds:,.0f}", f"{csv_mb / run.seconds:,.0f}",
                      f"{run.rss_mb:,.0f} MB", f"{run.cpu_s:,.1f}", f"{base.seconds / run.seconds:.0%}"])
    c.print_table(["path", "rows/s", "MB/s", "peak RSS", "CPU s", "vs baseline"], table,
                  f"### {rows:,} rows x 10 columns ({csv_mb:,.0f} MB as CSV); 1-min load during the rounds: "
                  f"{', '.join(f'{x:.2f}' for x in loads)}")
    steps = [[LABELS[name].removeprefix("osiris run: "), f"{run.step_ms.get('extract', 0):,.0f}",
              f"{run.step_ms.get('write', 0):,.0f}", f"{run.step_ms.get('(run)', 0):,.0f}",
              f"{run.seconds * 1000:,.0f}"]
             for name, run in best.items() if isinstance(run, c.OsirisRun)]
    c.print_table(["osiris run", "extract ms", "write ms", "run ms (metrics)", "process ms"], steps,
                  "ms per step (the session's metrics.jsonl)")
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, action="append", help="row count (repeatable); default 1000000")
    parser.add_argument("--repeat", type=int, default=2, help="rounds per size; the best is kept")
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "osiris-bench")
    parser.add_argument("--quiet-load", type=float, default=1.0,
                        help="before each round of a big size, wait until the 1-min load is below this")
    parser.add_argument("--quiet-from", type=int, default=3_000_000, help="sizes from which to wait for quiet")
    parser.add_argument("--max-wait", type=float, default=120, help="longest wait for quiet, seconds")
    parser.add_argument("--keep", action="store_true", help="keep the load_pg / load_my tables afterwards")
    parser.add_argument("--paths", action="append", choices=sorted(GROUPS),
                        help="only these paths and their baselines (repeatable); default all")
    args = parser.parse_args()
    sizes = args.rows or [1_000_000]
    args.paths = args.paths or ["pg", "my"]
    print(f"# bench/load.py --rows {' --rows '.join(map(str, sizes))} --repeat {args.repeat}"
          f"{''.join(' --paths ' + p for p in args.paths)}\n")
    print(f"machine: {c.machine_line()}; Postgres and MariaDB on loopback")
    print(f"columns: {c.PG_COLUMNS}; NULLs in {c.NULLABLE}")
    for rows in sizes:
        bench_size(rows, args)
    if not args.keep:
        c.pg_sql(f"DROP TABLE IF EXISTS {PG_TARGET}")
        c.mysql_sql(f"DROP TABLE IF EXISTS {MY_TARGET}")
    print(f"\nmachine at the end: {c.machine_line()}")


if __name__ == "__main__":
    main()
