"""Review fixes in the run core: throttled status.json, extractors stop when every consumer is
gone, a damaged manifest ends the session as failed, one connections loader (`~` expanded)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from osiris.runtime.connections import load_connections_file
from osiris.runtime.local.executor import ExecOptions
from osiris.runtime.registry import DriverRegistry
from osiris.runtime.run import RunRequest, run
from osiris.runtime.session import Session
from tests.runtime.conftest import compile_to, events_of, osiris, validate_session
from tests.runtime.doubles import OVERRIDES, spec_registry


def _many_steps(count: int) -> str:
    steps = "".join(
        f"  - id: g{i}\n    component: test.generator\n    mode: read\n    config: {{rows: 10}}\n"
        f"  - id: s{i}\n    component: test.sink\n    mode: write\n    needs: [g{i}]\n"
        for i in range(count)
    )
    return 'oml_version: "0.1.0"\nname: many\nsteps:\n' + steps


# -- 1. status.json ------------------------------------------------------------------------------
def test_status_writes_are_throttled_and_the_final_status_is_complete(run_oml, monkeypatch):
    writes = []
    original = Session.write_status

    def counting(self, status):  # noqa: ANN001, ANN202
        writes.append(status["status"])
        return original(self, status)

    monkeypatch.setattr(Session, "write_status", counting)
    outcome = run_oml(_many_steps(40))
    assert outcome.exit_code == 0, outcome.status
    # 80 steps change state ~240 times; the writes are a handful (start, a few intervals, end).
    assert len(writes) < 40, len(writes)
    assert writes[-1] == "succeeded" and writes.count("succeeded") == 1
    on_disk = json.loads((outcome.session.dir / "status.json").read_text())
    assert on_disk == outcome.status
    assert on_disk["totals"]["steps_succeeded"] == 80 and on_disk["status"] == "succeeded"
    validate_session(outcome.session.dir)


def test_status_json_catches_up_with_a_long_running_step(tmp_path):
    """A change inside the throttle interval is written a moment later, not at the next change."""
    (tmp_path / "p.yaml").write_text(
        'oml_version: "0.1.0"\nname: slow\nsteps:\n'
        "  - id: slow\n    component: test.generator\n    mode: read\n"
        "    config: {rows: 4, batch_rows: 1, sleep_ms: 600}\n"
        "  - id: sink\n    component: test.sink\n    mode: write\n    needs: [slow]\n",
        encoding="utf-8",
    )
    sessions: list[Session] = []
    seen: set[str] = set()
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            if sessions:
                try:
                    status = json.loads((sessions[0].dir / "status.json").read_text())
                except (OSError, ValueError):
                    status = {}
                if status.get("status") == "running":
                    seen.add(status.get("steps", {}).get("slow", {}).get("status", ""))
            time.sleep(0.05)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    request = RunRequest(
        pipeline=Path("p.yaml"), session_root=tmp_path / "s", work_dir=tmp_path,
        exec_options=ExecOptions(work_dir=tmp_path),
    )
    try:
        outcome = run(request, registry=DriverRegistry(OVERRIDES), spec_registry=spec_registry(),
                      on_session=sessions.append)
    finally:
        done.set()
        poller.join()
    assert outcome.exit_code == 0
    assert "running" in seen, seen


# -- 2. consumers gone ---------------------------------------------------------------------------
FAILING_WRITER = """
oml_version: "0.1.0"
name: consumer-fails
steps:
  - id: src
    component: filesystem.csv_extractor
    mode: read
    config: {path: big.csv, block_size: 65536}
  - id: sink
    component: test.sink
    mode: write
    needs: [src]
    config: {fail_after_rows: 0, message: "sink refuses everything"}
"""


def test_extractor_stops_reading_when_its_only_consumer_failed(run_oml, tmp_path):
    total = 200_000
    with open(tmp_path / "big.csv", "w", encoding="utf-8") as out:
        out.write("id,name\n")
        out.writelines(f"{i},name number {i}\n" for i in range(total))
    outcome = run_oml(FAILING_WRITER, channel_capacity=1)
    assert outcome.exit_code == 1
    steps = outcome.status["steps"]
    assert steps["sink"]["status"] == "failed"
    src = steps["src"]
    assert src["status"] == "cancelled"
    assert "sink" in src["skip_reason"]
    # ~80 blocks in the file; it stopped after a few instead of reading (and discarding) them all
    assert 0 < src["rows_read"] < total // 4, src["rows_read"]
    (cancelled,) = events_of(outcome, "step_cancelled")
    assert cancelled["step_id"] == "src" and cancelled["downstream"] == ["sink"]
    assert "stopped reading" in cancelled["reason"]
    assert outcome.status["status"] == "failed" and events_of(outcome)[-1]["event"] == "run_end"
    validate_session(outcome.session.dir)


# -- 3. damaged manifest -------------------------------------------------------------------------
SMALL = """
oml_version: "0.1.0"
name: m
steps:
  - id: read
    component: test.generator
    mode: read
    config: {rows: 10}
  - id: write
    component: test.sink
    mode: write
    needs: [read]
