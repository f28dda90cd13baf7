"""The E2B transport through the unmodified `e2b` SDK, on the wire, leaves what a local run leaves.

`tests/e2b/test_parity.py` proves parity for the local sandbox transport and `test_sdk.py`
for a Python stand-in of `e2b.Sandbox`; here the real SDK (pinned 2.63.0) speaks connect-rpc
and HTTP to a local envd (tests/support/envd.py), so its serialisation, streaming, uploads,
downloads and error mapping are in the path. The same scenarios: the shipped demo, the
MySQL -> DuckDB -> PostgreSQL example, a failing pipeline (each against a run without a
sandbox), and a killed worker, an elapsed sandbox lifetime and a dropped stream (each against
the local sandbox transport with the same fault): same exit code, status.json, events, row and
byte metrics and output files (for the drop, apart from the transport's words after "lost the
connection to the sandbox: ").
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from osiris.runtime.e2b.host.local import Faults
from osiris.runtime.e2b.host.options import E2BOptions
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
    transport,
)
from tests.e2b.test_parity import FAILING, assert_parity
from tests.e2b.wire import rpc_paths, run_on_the_wire
from tests.runtime.conftest import validate_session
from tests.support.envd import SANDBOX_ID, EnvdStandIn

PIPELINE = "examples/quickstart/pipeline.yaml"
RUNNING = '"id":"revenue-by-country","component":"duckdb.processor","kind":"transform","status":"running"'
"""The worker's state line for the DuckDB step starting; its query then runs ~70 ms with nothing
else written, so a fault fired here lands at the same point for both transports."""


def test_quickstart_demo(tmp_path: Path, envd: EnvdStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    here, there = quickstart_workspace(tmp_path / "local"), quickstart_workspace(tmp_path / "wire")
    local, _ = run_pipeline(here, PIPELINE, sandbox=False)
    wired, executor = run_on_the_wire(envd, monkeypatch, there, PIPELINE)
    assert local.exit_code == 0, local.status
    assert_parity(local, wired)
    outputs = files_under(there)
    assert outputs == files_under(here)
    assert {"out/quickstart/revenue_by_country.csv", "out/quickstart/revenue_by_country.parquet"} <= set(outputs)
    assert leftovers(there) == []
    validate_session(wired.session.dir)
    # It really went over the wire: the SDK's debug sandbox, one worker started through
    # process.Process/Start, fed through SendInput, both outputs downloaded through GET /files,
    # the worker stopped through SendSignal.
    assert executor.last_report["transport"] == "e2b" and executor.last_report["sandbox"]["sandbox_id"] == SANDBOX_ID
    paths = rpc_paths(envd)
    assert paths.count("/process.Process/Start") == 1 and "/process.Process/SendInput" in paths
    downloads = [r for r in envd.requests if r.method == "GET" and r.path == "/files"]
    assert sorted(r.query.rsplit("%2F", 1)[-1] for r in downloads) == [
        "revenue_by_country.csv",
        "revenue_by_country.parquet",
    ]
    assert paths[-1] == "/process.Process/SendSignal"  # teardown stops the worker (Sandbox.kill is a debug no-op)
    assert envd.errors == []


def test_failing_pipeline(tmp_path: Path, envd: EnvdStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    here, there = quickstart_workspace(tmp_path / "local"), quickstart_workspace(tmp_path / "wire")
    for ws in (here, there):
        (ws / "failing.yaml").write_text(FAILING, encoding="utf-8")
    local, _ = run_pipeline(here, "failing.yaml", sandbox=False)
    wired, _ = run_on_the_wire(envd, monkeypatch, there, "failing.yaml")
    assert local.exit_code == 1
    assert_parity(local, wired)
    assert "no_such_column" in wired.status["steps"]["broken-sql"]["error"]["message"]
    assert files_under(there) == files_under(here)  # write-orders succeeded in both; `write` never ran
    assert (there / "out" / "orders.csv").is_file() and not (there / "out" / "never.csv").exists()
    assert envd.errors == []


@pytest.mark.mysql
@pytest.mark.postgres
def test_mysql_duckdb_postgres(
    tmp_path: Path, envd: EnvdStandIn, monkeypatch: pytest.MonkeyPatch, mysql_db: dict, postgres_db: dict
) -> None:
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

    pipeline, connections = str(example / "pipeline.yaml"), str(example / "osiris_connections.yaml")
    (tmp_path / "local").mkdir(), (tmp_path / "wire").mkdir()
    reset()
    local, _ = run_pipeline(tmp_path / "local", pipeline, sandbox=False, connections=connections, env=env)
    local_rows = target()
    reset()
    wired, _ = run_on_the_wire(envd, monkeypatch, tmp_path / "wire", pipeline, connections=connections, env=env)
    assert local.exit_code == 0, local.status
    assert target() == local_rows
    assert len(local_rows["movies"]) == 16 and len(local_rows["director_stats"]) > 1  # header + rows
    assert_parity(local, wired)
    assert envd.errors == []


def _local_with_fault(tmp_path: Path, faults: Faults, **options: object):
    ws = quickstart_workspace(tmp_path / "local")
    outcome, _ = run_pipeline(
        ws, PIPELINE, sandbox=True, options=E2BOptions(transport="local", **options), local=transport(faults)
    )
    return ws, outcome


def test_killed_worker(tmp_path: Path, envd: EnvdStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker dies mid-step (the OOM killer's SIGKILL): envd reports exit code -1 and
    "signal: killed", which must read as the local transport's "killed by signal 9"."""
    here, local = _local_with_fault(tmp_path, Faults(trigger=RUNNING, action="kill"))
    there = quickstart_workspace(tmp_path / "wire")
    envd.kill_on(RUNNING)
    wired, _ = run_on_the_wire(envd, monkeypatch, there, PIPELINE)
    assert envd.fired == [("kill", RUNNING)]
    assert_parity(local, wired)
    message = wired.status["steps"]["revenue-by-country"]["error"]["message"]
    assert message.startswith("the sandbox worker died (killed by signal 9)"), message
    assert {wired.status["steps"][w]["status"] for w in ("write-csv", "write-parquet")} == {"skipped"}
    assert files_under(there) == files_under(here) and not (there / "out").exists()
    assert list(envd.processes().values()) == [-9]
    assert envd.errors == []


