"""Failure semantics: skipped downstream, retries of transient errors, cancellation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

from osiris.cli.commands.output import render_summary
from tests.runtime.conftest import events_of, validate_session
from tests.runtime.doubles import Generator, Sink

REPO = Path(__file__).resolve().parents[2]

TWO_BRANCHES = """
oml_version: "0.1.0"
name: failing
steps:
  - id: bad
    component: test.generator
    mode: read
    config: {rows: 5000, batch_rows: 500, fail_at_batch: FAIL_AT, fail_kind: KIND, message: "source exploded"}
  - id: bad-transform
    component: duckdb.processor
    mode: transform
    needs: [bad]
    config: {query: "SELECT * FROM input_df"}
  - id: bad-write
    component: filesystem.parquet_writer
    mode: write
    needs: [bad-transform]
    config: {path: out/bad.parquet}
  - id: bad-direct
    component: filesystem.parquet_writer
    mode: write
    needs: [bad]
    config: {path: out/direct.parquet}
  - id: good
    component: test.generator
    mode: read
    config: {rows: 700}
  - id: good-write
    component: test.sink
    mode: write
    needs: [good]
"""


def _pipeline(fail_at: int, kind: str = "permanent") -> str:
    return TWO_BRANCHES.replace("FAIL_AT", str(fail_at)).replace("KIND", kind)


def test_failed_step_skips_downstream_and_other_branch_finishes(run_oml, tmp_path):
    outcome = run_oml(_pipeline(fail_at=0))
    assert outcome.exit_code == 1
    steps = outcome.status["steps"]
    assert steps["bad"]["status"] == "failed"
    assert steps["bad"]["error"]["message"] == "source exploded"
    assert steps["bad"]["error"]["hint"] == "this failure was requested by the test"
    assert {steps[s]["status"] for s in ("bad-transform", "bad-write", "bad-direct")} == {"skipped"}
    assert steps["good-write"]["status"] == "succeeded" and Sink.seen["good-write"] == 700
    assert outcome.status["ok"] is False and outcome.status["status"] == "failed"
    assert outcome.status["totals"]["rows_written"] == 700
    skipped = {e["step_id"]: e for e in events_of(outcome, "step_skipped")}
    assert set(skipped) == {"bad-transform", "bad-write", "bad-direct"}
    assert all(e["upstream"] == "bad" for e in skipped.values())
    (error,) = events_of(outcome, "step_error")
    assert error["step_id"] == "bad" and error["component"] == "test.generator"
    assert "traceback" not in error
    assert events_of(outcome, "run_end")[0]["failed_steps"] == ["bad"]
    text = render_summary(outcome.status, "s")
    assert "error: step bad (test.generator) failed: source exploded" in text
    assert "hint: this failure was requested by the test" in text
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
    validate_session(outcome.session.dir)


def test_failure_mid_stream_rolls_back_the_streaming_writer(run_oml, tmp_path):
    outcome = run_oml(_pipeline(fail_at=3))
    assert outcome.exit_code == 1
    steps = outcome.status["steps"]
    assert steps["bad"]["status"] == "failed"
    assert steps["bad-direct"]["status"] == "skipped"
    rolled = {e["step_id"]: e["rolled_back"] for e in events_of(outcome, "step_skipped")}
    assert rolled["bad-direct"] is True and rolled["bad-transform"] is False
    out = tmp_path / "out"
    assert not out.exists() or list(out.iterdir()) == []  # no partial file, no temp file
    validate_session(outcome.session.dir)


def test_unexpected_exception_is_reported_with_type_and_no_traceback(run_oml):
    outcome = run_oml(_pipeline(fail_at=1, kind="crash"))
    error = outcome.status["steps"]["bad"]["error"]
    assert error["message"] == "RuntimeError: source exploded"
    assert "--debug" in error["hint"]
    assert outcome.result.runners["bad"].traceback.startswith("Traceback")


def test_debug_puts_the_traceback_in_the_error_event(run_oml):
    outcome = run_oml(_pipeline(fail_at=0, kind="crash"), debug=True)
    (error,) = events_of(outcome, "step_error")
    assert "Traceback" in error["traceback"] and "RuntimeError: source exploded" in error["traceback"]


RETRY = """
oml_version: "0.1.0"
name: retry
steps:
  - id: flaky
    component: test.generator
    mode: read
    retry: {max_attempts: MAX, backoff_seconds: 0.01, max_backoff_seconds: 0.02}
    config: {rows: 300, batch_rows: 100, transient_failures: FAILS, message: "connection reset"}
  - id: sink
    component: test.sink
    mode: write
    needs: [flaky]