"""


def _run_manifest(tmp_path: Path, manifest_dir: Path, **kwargs):  # noqa: ANN003, ANN202
    request = RunRequest(
        manifest_dir=manifest_dir, session_root=tmp_path / "s", work_dir=tmp_path,
        exec_options=ExecOptions(work_dir=tmp_path),
    )
    return run(request, registry=DriverRegistry(OVERRIDES), spec_registry=spec_registry(), **kwargs)


def test_corrupted_manifest_fails_the_run_naming_the_users_file(tmp_path):
    compiled = compile_to(SMALL, tmp_path)
    (compiled / "manifest.yaml").write_text(": : [\n", encoding="utf-8")
    outcome = _run_manifest(tmp_path, Path("compiled"))
    assert outcome.exit_code == 1
    assert outcome.status["status"] == "failed"
    error = outcome.status["error"]
    assert error["stage"] == "manifest"
    assert error["message"].startswith("compiled/manifest.yaml is not valid YAML (line ")
    assert str(outcome.session.dir) not in error["message"]
    assert not (outcome.session.compiled_dir).exists()  # refused before it was copied
    events = events_of(outcome)
    assert [e["event"] for e in events][-2:] == ["manifest_error", "run_end"]
    validate_session(outcome.session.dir)


def test_corrupted_manifest_on_the_command_line_is_not_an_internal_error(tmp_path):
    compiled = compile_to(SMALL, tmp_path)
    (compiled / "manifest.yaml").write_text(": : [\n", encoding="utf-8")
    result = osiris("run", "--manifest", "compiled", cwd=tmp_path)
    assert result.returncode == 1
    assert "internal error" not in result.stderr
    assert "compiled/manifest.yaml is not valid YAML" in result.stdout + result.stderr
    (status,) = (tmp_path / ".osiris" / "sessions").glob("*/status.json")
    assert json.loads(status.read_text())["status"] == "failed"


def test_an_unexpected_error_still_ends_the_session_as_failed(tmp_path):
    compile_to(SMALL, tmp_path)
    sessions: list[Session] = []

    def broken_executor(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("executor bug")

    with pytest.raises(RuntimeError, match="executor bug"):
        _run_manifest(tmp_path, tmp_path / "compiled", executor=broken_executor, on_session=sessions.append)
    (session,) = sessions
    status = json.loads((session.dir / "status.json").read_text())
    assert status["status"] == "failed" and status["finished_at"]
    assert status["error"] == {"stage": "internal", "message": "RuntimeError: executor bug"}
    events = [json.loads(line) for line in (session.dir / "events.jsonl").read_text().splitlines()]
    assert events[-1]["event"] == "run_end" and events[-1]["status"] == "failed"
    validate_session(session.dir)


# -- 4. one connections loader -------------------------------------------------------------------
USES_CONNECTION = """
oml_version: "0.1.0"
name: tilde
steps:
  - id: read
    component: filesystem.csv_extractor
    mode: read
    config: {path: data.csv, connection: "@filesystem.data"}
  - id: write
    component: test.sink
    mode: write
    needs: [read]
"""


def test_connections_file_under_home_compiles_and_runs(run_oml, tmp_path, monkeypatch):
    home = tmp_path / "home"
    data = tmp_path / "elsewhere"
    home.mkdir()
    data.mkdir()
    (data / "data.csv").write_text("a,b\n1,x\n2,y\n3,z\n", encoding="utf-8")
    (home / "c.yaml").write_text(
        f'version: 1\nconnections:\n  filesystem:\n    data: {{base_dir: "{data}"}}\n', encoding="utf-8"
    )
    monkeypatch.setenv("HOME", str(home))
    request = RunRequest(
        pipeline=Path("p.yaml"), connections="~/c.yaml", session_root=tmp_path / "s", work_dir=tmp_path,
        exec_options=ExecOptions(work_dir=tmp_path),
    )
    (tmp_path / "p.yaml").write_text(USES_CONNECTION, encoding="utf-8")
    outcome = run(request, registry=DriverRegistry(OVERRIDES), spec_registry=spec_registry())
    assert outcome.exit_code == 0, outcome.status
    assert outcome.status["steps"]["write"]["rows_written"] == 3

    loaded = load_connections_file("~/c.yaml", tmp_path)
    assert loaded is not None and loaded.lookup("filesystem", "data") is not None


def test_connections_file_under_home_in_manifest_mode(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "data.csv").write_text("a\n1\n2\n", encoding="utf-8")
    (home / "c.yaml").write_text(
        f'version: 1\nconnections:\n  filesystem:\n    data: {{base_dir: "{tmp_path}"}}\n', encoding="utf-8"
    )
    compile_to(USES_CONNECTION, tmp_path)
    monkeypatch.setenv("HOME", str(home))
    request = RunRequest(
        manifest_dir=Path("compiled"), connections="~/c.yaml", session_root=tmp_path / "s",
        work_dir=tmp_path, exec_options=ExecOptions(work_dir=tmp_path),
    )
    outcome = run(request, registry=DriverRegistry(OVERRIDES), spec_registry=spec_registry())
    assert outcome.exit_code == 0, outcome.status
    assert outcome.status["steps"]["write"]["rows_written"] == 2
