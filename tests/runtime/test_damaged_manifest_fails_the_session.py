"""A damaged manifest, or an unexpected error, ends the session as failed, naming the user's file;
on the command line it is not an internal error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from osiris.runtime.local.executor import ExecOptions
from osiris.runtime.registry import DriverRegistry
from osiris.runtime.run import RunRequest, run
from osiris.runtime.session import Session
from tests.runtime.conftest import compile_to, events_of, osiris, validate_session
from tests.runtime.doubles import OVERRIDES, spec_registry

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
