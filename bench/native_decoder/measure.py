"""What a native COPY decoder would buy PostgreSQL -> Parquet: ADBC's reader, an experimental C
decoder and DuckDB's scanner on the same table, in one run (issue 12, item 2).

    .venv/bin/python bench/native_decoder/measure.py [--rows 3000000] [--reps 3]

Compiles pgcopy_decoder.c (gcc, libpq's headers from Debian's libpq-dev, Python's headers) into a
temporary directory; nothing is installed. On the table bench/peers.py seeds, each child process
reads every row and writes the same Parquet file (zstd, the writer's dictionary choice) and is
timed whole (wall, CPU, peak RSS), interleaved round by round, medians printed:

  adbc        ADBC's COPY reader (numerics selected as text, cast to decimal128: the extractor's
              path), one stream
  native      the C decoder, one stream (numerics in binary, straight to decimal128)
  native x2   the C decoder on two connections, each half the table's pages (ctid ranges)
  duckdb      DuckDB 1.5.5 + postgres_scanner COPY ... TO parquet (bench/peers.py's peer)

Every output but DuckDB's is compared with the adbc one (Table.equals, rows ordered by id).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import _common as c  # noqa: E402
from peers import DUCKDB_SCRIPT, PEERS_VENV  # noqa: E402

NAMES = ["id", "qty", "amount", "name", "note", "day", "created", "active", "score", "ref"]
CHILD = r"""
import queue, sys, threading
import pyarrow as pa, pyarrow.compute as pc, pyarrow.parquet as pq
mode, build, dsn, table, pages, out = sys.argv[1:7]
types = [pa.int64(), pa.int32(), pa.decimal128(12, 2), pa.string(), pa.string(), pa.date32(),
         pa.timestamp("us"), pa.bool_(), pa.float64(), pa.int64()]
schema = pa.schema(list(zip(NAMES, types)))
CODES = [(4, 0), (3, 0), (10, 2), (9, 0), (9, 0), (7, 0), (8, 0), (1, 0), (6, 0), (4, 0)]
q = queue.Queue(8)

def native(sql):
    sys.path.insert(0, build)
    import pgcopy_decoder
    reader = pgcopy_decoder.Reader(dsn, sql, CODES)
    while (got := reader.read(131072)) is not None and got[0]:
        n, cols = got
        q.put(pa.RecordBatch.from_arrays([pa.Array.from_buffers(
            t, n, [pa.py_buffer(v) if nulls else None] + ([pa.py_buffer(o)] if o else []) + [pa.py_buffer(d)],
            null_count=nulls) for t, (v, o, d, nulls) in zip(types, cols)], schema=schema))
    q.put(None)

def adbc(sql):
    import adbc_driver_postgresql.dbapi as a
    cur = a.connect(dsn.replace("host=127.0.0.1 user=postgres dbname=", "postgresql://postgres@127.0.0.1/")).cursor()
    cur.adbc_statement.set_options(**{"adbc.postgresql.batch_size_hint_bytes": str(16 << 20)})
    cur.execute(sql)
    for b in cur.fetch_record_batch():
        i = b.schema.get_field_index("amount")
        q.put(b.set_column(i, "amount", pc.cast(b.column(i), pa.decimal128(12, 2))).cast(schema))
    q.put(None)

if mode == "adbc":
    text = ", ".join(f"{n}::text AS {n}" if n == "amount" else n for n in NAMES)
    jobs = [(adbc, f"SELECT {text} FROM {table}")]
else:
    parts = 2 if mode == "native2" else 1
    step = int(pages) // parts + 1
    where = [f" WHERE ctid >= '({i * step},0)'::tid AND ctid < '({(i + 1) * step},0)'::tid" for i in range(parts)]
    jobs = [(native, f"COPY (SELECT * FROM {table}{w if parts > 1 else ''}) TO STDOUT (FORMAT binary)") for w in where]
