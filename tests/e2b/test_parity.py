"""Parity: the same pipelines run locally and through the sandbox transport leave the same results.

Asserted for each pipeline: output files byte-identical, database targets identical, event
sequences identical once host-specific fields are dropped (tests/e2b/helpers.HOST_FIELDS,
documented in docs/e2b.md), equal row and byte counts in the metrics, the same status.json
apart from durations, and for the failing pipeline the same exit code and error text.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2b.helpers import (
    REPO,
    comparable_status,
    files_under,
    leftovers,
    normalised_events,
    quickstart_workspace,
    row_byte_metrics,
    run_pipeline,
    step_metric_names,
)
from tests.runtime.conftest import validate_session  # noqa: E402 - the runtime's schema check

PIPELINE = "examples/quickstart/pipeline.yaml"


def assert_parity(local, sandboxed) -> None:
    local_run, local_steps = normalised_events(local)
    sandbox_run, sandbox_steps = normalised_events(sandboxed)
    assert sandbox_run == local_run
    assert sandbox_steps == local_steps
    assert row_byte_metrics(sandboxed) == row_byte_metrics(local)
    assert step_metric_names(sandboxed) == step_metric_names(local)
    assert comparable_status(sandboxed) == comparable_status(local)
    assert sandboxed.exit_code == local.exit_code


def test_quickstart_demo(tmp_path):
    here, there = quickstart_workspace(tmp_path / "local"), quickstart_workspace(tmp_path / "sandbox")
    local, _ = run_pipeline(here, PIPELINE, sandbox=False)
    sandboxed, executor = run_pipeline(there, PIPELINE, sandbox=True)
    assert local.exit_code == 0, local.status
    assert_parity(local, sandboxed)
    outputs = files_under(there)
    assert outputs == files_under(here)
    assert {"out/quickstart/revenue_by_country.csv", "out/quickstart/revenue_by_country.parquet"} <= set(outputs)
    assert leftovers(there) == []
    validate_session(sandboxed.session.dir)  # events, metrics and status.json follow the published schemas
    assert executor.last_report["transport"] == "local"
    # The worker ran the uploaded build, not this checkout.
    assert not executor.last_report["worker"]["runtime_path"].startswith(str(REPO))


FAILING = """\
oml_version: "0.1.0"
name: failing
steps:
  - id: extract-orders
    component: filesystem.csv_extractor
    mode: read
    config: {path: examples/quickstart/data/orders.csv}
  - id: broken-sql
    component: duckdb.processor
    mode: transform
    needs: [extract-orders]
    config:
      query: SELECT no_such_column FROM input_df
  - id: write
    component: filesystem.csv_writer
    mode: write
    needs: [broken-sql]
    config: {path: out/never.csv}
  - id: write-orders
    component: filesystem.csv_writer
    mode: write
    needs: [extract-orders]
    config: {path: out/orders.csv}
"""


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "OSIRIS_E2B_TRANSPORT"}
    return subprocess.run(
        [sys.executable, "-m", "osiris.cli.osiris", "run", "failing.yaml", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def _problems(text: str) -> list[str]:
    """The summary's error/hint/skipped lines (the rest has durations and session ids)."""
    return [line for line in text.splitlines() if re.match(r"\s*(error|hint|note|skipped):", line)]


def _status(workspace: Path) -> dict:
    (path,) = (workspace / ".osiris" / "sessions").glob("*/status.json")
    doc = json.loads(path.read_text(encoding="utf-8"))
    for key in ("session_id", "started_at", "finished_at", "duration_ms", "peak_rss_mb"):
        doc.pop(key, None)
    for step in doc["steps"].values():
        step.pop("duration_ms"), step.pop("peak_rss_mb")
    return doc


