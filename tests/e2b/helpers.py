"""Run the same pipeline locally and through the sandbox transport, and compare what they leave.

`HOST_FIELDS` are the event fields dropped before comparing event sequences (docs/e2b.md
lists them and says why). Steps of one plan level run concurrently in both runtimes, so
their events interleave differently from run to run; sequences are compared per step (in
order) and for the run-level events (in order).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from osiris.runtime.e2b.host.executor import SandboxExecutor
from osiris.runtime.e2b.host.local import Faults, LocalTransport
from osiris.runtime.e2b.host.options import E2BOptions
from osiris.runtime.e2b.host.wheel import cache_root
from osiris.runtime.local.executor import ExecOptions
from osiris.runtime.run import RunOutcome, RunRequest, run

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "examples" / "quickstart"
HOST_FIELDS = frozenset({"seq", "ts", "session_id", "duration_ms", "pid", "work_dir", "traceback"})
ROW_BYTE_METRICS = frozenset({"rows_read", "rows_out", "rows_written", "bytes_out", "bytes_written"})


def quickstart_workspace(directory: Path) -> Path:
    """A working directory holding the shipped demo as a user checks it out."""
    target = directory / "examples" / "quickstart"
    target.mkdir(parents=True)
    shutil.copy2(QUICKSTART / "pipeline.yaml", target / "pipeline.yaml")
    shutil.copytree(QUICKSTART / "data", target / "data")
    return directory


def transport(faults: Faults | None = None) -> LocalTransport:
    """The local transport with the shared build cache (the local stand-in for a template)."""
    return LocalTransport(cache_dir=cache_root() / "e2b" / "site", faults=faults)


def run_pipeline(
    work_dir: Path,
    pipeline: str,
    *,
    sandbox: bool,
    connections: str | None = None,
    env: Mapping[str, str] | None = None,
    options: E2BOptions | None = None,
    local: LocalTransport | None = None,
) -> tuple[RunOutcome, SandboxExecutor | None]:
    """One `osiris run` in `work_dir`, local or through the local sandbox transport."""
    executor = None
    if sandbox:
        executor = SandboxExecutor(options or E2BOptions(transport="local"), local or transport())
    request = RunRequest(
        pipeline=Path(pipeline),
        connections=connections,
        work_dir=work_dir,
        session_root=work_dir / ".osiris" / "sessions",
        env=dict(os.environ if env is None else env),
        exec_options=ExecOptions(work_dir=work_dir),
    )
    return run(request, executor=executor), executor


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def events(outcome: RunOutcome) -> list[dict[str, Any]]:
    return read_jsonl(outcome.session.dir / "events.jsonl")


def normalised_events(outcome: RunOutcome) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """(run-level events in order, each step's events in order), host-specific fields dropped."""
    run_level: list[dict[str, Any]] = []
    per_step: dict[str, list[dict[str, Any]]] = {}
    for event in events(outcome):
        clean = {k: v for k, v in event.items() if k not in HOST_FIELDS}
        if "step_id" in clean:
            per_step.setdefault(clean["step_id"], []).append(clean)
        else:
            run_level.append(clean)
    return run_level, per_step


def row_byte_metrics(outcome: RunOutcome) -> dict[tuple[str, str], float]:
    found = {}
    for metric in read_jsonl(outcome.session.dir / "metrics.jsonl"):
        if metric["metric"] in ROW_BYTE_METRICS:
            found[(metric.get("step_id"), metric["metric"])] = metric["value"]
    return found


def step_metric_names(outcome: RunOutcome) -> dict[str, list[str]]:
    names: dict[str, list[str]] = {}
    for metric in read_jsonl(outcome.session.dir / "metrics.jsonl"):
        if metric.get("step_id"):
            names.setdefault(metric["step_id"], []).append(metric["metric"])
    return names


def comparable_status(outcome: RunOutcome) -> dict[str, Any]:
    status = dict(outcome.status)
    steps = {
        sid: {k: v for k, v in s.items() if k not in ("duration_ms", "peak_rss_mb")}
        for sid, s in status["steps"].items()
    }
    return {
        "ok": status["ok"],
        "status": status["status"],
        "totals": status["totals"],
        "steps": steps,
        "outputs": status["outputs"],
        "error": status.get("error"),
    }


def files_under(root: Path) -> dict[str, bytes]:
    """Every file below `root` (relative path -> bytes), ignoring the session directory."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and ".osiris" not in path.relative_to(root).parts:
            found[path.relative_to(root).as_posix()] = path.read_bytes()
    return found


def leftovers(root: Path) -> list[str]:
    """Temp files an interrupted write or download would leave (there must be none)."""
    return sorted(p.name for p in root.rglob("*") if p.name.endswith((".osiris-e2b-tmp", ".osiris-tmp")))


HOSTILE_PIPELINE = """\
oml_version: "0.1.0"
name: hostile
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
"""
"""`snoop` runs tests/e2b/sandbox_doubles.Snoop in the worker; `write-snoop` declares out/snoop.csv."""


def hostile_workspace(directory: Path, pipeline: str = HOSTILE_PIPELINE) -> Path:
    """A working directory with the demo orders and `pipeline`, for runs with hostile doubles."""
    (directory / "data").mkdir(parents=True)
    shutil.copy2(QUICKSTART / "data" / "orders.csv", directory / "data" / "orders.csv")
    (directory / "pipeline.yaml").write_text(pipeline, encoding="utf-8")
    return directory


def run_hostile(
    tmp_path: Path,
    plan: Mapping[str, Any],
    *,
    workspace: Path | None = None,
    connections: str | None = None,
    options: E2BOptions | None = None,
) -> tuple[RunOutcome, SandboxExecutor, LocalTransport]:
    """Run `pipeline.yaml` of the workspace in the local sandbox with the hostile doubles and `plan`.

    The sandbox is killed afterwards unless `options.keep`; the caller kills kept ones.
    """
    from tests.e2b.sandbox_doubles import worker_python

    ws = workspace or hostile_workspace(tmp_path / "ws")
    local = transport()
    local.python = worker_python(tmp_path / "shim", dict(plan))
    outcome, executor = run_pipeline(
        ws,
        "pipeline.yaml",
        sandbox=True,
        connections=connections,
        options=options or E2BOptions(transport="local"),
        local=local,
    )
    assert executor is not None
    return outcome, executor, local


SECRETS_PIPELINE = (
    HOSTILE_PIPELINE
    + """\
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
)
"""HOSTILE_PIPELINE plus two database writers (Drain doubles in the worker) whose connections hold secrets."""


