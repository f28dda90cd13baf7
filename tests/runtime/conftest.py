"""Helpers for runtime tests: compile OML text with the real compiler, run it in a temp dir."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from osiris.runtime.local.executor import ExecOptions
from osiris.runtime.registry import DriverRegistry
from osiris.runtime.run import RunOutcome, RunRequest, run
from tests.runtime.doubles import OVERRIDES, spec_registry

REPO = Path(__file__).resolve().parents[2]
SCHEMAS = REPO / "runtime" / "schemas"


def compile_to(text: str, directory: Path, name: str = "pipeline.yaml") -> Path:
    """Compile OML `text` (test components allowed) into `directory/compiled`; returns that dir."""
    from osiris.compiler.api import CompileOptions, compile_text, write_output

    result = compile_text(
        text, name, CompileOptions(search_connections=False), registry=spec_registry(), connections=None
    )
    assert result.ok, [f"{d.code}: {d.message}" for d in result.diagnostics]
    out = directory / "compiled"
    write_output(result, out)
    return out


@pytest.fixture
def run_oml(tmp_path: Path) -> Callable[..., RunOutcome]:
    """Run OML text in `tmp_path` (the working directory) with the test doubles installed."""

    def go(
        text: str,
        *,
        params: Mapping[str, str] | None = None,
        connections: str | None = None,
        env: Mapping[str, str] | None = None,
        cancel: threading.Event | None = None,
        overrides: Mapping[str, Any] | None = None,
        run_id: str | None = None,
        **options: Any,
    ) -> RunOutcome:
        pipeline = tmp_path / "pipeline.yaml"
        pipeline.write_text(text, encoding="utf-8")
        conn_path = None
        if connections is not None:
            conn_path = tmp_path / "osiris_connections.yaml"
            conn_path.write_text(connections, encoding="utf-8")
        request = RunRequest(
            pipeline=Path("pipeline.yaml"),
            params=dict(params or {}),
            connections=str(conn_path) if conn_path else None,
            run_id=run_id,
            session_root=tmp_path / ".osiris" / "sessions",
            work_dir=tmp_path,
            env=dict(os.environ if env is None else env),
            exec_options=ExecOptions(work_dir=tmp_path, **options),
        )
        drivers = {name: driver for name, driver in {**OVERRIDES, **(overrides or {})}.items() if driver is not None}
        registry = DriverRegistry(drivers)
        return run(request, registry=registry, cancel=cancel, spec_registry=spec_registry())

    return go


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def events_of(outcome: RunOutcome, name: str | None = None) -> list[dict[str, Any]]:
    events = read_jsonl(outcome.session.dir / "events.jsonl")
    return [e for e in events if name is None or e["event"] == name]


def validate_session(session_dir: Path) -> None:
    """Every line of events/metrics and status.json validates against the published schemas."""
    from jsonschema import Draft202012Validator

    for file, schema in (("events.jsonl", "event"), ("metrics.jsonl", "metric")):
        validator = Draft202012Validator(json.loads((SCHEMAS / f"{schema}.schema.json").read_text()))
        for record in read_jsonl(session_dir / file):
            errors = sorted(validator.iter_errors(record), key=str)
            assert not errors, f"{file}: {record}: {errors[0].message}"
    validator = Draft202012Validator(json.loads((SCHEMAS / "status.schema.json").read_text()))
    status = json.loads((session_dir / "status.json").read_text())
    errors = list(validator.iter_errors(status))
    assert not errors, errors[0].message


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def osiris_inproc(*args: str, cwd: Path) -> CliResult:
    """Run `runtime.cli.main` in this process (fast; for commands that need no process of their own)."""
    from osiris.cli.osiris import main

    out, err = io.StringIO(), io.StringIO()
    previous = Path.cwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exit_:
                code = int(exit_.code or 0)
    finally:
        os.chdir(previous)
    return CliResult(code, out.getvalue(), err.getvalue())


def osiris(
    *args: str, cwd: Path, env: Mapping[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the `osiris` CLI as a subprocess (the installed console script's module)."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("COLUMNS", None)
    return subprocess.run(
        [sys.executable, "-m", "osiris.cli.osiris", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