def guarded(job, sql):
    try:
        job(sql)
    except BaseException as error:  # the writer loop re-raises it: a dead reader must not hang the run
        q.put(error)

threads = [threading.Thread(target=guarded, args=(f, s)) for f, s in jobs]
for t in threads:
    t.start()
writer = pq.ParquetWriter(out, schema, compression="zstd", use_dictionary=["qty", "name", "day", "active"])
pending, finished = [], 0
while finished < len(threads):
    batch = q.get()
    if batch is None:
        finished += 1
        continue
    if isinstance(batch, BaseException):
        raise batch
    pending.append(batch)
    if sum(b.num_rows for b in pending) >= 262144:
        writer.write_table(pa.Table.from_batches(pending))
        pending = []
if pending:
    writer.write_table(pa.Table.from_batches(pending))
writer.close()
""".replace("NAMES", repr(NAMES))


def build(into: Path) -> Path:
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    target = into / f"pgcopy_decoder{suffix}"
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", f"-I{sysconfig.get_paths()['include']}",
                    "-I/usr/include/postgresql", str(HERE / "pgcopy_decoder.c"), "-lpq", "-o", str(target)],
                   check=True)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=3_000_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, default=Path(tempfile.gettempdir()) / "osiris-bench")
    args = parser.parse_args()
    table = c.ensure_seeded(c.ensure_files(args.data_dir, args.rows), args.rows)
    pages = c.pg_sql(f"SELECT relpages FROM pg_class WHERE relname = '{table}'")
    dsn = f"host=127.0.0.1 user=postgres dbname={c.DB}"
    duck = PEERS_VENV / "bin" / "python"
    print(f"# bench/native_decoder/measure.py --rows {args.rows} --reps {args.reps}\n\nmachine: {c.machine_line()}")
    with tempfile.TemporaryDirectory(prefix="osiris-native-") as tmp:
        work = Path(tmp)
        build(work)
        outs = {mode: work / f"{mode}.parquet" for mode in ("adbc", "native", "native2", "duckdb")}
        runs: dict[str, list[c.Run]] = {mode: [] for mode in outs}
        for rep in range(args.reps):
            print(f"round {rep + 1}/{args.reps}", file=sys.stderr, flush=True)
            for mode, out in outs.items():
                if mode == "duckdb":
                    if duck.exists():
                        runs[mode].append(c.run([str(duck), "-c", DUCKDB_SCRIPT, "pg", dsn, table, str(out)]))
                    continue
                runs[mode].append(c.run([c.PYTHON, "-c", CHILD, mode, str(work), dsn, table, pages, str(out)]))
        import pyarrow.parquet as pq

        reference = pq.read_table(outs["adbc"]).sort_by("id")  # two streams interleave their batches
        same = {mode: pq.read_table(out).sort_by("id").equals(reference) for mode, out in outs.items()
                if mode != "duckdb" and out.exists()}
    labels = {"adbc": "ADBC COPY reader (numeric as text + cast), 1 stream",
              "native": "C decoder over libpq, 1 stream", "native2": "C decoder over libpq, 2 ctid ranges",
              "duckdb": "DuckDB 1.5.5 postgres_scanner COPY TO parquet"}
    rows = []
    for mode, found in runs.items():
        if not found:
            continue
        wall = statistics.median(r.seconds for r in found)
        rows.append([labels[mode], f"{wall:.2f}", f"{statistics.median(r.cpu_s for r in found):.2f}",
                     f"{max(r.rss_mb for r in found):.0f} MB",
                     "(its own writer)" if mode not in same else "yes" if same[mode] else "NO"])
    c.print_table(["reader -> the same Parquet writer", "wall s", "CPU s", "peak RSS", "output equals adbc's"],
                  rows, f"### {args.rows:,} rows, whole processes, medians of {args.reps}")
    print(f"\nmachine at the end: {c.machine_line()}")
    if not all(same.values()):
        sys.exit(1)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    main()
