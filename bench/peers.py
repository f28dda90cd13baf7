"""Peers, side by side: `osiris run` against the tools a user would pick instead, one run.

    .venv/bin/python bench/peers.py [--rows 3000000] [--reps 3] [--quick] [--json FILE]

On the same seeded table (N rows x 10 mixed columns, bench/_common.py) in PostgreSQL and
MariaDB, times each path as a whole child process (wall seconds, CPU seconds, peak RSS from
GNU time), interleaved tool by tool within each repetition (every other one in reverse order), and keeps the median:

  PostgreSQL -> Parquet   osiris run postgres.extractor -> parquet_writer
                          DuckDB 1.5.5 + postgres_scanner: COPY (SELECT * FROM db.public.t) TO 'x.parquet'
                          both again with the other's default codec (ours zstd, DuckDB snappy),
                          so like is compared with like ([--skip same_codec] leaves them out)
                          dlt sql_table(backend="pyarrow") and (backend="connectorx") -> filesystem, parquet
                          floor: psql -c "\\copy (SELECT * FROM t) TO STDOUT" > /dev/null
  MariaDB -> Parquet      osiris run mysql.extractor -> parquet_writer
                          DuckDB 1.5.5 + mysql_scanner, dlt (pyarrow over pymysql, connectorx)
                          floor: mariadb --quick --batch -e "SELECT * FROM t" > /dev/null
  Parquet -> PostgreSQL   osiris run parquet_extractor -> postgres.writer (append)    [--only pg_load]
                          DuckDB postgres_scanner: INSERT INTO db.public.t SELECT * FROM read_parquet(...)
                          floor: psql -c "\\copy t FROM 'data.csv' CSV HEADER"
  Parquet -> MariaDB      osiris run parquet_extractor -> mysql.writer (load_data)    [--only my_load]
                          DuckDB mysql_scanner INSERT ... SELECT; floor: LOAD DATA LOCAL INFILE of a ready TSV

Every Parquet output is verified after its run (outside the timing): row count, the exact
Decimal sum of `amount` against the server's own sum(amount), and the type of the timestamp
column `created` (a timestamp without time zone is expected; a string or float fails). The
extraction floors discard their text and are not verified. The loads run only when named with
--only; each targets an empty table with the seeded DDL, checked after the run (row count,
exact sum(amount), the column type of `created`).

The peers live in their own virtualenv (default ~/.cache/osiris-bench/peers-venv), created on
first use with pinned versions (PEERS_PINS), never in the project's dependencies. A peer that
cannot be installed or loaded is reported as such and the others are measured. `--quick` is
200,000 rows and one repetition: a smoke test of the whole harness, not a measurement.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402

PEERS_PINS = ["duckdb==1.5.5", "duckdb-extension-postgres-scanner==1.5.5", "duckdb-extension-mysql-scanner==1.5.5",
              "dlt[parquet]==1.31.0", "connectorx==0.4.6", "sqlalchemy==2.1.9", "psycopg2-binary==2.9.13",
              "pymysql==1.2.4", "pyarrow==26.0.1"]
PEERS_VENV = Path.home() / ".cache" / "osiris-bench" / "peers-venv"

_DUCKDB_ATTACH = """
import sys, duckdb, pathlib
kind, dsn, table, path = sys.argv[1:5]
ext = {"pg": "postgres_scanner", "my": "mysql_scanner"}[kind]
site = pathlib.Path(duckdb.__file__).parent.parent
found = sorted(site.glob(f"duckdb_extension_*/extensions/v{duckdb.__version__}/{ext}.duckdb_extension"))
if not found:
    sys.exit(f"{ext} extension for duckdb {duckdb.__version__} not installed")
con = duckdb.connect()
con.execute("SET autoinstall_known_extensions = false; SET autoload_known_extensions = false")
con.execute(f"LOAD '{found[0]}'")
con.execute(f"ATTACH '{dsn}' AS db (TYPE {'postgres' if kind == 'pg' else 'mysql'}<MODE>)")
name = f"db.public.{table}" if kind == "pg" else f"db.{table}"
"""
"""The peers' DuckDB child, up to its statement: argv kind (pg|my), dsn, table, file path."""

