"""bench/objectstore.py runs end to end at a tiny size: both sides write the same bytes to moto
and it prints the ratio line the docs quote (no figures are asserted: timings are not behaviour)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.timeout(60)


def test_bench_objectstore_runs_at_a_tiny_size() -> None:
    done = subprocess.run([sys.executable, str(REPO / "bench" / "objectstore.py"), "--mb", "2"],
                          capture_output=True, text=True, timeout=55, cwd=REPO, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("Parquet to moto S3, 262,144 rows")
    assert lines[2].startswith("osiris parquet_writer (s3://)")
    assert lines[3].startswith("pyarrow.fs.copy_files, same bytes")
    assert lines[4].startswith("ours / baseline: ")
