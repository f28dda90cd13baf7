"""MySQL read and write paths side by side, against the `mariadb` CLI baseline in the same run.

    python bench/mysql_paths.py [--rows 1000000] [--host 127.0.0.1] [--port 3306] [--user root]

Seeds a scratch database with N rows x 10 mixed columns (BIGINT key, INT, BIGINT, DOUBLE,
DECIMAL(12,2), VARCHAR(60), DATETIME, DATE, TINYINT(1), VARCHAR(10)), then runs each path in
its own subprocess and reports rows/s and that process's peak RSS (ru_maxrss from wait4, so
the figure covers the interpreter, pyarrow, the client library and every buffer).

Reads (each discards the data): our extractor's native, bulk and stream paths, pymysql's
SSCursor alone, and `mariadb --quick --batch -e` > /dev/null (the baseline).
Writes, fed by synthetic Arrow batches of the same shape generated in the child (so only the
write is timed): our writer with load_method insert and load_data, pymysql's executemany
(multi-row INSERT built from Python tuples: the classic path), and the CLI's LOAD DATA of a
TSV dump (the baseline).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DB = "osiris_bench_mysql"
COLUMNS = ("id BIGINT PRIMARY KEY, a INT, b BIGINT, c DOUBLE, d DECIMAL(12,2), e VARCHAR(60), "
           "f DATETIME, g DATE, h TINYINT(1), k VARCHAR(10)")
SEED = ("INSERT INTO t SELECT seq, seq % 1000, seq * 7, seq / 3, seq / 7, "
        "CONCAT('name-', seq, '-', MD5(seq)), '2024-01-01' + INTERVAL seq SECOND, "
        "'2024-01-01' + INTERVAL (seq % 3000) DAY, seq % 2, ELT(1 + seq % 3, 'red', 'green', 'blue') "
        "FROM seq_1_to_{rows}")
PATHS = ("cli", "native", "bulk", "stream", "pymysql", "cli_load", "executemany", "insert", "load_data")

CHILD_PRELUDE = """
import sys, time
sys.path.insert(0, {root!r})
from osiris.runtime.driver import ResolvedConnection
from osiris.runtime.testing import RecordingContext
conn = ResolvedConnection("mysql", "bench", {fields!r}, frozenset({{"password"}}))
"""

READ_OURS = CHILD_PRELUDE + """
from osiris.drivers.mysql.extractor import MySQLExtractor
ctx = RecordingContext(config={{"table": "t", "fetch_mode": {mode!r}, "batch_size": 65536}}, connection=conn)
start = time.perf_counter()
rows = sum(batch.num_rows for batch in MySQLExtractor().extract(ctx))
print(rows, time.perf_counter() - start)
"""

READ_PYMYSQL = CHILD_PRELUDE + """
import pymysql, pymysql.cursors
f = {fields!r}
c = pymysql.connect(host=f["host"], port=f["port"], user=f["user"], password=f["password"],
                    database=f["database"], charset="utf8mb4", cursorclass=pymysql.cursors.SSCursor)
start = time.perf_counter()
rows = 0
with c.cursor() as cur:
    cur.execute("SELECT * FROM t")
    while chunk := cur.fetchmany(65536):
        rows += len(chunk)
print(rows, time.perf_counter() - start)
"""

BATCHES = """
import pyarrow as pa, pyarrow.compute as pc
TOTAL, STEP = {rows}, 65536
schema = pa.schema([("id", pa.int64()), ("a", pa.int32()), ("b", pa.int64()), ("c", pa.float64()),
                    ("d", pa.decimal128(12, 2)), ("e", pa.string()), ("f", pa.timestamp("us")),
                    ("g", pa.date32()), ("h", pa.bool_()), ("k", pa.string())])
def batches():
    for lo in range(1, TOTAL + 1, STEP):
        ids = pa.array(range(lo, min(lo + STEP, TOTAL + 1)), pa.int64())
        odd = pc.equal(pc.bit_wise_and(ids, 1), 1)
        money = pc.round(pc.divide(ids.cast(pa.float64()), 7.0), 2).cast(pa.decimal128(12, 2), safe=False)
        name = pc.binary_join_element_wise("name-", ids.cast(pa.string()), "-0123456789abcdef0123456789", "")
        yield pa.RecordBatch.from_arrays([
            ids, pc.bit_wise_and(ids, 1023).cast(pa.int32()), pc.multiply(ids, 7),
            pc.divide(ids.cast(pa.float64()), 3.0), money, name,
            pc.multiply(ids, 1_000_000).cast(pa.timestamp("us")),
            pc.bit_wise_and(ids, 2047).cast(pa.int32()).cast(pa.date32()), odd,
            pc.if_else(odd, "red", "blue"),
        ], schema=schema)
"""

WRITE_OURS = CHILD_PRELUDE + BATCHES + """
from osiris.drivers.mysql.writer import MySQLWriter
config = {{"table": "w_{method}", "write_mode": "replace", "create_if_missing": True, "primary_key": "id",
          "load_method": {method!r}, "batch_size": {batch}}}
ctx = RecordingContext(config=config, connection=conn, mode="write")
start = time.perf_counter()
result = MySQLWriter().write(ctx, pa.RecordBatchReader.from_batches(schema, batches()))
print(result.rows, time.perf_counter() - start)
"""


WRITE_EXECUTEMANY = CHILD_PRELUDE + BATCHES + """
import pymysql
f = {fields!r}
c = pymysql.connect(host=f["host"], port=f["port"], user=f["user"], password=f["password"],
                    database=f["database"], charset="utf8mb4", autocommit=False)