DUCKDB_SCRIPT = _DUCKDB_ATTACH.replace("<MODE>", ", READ_ONLY") + \
    """con.execute(f"COPY (SELECT * FROM {name}) TO '{path}' (FORMAT parquet)")\n"""
DUCKDB_ZSTD_SCRIPT = DUCKDB_SCRIPT.replace("(FORMAT parquet)", "(FORMAT parquet, COMPRESSION zstd)")
"""DuckDB writing ours' default codec (its own default is snappy): the same kind of file as ours."""

DUCKDB_LOAD_SCRIPT = _DUCKDB_ATTACH.replace("<MODE>", "") + \
    """con.execute(f"INSERT INTO {name} SELECT * FROM read_parquet('{path}')")\n"""

DLT_SCRIPT = """
import sys, os
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
import dlt
from dlt.sources.sql_database import sql_table
url, cx_url, table, backend, out, work = sys.argv[1:7]
kwargs = {"backend_kwargs": {"conn": cx_url}} if backend == "connectorx" else {}
source = sql_table(credentials=url, table=table, schema="public" if url.startswith("postgresql") else None,
                   backend=backend, **kwargs)
pipeline = dlt.pipeline(pipeline_name="peers", pipelines_dir=work, dataset_name="peers",
                        destination=dlt.destinations.filesystem(bucket_url=out))
pipeline.run(source, loader_file_format="parquet")
print(pipeline.last_trace.last_normalize_info.row_counts.get(table, 0))
"""

LABELS = {
    "ours": "ours: osiris run",
    "ours_snappy": "ours: osiris run, `compression: snappy` (DuckDB's default codec)",
    "duckdb": "DuckDB 1.5.5 {ext} COPY TO parquet (its default: snappy)",
    "duckdb_zstd": "DuckDB 1.5.5 {ext} COPY TO parquet (COMPRESSION zstd, ours' default)",
    "dlt_pyarrow": 'dlt 1.31 sql_table(backend="pyarrow")',
    "dlt_cx": 'dlt 1.31 sql_table(backend="connectorx")',
    "floor": "floor: {cli}",
}
PATHS = {"pg": "PostgreSQL -> Parquet", "my": "MariaDB -> Parquet",
         "pg_load": "Parquet -> PostgreSQL", "my_load": "Parquet -> MariaDB"}
LOAD_TABLE = {"pg_load": "peers_load_pg", "my_load": "peers_load_my"}


# --- the peers' virtualenv --------------------------------------------------------------------


def peers_python(venv: Path) -> tuple[str | None, dict[str, str]]:
    """The peers' python (created with PEERS_PINS when missing) and peer -> why it is unavailable."""
    python = venv / "bin" / "python"
    if not (venv / "installed").exists():
        print(f"creating {venv} for the peers ({', '.join(PEERS_PINS)}) ...", file=sys.stderr, flush=True)
        shutil.rmtree(venv, ignore_errors=True)
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        done = subprocess.run([str(python), "-m", "pip", "install", "-q", *PEERS_PINS], capture_output=True, text=True)
        if done.returncode != 0:  # one by one: keep whatever can be installed
            print(done.stderr[-2000:], file=sys.stderr)
            for pin in PEERS_PINS:
                subprocess.run([str(python), "-m", "pip", "install", "-q", pin], capture_output=True)
        (venv / "installed").write_text("\n".join(PEERS_PINS) + "\n")
    if not python.exists():
        return None, {"duckdb": "no virtualenv", "dlt_pyarrow": "no virtualenv", "dlt_cx": "no virtualenv"}
    missing = {}
    checks = {
        "duckdb": "import duckdb, pathlib; s = pathlib.Path(duckdb.__file__).parent.parent; "
                  "assert list(s.glob('duckdb_extension_*/extensions/*/*.duckdb_extension')), 'no extensions'",
        "dlt_pyarrow": "import dlt, sqlalchemy, psycopg2, pymysql, pyarrow",
        "dlt_cx": "import dlt, connectorx",
    }
    for peer, code in checks.items():
        done = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
        if done.returncode != 0:
            missing[peer] = (done.stderr.strip().splitlines() or ["import failed"])[-1]
    return str(python), missing