"""


def test_transient_error_is_retried_with_backoff(run_oml):
    outcome = run_oml(RETRY.replace("MAX", "3").replace("FAILS", "2"))
    assert outcome.exit_code == 0, outcome.status
    retries = events_of(outcome, "retry")
    assert [(r["attempt"], r["next_attempt"]) for r in retries] == [(1, 2), (2, 3)]
    assert [r["delay_s"] for r in retries] == [0.01, 0.02]
    assert retries[0]["error"] == "connection reset (attempt 1)"
    assert outcome.status["steps"]["flaky"]["attempts"] == 3
    assert Sink.seen["sink"] == 300
    assert [e["attempt"] for e in events_of(outcome, "step_start") if e["step_id"] == "flaky"] == [1, 2, 3]
    validate_session(outcome.session.dir)


def test_transient_error_fails_once_attempts_are_used_up(run_oml):
    outcome = run_oml(RETRY.replace("MAX", "2").replace("FAILS", "5"))
    assert outcome.exit_code == 1
    assert len(events_of(outcome, "retry")) == 1
    error = outcome.status["steps"]["flaky"]["error"]
    assert error["transient"] is True and error["message"] == "connection reset (attempt 2)"
    assert outcome.status["steps"]["sink"]["status"] == "skipped"


def test_transient_error_after_data_moved_downstream_is_not_retried(run_oml):
    text = """
oml_version: "0.1.0"
name: no-retry
steps:
  - id: flaky
    component: test.generator
    mode: read
    retry: {max_attempts: 3, backoff_seconds: 0.01}
    config: {rows: 1000, batch_rows: 100, fail_at_batch: 2, fail_kind: transient, message: "reset mid-stream"}
  - id: sink
    component: test.sink
    mode: write
    needs: [flaky]
"""
    outcome = run_oml(text)
    assert outcome.exit_code == 1
    assert events_of(outcome, "retry") == []
    error = outcome.status["steps"]["flaky"]["error"]
    assert error["note"] == "not retried: the step had already passed data downstream"


def test_writer_with_retry_gets_a_spilled_input_and_retries(run_oml):
    text = """
oml_version: "0.1.0"
name: writer-retry
steps:
  - id: gen
    component: test.generator
    mode: read
    config: {rows: 1234, batch_rows: 100}
  - id: sink
    component: test.sink
    mode: write
    needs: [gen]
    retry: {max_attempts: 2, backoff_seconds: 0.01}
    config: {transient_failures: 1}
"""
    outcome = run_oml(text)
    assert outcome.exit_code == 0, outcome.status
    (start, *_) = [e for e in events_of(outcome, "step_start") if e["step_id"] == "sink"]
    assert start["inputs"]["gen"]["streaming"] is False
    assert len(events_of(outcome, "retry")) == 1
    assert Sink.seen["sink"] == 1234 and outcome.status["totals"]["rows_written"] == 1234


def test_missing_driver_fails_the_step_clearly(run_oml):
    text = """
oml_version: "0.1.0"
name: no-driver
steps:
  - id: gen
    component: test.generator
    mode: read
    config: {rows: 10}
  - id: sink
    component: test.sink
    mode: write
    needs: [gen]
"""
    outcome = run_oml(text, overrides={"test.sink": None})
    error = outcome.status["steps"]["sink"]["error"]
    assert outcome.exit_code == 1
    assert error["message"] == "no driver is installed for component test.sink"
    assert "osiris.drivers" in error["hint"]
    assert outcome.status["steps"]["gen"]["status"] == "succeeded"  # its consumer left: it still finishes


def test_missing_environment_variable_names_it(run_oml):
    text = """
