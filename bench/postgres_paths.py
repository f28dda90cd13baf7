"""Benchmark: Osiris's PostgreSQL paths against psql baselines measured in the same run.

    .venv/bin/python bench/postgres_paths.py [--rows 1000000] [--dsn postgresql://postgres@127.0.0.1:5432/test]

Seeds a scratch database with N rows x 10 mixed columns (int8, int4, numeric(12,2), float8,
text, varchar, timestamptz, date, bool, uuid), then runs each path in its own process and
reports rows/s and that process's peak RSS (ru_maxrss from wait4):

  read   osiris postgres.extractor -> discard         vs  psql -c "COPY t TO STDOUT" > /dev/null
  write  osiris postgres.writer append (COPY, adbc_ingest) from an Arrow IPC file
         osiris postgres.writer upsert (COPY into staging + INSERT ... ON CONFLICT)
                                                      vs  psql -c "\\copy t FROM 'file.csv' CSV"

Osiris rows/s are timed inside the worker (imports and connection set-up excluded); psql is
timed around the whole child process, which starts in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SEED = """
CREATE TABLE t (
  id int8 PRIMARY KEY, qty int4, price numeric(12,2), ratio float8, name text, code varchar(16),
  created timestamptz, day date, flag bool, u uuid
);
INSERT INTO t
SELECT g, (g % 1000)::int4, round((g % 100000) * 1.37, 2), g / 7.0, 'customer name ' || g,
       'C' || (g % 99999), TIMESTAMPTZ '2020-01-01 00:00+00' + g * INTERVAL '1 second',
       DATE '2000-01-01' + (g % 9000), g % 2 = 0, md5(g::text)::uuid
