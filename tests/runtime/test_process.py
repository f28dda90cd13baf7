"""Whole-process behaviour: Ctrl-C cancels cleanly (exit 130), memory stays bounded on big data."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.runtime.conftest import REPO, compile_to, read_jsonl, validate_session

ENDLESS = """
oml_version: "0.1.0"
name: endless
steps:
  - id: endless
    component: test.generator
    mode: read
    config: {batch_rows: 2000, forever: true, sleep_ms: 2}
  - id: write
    component: filesystem.parquet_writer
    mode: write
    needs: [endless]
    config: {path: out/never.parquet}
"""


def _wait_for(predicate, timeout: float = 60.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for the run to get going"
        time.sleep(0.05)


def test_sigint_cancels_the_run_and_exits_130(tmp_path):
    compiled = compile_to(ENDLESS, tmp_path)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.runtime.cli_harness",
            "run",
            "--manifest",
            str(compiled),
            "--run-id",
            "sig",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    events = tmp_path / ".osiris" / "sessions" / "sig" / "events.jsonl"

    def both_started() -> bool:
        if process.poll() is not None:
            raise AssertionError(process.communicate())
        return events.exists() and sum('"step_start"' in line for line in events.read_text().splitlines()) == 2

    _wait_for(both_started)
    time.sleep(0.3)  # let batches flow into the writer's temp file
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "cancelling" in stderr and "cancelled: the run was stopped" in stderr
    session = tmp_path / ".osiris" / "sessions" / "sig"
    status = json.loads((session / "status.json").read_text())
    assert status["status"] == "cancelled" and status["ok"] is False
    assert {s["status"] for s in status["steps"].values()} == {"cancelled"}
    assert status["steps"]["endless"]["rows_out"] > 0
    out = tmp_path / "out"
    assert not out.exists() or list(out.iterdir()) == []  # the writer removed its temp file
    assert read_jsonl(session / "events.jsonl")[-1]["event"] == "run_end"
    validate_session(session)


@pytest.mark.slow
def test_memory_stays_bounded_on_a_large_stream(tmp_path):
    """8M rows (~290 MB of Arrow data) through a streaming writer and a spilled DuckDB step."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-m", "tests.runtime.memory_probe", str(tmp_path), "8000000"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout.splitlines()[-1])
    data_mb = figures["arrow_bytes"] / 2**20
    assert data_mb > 250
    assert figures["rows_written"] == 8_000_000 + 1000
    # Holding the stream would grow RSS by at least its size; streaming keeps growth well below.
    assert figures["growth_mb"] < 0.6 * data_mb, figures
    assert (tmp_path / "out" / "all.parquet").stat().st_size > 0
    assert not any(Path(tmp_path, "sessions").rglob("*.arrow"))  # spill files removed
