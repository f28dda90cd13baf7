"""Step code in the sandbox cannot read the connection secrets from its process's metadata.

The attack that worked: a DuckDB step ran `read_text('/proc/self/environ')` in the sandbox and
got `OSIRIS_E2B_CONNECTIONS`, the resolved connections in clear. Here a step double
(tests/e2b/sandbox_doubles.Snoop, running inside the real worker of the local sandbox
transport) reads `/proc/<pid>/environ` and `/proc/<pid>/cmdline` of its own process and of
every ancestor it can see, its `os.environ`, its open descriptors and every file of the
sandbox directory, and writes all of it into its output, which comes back to the host. Two
database writers name connections with secrets (a literal password in the connections file,
and one from the host environment), so those secrets are in the worker while the step runs.
None of them may appear in the output, the session (events, metrics, status, log, e2b.json)
or the sandbox directory.
"""

from __future__ import annotations

import csv
import secrets
import shutil
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

from runtime.e2b.options import E2BOptions
from tests.e2b.helpers import QUICKSTART, run_pipeline, transport
from tests.e2b.sandbox_doubles import worker_python

PIPELINE = """\
oml_version: "0.1.0"
name: snoop
steps:
  - id: extract-orders
    component: filesystem.csv_extractor
    mode: read
    config: {path: data/orders.csv}
  - id: snoop
    component: duckdb.processor
    mode: transform
    inputs: {orders: "${extract-orders.df}"}
    config: {query: "SELECT * FROM orders"}
  - id: write-snoop
    component: filesystem.csv_writer
    mode: write
    needs: [snoop]
    config: {path: out/snoop.csv}
  - id: load-pg
    component: postgres.writer
    mode: write
    needs: [extract-orders]
    config: {connection: "@postgres.dw", table: orders_copy}
  - id: load-my
    component: mysql.writer
    mode: write
    needs: [extract-orders]
    config: {connection: "@mysql.app", table: orders_copy}
"""


def _forms(value: str) -> set[str]:
    return {value, quote(value, safe=""), quote(value), value.replace("/", "\\/")}


def _found(text: str, values: list[str]) -> list[str]:
    return [value for value in values for form in _forms(value) if form in text]


def _files_text(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): p.read_bytes().decode("utf-8", "replace")
        for p in root.rglob("*")
        if p.is_file() and "site" not in p.relative_to(root).parts[:1]
    }


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[str]]:
    literal = f"Lit-S3cret/{secrets.token_hex(8)}@x"
    from_env = f"Env-S3cret-{secrets.token_hex(8)}"
    monkeypatch.setenv("SANDBOX_T_PG_PASSWORD", from_env)
    ws = tmp_path / "ws"
    (ws / "data").mkdir(parents=True)
    shutil.copy2(QUICKSTART / "data" / "orders.csv", ws / "data" / "orders.csv")
    (ws / "pipeline.yaml").write_text(PIPELINE, encoding="utf-8")
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "osiris_connections.yaml").write_text(
        "version: 1\nconnections:\n"
        "  postgres:\n    dw: {host: 127.0.0.1, port: 5432, database: test, user: postgres, "
        'password: "${SANDBOX_T_PG_PASSWORD}"}\n'
        f'  mysql:\n    app: {{host: 127.0.0.1, port: 3306, database: test, user: root, password: "{literal}"}}\n',
        encoding="utf-8",
    )
    return ws, [literal, from_env]  # the connections file lives outside ws: every file in ws is scanned


def test_step_code_finds_no_secret_in_its_process_or_the_sandbox(tmp_path, workspace):
    ws, values = workspace
    local = transport()
    local.python = worker_python(tmp_path / "shim", {"snoop": True})
    options = E2BOptions(transport="local", keep=True)
    try:
        outcome, executor = run_pipeline(
            ws,
            "pipeline.yaml",
            sandbox=True,
            connections=str(tmp_path / "conf" / "osiris_connections.yaml"),
            options=options,
            local=local,
        )
        assert outcome.exit_code == 0, (outcome.status, [d.message for d in outcome.diagnostics])
        csv.field_size_limit(sys.maxsize)
        with open(ws / "out" / "snoop.csv", encoding="utf-8", newline="") as handle:
            snooped = {row["source"]: row["content"] for row in csv.DictReader(handle)}
        # The snoop really read the worker's process: its environment, argv and the job files.
        assert "OSIRIS_E2B=1" in snooped[f"/proc/{_worker_pid(snooped)}/environ"]
        assert any("bootstrap.py" in text for source, text in snooped.items() if source.endswith("/cmdline"))
        assert any(source.startswith("sandbox:job/") for source in snooped)
        # ... and found no secret anywhere.
        leaks = {source: _found(text, values) for source, text in snooped.items() if _found(text, values)}
        assert leaks == {}
        (sandbox,) = local.created
        for root in (sandbox.path, ws):  # the sandbox directory; the session and downloaded outputs
            leaks = {name: _found(text, values) for name, text in _files_text(root).items() if _found(text, values)}
            assert leaks == {}, root
        # The secrets did reach the worker (the writers resolved their connections there).
        assert outcome.status["steps"]["load-my"]["status"] == "succeeded"
        assert "SANDBOX_T_PG_PASSWORD" not in executor.last_report["worker_env_names"]
    finally:
        for sandbox in local.created:
            sandbox.kill()


def _worker_pid(snooped: dict[str, str]) -> str:
    """The pid of the worker (the first /proc entry the snoop read is its own)."""
    first = next(source for source in snooped if source.startswith("/proc/") and source.endswith("/environ"))
    return first.split("/")[2]
