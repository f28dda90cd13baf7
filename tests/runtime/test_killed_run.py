"""A run killed with SIGKILL mid-write leaves every target as it was, and its session says so.

The source is a named pipe the test keeps open, so the run is guaranteed to be mid-stream
(rows already flowing into both writers) when it is killed, whatever the machine's speed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from osiris.drivers.common.atomic import TEMP_SUFFIX
from osiris.runtime.tempfiles import sweep_stale_temps
from tests.runtime.conftest import REPO

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PIPELINE = """oml_version: "0.1.0"
name: killed
steps:
  - id: src
    component: filesystem.csv_extractor
    config: {{path: feed.csv, block_size: 65536, schema: {{id: int64, name: string}}}}
  - id: to-postgres
    component: postgres.writer
    needs: [src]
    config: {{connection: "@postgres.dst", table: target, write_mode: append}}
  - id: to-file
    component: filesystem.parquet_writer
    needs: [src]
    config: {{path: out/target.parquet}}
"""


def _events(session_root: Path) -> list[dict]:
    files = list(session_root.glob("*/events.jsonl"))
    if not files:
        return []
    return [json.loads(line) for line in files[0].read_text(encoding="utf-8").splitlines() if line.strip()]


def test_sigkill_mid_write_leaves_targets_unchanged(postgres_db: dict, tmp_path: Path) -> None:
    import psycopg

    with psycopg.connect(postgres_db["dsn"], autocommit=True) as conn:
        conn.execute("CREATE TABLE target (id bigint, name text)")
        conn.execute("INSERT INTO target VALUES (0, 'before')")
    (tmp_path / "out").mkdir()
    before = pa.table({"id": [0], "name": ["before"]})
    pq.write_table(before, tmp_path / "out" / "target.parquet")
    original_bytes = (tmp_path / "out" / "target.parquet").read_bytes()
    (tmp_path / "osiris_connections.yaml").write_text(
        f'version: 1\nconnections:\n  postgres:\n    dst: {{dsn: "{postgres_db["dsn"]}"}}\n', encoding="utf-8")
    (tmp_path / "p.yaml").write_text(PIPELINE.format(), encoding="utf-8")
    os.mkfifo(tmp_path / "feed.csv")

    run = subprocess.Popen([sys.executable, "-m", "osiris.cli.osiris", "run", "p.yaml", "--quiet"], cwd=tmp_path,
                           env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
    feed_open = threading.Event()

    def feed() -> None:
        with open(tmp_path / "feed.csv", "w", encoding="utf-8") as pipe:
            feed_open.set()
            pipe.write("id,name\n")
            pipe.writelines(f"{i},row {i}\n" for i in range(1, 200_000))
            pipe.flush()
            time.sleep(120)  # keep the pipe open: the run cannot finish before it is killed

    threading.Thread(target=feed, daemon=True).start()
    sessions = tmp_path / ".osiris" / "sessions"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        started = {e.get("step_id") for e in _events(sessions) if e.get("event") == "step_start"}
        if {"to-postgres", "to-file"} <= started and feed_open.is_set():
            break
        assert run.poll() is None, run.communicate()
        time.sleep(0.1)
    else:
        run.kill()
        pytest.fail(f"the writers never started: {run.communicate()}")
    time.sleep(2.0)  # let batches reach both writers
    assert run.poll() is None, "the run ended although its source was still open"
    os.kill(run.pid, signal.SIGKILL)
    run.communicate(timeout=30)

    with psycopg.connect(postgres_db["dsn"]) as conn:
        assert conn.execute("SELECT id, name FROM target").fetchall() == [(0, "before")]
    assert (tmp_path / "out" / "target.parquet").read_bytes() == original_bytes
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith(".")) == ["target.parquet"]
    # SIGKILL leaves the writer's hidden temp file; the next write to that target sweeps it.
    leftovers = sorted(p.name for p in (tmp_path / "out").iterdir() if p.name.endswith(TEMP_SUFFIX))
    assert leftovers, "the killed writer had no temp file open"
    removed = sweep_stale_temps(tmp_path / "out" / "target.parquet", TEMP_SUFFIX)
    assert sorted(p.name for p in removed) == leftovers

    shown = subprocess.run([sys.executable, "-m", "osiris.cli.osiris", "logs", "show", "last",
                            "--session-dir", str(sessions)], cwd=tmp_path, capture_output=True, text=True,
                           env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=60)
    assert "killed" in shown.stdout and "to-postgres" in shown.stdout, shown.stdout + shown.stderr