def test_sandbox_lifetime_elapses(tmp_path: Path, envd: EnvdStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    """A step hangs until the sandbox reaches its end of life (E2B kills it, streams break,
    the proxy answers 502 "was not found"): the run fails naming the step and the timeout."""
    lifetime = 5  # the step starts ~1 s in; the margin is for a loaded machine
    here, local = _local_with_fault(tmp_path, Faults(trigger=RUNNING, action="expire"), timeout_s=lifetime)
    there = quickstart_workspace(tmp_path / "wire")
    envd.freeze_on(RUNNING)
    envd.lifetime_s = lifetime
    wired, _ = run_on_the_wire(
        envd, monkeypatch, there, PIPELINE, options=E2BOptions(transport="e2b", timeout_s=lifetime)
    )
    assert envd.fired == [("freeze", RUNNING)] and envd.expired  # the step had started when the sandbox ended
    assert_parity(local, wired)
    message = wired.status["steps"]["revenue-by-country"]["error"]["message"]
    assert message == f"the sandbox reached its timeout ({lifetime} s, --e2b-timeout) and was stopped", message
    assert files_under(there) == files_under(here) and not (there / "out").exists()
    assert envd.errors == []


def test_dropped_stream(tmp_path: Path, envd: EnvdStandIn, monkeypatch: pytest.MonkeyPatch) -> None:
    """The output stream's connection resets mid-step while the worker runs on: the step fails
    with "lost the connection to the sandbox: <what the transport saw>" (the SDK's words here),
    otherwise the same as the local transport's drop."""
    here, local = _local_with_fault(tmp_path, Faults(trigger=RUNNING, action="drop"))
    there = quickstart_workspace(tmp_path / "wire")
    envd.drop_on(RUNNING)
    wired, _ = run_on_the_wire(envd, monkeypatch, there, PIPELINE)
    assert envd.fired == [("drop", RUNNING)]
    message = wired.status["steps"]["revenue-by-country"]["error"]["message"]
    assert message.startswith(LOST) and "SandboxUnreachableException" in message, message  # /health answered
    assert local.status["steps"]["revenue-by-country"]["error"]["message"].startswith(LOST)
    assert _cut(normalised_events(wired)) == _cut(normalised_events(local))
    assert _cut(comparable_status(wired)) == _cut(comparable_status(local))
    assert row_byte_metrics(wired) == row_byte_metrics(local) and step_metric_names(wired) == step_metric_names(local)
    assert wired.exit_code == local.exit_code == 1
    assert files_under(there) == files_under(here) and not (there / "out").exists()
    assert envd.errors == []


LOST = "lost the connection to the sandbox: "


def _cut(value: Any) -> Any:
    """`value` with every "lost the connection ..." message cut after its prefix."""
    if isinstance(value, dict):
        return {k: LOST if k == "message" and str(v).startswith(LOST) else _cut(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_cut(v) for v in value]
    return value