sql = "INSERT INTO w_em VALUES (" + ", ".join(["%s"] * 10) + ")"
start = time.perf_counter()
rows = 0
with c.cursor() as cur:
    cur.execute("DROP TABLE IF EXISTS w_em")
    cur.execute("CREATE TABLE w_em ({columns})")
    for batch in batches():
        values = list(zip(*(column.to_pylist() for column in batch.columns)))
        for lo in range(0, len(values), {batch}):
            cur.executemany(sql, values[lo:lo + {batch}])
        rows += batch.num_rows
c.commit()
print(rows, time.perf_counter() - start)
"""


def measure(argv: list[str], stdout: int | None = subprocess.PIPE) -> tuple[str, float, int]:
    """Run a child; return (its stdout, wall seconds, peak RSS in KB)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=stdout, stderr=subprocess.PIPE, cwd=ROOT)
    out = proc.stdout.read().decode() if proc.stdout else ""
    err = proc.stderr.read().decode() if proc.stderr else ""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{argv[:3]} failed:\n{err[-2000:]}")
    return out, wall, usage.ru_maxrss


def python_child(code: str) -> tuple[int, float, int]:
    out, _, rss = measure([sys.executable, "-c", code])
    rows, seconds = out.split()
    return int(rows), float(seconds), rss


def mariadb_cli(fields: dict, sql: str, database: str | None = DB, sink: str | None = None,
                extra: tuple[str, ...] = ()) -> tuple[float, int]:
    """Run the mariadb CLI; its output goes to `sink` (a path; /dev/null for the read baseline)."""
    argv = ["mariadb", "--quick", "--batch", *extra, "-h", fields["host"], "-P", str(fields["port"]),
            "-u", fields["user"]]
    if fields["password"]:
        os.environ["MYSQL_PWD"] = fields["password"]
    argv += [database] if database else []
    with open(sink or os.devnull, "wb") as out:
        _, wall, rss = measure(argv + ["-e", sql], stdout=out)
    return wall, rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3306)
    parser.add_argument("--user", default="root")
    parser.add_argument("--password", default=os.environ.get("MYSQL_PWD", ""))
    parser.add_argument("--paths", default=",".join(PATHS), help=f"comma-separated subset of {PATHS}")
    parser.add_argument("--write-batch", type=int, default=10000, help="the writer's batch_size")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database (and reuse it)")
    args = parser.parse_args()
    paths = args.paths.split(",")
    fields = {"host": args.host, "port": args.port, "user": args.user, "password": args.password,
              "database": DB}
    code = {"root": str(ROOT), "fields": fields, "rows": args.rows, "batch": args.write_batch}

    seed_s, _ = mariadb_cli(fields, f"DROP DATABASE IF EXISTS {DB}; CREATE DATABASE {DB}; USE {DB}; "
                            f"CREATE TABLE t ({COLUMNS}); {SEED.format(rows=args.rows)}; ANALYZE TABLE t",
                            database=None)
    print(f"seeded {args.rows:,} rows x 10 columns in {seed_s:.1f} s\n", flush=True)
    results: list[tuple[str, int, float, int]] = []
    base_s = None
    if "cli" in paths:
        base_s, rss = mariadb_cli(fields, "SELECT * FROM t")
        results.append(("read: mariadb --quick --batch > /dev/null (baseline)", args.rows, base_s, rss))
    for mode in ("native", "bulk", "stream"):
        if mode in paths:
            rows, seconds, rss = python_child(READ_OURS.format(**code, mode=mode))
            results.append((f"read: mysql.extractor {mode} -> discard", rows, seconds, rss))
    if "pymysql" in paths:
        rows, seconds, rss = python_child(READ_PYMYSQL.format(**code))
        results.append(("read: pymysql SSCursor -> discard", rows, seconds, rss))
    if "cli_load" in paths:
        with tempfile.TemporaryDirectory() as tmp:
            dump = Path(tmp) / "t.tsv"
            mariadb_cli(fields, "SELECT * FROM t", sink=str(dump), extra=("--skip-column-names",))
            mariadb_cli(fields, f"DROP TABLE IF EXISTS w_cli; CREATE TABLE w_cli ({COLUMNS})")
            seconds, rss = mariadb_cli(fields, f"LOAD DATA LOCAL INFILE '{dump}' INTO TABLE w_cli",
                                       extra=("--local-infile=1",))
        results.append(("write: mariadb LOAD DATA LOCAL of a TSV (baseline)", args.rows, seconds, rss))
    if "executemany" in paths:
        rows, seconds, rss = python_child(WRITE_EXECUTEMANY.format(**code, columns=COLUMNS))
        results.append(("write: pymysql executemany (reference)", rows, seconds, rss))
    for method in ("insert", "load_data"):
        if method in paths:
            rows, seconds, rss = python_child(WRITE_OURS.format(**code, method=method))
            results.append((f"write: mysql.writer {method} (replace, new table)", rows, seconds, rss))
    if not args.keep:
        mariadb_cli(fields, f"DROP DATABASE {DB}", database=None)

    print(f"{'path':<52} {'rows':>10} {'s':>7} {'rows/s':>11} {'vs cli':>7} {'peak RSS':>9}")
    for name, rows, seconds, rss in results:
        rate = rows / seconds
        versus = f"{rate / (args.rows / base_s):.0%}" if base_s and name.startswith("read") else ""
        print(f"{name:<52} {rows:>10,} {seconds:>7.2f} {rate:>11,.0f} {versus:>7} {rss / 1024:>7.0f} MB")


if __name__ == "__main__":
    main()
