"""All or nothing, at least once underneath: a worker killed mid-run is retried and the output
is still exact; the coordinator killed mid-run leaves every target as it was, its session reads
killed, and the next run is clean (the dead run's staging tables are dropped).

Both kills are real: `OSIRIS_FAILPOINTS` makes the worker running one partition SIGKILL itself
(Ray sees a lost worker and re-runs the task), or hang until the test SIGKILLs the `osiris run`
process once another partition has been staged.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.ray.helpers import outputs, run_in, workspace
from tests.ray.test_ray_matches_local import PARTITIONED, _data, _rows

pytestmark = pytest.mark.slow


def _osiris(work: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "osiris.cli.osiris", "run", *args], cwd=work,
                            env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _events(work: Path) -> list[dict]:
    found = sorted((work / ".osiris" / "sessions").glob("*/events.jsonl"))
    if not found:
        return []
    lines = found[-1].read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_a_killed_worker_is_retried_and_the_output_is_exact(tmp_path, ray_cluster):
    files = {"pipeline.yaml": PARTITIONED, **_data()}
    local = run_in(workspace(tmp_path / "local", files), "pipeline.yaml", backend="local")
    work = workspace(tmp_path / "ray", files)
    process = _osiris(work, "pipeline.yaml", "--backend", "ray", "--partitions", "3", "--ray-cpus", "2", "--quiet",
                      env={"OSIRIS_FAILPOINTS": "kill:orders:1"})
    out, err = process.communicate(timeout=240)
    assert process.returncode == 0, err
    retried = [e for e in _events(work) if e["event"] == "partition_retry"]
    assert [(e["step_id"], e["partition"], e["attempt"]) for e in retried] == [("orders", 1, 2)]
    mine, theirs = outputs(work), outputs(local.work)
    assert mine["out/by_country.parquet"] == theirs["out/by_country.parquet"]
    for name in ("out/clean.parquet", "out/joined.csv"):
        assert _rows(work / name) == _rows(local.work / name)


STAGED = """\
oml_version: "0.1.0"
name: staged
steps:
  - id: orders
    component: filesystem.parquet_extractor
    config: {path: data/orders.parquet}
  - id: load
    component: postgres.writer
    needs: [orders]
    config: {connection: "@postgres.dst", table: ray_killed_target, write_mode: append}
  - id: copy
    component: filesystem.parquet_writer
    needs: [orders]
    config: {path: out/orders.parquet}
"""


@pytest.mark.postgres
def test_a_killed_coordinator_changes_no_target_and_the_rerun_is_clean(tmp_path, postgres_db):
    import psycopg

    with psycopg.connect(postgres_db["dsn"], autocommit=True) as pg:
        pg.execute("DROP TABLE IF EXISTS ray_killed_target")
        pg.execute("CREATE TABLE ray_killed_target (id bigint, customer_id int, amount numeric(12,2), "
                   "status text, ts timestamptz, note text)")
        pg.execute("INSERT INTO ray_killed_target (id, status) VALUES (-1, 'before')")
    connections = (f"version: 1\nconnections:\n  postgres:\n    dst: {{host: 127.0.0.1, port: 5432, "
                   f"database: {postgres_db['database']}, user: postgres, password: ''}}\n")
    files = {"pipeline.yaml": STAGED, "osiris_connections.yaml": connections, **_data()}
    work = workspace(tmp_path / "ray", files)
    (work / "out").mkdir()
    process = _osiris(work, "pipeline.yaml", "--backend", "ray", "--partitions", "3", "--ray-cpus", "2", "--quiet",
                      env={"OSIRIS_FAILPOINTS": "hang:orders:1"})
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        staged = [e for e in _events(work) if e["event"] == "partition_complete" and e["step_id"] == "load"]
        if staged:
            break
        assert process.poll() is None, process.communicate()
        time.sleep(0.2)
    assert staged, "no partition was staged in time"
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)

    def target() -> list[tuple]:
        with psycopg.connect(postgres_db["dsn"]) as pg:
            return pg.execute("SELECT id, status FROM ray_killed_target ORDER BY id").fetchall()

    def staging_tables() -> int:
        with psycopg.connect(postgres_db["dsn"]) as pg:
            return pg.execute("SELECT count(*) FROM pg_tables WHERE tablename LIKE '_osiris_stage_%'").fetchone()[0]

    assert target() == [(-1, "before")]  # staged partitions never reached the target
    assert staging_tables() >= 1  # what the dead run staged is still there ...
    assert not (work / "out" / "orders.parquet").exists()
    shown = subprocess.run([sys.executable, "-m", "osiris.cli.osiris", "logs", "show", "last", "--json"], cwd=work,
                           capture_output=True, text=True, timeout=60)
    assert json.loads(shown.stdout)["state"] == "killed", shown.stdout

    rerun = _osiris(work, "pipeline.yaml", "--backend", "ray", "--partitions", "3", "--ray-cpus", "2", "--quiet")
    _, err = rerun.communicate(timeout=240)
    assert rerun.returncode == 0, err
    assert staging_tables() == 0  # ... and the next run dropped it
    assert any(e["event"] == "staging_swept" for e in _events(work))
    rows = target()
    assert len(rows) == 12_001 and rows[0] == (-1, "before")
    assert pq.read_table(work / "out" / "orders.parquet").num_rows == 12_000


@pytest.mark.postgres
def test_ctrl_c_cancels_every_task_and_drops_what_was_staged(tmp_path, postgres_db):
    import psycopg

    with psycopg.connect(postgres_db["dsn"], autocommit=True) as pg:
        pg.execute("DROP TABLE IF EXISTS ray_cancelled_target")
        pg.execute("CREATE TABLE ray_cancelled_target (id bigint, customer_id int, amount numeric(12,2), "
                   "status text, ts timestamptz, note text)")
    connections = (f"version: 1\nconnections:\n  postgres:\n    dst: {{host: 127.0.0.1, port: 5432, "
                   f"database: {postgres_db['database']}, user: postgres, password: ''}}\n")
    pipeline = STAGED.replace("ray_killed_target", "ray_cancelled_target")
    work = workspace(tmp_path / "ray", {"pipeline.yaml": pipeline, "osiris_connections.yaml": connections, **_data()})
    process = _osiris(work, "pipeline.yaml", "--backend", "ray", "--partitions", "3", "--ray-cpus", "2", "--quiet",
                      env={"OSIRIS_FAILPOINTS": "hang:orders:1"})
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not any(
            e["event"] == "partition_complete" and e["step_id"] == "load" for e in _events(work)):
        assert process.poll() is None, process.communicate()
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    with psycopg.connect(postgres_db["dsn"]) as pg:
        assert pg.execute("SELECT count(*) FROM ray_cancelled_target").fetchone()[0] == 0
        assert pg.execute("SELECT count(*) FROM pg_tables WHERE tablename LIKE '_osiris_stage_%'").fetchone()[0] == 0
    statuses = {e["step_id"]: e["event"] for e in _events(work) if e["event"].startswith("step_") and "step_id" in e}
    assert statuses["load"] == "step_cancelled"
