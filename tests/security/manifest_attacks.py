"""Shared by the manifest attack tests: a compiled project, an attacker's edit, and the checks
that `osiris run --manifest` refused it cleanly.

The attacker edits manifest.yaml and cfg files as data and recomputes every fingerprint
(`oml.canonical.fingerprint`, as easy as it sounds), so only verification can stop them.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from osiris.compiler.api import CompileOptions, compile_path, write_output
from osiris.oml.canonical import fingerprint, pretty_json

COPY = """\
oml_version: "0.1.0"
name: copy
steps:
  - id: read
    component: filesystem.csv_extractor
    config: {path: data/in.csv}
  - id: write
    component: filesystem.csv_writer
    needs: [read]
    config: {path: out/copy.csv}
"""

# An extractor that `needs` another: compiled to an input named after the step it waits for.
TWO_EXTRACTORS = """\
oml_version: "0.1.0"
name: ordered
steps:
  - id: read
    component: filesystem.csv_extractor
    config: {path: data/in.csv}
  - id: read2
    component: filesystem.csv_extractor
    needs: [read]
    config: {path: data/in.csv}
  - id: write
    component: filesystem.csv_writer
    needs: [read2]
    config: {path: out/copy.csv}
"""

# A writer whose alias holds a key worth stealing (the connections file is the caller's).
SUPABASE = """\
oml_version: "0.1.0"
name: to-supabase
steps:
  - id: read
    component: filesystem.csv_extractor
    config: {path: data/in.csv}
  - id: write
    component: supabase.writer
    needs: [read]
    config: {connection: "@supabase.main", table: people}
"""

Edit = Callable[[dict[str, Any], dict[str, dict[str, Any]]], None]
"""Changes (manifest data, cfg by step id) in place; new cfg entries become new cfg files."""


def compiled_project(root: Path, pipeline: str = COPY, connections: str | None = None) -> Path:
    """root/proj with data/in.csv and the pipeline compiled into proj/compiled."""
    project = root / "proj"
    (project / "data").mkdir(parents=True)
    (project / "data" / "in.csv").write_text("id,name\n1,a\n2,b\n", encoding="utf-8")
    (project / "pipeline.yaml").write_text(pipeline, encoding="utf-8")
    if connections is not None:
        (project / "osiris_connections.yaml").write_text(connections, encoding="utf-8")
    options = CompileOptions(cwd=project, env={"SUPA_KEY": "x"})
    result = compile_path(project / "pipeline.yaml", options)
    assert result.ok, result.diagnostics
    write_output(result, project / "compiled")
    (project / ".osiris" / "sessions").mkdir(parents=True)
    return project


def tamper(compiled: Path, edit: Edit, *, refingerprint: bool = True) -> None:
    """Apply `edit` as an attacker would: rewrite the files and (by default) every fingerprint."""
    data = YAML(typ="safe", pure=True).load((compiled / "manifest.yaml").read_text(encoding="utf-8"))
    cfgs = json.loads((compiled / "cfg.json").read_text(encoding="utf-8"))
    before = json.dumps(cfgs, sort_keys=True)
    edit(data, cfgs)
    changed = json.dumps(cfgs, sort_keys=True) != before
    if changed:
        (compiled / "cfg.json").write_bytes(pretty_json(cfgs))
    if refingerprint:
        for step in data["steps"]:
            if step.get("id") in cfgs:
                step["cfg_fp"] = fingerprint(cfgs[step["id"]])
    with (compiled / "manifest.yaml").open("w", encoding="utf-8") as stream:
        YAML(typ="safe", pure=True).dump(data, stream)
    if refingerprint:
        meta = json.loads((compiled / "meta.json").read_text(encoding="utf-8"))
        try:
            meta["fingerprints"]["manifest_fp"] = fingerprint(data)
        except ValueError:  # infinity has no canonical JSON: no fingerprint can match it
            meta["fingerprints"]["manifest_fp"] = fingerprint({})
        (compiled / "meta.json").write_bytes(pretty_json(meta))


def step(data: dict[str, Any], step_id: str) -> dict[str, Any]:
    return next(s for s in data["steps"] if s["id"] == step_id)


def snapshot(root: Path) -> dict[str, str]:
    """Every path under `root` (links not followed) with a digest of each file's bytes."""
    found: dict[str, str] = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs:
            found[os.path.relpath(os.path.join(directory, name), root)] = "dir"
        for name in files:
            path = os.path.join(directory, name)
            relative = os.path.relpath(path, root)
            if os.path.islink(path) or not os.path.isfile(path):
                found[relative] = "special"
            else:
                found[relative] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return found


def osiris_run(project: Path, *args: str, env: dict[str, str] | None = None,
               timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`osiris run --manifest compiled` as its own process; a hang fails the test (TimeoutExpired)."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("COLUMNS", None)
    return subprocess.run([sys.executable, "-m", "osiris.cli.osiris", "run", "--manifest", "compiled", *args],
                          cwd=project, env=full_env, capture_output=True, text=True, timeout=timeout)


def assert_refused(root: Path, project: Path, before: dict[str, str],
                   result: subprocess.CompletedProcess[str], code: str) -> dict[str, Any]:
    """Exit 1, the code shown, a failed session with a manifest_error event, no traceback, no
    KeyError, and nothing created or changed anywhere outside the session directory."""
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert f"error[{code}]" in result.stderr, output
    for symptom in ("Traceback", "KeyError", "internal error", "unexpected error"):
        assert symptom not in output, output
    (session,) = (project / ".osiris" / "sessions").iterdir()
    status = json.loads((session / "status.json").read_text(encoding="utf-8"))
    assert status["status"] == "failed", status
    assert status["error"]["stage"] == "manifest" and status["error"]["code"] == code, status["error"]
    events = [json.loads(line) for line in (session / "events.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [e["event"] for e in events][-2:] == ["manifest_error", "run_end"]
    assert code in {d["code"] for d in events[-2]["diagnostics"]}
    assert not any(e["event"] == "step_start" for e in events)
    after = snapshot(root)
    session_part = os.path.relpath(session, root)
    outside = {k: v for k, v in after.items() if k != session_part and not k.startswith(session_part + os.sep)}
    assert outside == before, sorted(set(outside.items()) ^ set(before.items()))
    return status
