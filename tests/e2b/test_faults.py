"""Faults on the sandbox path, injected through the local transport.

Each one must end with: a clear error that names the step, the session marked failed, no
partial output on the host, and the sandbox killed (its directory gone, its worker dead)
unless `keep` was asked for. Transient create/upload/download failures are retried.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from osiris.runtime.e2b.host.local import Faults, LocalTransport
from osiris.runtime.e2b.host.options import E2BOptions
from osiris.runtime.e2b.host.transport import SandboxSpec, SandboxTimeout
from tests.e2b.helpers import events, leftovers, quickstart_workspace, run_pipeline, transport

PIPELINE = "examples/quickstart/pipeline.yaml"
STEP_START = '"event":"step_start","step_id":"revenue-by-country"'


def _run(tmp_path: Path, faults: Faults, **options):
    ws = quickstart_workspace(tmp_path / "ws")
    local = transport(faults)
    opts = E2BOptions(transport="local", backoff_s=0.01, **options)
    outcome, executor = run_pipeline(ws, PIPELINE, sandbox=True, options=opts, local=local)
    return ws, outcome, executor, local


def _assert_failed_cleanly(ws: Path, outcome, local: LocalTransport, step: str, text: str) -> dict:
    assert outcome.exit_code == 1
    status = json.loads((outcome.session.dir / "status.json").read_text())
    assert status["status"] == "failed" and status["ok"] is False
    error = status["steps"][step]["error"]
    assert text in error["message"], error
    assert error["error_type"] == "SandboxError"
    (failed,) = [e for e in events(outcome) if e["event"] == "step_error"]
    assert failed["step_id"] == step and text in failed["message"]
    assert events(outcome)[-1]["event"] == "run_end" and events(outcome)[-1]["failed_steps"] == [step]
    assert leftovers(ws) == []
    for sandbox in local.created:
        assert sandbox.killed and not sandbox.path.exists()
        for process in sandbox._processes:
            assert process.popen.poll() is not None
    return status


def test_worker_dies_mid_step(tmp_path):
    ws, outcome, _, local = _run(tmp_path, Faults(trigger=STEP_START, action="kill"))
    status = _assert_failed_cleanly(ws, outcome, local, "revenue-by-country", "the sandbox worker died")
    assert "signal 9" in status["steps"]["revenue-by-country"]["error"]["message"]
    # Downstream writers never ran: skipped, as after any upstream failure; no output on the host.
    assert {status["steps"][w]["status"] for w in ("write-csv", "write-parquet")} == {"skipped"}
    assert status["steps"]["extract-orders"]["status"] == "succeeded"
    assert not (ws / "out").exists()


def test_sandbox_timeout(tmp_path):
    ws, outcome, _, local = _run(tmp_path, Faults(trigger=STEP_START, action="expire"), timeout_s=77)
    status = _assert_failed_cleanly(ws, outcome, local, "revenue-by-country", "reached its timeout")
    assert "77 s" in status["steps"]["revenue-by-country"]["error"]["message"]
    assert not (ws / "out").exists()


def test_sandbox_lifetime_elapses(tmp_path):
    """The local sandbox really stops its processes when its lifetime ends."""
    sandbox = LocalTransport().create(SandboxSpec(None, 1))
    try:
        process = sandbox.start(["/bin/sleep", "30"], env={}, cwd=sandbox.root, on_stdout=print, on_stderr=print)
        deadline = time.monotonic() + 10
        while process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert isinstance(process.poll().error, SandboxTimeout)
        assert process.popen.poll() is not None
    finally:
        sandbox.kill()


def test_connection_drops(tmp_path):
    ws, outcome, _, local = _run(tmp_path, Faults(trigger=STEP_START, action="drop"))
    _assert_failed_cleanly(ws, outcome, local, "revenue-by-country", "lost the connection to the sandbox")


def test_worker_goes_silent(tmp_path):
    ws, outcome, _, local = _run(
        tmp_path, Faults(trigger=STEP_START, action="stall"), heartbeat_s=0.1, heartbeat_timeout_s=2.0
    )
    _assert_failed_cleanly(ws, outcome, local, "revenue-by-country", "no message from the worker for")


def test_transient_upload_and_create_failures_are_retried(tmp_path):
    ws, outcome, executor, local = _run(tmp_path, Faults(create_failures=1, upload_failures=2))
    assert outcome.exit_code == 0, outcome.status
    traffic = executor.last_report["traffic"]
    assert (traffic["create_attempts"], traffic["upload_attempts"]) == (2, 3)
    assert (ws / "out" / "quickstart" / "revenue_by_country.csv").is_file()
    assert all(s.killed for s in local.created)
    log = (outcome.session.dir / "osiris.log").read_text()
    assert "retrying" in log


def test_upload_fails(tmp_path):
    ws, outcome, _, local = _run(tmp_path, Faults(upload_refused=True))
    status = _assert_failed_cleanly(ws, outcome, local, "extract-customers", "uploading the job to the sandbox failed")
    assert {s["status"] for sid, s in status["steps"].items() if sid != "extract-customers"} <= {"cancelled", "skipped"}


def test_upload_keeps_failing_gives_up(tmp_path):
    ws, outcome, executor, local = _run(tmp_path, Faults(upload_failures=10), retries=3)
    _assert_failed_cleanly(ws, outcome, local, "extract-customers", "gave up after 3 attempts")
    assert executor.last_report["traffic"]["upload_attempts"] == 3


def test_create_refused(tmp_path):
    ws, outcome, _, local = _run(tmp_path, Faults(create_refused=True))
    status = _assert_failed_cleanly(ws, outcome, local, "extract-customers", "the sandbox could not be created")
    assert "API key" in status["steps"]["extract-customers"]["error"]["hint"]
    assert local.created == []


def test_download_fails(tmp_path):
    ws, outcome, _, local = _run(tmp_path, Faults(download_failures=100), retries=2)
    assert outcome.exit_code == 1
    status = json.loads((outcome.session.dir / "status.json").read_text())
    for writer in ("write-csv", "write-parquet"):
        assert status["steps"][writer]["status"] == "failed"
        assert "could not download its output" in status["steps"][writer]["error"]["message"]
    assert not (ws / "out" / "quickstart" / "revenue_by_country.csv").exists()
    assert leftovers(ws) == []
    assert all(s.killed for s in local.created)


def test_keep_leaves_the_sandbox(tmp_path):
    announced = []
    ws, outcome, executor, local = _run(
        tmp_path, Faults(trigger=STEP_START, action="kill"), keep=True, announce=announced.append
    )
    try:
        assert outcome.exit_code == 1
        (sandbox,) = local.created
        assert not sandbox.killed and sandbox.path.is_dir()
        assert executor.last_report["kept"] is True
        assert (sandbox.path / "job" / "run.json").is_file()
    finally:
        for sandbox in local.created:
            sandbox.kill()
    assert len(announced) == 1 and "kept" in announced[0]


def test_absolute_paths_are_refused_before_a_sandbox_exists(tmp_path):
    ws = quickstart_workspace(tmp_path / "ws")
    # Inside the project, so the path policy (OML083) allows it; the sandbox still cannot mirror it.
    text = (ws / PIPELINE).read_text().replace("out/quickstart/revenue_by_country.csv", str(ws / "x.csv"))
    (ws / "abs.yaml").write_text(text)
    local = transport()
    outcome, _ = run_pipeline(ws, "abs.yaml", sandbox=True, local=local)
    assert outcome.exit_code == 1 and local.created == []
    error = outcome.status["steps"]["write-csv"]["error"]
    assert "absolute path" in error["message"] and "relative" in error["hint"]
    line = next(n for n, row in enumerate(text.splitlines(), 1) if row.strip() == "- id: write-csv")
    assert error["source"] == f"abs.yaml:{line}:5"  # a step the host fails cites its OML line, as locally


@pytest.fixture(autouse=True)
def _no_stray_sandboxes(tmp_path):
    yield
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_cancel_stops_the_sandbox_run(tmp_path):
    """Ctrl-C during a sandbox run: the worker stops its steps, the run ends cancelled (130)."""
    import threading

    from osiris.runtime.e2b.host.executor import SandboxExecutor
    from osiris.runtime.local.executor import ExecOptions
    from osiris.runtime.run import RunRequest, run

    ws = quickstart_workspace(tmp_path / "ws")
    local = transport()
    cancel = threading.Event()

    def on_change(state) -> None:  # noqa: ANN001
        if state.id == "revenue-by-country" and state.status == "running":
            cancel.set()

    request = RunRequest(
        pipeline=Path(PIPELINE),
        work_dir=ws,
        session_root=ws / ".osiris" / "sessions",
        exec_options=ExecOptions(work_dir=ws),
    )
    outcome = run(
        request, executor=SandboxExecutor(E2BOptions(transport="local"), local), cancel=cancel, on_change=on_change
    )
    assert outcome.exit_code == 130
    assert outcome.status["status"] == "cancelled"
    statuses = {s["status"] for s in outcome.status["steps"].values()}
    assert statuses <= {"succeeded", "cancelled"} and "cancelled" in statuses, statuses
    assert events(outcome)[-1]["event"] == "run_end"
    assert leftovers(ws) == [] and all(s.killed for s in local.created)
