"""Shared helpers for the end-to-end benchmarks (bench/extract.py, bench/load.py).

Why a module: both benchmarks need the same seeded data (generated once with pyarrow, cached
per row count), the same way of running a child process and reading its peak RSS, the same
`osiris run` harness (a generated pipeline, a connections file, the session's metrics), and
the same table printing. Only the standard library and pyarrow are imported at module level.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
PYTHON = str(VENV_BIN / "python") if (VENV_BIN / "python").exists() else sys.executable
OSIRIS = str(VENV_BIN / "osiris") if (VENV_BIN / "osiris").exists() else "osiris"
DATA_VERSION = 2  # bump when the generator changes: cached files and seeded tables are then rebuilt
DB = "osiris_bench"
PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/test"
PG_DSN = f"postgresql://postgres@127.0.0.1:5432/{DB}"
GNU_TIME = "/usr/bin/time"
MY = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": os.environ.get("MYSQL_PWD", "")}

# ~10 mixed columns: the same logical table in both servers (and in the CSV / Parquet files).
PG_COLUMNS = ("id int8 PRIMARY KEY, qty int4, amount numeric(12,2), name varchar(60), note text, "
              "day date, created timestamp, active bool, score float8, ref int8")
MY_COLUMNS = ("id BIGINT PRIMARY KEY, qty INT, amount DECIMAL(12,2), name VARCHAR(60), note TEXT, "
              "day DATE, created DATETIME, active TINYINT(1), score DOUBLE, ref BIGINT")
COLUMN_NAMES = ("id", "qty", "amount", "name", "note", "day", "created", "active", "score", "ref")
NULLABLE = "note (1 in 5 NULL), score (1 in 7), ref (1 in 3)"


# --- processes ------------------------------------------------------------------------------


@dataclass
class Run:
    """One child process: wall seconds, its peak RSS (ru_maxrss, MB) and its output."""

    seconds: float
    rss_mb: float
    stdout: str = ""
    stderr: str = ""
    cpu_s: float = 0.0
    """User + system CPU seconds of the child (what it costs on a 2-core machine)."""


def run(argv: Sequence[str], *, stdout: str | None = None, stdin: str | None = None,
        env: dict[str, str] | None = None, cwd: Path | None = None) -> Run:
    """Run a child; measure its wall time and peak RSS.

    `stdout` is a file path to send output to (e.g. os.devnull) instead of capturing it.
    Linux keeps a process's RSS high-water mark across fork and exec, so a child forked
    straight from this (pyarrow-laden) Python would report at least our own RSS. The child
    therefore runs under GNU time, a 2 MB parent whose `%M` is the child's own ru_maxrss
    (from wait4). Without /usr/bin/time we fall back to os.wait4 on the direct child, which
    is exact only while this process stays small.
    """
    out = open(stdout, "wb") if stdout else subprocess.PIPE  # noqa: SIM115 - closed below
    inp = open(stdin, "rb") if stdin else subprocess.DEVNULL  # noqa: SIM115
    chunks: dict[str, bytes] = {"out": b"", "err": b""}

    def drain(name: str, pipe) -> None:
        chunks[name] = pipe.read()

    report = tempfile.NamedTemporaryFile("r", suffix=".time") if Path(GNU_TIME).exists() else None  # noqa: SIM115
    command = [GNU_TIME, "-q", "-o", report.name, "-f", "%U %S %M", *argv] if report else list(argv)
    started = time.perf_counter()
    try:
        proc = subprocess.Popen(command, stdout=out, stdin=inp, stderr=subprocess.PIPE,
                                env=child_env(env), cwd=cwd or ROOT)
        readers = [threading.Thread(target=drain, args=("err", proc.stderr))]
        if proc.stdout:
            readers.append(threading.Thread(target=drain, args=("out", proc.stdout)))
        for reader in readers:
            reader.start()
        _, status, usage = os.wait4(proc.pid, 0)  # not proc.wait(): we need the child's rusage
        proc.returncode = os.waitstatus_to_exitcode(status)
        for reader in readers:
            reader.join()
        for pipe in (proc.stdout, proc.stderr):
            if pipe:
                pipe.close()
    finally:
        for handle in (out, inp):
            if handle not in (subprocess.PIPE, subprocess.DEVNULL):
                handle.close()  # type: ignore[union-attr]
    seconds = time.perf_counter() - started
    rss_kb, cpu = usage.ru_maxrss, usage.ru_utime + usage.ru_stime
    if report:
        with report:
            fields = report.read().split()
        if len(fields) >= 3 and fields[-1].isdigit():
            rss_kb, cpu = int(fields[-1]), float(fields[-3]) + float(fields[-2])
    text, err = chunks["out"].decode(errors="replace"), chunks["err"].decode(errors="replace")
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:4])} ... failed ({proc.returncode}):\n{err[-3000:]}{text[-2000:]}")
    return Run(seconds, rss_kb / 1024, text, err, cpu)


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment children run with: as a user's, so Python may cache bytecode.

    This workplace sets PYTHONDONTWRITEBYTECODE, which would make every `osiris run` recompile
    the project's modules (~0.15 s); a user's install has its .pyc files.
    """
    env = {**os.environ, **(extra or {})}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def wait_for_quiet(threshold: float, max_wait: float) -> float:
    """Wait (up to max_wait s) until the 1-minute load average drops below threshold."""
    deadline = time.monotonic() + max_wait
    while time.monotonic() < deadline and os.getloadavg()[0] >= threshold:
        time.sleep(5)
    return os.getloadavg()[0]