oml_version: "0.1.0"
name: env
steps:
  - id: extract
    component: mysql.extractor
    mode: read
    config: {connection: "@mysql.shop", query: "SELECT 1"}
  - id: sink
    component: test.sink
    mode: write
    needs: [extract]
"""
    connections = """
version: 1
connections:
  mysql:
    shop: {host: 127.0.0.1, database: shop, user: reader, password: "${OSIRIS_TEST_UNSET_PASSWORD}"}
"""
    outcome = run_oml(text, connections=connections, env={"PATH": "/usr/bin"})
    error = outcome.status["steps"]["extract"]["error"]
    assert "OSIRIS_TEST_UNSET_PASSWORD" in error["message"]
    assert error["message"].startswith("connection @mysql.shop needs the environment variable")
    assert outcome.status["steps"]["sink"]["status"] == "skipped"


def test_cancellation_stops_every_step_and_rolls_back_writers(run_oml, tmp_path):
    text = """
oml_version: "0.1.0"
name: cancel
steps:
  - id: endless
    component: test.generator
    mode: read
    config: {batch_rows: 1000, forever: true, sleep_ms: 1}
  - id: write
    component: filesystem.parquet_writer
    mode: write
    needs: [endless]
    config: {path: out/never.parquet}
  - id: t
    component: duckdb.processor
    mode: transform
    needs: [endless]
    config: {query: "SELECT count(*) FROM input_df"}
  - id: t-sink
    component: test.sink
    mode: write
    needs: [t]
"""
    cancel = threading.Event()
    Generator.first_batch.clear()

    def cancel_soon() -> None:
        Generator.first_batch.wait(30)
        cancel.set()

    threading.Thread(target=cancel_soon, daemon=True).start()
    outcome = run_oml(text, cancel=cancel)
    assert outcome.exit_code == 130
    assert outcome.status["status"] == "cancelled" and outcome.status["ok"] is False
    assert {s["status"] for s in outcome.status["steps"].values()} == {"cancelled"}
    cancelled = {e["step_id"]: e["started"] for e in events_of(outcome, "step_cancelled")}
    assert cancelled["endless"] is True and cancelled["t"] is False
    out = tmp_path / "out"
    assert not out.exists() or list(out.iterdir()) == []
    assert events_of(outcome, "run_end")[0]["status"] == "cancelled"
    validate_session(outcome.session.dir)


EMBEDDING_PROGRAM = """
import _thread, json, os, sys, threading
from pathlib import Path
from osiris.runtime.local.executor import ExecOptions
from osiris.runtime.registry import DriverRegistry
from osiris.runtime.run import RunRequest, run
from tests.runtime.doubles import OVERRIDES, Generator, spec_registry

work = Path(sys.argv[1])
(work / "pipeline.yaml").write_text(sys.argv[2], encoding="utf-8")

def interrupt_soon():
    Generator.first_batch.wait(60)
    _thread.interrupt_main()

threading.Thread(target=interrupt_soon, daemon=True).start()
request = RunRequest(pipeline=Path("pipeline.yaml"), params={}, connections=None, run_id=None,
                     session_root=work / ".osiris" / "sessions", work_dir=work, env=dict(os.environ),
                     exec_options=ExecOptions(work_dir=work))
outcome = run(request, registry=DriverRegistry({k: v for k, v in OVERRIDES.items() if v is not None}),
              spec_registry=spec_registry())
print(json.dumps({"exit_code": outcome.exit_code, "status": outcome.status["status"]}))
"""


def test_keyboard_interrupt_in_an_embedding_program_cancels_cleanly(tmp_path):
    # In a child process: a KeyboardInterrupt that escaped would otherwise abort pytest itself.
    text = """
oml_version: "0.1.0"
name: embedded
steps:
  - id: endless
    component: test.generator
    mode: read
    config: {batch_rows: 1000, forever: true, sleep_ms: 1}
  - id: sink
    component: test.sink
    mode: write
    needs: [endless]
"""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", EMBEDDING_PROGRAM, str(tmp_path), text], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"exit_code": 130, "status": "cancelled"}