def secrets_workspace(tmp_path: Path, setenv: Any) -> tuple[Path, str, list[str]]:
    """(working directory, connections file, secret values) for SECRETS_PIPELINE.

    One password is a literal of the connections file, the other comes from the host
    environment (`setenv(name, value)`, e.g. monkeypatch.setenv). The connections file lives
    outside the working directory, so every file under it can be searched for the secrets.
    """
    import secrets

    literal = f"Lit-S3cret/{secrets.token_hex(8)}@x"
    from_env = f"Env-S3cret-{secrets.token_hex(8)}"
    setenv("SANDBOX_T_PG_PASSWORD", from_env)
    ws = hostile_workspace(tmp_path / "ws", SECRETS_PIPELINE)
    conf = tmp_path / "conf" / "osiris_connections.yaml"
    conf.parent.mkdir()
    conf.write_text(
        "version: 1\nconnections:\n"
        "  postgres:\n    dw: {host: 127.0.0.1, port: 5432, database: test, user: postgres, "
        'password: "${SANDBOX_T_PG_PASSWORD}"}\n'
        f'  mysql:\n    app: {{host: 127.0.0.1, port: 3306, database: test, user: root, password: "{literal}"}}\n',
        encoding="utf-8",
    )
    return ws, str(conf), [literal, from_env]


def secret_forms(value: str) -> set[str]:
    """The forms a secret takes in URLs and JSON text."""
    from urllib.parse import quote

    return {value, quote(value, safe=""), quote(value), value.replace("/", "\\/")}


def find_secrets(text: str, values: list[str]) -> list[str]:
    return [value for value in values if any(form in text for form in secret_forms(value))]


def read_snoop(path: Path) -> dict[str, str]:
    """The snoop step's output: source -> content."""
    import csv
    import sys

    csv.field_size_limit(sys.maxsize)
    with open(path, encoding="utf-8", newline="") as handle:
        return {row["source"]: row["content"] for row in csv.DictReader(handle)}