def versions(python: str | None) -> str:
    if not python:
        return "peers: not installed"
    code = ("from importlib.metadata import version as v\n"
            "print(', '.join(f'{p} {v(p)}' for p in ('duckdb', 'dlt', 'connectorx', 'sqlalchemy', 'pymysql',"
            " 'psycopg2-binary', 'pyarrow')))")
    return "peers: " + subprocess.run([python, "-c", code], capture_output=True, text=True).stdout.strip()


# --- verification -----------------------------------------------------------------------------


def expected(table: str) -> dict[str, tuple[int, Decimal]]:
    """Row count and exact sum(amount) as each server computes them."""
    pg = c.pg_sql(f"SELECT count(*) || ' ' || sum(amount) FROM {table}").split()
    my = c.mysql_sql(f"SELECT count(*), sum(amount) FROM {table}").split()
    # the Parquet file the loads read holds the same generated rows as both tables
    return {"pg": (int(pg[0]), Decimal(pg[1])), "my": (int(my[0]), Decimal(my[1])),
            "pg_load": (int(pg[0]), Decimal(pg[1])), "my_load": (int(pg[0]), Decimal(pg[1]))}


class ParquetOut:
    """A tool's Parquet output: removed before each run, verified after it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def prepare(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True) if self.path.is_dir() else self.path.unlink(missing_ok=True)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def check(self, want: tuple[int, Decimal]) -> dict[str, object]:
        return verify(self.path, want)


class TableOut:
    """A load's target table: recreated empty with the seeded DDL before each run, summed after it."""

    def __init__(self, key: str) -> None:
        self.key, self.table = key, LOAD_TABLE[key]

    def prepare(self) -> None:
        if self.key == "pg_load":
            c.pg_sql(f"DROP TABLE IF EXISTS {self.table}; CREATE TABLE {self.table} ({c.PG_COLUMNS})")
        else:
            c.mysql_sql(f"DROP TABLE IF EXISTS {self.table}; CREATE TABLE {self.table} ({c.MY_COLUMNS})")

    def check(self, want: tuple[int, Decimal]) -> dict[str, object]:
        if self.key == "pg_load":
            rows, total = c.pg_sql(f"SELECT count(*) || ' ' || coalesce(sum(amount), 0) FROM {self.table}").split()
            created = c.pg_sql(f"SELECT data_type FROM information_schema.columns WHERE table_name = '{self.table}' "
                               "AND column_name = 'created'")
        else:
            rows, total = c.mysql_sql(f"SELECT count(*), coalesce(sum(amount), 0) FROM {self.table}").split()
            created = c.mysql_sql(f"SELECT data_type FROM information_schema.columns WHERE table_schema = '{c.DB}' "
                                  f"AND table_name = '{self.table}' AND column_name = 'created'")
        problems = []
        if int(rows) != want[0]:
            problems.append(f"{rows} rows, expected {want[0]}")
        if Decimal(total) != want[1]:
            problems.append(f"sum(amount) {total}, expected {want[1]}")
        return {"ok": not problems, "why": "; ".join(problems), "rows": int(rows), "sum": total,
                "amount_type": "numeric(12,2)" if self.key == "pg_load" else "DECIMAL(12,2)",
                "created_type": created}


