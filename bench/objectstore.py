"""Parquet to S3 (moto on 127.0.0.1): our writer against a plain pyarrow.fs upload of the same bytes.

    .venv/bin/python bench/objectstore.py              # about 256 MB of Parquet
    .venv/bin/python bench/objectstore.py --mb 2048    # the issue's 2 GB dataset

moto runs as its own process (`python -m moto.server`) and each measurement in a child
process, so a peak RSS is the measured side's own (moto keeps every object in its memory).

- ours: `filesystem.parquet_writer` writing a generated stream (ids, timestamps, amounts and a
  short text column, 64k-row batches) to `s3://bench/ours/` with `max_bytes_per_file` 256 MB:
  encode, multipart upload under the temporary prefix, publish (server-side copy).
- baseline: the Parquet files ours produced, downloaded to a local folder first (not timed),
  then uploaded by `pyarrow.fs.copy_files` to `s3://bench/plain/`: the network and server cost
  of the same bytes and nothing else.

MB/s is Parquet bytes over wall time; ours includes encoding and the publish copies, so the
ratio says what the writer costs on top of moving the bytes. Target (issue 13): ours >= 90% of
the baseline, peak RSS < 400 MB for 2 GB. Hold `flock /tmp/team/bench.lock` while it runs on
a shared machine.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

BATCH = 65536
ROW_BYTES = 8  # about what one generated row takes in Parquet (zstd); used to size the stream


def _child_ours(endpoint: str, rows: int) -> dict:
    import pyarrow as pa
    import pyarrow.compute as pc

    from osiris.drivers.files.parquet_writer import ParquetWriter
    from osiris.runtime.driver import ResolvedConnection
    from osiris.runtime.testing import RecordingContext

    codes = pa.array([f"c{i:05d}" for i in range(5003)], pa.string())
    base = pa.array(range(BATCH), pa.int64())
    # 16 batches' worth of random columns, made once and reused in turn: the generator's cost stays
    # small next to the writer's (building each batch from Python ranges took 40% of the run)
    amounts = [pc.round(pc.multiply(pc.random(BATCH, initializer=k), 1000), 2) for k in range(16)]
    picks = [codes.take(pc.cast(pc.floor(pc.multiply(pc.random(BATCH, initializer=100 + k), 5003)), pa.int64()))
             for k in range(16)]

    def batches():  # noqa: ANN202
        start, k = 0, 0
        while start < rows:
            n = min(BATCH, rows - start)
            ids = pc.add(base.slice(0, n), start)
            yield pa.record_batch({
                "id": ids,
                "ts": pc.add(pc.multiply(ids, 1000), 1_700_000_000_000).cast(pa.timestamp("ms")),
                "amount": amounts[k % 16].slice(0, n),
                "code": picks[(k * 7) % 16].slice(0, n),
            })
            start, k = start + n, k + 1

    schema = next(batches()).schema
    connection = ResolvedConnection("s3", "bench", {"endpoint": endpoint, "region": "us-east-1",
                                                     "access_key_id": "bench", "secret_access_key": "bench"},
                                    frozenset({"access_key_id", "secret_access_key"}))
    ctx = RecordingContext(config={"path": "s3://bench/ours/", "max_bytes_per_file": 256 * 1024 * 1024,
                                   "compression": "zstd"}, connection=connection, mode="write")
    began = time.perf_counter()
    result = ParquetWriter().write(ctx, pa.RecordBatchReader.from_batches(schema, batches()))
    seconds = time.perf_counter() - began
    return {"seconds": seconds, "bytes": result.bytes, "rows": result.rows,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _child_plain(endpoint: str, local: str) -> dict:
    import pyarrow.fs as pafs

    s3 = pafs.S3FileSystem(access_key="bench", secret_key="bench", region="us-east-1", scheme="http",
                           endpoint_override=endpoint.split("://", 1)[1])
    size = sum(p.stat().st_size for p in Path(local).rglob("*") if p.is_file())
    began = time.perf_counter()
    pafs.copy_files(local, "bench/plain", source_filesystem=pafs.LocalFileSystem(), destination_filesystem=s3,
                    chunk_size=8 * 1024 * 1024, use_threads=True)
    seconds = time.perf_counter() - began
    return {"seconds": seconds, "bytes": size,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _run_child(*args: str) -> dict:
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"child {args[0]} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=256, help="Parquet megabytes to write (about)")
    parser.add_argument("--child", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, endpoint, value = args.child
        out = _child_ours(endpoint, int(value)) if kind == "ours" else _child_plain(endpoint, value)
        print(json.dumps(out))
        return 0

    import logging

    import pyarrow.fs as pafs

    from tests.support.object_stores import free_port, wait_for_port

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        s3 = pafs.S3FileSystem(access_key="bench", secret_key="bench", region="us-east-1", scheme="http",
                               endpoint_override=f"127.0.0.1:{port}", allow_bucket_creation=True)
        s3.create_dir("bench")
        rows = args.mb * 1024 * 1024 // ROW_BYTES
        ours = _run_child("--child", "ours", endpoint, str(rows))
        with tempfile.TemporaryDirectory(prefix="osiris-bench-objectstore-") as local:
            pafs.copy_files("bench/ours", local, source_filesystem=s3, destination_filesystem=pafs.LocalFileSystem())
            plain = _run_child("--child", "plain", endpoint, local)
    finally:
        server.terminate()
        server.wait()
    mb = 1024 * 1024
    ours_rate, plain_rate = ours["bytes"] / mb / ours["seconds"], plain["bytes"] / mb / plain["seconds"]
    print(f"Parquet to moto S3, {ours['rows']:,} rows, {ours['bytes'] / mb:.1f} MB")
    print(f"{'':34}{'MB/s':>8}{'seconds':>10}{'peak RSS MB':>13}")
    print(f"{'osiris parquet_writer (s3://)':34}{ours_rate:8.1f}{ours['seconds']:10.2f}{ours['peak_rss_mb']:13.0f}")
    print(f"{'pyarrow.fs.copy_files, same bytes':34}{plain_rate:8.1f}{plain['seconds']:10.2f}"
          f"{plain['peak_rss_mb']:13.0f}")
    print(f"ours / baseline: {100 * ours_rate / plain_rate:.0f}% (target >= 90%); "
          f"peak RSS {ours['peak_rss_mb']:.0f} MB (target < 400 MB at 2 GB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