def baseline_python(root: Path) -> str:
    """A separate venv with pandas + SQLAlchemy (bench/requirements.txt), created when missing.

    Kept apart from the project's .venv: with pandas installed there, pyarrow.dataset imports
    it and every `osiris run` starts ~0.5 s slower.
    """
    venv = root / "venv"
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"creating {venv} for the pandas baselines ...", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(ROOT / "bench" / "requirements.txt")],
                       check=True)
    return str(python)


# --- data -------------------------------------------------------------------------------------


def data_dir(root: Path, rows: int) -> Path:
    return root / f"v{DATA_VERSION}-{rows}"


def _every(ids, k: int):
    import pyarrow.compute as pc

    return pc.equal(pc.remainder(ids, k), 0)


def _batches(rows: int, step: int = 262_144) -> Iterator:
    """Deterministic synthetic rows, generated column-wise with pyarrow compute (fast)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    names = pa.array(["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf"])
    for lo in range(1, rows + 1, step):
        ids = pa.array(range(lo, min(lo + step, rows + 1)), pa.int64())
        amount = pc.divide(pc.remainder(pc.multiply(ids, 7919), 10_000_000).cast(pa.float64()), 100.0)
        name = pc.binary_join_element_wise(
            pc.take(names, pc.remainder(ids, 7)), ids.cast(pa.string()), "customer", " ")
        note = pc.binary_join_element_wise("order note", pc.remainder(ids, 9973).cast(pa.string()),
                                           "shipped by ground, no signature required", " ")
        yield pa.RecordBatch.from_arrays([
            ids,
            pc.remainder(ids, 1000).cast(pa.int32()),
            amount.cast(pa.decimal128(12, 2)),
            name,
            pc.if_else(_every(ids, 5), pa.scalar(None, pa.string()), note),
            pc.add(pc.remainder(ids, 9000), 10957).cast(pa.int32()).cast(pa.date32()),
            pc.add(pc.multiply(ids, 37), 1_577_836_800).cast(pa.timestamp("s")),
            _every(ids, 2),
            pc.if_else(_every(ids, 7), pa.scalar(None, pa.float64()), pc.divide(ids.cast(pa.float64()), 3.0)),
            pc.if_else(_every(ids, 3), pa.scalar(None, pa.int64()), pc.multiply(ids, 31)),
        ], names=list(COLUMN_NAMES))


def _tsv_batch(batch):
    """The batch as MariaDB/Postgres text format: tab-separated, NULL as \\N, bool as 1/0."""
    import pyarrow as pa
    import pyarrow.compute as pc

    arrays = []
    for column in batch.columns:
        if pa.types.is_boolean(column.type):
            column = column.cast(pa.int8())
        arrays.append(pc.fill_null(column.cast(pa.string()), "\\N"))
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def ensure_files(root: Path, rows: int) -> dict[str, Path]:
    """data.csv (header, pyarrow's CSV), data.tsv (LOAD DATA / COPY text format), data.parquet."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    folder = data_dir(root, rows)
    files = {"csv": folder / "data.csv", "tsv": folder / "data.tsv", "parquet": folder / "data.parquet"}
    if (folder / "done").exists():
        return files
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    started = time.perf_counter()
    first = next(_batches(1))
    schema = first.schema
    no_quotes = pacsv.WriteOptions(include_header=False, delimiter="\t", quoting_style="none")
    tsv_schema = _tsv_batch(first).schema
    with pacsv.CSVWriter(files["csv"], schema) as csv_out, \
            pacsv.CSVWriter(files["tsv"], tsv_schema, write_options=no_quotes) as tsv_out, \
            pq.ParquetWriter(files["parquet"], schema, compression="zstd") as pq_out:
        for batch in _batches(rows):
            csv_out.write_batch(batch)
            tsv_out.write_batch(_tsv_batch(batch))
            pq_out.write_batch(batch, row_group_size=1 << 20)
    (folder / "done").write_text(str(rows))
    print(f"generated {rows:,} rows of files in {time.perf_counter() - started:.1f} s "
          f"(CSV {files['csv'].stat().st_size / 2**20:.0f} MB)", file=sys.stderr, flush=True)
    return files


def table_name(rows: int) -> str:
    return f"t{rows}_v{DATA_VERSION}"


def mariadb_argv(*extra: str, database: str | None = DB) -> list[str]:
    argv = ["mariadb", "--quick", "--batch", *extra, "-h", MY["host"], "-P", str(MY["port"]), "-u", MY["user"]]
    return argv + ([database] if database else [])


def psql_argv(*args: str, dsn: str = PG_DSN) -> list[str]:
    return ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", dsn, *args]


def _mysql_env() -> dict[str, str]:
    return {"MYSQL_PWD": MY["password"]} if MY["password"] else {}


def mysql_sql(sql: str, database: str | None = DB, *extra: str) -> str:
    return run(mariadb_argv("--skip-column-names", *extra, database=database) + ["-e", sql],
               env=_mysql_env()).stdout.strip()


def pg_sql(sql: str, dsn: str = PG_DSN) -> str:
    return run(psql_argv("-At", "-c", sql, dsn=dsn)).stdout.strip()


def ensure_databases() -> None:
    mysql_sql(f"CREATE DATABASE IF NOT EXISTS {DB} CHARACTER SET utf8mb4", database=None)
    mysql_sql("SET GLOBAL local_infile = 1", database=None)
    if not pg_sql(f"SELECT 1 FROM pg_database WHERE datname = '{DB}'", dsn=PG_ADMIN_DSN):
        pg_sql(f"CREATE DATABASE {DB}", dsn=PG_ADMIN_DSN)


def ensure_seeded(files: dict[str, Path], rows: int) -> str:
    """Load `rows` rows into table t<rows>_v<version> of both servers unless already there."""
    ensure_databases()
    table = table_name(rows)
    if pg_sql(f"SELECT obj_description('public.{table}'::regclass)"
              if pg_sql(f"SELECT to_regclass('public.{table}')") else "SELECT ''") != "complete":
        started = time.perf_counter()
        pg_sql(f"DROP TABLE IF EXISTS {table}; CREATE TABLE {table} ({PG_COLUMNS})")
        run(psql_argv("-c", f"\\copy {table} FROM '{files['csv']}' CSV HEADER"))
        pg_sql(f"VACUUM ANALYZE {table}")
        pg_sql(f"COMMENT ON TABLE {table} IS 'complete'")
        print(f"seeded Postgres {table} in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    comment = mysql_sql(f"SELECT table_comment FROM information_schema.tables "
                        f"WHERE table_schema = '{DB}' AND table_name = '{table}'")
    if comment != "complete":
        started = time.perf_counter()
        mysql_sql(f"DROP TABLE IF EXISTS {table}; CREATE TABLE {table} ({MY_COLUMNS})")
        mysql_sql(f"SET unique_checks = 0; LOAD DATA LOCAL INFILE '{files['tsv']}' INTO TABLE {table}; "
                  f"ANALYZE TABLE {table}; ALTER TABLE {table} COMMENT = 'complete'", DB, "--local-infile=1")
        print(f"seeded MariaDB {table} in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    return table


# --- osiris run -------------------------------------------------------------------------------


def connections_file(folder: Path) -> Path:
    path = folder / "osiris_connections.yaml"
    path.write_text(
        "version: 1\nconnections:\n"
        f"  mysql:\n    bench:\n      host: {MY['host']}\n      port: {MY['port']}\n"
        f"      database: {DB}\n      user: {MY['user']}\n      password: ${{MYSQL_PWD:-}}\n      default: true\n"
        f"  postgres:\n    bench:\n      host: 127.0.0.1\n      port: 5432\n      database: {DB}\n"
        "      user: postgres\n      default: true\n")
    return path


def pipeline(folder: Path, name: str, steps: list[tuple[str, str, str, dict]]) -> Path:
    """Write a linear pipeline: steps are (id, component, mode, config); each needs the previous."""
    lines = ['oml_version: "0.1.0"', f"name: {name}", "steps:"]
    previous = None
    for step_id, component, mode, config in steps:
        lines += [f"  - id: {step_id}", f"    component: {component}", f"    mode: {mode}"]
        if previous:
            lines.append(f"    needs: [{previous}]")
        lines.append("    config:")
        lines += [f"      {key}: {json.dumps(value)}" for key, value in config.items()]
        previous = step_id
    path = folder / f"{name}.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass
class OsirisRun(Run):
    step_ms: dict[str, float] = field(default_factory=dict)
    step_rss: dict[str, float] = field(default_factory=dict)


def osiris_run(pipeline_path: Path, folder: Path, rows: int, extra: Sequence[str] = ()) -> OsirisRun:
    """`osiris run` as a user runs it (the venv's console script); reads the session's metrics."""
    sessions = folder / "sessions"
    result = run([OSIRIS, "run", str(pipeline_path), "--connections", str(folder / "osiris_connections.yaml"),
                  "--session-dir", str(sessions), "--json", "--quiet", *extra], cwd=folder, env=_mysql_env())
    status = json.loads(result.stdout)
    session = folder / status["session_dir"]  # relative to the run's cwd (or absolute)
    step_ms: dict[str, float] = {}
    step_rss: dict[str, float] = {}
    for line in (session / "metrics.jsonl").read_text().splitlines():
        metric = json.loads(line)
        if metric["metric"] == "duration_ms":
            step_ms[metric["step_id"]] = metric["value"]
        elif metric["metric"] == "peak_rss_mb":
            step_rss[metric["step_id"]] = metric["value"]
        elif metric["metric"] == "run_duration_ms":
            step_ms["(run)"] = metric["value"]
    written = status.get("totals", {}).get("rows_written")
    if not status.get("ok") or written != rows:
        raise SystemExit(f"{pipeline_path.name}: status {status.get('status')}, wrote {written} rows, expected {rows}")
    shutil.rmtree(session, ignore_errors=True)
    return OsirisRun(result.seconds, result.rss_mb, "", result.stderr, result.cpu_s, step_ms, step_rss)


# --- printing ---------------------------------------------------------------------------------


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]], title: str = "") -> None:
    """A Markdown table (pastes straight into docs/performance.md)."""
    if title:
        print(f"\n{title}\n")
    print("| " + " | ".join(headers) + " |")
    print("|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|")
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")
    sys.stdout.flush()


def machine_line() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{os.cpu_count()} cores, load average {one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min)"