def verify(out: Path, want: tuple[int, Decimal]) -> dict[str, object]:
    """Rows, exact Decimal sum of `amount`, and the Parquet type of `created`, `amount` of an output."""
    import pyarrow.compute as pc
    import pyarrow.dataset as ds
    import pyarrow.types as pt

    files = [out] if out.is_file() else sorted(p for p in out.rglob("*.parquet") if "_dlt" not in p.name)
    if not files:
        return {"ok": False, "why": "no parquet output"}
    data = ds.dataset([str(f) for f in files], format="parquet")
    schema = data.schema
    rows = data.count_rows()
    amount_type, created_type = schema.field("amount").type, schema.field("created").type
    column = data.to_table(columns=["amount"]).column("amount")
    if pt.is_decimal(amount_type):
        total = pc.sum(column).as_py()
    else:  # a float cannot hold cents exactly: sum it as Decimal of its repr, it should still fail loudly
        total = sum((Decimal(repr(x)) for x in column.to_pylist() if x is not None), Decimal(0))
    problems = []
    if rows != want[0]:
        problems.append(f"{rows} rows, expected {want[0]}")
    if total != want[1]:
        problems.append(f"sum(amount) {total}, expected {want[1]}")
    if not pt.is_decimal(amount_type):
        problems.append(f"amount is {amount_type}, not a decimal")
    if not pt.is_timestamp(created_type) or created_type.tz is not None:
        problems.append(f"created is {created_type}, not a timestamp without time zone")
    return {"ok": not problems, "why": "; ".join(problems), "rows": rows, "sum": str(total),
            "amount_type": str(amount_type), "created_type": str(created_type)}


# --- the measured paths -----------------------------------------------------------------------


def paths_for(rows: int, table: str, files: dict[str, Path], work: Path, python: str | None,
              missing: dict[str, str], only: list[str]) -> dict[str, dict[str, tuple]]:
    """path -> tool -> (measure, its output: prepared before each run, checked after, or None)."""
    password = f":{c.MY['password']}" if c.MY["password"] else ""
    my_plain = f"{c.MY['user']}{password}@{c.MY['host']}:{c.MY['port']}/{c.DB}"
    urls = {
        "pg": (c.PG_DSN, c.PG_DSN.replace("postgresql://", "postgresql+psycopg2://"),
               f"host=127.0.0.1 port=5432 dbname={c.DB} user=postgres"),
        "my": (f"mysql://{my_plain}", f"mysql+pymysql://{my_plain}",
               f"host={c.MY['host']} port={c.MY['port']} user={c.MY['user']} database={c.DB}"
               + (f" password={c.MY['password']}" if c.MY["password"] else "")),
    }
    select = f"SELECT * FROM {table}"
    floors = {
        "pg": lambda: c.run(c.psql_argv("-c", f"\\copy ({select}) TO STDOUT"), stdout=os.devnull),
        "my": lambda: c.run(c.mariadb_argv() + ["-e", select], stdout=os.devnull),
    }
    component = {"pg": "postgres.extractor", "my": "mysql.extractor"}
    paths: dict[str, dict[str, tuple]] = {}
    for key in [k for k in ("pg", "my") if not only or k in only]:
        plain, alchemy, duck = urls[key]
        out = work / f"out_{key}"
        sink = out / "ours.parquet"
        pipe = c.pipeline(work, f"{key}_to_parquet", [
            ("extract", component[key], "read", {"table": table}),
            ("write", "filesystem.parquet_writer", "write", {"path": str(sink)})])
        tools: dict[str, tuple] = {"ours": (lambda p=pipe: c.osiris_run(p, work, rows), ParquetOut(sink))}
        if "same_codec" not in missing:  # each tool once more with the other's codec: like against like
            snappy_sink = out / "ours_snappy.parquet"
            snappy = c.pipeline(work, f"{key}_to_parquet_snappy", [
                ("extract", component[key], "read", {"table": table}),
                ("write", "filesystem.parquet_writer", "write", {"path": str(snappy_sink), "compression": "snappy"})])
            tools["ours_snappy"] = (lambda p=snappy: c.osiris_run(p, work, rows), ParquetOut(snappy_sink))
        for tool, script in (("duckdb", DUCKDB_SCRIPT), ("duckdb_zstd", DUCKDB_ZSTD_SCRIPT)):
            if "duckdb" in missing or (tool == "duckdb_zstd" and "same_codec" in missing):
                continue
            target = out / f"{tool}.parquet"
            tools[tool] = (lambda k=key, d=duck, t=target, s=script: c.run(
                [python, "-c", s, k, d, table, str(t)]), ParquetOut(target))
        for tool, backend in (("dlt_pyarrow", "pyarrow"), ("dlt_cx", "connectorx")):
            if tool not in missing:
                target = out / tool
                tools[tool] = (lambda b=backend, a=alchemy, p=plain, t=target: c.run(
                    [python, "-c", DLT_SCRIPT, a, p, table, b, str(t), str(work / "dlt")]), ParquetOut(target))
        tools["floor"] = (floors[key], None)
        paths[key] = tools
    source = ("extract", "filesystem.parquet_extractor", "read", {"path": str(files["parquet"])})
    writers = {"pg_load": ("postgres.writer", {"write_mode": "append"}),
               "my_load": ("mysql.writer", {"write_mode": "append", "load_method": "load_data"})}
    load_floors = {
        "pg_load": lambda: c.run(c.psql_argv("-c", f"\\copy {LOAD_TABLE['pg_load']} FROM '{files['csv']}' CSV HEADER")),
        "my_load": lambda: c.run(c.mariadb_argv("--local-infile=1") + [
            "-e", f"LOAD DATA LOCAL INFILE '{files['tsv']}' INTO TABLE {LOAD_TABLE['my_load']}"]),
    }
    for key in [k for k in ("pg_load", "my_load") if k in only]:  # loads only when asked: --only pg_load
        writer, config = writers[key]
        pipe = c.pipeline(work, f"parquet_to_{key}", [
            source, ("write", writer, "write", {"table": LOAD_TABLE[key], **config})])
        tools = {"ours": (lambda p=pipe: c.osiris_run(p, work, rows), TableOut(key))}
        if "duckdb" not in missing:
            kind = key.removesuffix("_load")
            tools["duckdb"] = (lambda k=kind, d=urls[kind][2], t=LOAD_TABLE[key]: c.run(
                [python, "-c", DUCKDB_LOAD_SCRIPT, k, d, t, str(files["parquet"])]), TableOut(key))
        tools["floor"] = (load_floors[key], TableOut(key))
        paths[key] = tools
    return paths