def test_failing_pipeline_same_exit_code_and_error(tmp_path):
    here, there = quickstart_workspace(tmp_path / "local"), quickstart_workspace(tmp_path / "sandbox")
    for ws in (here, there):
        (ws / "failing.yaml").write_text(FAILING, encoding="utf-8")
    local = _cli(here)
    sandboxed = _cli(there, "--e2b", "--e2b-transport", "local")
    assert local.returncode == 1, local.stderr
    assert sandboxed.returncode == local.returncode, sandboxed.stderr
    assert _problems(local.stderr) and _problems(sandboxed.stderr) == _problems(local.stderr)
    assert any("no_such_column" in line for line in _problems(local.stderr))
    assert _status(there) == _status(here)
    assert files_under(there) == files_under(here)  # write-orders succeeded in both; `write` never ran
    assert (there / "out" / "orders.csv").is_file() and not (there / "out" / "never.csv").exists()


@pytest.mark.mysql
@pytest.mark.postgres
def test_mysql_duckdb_postgres(tmp_path, mysql_db, postgres_db):
    import psycopg
    import pymysql
    from pymysql.constants import CLIENT

    example = REPO / "examples" / "mysql_to_postgres"
    conn = pymysql.connect(**mysql_db, client_flag=CLIENT.MULTI_STATEMENTS, autocommit=True)
    with conn.cursor() as cur:
        cur.execute((example / "seed.sql").read_text(encoding="utf-8"))
        while cur.nextset():
            pass
    conn.close()
    env = {**os.environ, "MYSQL_DATABASE": mysql_db["database"], "PG_DATABASE": postgres_db["database"]}
    env.pop("MYSQL_PASSWORD", None), env.pop("PG_PASSWORD", None)

    def target() -> dict[str, list[tuple]]:
        with psycopg.connect(postgres_db["dsn"]) as pg:
            tables = {}
            for table in ("director_stats", "movies"):
                columns = pg.execute(
                    "SELECT column_name, data_type, numeric_precision, numeric_scale, is_nullable "
                    "FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position",
                    (table,),
                ).fetchall()
                rows = pg.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
                tables[table] = [tuple(columns), *rows]
            return tables

    def reset() -> None:
        with psycopg.connect(postgres_db["dsn"], autocommit=True) as pg:
            pg.execute("DROP TABLE IF EXISTS director_stats, movies")

    results = {}
    for mode in ("local", "sandbox"):
        ws = tmp_path / mode
        ws.mkdir()
        reset()
        outcome, _ = run_pipeline(
            ws,
            str(example / "pipeline.yaml"),
            sandbox=mode == "sandbox",
            connections=str(example / "osiris_connections.yaml"),
            env=env,
        )
        assert outcome.exit_code == 0, outcome.status
        results[mode] = (outcome, target())
    (local, local_rows), (sandboxed, sandbox_rows) = results["local"], results["sandbox"]
    assert sandbox_rows == local_rows
    assert len(local_rows["movies"]) == 16 and len(local_rows["director_stats"]) > 1  # header + rows
    assert_parity(local, sandboxed)


def test_compiled_manifest(tmp_path):
    """`osiris run --manifest DIR --e2b`: a manifest compiled by omlc runs the same in the sandbox."""
    from osiris.runtime.local.executor import ExecOptions
    from osiris.runtime.run import RunRequest, run
    from tests.e2b.helpers import transport

    ws = quickstart_workspace(tmp_path / "ws")
    done = subprocess.run(
        [sys.executable, "-m", "osiris.cli.omlc", "compile", PIPELINE, "--out", "build"],
        cwd=ws,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    from osiris.runtime.e2b.host.executor import SandboxExecutor
    from osiris.runtime.e2b.host.options import E2BOptions

    request = RunRequest(
        manifest_dir=Path("build"),
        work_dir=ws,
        session_root=ws / ".osiris" / "sessions",
        exec_options=ExecOptions(work_dir=ws),
    )
    outcome = run(request, executor=SandboxExecutor(E2BOptions(transport="local"), transport()))
    assert outcome.exit_code == 0, outcome.status
    assert outcome.status["totals"]["rows_written"] == 16
    assert (ws / "out" / "quickstart" / "revenue_by_country.parquet").is_file()