FROM generate_series(1, %(rows)s) g;
ANALYZE t;
"""


def _psql(dsn: str, *args: str) -> list[str]:
    return ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", dsn, *args]


def _run(cmd: list[str], stdout: int | None = subprocess.PIPE) -> tuple[str, float, float]:
    """Run `cmd` under /usr/bin/time; return (stdout, wall seconds, peak RSS MB of `cmd` alone).

    GNU time is a tiny parent, so the child's ru_maxrss is not inflated by a forked Python.
    """
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        proc = subprocess.run(
            ["/usr/bin/time", "-o", report.name, "-f", "%M %e", *cmd],
            stdout=stdout,
            stderr=subprocess.PIPE,
            cwd=REPO,
            check=False,
        )
        if proc.returncode:
            raise SystemExit(
                f"{' '.join(cmd[:3])}... failed ({proc.returncode}): {proc.stderr.decode().strip()}"
            )
        kilobytes, wall = report.read().split()[-2:]
    out = proc.stdout.decode() if isinstance(proc.stdout, bytes) else ""
    return out, float(wall), int(kilobytes) / 1024


def _worker(cmd: list[str]) -> tuple[float, float]:
    out, _, rss = _run([sys.executable, __file__, *cmd])
    return json.loads(out.strip().splitlines()[-1])["seconds"], rss


# --- workers (run in their own process) ---------------------------------------------------------


def _context(dsn: str, config: dict):
    from osiris.runtime.driver import ResolvedConnection
    from osiris.runtime.testing import RecordingContext

    connection = ResolvedConnection("postgres", "bench", {"dsn": dsn}, frozenset({"dsn"}))
    return RecordingContext(config=config, connection=connection, batch_rows=65536)


def work_read(dsn: str) -> dict:
    from osiris.drivers.postgres.extractor import PostgresExtractor

    ctx = _context(dsn, {"table": "t"})
    started = time.perf_counter()
    rows = sum(batch.num_rows for batch in PostgresExtractor().extract(ctx))
    return {"rows": rows, "seconds": time.perf_counter() - started}


def work_write(dsn: str, source: str, mode: str) -> dict:
    import pyarrow as pa

    from osiris.drivers.postgres.writer import PostgresWriter

    config = {"table": "t_w", "write_mode": mode, "primary_key": "id"}
    ctx = _context(dsn, config)
    with pa.OSFile(source) as mapped:  # plain reads: a memory map would count the whole file in RSS
        file = pa.ipc.open_file(mapped)
        reader = pa.RecordBatchReader.from_batches(
            file.schema, (file.get_batch(i) for i in range(file.num_record_batches))
        )
        started = time.perf_counter()
        result = PostgresWriter().write(ctx, reader)
    return {"rows": result.rows, "seconds": time.perf_counter() - started}


# --- driver ---------------------------------------------------------------------------------------


def _export_ipc(dsn: str, path: Path) -> None:
    """Write table t to an Arrow IPC file through the extractor (not timed)."""
    import pyarrow as pa

    from osiris.drivers.postgres.extractor import PostgresExtractor

    reader = PostgresExtractor().extract(_context(dsn, {"table": "t"}))
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, reader.schema) as writer:
        for batch in reader:
            writer.write_batch(batch)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/test", help="admin database")
    args = parser.parse_args()
    import psycopg

    name = f"osiris_bench_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(args.dsn, autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    dsn = args.dsn.rsplit("/", 1)[0] + "/" + name
    try:
        with tempfile.TemporaryDirectory(prefix="osiris-bench-") as tmp:
            _bench(dsn, args.rows, Path(tmp))
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def _bench(dsn: str, rows: int, tmp: Path) -> None:
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SEED.replace("%(rows)s", str(int(rows))))
        conn.execute("CREATE TABLE t_w (LIKE t INCLUDING ALL)")
    print(f"seeded {rows:,} rows x 10 columns in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    ipc, csv = tmp / "t.arrow", tmp / "t.csv"
    _export_ipc(dsn, ipc)
    _run(_psql(dsn, "-c", f"\\copy t TO '{csv}' CSV"))
    print(
        f"sources: Arrow IPC {ipc.stat().st_size / 2**20:.0f} MB, CSV {csv.stat().st_size / 2**20:.0f} MB",
        file=sys.stderr,
    )

    results = []
    seconds, rss = _worker(["--worker", "read", "--dsn", dsn])
    results.append(("read", "osiris postgres.extractor -> discard", seconds, rss))
    with open(os.devnull, "wb") as null:
        _, wall, rss = _run(_psql(dsn, "-c", "COPY t TO STDOUT"), stdout=null.fileno())
    results.append(("read", 'psql -c "COPY t TO STDOUT" > /dev/null', wall, rss))

    def truncate() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("TRUNCATE t_w")

    truncate()
    seconds, rss = _worker(["--worker", "write", "--dsn", dsn, "--source", str(ipc), "--mode", "append"])
    results.append(("write", "osiris postgres.writer append (COPY)", seconds, rss))
    seconds, rss = _worker(["--worker", "write", "--dsn", dsn, "--source", str(ipc), "--mode", "upsert"])
    results.append(("write", "osiris postgres.writer upsert (staging, all rows conflict)", seconds, rss))
    truncate()
    _, wall, rss = _run(_psql(dsn, "-c", f"\\copy t_w FROM '{csv}' CSV"))
    results.append(("write", "psql \\copy FROM csv", wall, rss))

    print(f"\n{rows:,} rows x 10 columns, PostgreSQL on loopback, {os.cpu_count()} cores\n")
    print("| kind | path | rows/s | peak RSS |\n|---|---|---:|---:|")
    for kind, label, secs, mem in results:
        print(f"| {kind} | {label} | {rows / secs:,.0f} | {mem:.0f} MB |")


if __name__ == "__main__":
    if "--worker" in sys.argv:
        worker = argparse.ArgumentParser()
        worker.add_argument("--worker", choices=["read", "write"])
        worker.add_argument("--dsn")
        worker.add_argument("--source")
        worker.add_argument("--mode", default="append")
        opts = worker.parse_args()
        sys.path.insert(0, str(REPO))
        result = (
            work_read(opts.dsn) if opts.worker == "read" else work_write(opts.dsn, opts.source, opts.mode)
        )
        print(json.dumps(result))
    else:
        sys.path.insert(0, str(REPO))
        main()