def measure_all(paths: dict, reps: int, want: dict, label: str = "repetition") -> dict[str, dict[str, dict]]:
    runs: dict[str, dict[str, list]] = {key: {tool: [] for tool in tools} for key, tools in paths.items()}
    checks: dict[str, dict[str, list]] = {key: {tool: [] for tool in tools} for key, tools in paths.items()}
    for rep in range(reps):
        print(f"{label} {rep + 1}/{reps}: load {os.getloadavg()[0]:.2f}", file=sys.stderr, flush=True)
        for key, tools in paths.items():
            order = list(tools.items())
            # every other repetition in reverse: no tool always runs right after the same one (a
            # load after a load, say, meets the previous table's drop and dirty pages)
            for tool, (measure, out) in (order if rep % 2 == 0 else order[::-1]):
                if out is not None:
                    out.prepare()
                try:
                    result = measure()
                except SystemExit as failed:  # one peer failing does not stop the others
                    print(f"{key} {tool} failed: {str(failed)[-600:]}", file=sys.stderr, flush=True)
                    checks[key][tool].append({"ok": False, "why": "run failed: " + reason(str(failed))})
                    continue
                runs[key][tool].append(result)
                print(f"  {key} {tool}: {result.seconds:.2f} s, {result.rss_mb:.0f} MB", file=sys.stderr, flush=True)
                if out is not None:
                    checks[key][tool].append(out.check(want[key]))
    summary: dict[str, dict[str, dict]] = {}
    for key, tools in runs.items():
        summary[key] = {}
        for tool, found in tools.items():
            verdicts = checks[key][tool]
            entry: dict[str, object] = {"runs": len(found), "seconds": [round(r.seconds, 3) for r in found],
                                        "checks": verdicts}
            if found:
                entry |= {"median_s": statistics.median(r.seconds for r in found),
                          "median_cpu_s": statistics.median(r.cpu_s for r in found),
                          "peak_rss_mb": max(r.rss_mb for r in found)}
            summary[key][tool] = entry
    return summary


