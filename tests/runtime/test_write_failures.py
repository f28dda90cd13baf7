"""Writes that fail half-way, through `osiris run`: the target is unchanged, the session says why.

- the disk fills up under a file writer (simulated with RLIMIT_FSIZE, which makes the kernel
  refuse writes past a size with EFBIG exactly where a full disk would give ENOSPC);
- a constraint violation in the middle of a PostgreSQL load.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.runtime.conftest import REPO


def _osiris(work: Path, *args: str, limit_bytes: int | None = None) -> subprocess.CompletedProcess[str]:
    def limit() -> None:  # runs in the child only
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))

    return subprocess.run([sys.executable, "-m", "osiris.cli.osiris", *args], cwd=work, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300,
                          preexec_fn=limit if limit_bytes else None)


def _status(work: Path) -> dict:
    [status] = list((work / ".osiris" / "sessions").glob("*/status.json"))
    return json.loads(status.read_text(encoding="utf-8"))


def test_disk_full_during_a_file_write_keeps_the_old_file(tmp_path: Path) -> None:
    rows = 300_000
    pq.write_table(pa.table({"id": range(rows), "text": [f"row number {i}" for i in range(rows)]}),
                   tmp_path / "source.parquet")  # written before the limit applies
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "copy.csv").write_text("id,text\n0,old\n", encoding="utf-8")
    (tmp_path / "p.yaml").write_text("""oml_version: "0.1.0"
name: disk-full
steps:
  - id: src
    component: filesystem.parquet_extractor
    config: {path: source.parquet}
  - id: copy
    component: filesystem.csv_writer
    needs: [src]
    config: {path: out/copy.csv}
""", encoding="utf-8")
    done = _osiris(tmp_path, "run", "p.yaml", limit_bytes=1_000_000)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "copy" in done.stderr and "filesystem.csv_writer" in done.stderr
    assert (tmp_path / "out" / "copy.csv").read_text(encoding="utf-8") == "id,text\n0,old\n"
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["copy.csv"], "no temp file left behind"
    status = _status(tmp_path)
    failed = {s["step_id"]: s for s in status["steps"]} if isinstance(status["steps"], list) else status["steps"]
    assert status["ok"] is False and failed["copy"]["status"] == "failed"
    assert "too large" in json.dumps(failed["copy"]).lower() or "space" in json.dumps(failed["copy"]).lower()


@pytest.mark.postgres
def test_constraint_violation_mid_load_keeps_the_table(postgres_db: dict, tmp_path: Path) -> None:
    import psycopg

    with psycopg.connect(postgres_db["dsn"], autocommit=True) as conn:
        conn.execute("CREATE TABLE target (id bigint PRIMARY KEY, name text)")
        conn.execute("INSERT INTO target VALUES (50000, 'existing')")
    rows = 100_000
    pq.write_table(pa.table({"id": range(rows), "name": [f"n{i}" for i in range(rows)]}), tmp_path / "in.parquet")
    (tmp_path / "osiris_connections.yaml").write_text(
        f'version: 1\nconnections:\n  postgres:\n    dst: {{dsn: "{postgres_db["dsn"]}"}}\n', encoding="utf-8")
    (tmp_path / "p.yaml").write_text("""oml_version: "0.1.0"
name: violation
steps:
  - id: src
    component: filesystem.parquet_extractor
    config: {path: in.parquet, batch_size: 1000}
  - id: load
    component: postgres.writer
    needs: [src]
    config: {connection: "@postgres.dst", table: target, write_mode: append}
""", encoding="utf-8")
    done = _osiris(tmp_path, "run", "p.yaml")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "load" in done.stderr and "postgres.writer" in done.stderr
    assert "duplicate key" in done.stderr.lower() or "unique" in done.stderr.lower(), done.stderr
    with psycopg.connect(postgres_db["dsn"]) as conn:
        assert conn.execute("SELECT id, name FROM target").fetchall() == [(50000, "existing")]
    assert _status(tmp_path)["ok"] is False