def reason(message: str) -> str:
    """The telling line of a failed child's stderr (an exception or a schema mismatch), not its last."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    for marker in ("does not match", "Error", "Exception"):
        found = [line for line in lines if marker in line]
        if found:
            return found[-1 if marker != "does not match" else 0][:200]
    return (lines or ["unknown"])[-1][:200]


def verdict(entry: dict) -> str:
    checks = entry["checks"]
    if not checks:
        return "not verified (discarded)"
    bad = [ch for ch in checks if not ch["ok"]]
    if bad:
        return f"FAILED: {bad[0]['why']}"
    first = checks[0]
    return f"{first['rows']:,} rows, sum exact, created {first['created_type']}, amount {first['amount_type']}"


def report(rows: int, summary: dict, missing: dict[str, str], labels: dict) -> None:
    table = []
    for key, tools in summary.items():
        ours = tools["ours"].get("median_s")
        for tool, entry in tools.items():
            median = entry.get("median_s")
            if median is None:
                table.append([PATHS[key], labels[key][tool], "failed", "", "", "", "", verdict(entry)])
                continue
            if tool == "ours" or not ours:
                versus = ""
            elif median >= ours:
                versus = f"{median / ours:.2f}x faster"
            else:
                versus = f"**{ours / median:.2f}x slower**"
            table.append([PATHS[key], labels[key][tool], f"{median:.2f}",
                          f"{median / ours:.2f}" if ours else "", f"{entry['peak_rss_mb']:,.0f} MB",
                          f"{entry['median_cpu_s']:.1f}", versus, verdict(entry)])
        for tool, why in [(t, w) for t, w in missing.items() if t in labels[key]]:
            table.append([PATHS[key], labels[key].get(tool, tool), "not installed", "", "", "", "", why])
    c.print_table(["path", "tool", "median s", "its s / ours", "peak RSS", "CPU s", "ours vs it", "output"],
                  table, f"### {rows:,} rows x 10 columns, whole processes, medians")


DOCS = c.ROOT / "docs" / "performance.md"
END_MARK = "<!-- /peers -->"


def command_line(args: argparse.Namespace) -> str:
    """The command that reproduces a run: printed first, and the marker of its block in the docs."""
    return (f"bench/peers.py --rows {args.rows} --reps {args.reps}"
            + (" --only " + " --only ".join(args.only) if args.only else "")
            + (" --skip " + " --skip ".join(args.skip) if args.skip else ""))


def update_docs(path: Path, command: str, block: str) -> None:
    """Replace what lies between `<!-- peers: COMMAND -->` and the next `<!-- /peers -->` in `path`."""
    text = path.read_text()
    begin = f"<!-- peers: {command} -->"
    start = text.find(begin)
    end = text.find(END_MARK, start) if start >= 0 else -1
    if start < 0 or end < 0:
        raise SystemExit(f"{path}: no block between {begin!r} and {END_MARK!r}; put both where the table goes")
    path.write_text(text[: start + len(begin)] + "\n" + block.strip("\n") + "\n" + text[end:])


def positive(text: str) -> int:
    """A whole number of at least 1 (rows, repetitions)."""
    try:
        value = int(text.replace(",", "").replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is less than 1")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=positive, default=3_000_000, help="table size (default 3,000,000)")
    parser.add_argument("--reps", type=positive, default=3, help="repetitions, interleaved; the median counts")
    parser.add_argument("--quick", action="store_true", help="200,000 rows, 1 repetition (a smoke test)")
    parser.add_argument("--only", action="append", default=[], choices=sorted(PATHS), help="only these paths")
    parser.add_argument("--skip", action="append", default=[],
                        choices=["duckdb", "same_codec", "dlt_pyarrow", "dlt_cx"],
                        help="leave out this peer (the dlt ones take minutes at 10M rows; same_codec: the runs "
                        "with the other tool's codec)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "osiris-bench")
    parser.add_argument("--peers-venv", type=Path, default=PEERS_VENV, help="the peers' own virtualenv")
    parser.add_argument("--update-docs", nargs="?", type=Path, const=DOCS, metavar="FILE",
                        help="also put the table into FILE (default docs/performance.md), in place of the block "
                             "that starts with this command's marker, <!-- peers: bench/peers.py ... -->")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.reps = 200_000, 1
    return args


def main() -> None:
    args = parse_args()
    python, missing = peers_python(args.peers_venv)
    missing.update({tool: "skipped (--skip)" for tool in args.skip})
    command = command_line(args)
    print(f"# {command}\n")
    started = f"machine at the start: {c.machine_line()}; Postgres and MariaDB on loopback"
    print(started)
    print(versions(python))
    for peer, why in missing.items():
        print(f"{'SKIPPED' if why.startswith('skipped') else 'NOT INSTALLED'}: {peer}: {why}")
    labels = {key: {tool: text.format(ext="postgres_scanner" if key == "pg" else "mysql_scanner",
                                      cli='psql \\copy (SELECT ...) TO STDOUT > /dev/null' if key == "pg"
                                      else "mariadb --quick --batch -e 'SELECT ...' > /dev/null")
                    for tool, text in LABELS.items()} for key in ("pg", "my")}
    labels["pg_load"] = {"ours": "ours: osiris run (postgres.writer append)",
                         "duckdb": "DuckDB 1.5.5 postgres_scanner INSERT ... SELECT * FROM read_parquet",
                         "floor": "floor: psql \\copy t FROM 'data.csv' CSV HEADER"}
    labels["my_load"] = {"ours": "ours: osiris run (mysql.writer load_data)",
                         "duckdb": "DuckDB 1.5.5 mysql_scanner INSERT ... SELECT * FROM read_parquet",
                         "floor": "floor: mariadb LOAD DATA LOCAL INFILE 'data.tsv' (ready TSV)"}
    warm_files = c.ensure_files(args.data_dir, 1000)
    warm = c.ensure_seeded(warm_files, 1000)
    files = c.ensure_files(args.data_dir, args.rows)
    table = c.ensure_seeded(files, args.rows)
    with tempfile.TemporaryDirectory(prefix="osiris-bench-peers-") as tmp:
        work = Path(tmp)
        connections = c.connections_file(work)  # the loads read the cached Parquet file outside the work dir
        connections.write_text(f"filesystem:\n  roots: [{json.dumps(str(args.data_dir))}]\n" + connections.read_text())
        # one untimed run of every tool on 1,000 rows: bytecode, extensions and OS caches warm
        measure_all(paths_for(1000, warm, warm_files, work, python, missing, args.only), 1, expected(warm), "warm-up")
        summary = measure_all(paths_for(args.rows, table, files, work, python, missing, args.only), args.reps,
                              expected(table))
    table_text = io.StringIO()
    with contextlib.redirect_stdout(table_text):
        report(args.rows, summary, missing, labels)
        print(f"\nmachine at the end: {c.machine_line()}")
    print(table_text.getvalue(), end="")
    if args.update_docs:
        table = re.sub(r"^### (.+)$", r"*\1*", table_text.getvalue(), flags=re.MULTILINE)  # no heading in a section
        update_docs(args.update_docs, command, "\n".join(
            ["", f"    .venv/bin/python {command}", "", started + ";", versions(python) + ".", table]))
    if args.json:
        args.json.write_text(json.dumps({"command": command, "rows": args.rows, "reps": args.reps,
                                         "machine": c.machine_line(), "peers": versions(python),
                                         "not_installed": missing, "results": summary}, indent=2, default=str))
    sys.exit(exit_code(summary))


def exit_code(summary: dict) -> int:
    """1 when one of our own outputs failed its check; a peer's failure is a finding, reported in the table."""
    ours = [check for tools in summary.values() for check in tools.get("ours", {}).get("checks", [])]
    return 1 if any(not check["ok"] for check in ours) else 0


if __name__ == "__main__":
    main()
