"""Manifest v2 is all a runtime reads: each step's family and one connection reference, and
sourcemap.json for error locations (issue 10, item 1)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from unittest import mock

import pytest

from osiris.compiler.api import CompileOptions, compile_text, write_output
from osiris.compiler.connections import ConnectionsFile, split_ref
from osiris.compiler.manifest import Manifest
from osiris.runtime.run import RunRequest, run
from tests.runtime.conftest import REPO

COPY = """\
oml_version: "0.1.0"
name: copy
steps:
  - id: read
    component: filesystem.csv_extractor
    config: {path: data/in.csv}
  - id: sum
    component: duckdb.processor
    needs: [read]
    config:
      query: SELECT sum(n) AS total FROM input_df
  - id: write
    component: filesystem.csv_writer
    needs: [sum]
    config: {path: out/total.csv}
"""
BROKEN = COPY.replace("SELECT sum(n) AS total", "SELECT sum(no_such_column) AS total")
LAKE = """\
version: 1
connections:
  filesystem:
    lake: {base_dir: lake, default: true}
"""

# Runs in a child process where `osiris.spec` and the compiler passes cannot be imported:
# the manifest and cfg files are read as plain data and run by the local executor.
CHILD = r"""
import json, sys, threading
from pathlib import Path

class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.startswith(("osiris.spec", "osiris.compiler.passes")):
            raise ImportError(f"{name} is blocked in this test")
        return None

sys.meta_path.insert(0, Blocker())
from ruamel.yaml import YAML
from osiris.compiler.manifest import Manifest
from osiris.compiler.manifest_records import manifest_from_data
from osiris.runtime.connections import RuntimeConnections
from osiris.runtime.events import EventLog, MetricLog
from osiris.runtime.local.executor import ExecOptions, execute
from osiris.runtime.registry import default_registry
from osiris.runtime.secrets import SecretMasker

work = Path(sys.argv[1])
compiled = work / "compiled"
data = YAML(typ="safe", pure=True).load((compiled / "manifest.yaml").read_text())
manifest = manifest_from_data(Manifest.model_validate(data).to_data())
cfgs = json.loads((compiled / "cfg.json").read_text())
masker = SecretMasker()
result = execute(
    manifest, cfgs, events=EventLog(work / "events.jsonl", "s", masker),
    metrics=MetricLog(work / "metrics.jsonl", "s", masker), tmp_dir=work / "tmp",
    connections=RuntimeConnections(None, masker), registry=default_registry(), cancel=threading.Event(),
    options=ExecOptions(work_dir=work),
)
blocked = sorted(m for m in sys.modules if m.startswith(("osiris.spec", "osiris.compiler.passes")))
print(json.dumps({"status": result.status, "imported": blocked}))
"""


def _project(tmp_path: Path, text: str = COPY) -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "in.csv").write_text("n\n1\n2\n3\n", encoding="utf-8")
    (tmp_path / "pipeline.yaml").write_text(text, encoding="utf-8")
    return tmp_path


def _compile(project: Path, text: str = COPY, connections: ConnectionsFile | None = None) -> Path:
    result = compile_text(text, "pipeline.yaml", CompileOptions(cwd=project), connections=connections)
    assert result.ok, result.diagnostics
    write_output(result, project / "compiled")
    return project / "compiled"


def test_a_compiled_manifest_runs_with_the_component_specs_unimportable(tmp_path: Path) -> None:
    project = _project(tmp_path)
    _compile(project)
    done = subprocess.run([sys.executable, "-c", CHILD, str(project)], capture_output=True, text=True,
                          cwd=REPO, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == {"status": "succeeded", "imported": []}
    assert (project / "out" / "total.csv").read_text(encoding="utf-8").splitlines() == ["total", "6"]


def test_each_step_carries_its_family_and_one_connection_reference(tmp_path: Path) -> None:
    compiled = _compile(_project(tmp_path))
    manifest = (compiled / "manifest.yaml").read_text(encoding="utf-8")
    assert 'manifest_version: "3"' in manifest
    families = [line.strip() for line in manifest.splitlines() if line.strip().startswith("family:")]
    assert families == ["family: filesystem", "family: null", "family: filesystem"]
    for cfg in json.loads((compiled / "cfg.json").read_text(encoding="utf-8")).values():
        assert "connection" not in cfg


def test_a_step_without_a_reference_runs_with_its_family_s_default_alias(tmp_path: Path) -> None:
    """Compiled without a connections file (`connection: null`), run with one: the writer's
    `family` alone leads the runtime to the default alias, and its base_dir applies."""
    project = _project(tmp_path)
    _compile(project)
    (project / "lake").mkdir()
    (project / "lake" / "data").mkdir()
    (project / "lake" / "data" / "in.csv").write_text("n\n10\n", encoding="utf-8")
    (project / "osiris_connections.yaml").write_text(LAKE, encoding="utf-8")
    outcome = run(RunRequest(manifest_dir=Path("compiled"), work_dir=project, session_root=project / "sessions"))
    assert outcome.exit_code == 0, outcome.status
    assert (project / "lake" / "out" / "total.csv").read_text(encoding="utf-8").splitlines() == ["total", "10"]
    assert not (project / "out").exists()


def test_a_failed_step_cites_its_oml_line_when_run_from_the_pipeline(tmp_path: Path) -> None:
    project = _project(tmp_path, BROKEN)
    outcome = run(RunRequest(pipeline=Path("pipeline.yaml"), work_dir=project, session_root=project / "sessions"))
    assert outcome.exit_code == 1
    error = outcome.status["steps"]["sum"]["error"]
    assert error["source"] == "pipeline.yaml:7:5"  # the line of `- id: sum`
    assert BROKEN.splitlines()[6].strip() == "- id: sum"
    events = [json.loads(line) for line in (outcome.session.dir / "events.jsonl").read_text().splitlines()]
    (failed,) = [e for e in events if e["event"] == "step_error"]
    assert failed["source"] == "pipeline.yaml:7:5"


def test_a_failed_step_cites_its_oml_line_when_run_from_a_manifest(tmp_path: Path) -> None:
    project = _project(tmp_path, BROKEN)
    _compile(project, BROKEN)
    outcome = run(RunRequest(manifest_dir=Path("compiled"), work_dir=project, session_root=project / "sessions"))
    assert outcome.status["steps"]["sum"]["error"]["source"] == "pipeline.yaml:7:5"


def test_a_damaged_source_map_costs_only_the_location(tmp_path: Path) -> None:
    project = _project(tmp_path, BROKEN)
    compiled = _compile(project, BROKEN)
    (compiled / "sourcemap.json").write_text('{"file": "../../etc/passwd", "steps": {}}', encoding="utf-8")
    outcome = run(RunRequest(manifest_dir=Path("compiled"), work_dir=project, session_root=project / "sessions"))
    assert outcome.exit_code == 1
    assert outcome.status["steps"]["sum"]["error"]["message"].startswith("DuckDB query failed")
    assert "source" not in outcome.status["steps"]["sum"]["error"]


@pytest.mark.parametrize("kind", ["fifo", "link_out", "directory", "huge"])
def test_a_source_map_that_is_not_a_plain_file_costs_only_the_location(tmp_path: Path, kind: str) -> None:
    """sourcemap.json is optional and unverified: a FIFO, a link out of the directory, a
    directory or a file past the size limit in its place must not refuse the run."""
    project = _project(tmp_path, BROKEN)
    compiled = _compile(project, BROKEN)
    sources = compiled / "sourcemap.json"
    sources.unlink()
    if kind == "fifo":
        os.mkfifo(sources)
    elif kind == "link_out":
        (tmp_path / "outside.json").write_text('{"file": "SECRET", "steps": {}}', encoding="utf-8")
        sources.symlink_to(tmp_path / "outside.json")
    elif kind == "directory":
        sources.mkdir()
    else:
        sources.write_text('{"file": "pipeline.yaml", "steps": {}, "pad": "' + "x" * 20_000 + '"}', encoding="utf-8")
    env = {"OSIRIS_MAX_INPUT_SIZE": "1024"} if kind == "huge" else {}
    with mock.patch.dict(os.environ, env), mock.patch("osiris.compiler.manifest.MIN_MANIFEST_BYTES", 1024):
        outcome = run(RunRequest(manifest_dir=Path("compiled"), work_dir=project, session_root=project / "sessions"))
    assert outcome.exit_code == 1
    error = outcome.status["steps"]["sum"]["error"]
    assert error["message"].startswith("DuckDB query failed")
    assert "source" not in error
    session = project / "sessions"
    assert not any(p.name == "sourcemap.json" for p in session.rglob("*"))


def test_the_cli_prints_the_oml_location_of_a_failed_step(tmp_path: Path) -> None:
    project = _project(tmp_path, BROKEN)
    done = subprocess.run([sys.executable, "-m", "osiris.cli.osiris", "run", "pipeline.yaml"], cwd=project,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    (at,) = [n for n, line in enumerate(lines) if line.startswith("error: step sum (duckdb.processor) failed:")]
    assert "  at: pipeline.yaml:7:5" in lines[at + 1:at + 4]


def test_one_rule_reads_a_connection_reference() -> None:
    assert split_ref("@mysql.shop") == ("mysql", "shop")
    assert split_ref("@mysql.shop.eu") == ("mysql", "shop.eu")  # a default alias the file may define
    for text in ("mysql.shop", "@mysql", "@mysql.", "@.shop", "@my sql.shop", ""):
        assert split_ref(text) is None, text


def test_the_compiled_object_is_what_the_files_say(tmp_path: Path) -> None:
    project = _project(tmp_path)
    result = compile_text(COPY, "pipeline.yaml", CompileOptions(cwd=project), connections=None)
    assert result.compiled is not None
    compiled = result.compiled
    assert compiled.manifest.to_data() == Manifest.model_validate(compiled.manifest.to_data()).to_data()
    assert compiled.cfgs == json.loads(result.artifacts["cfg.json"])
    assert compiled.meta == json.loads(result.artifacts["meta.json"])
    assert compiled.sources is not None and compiled.sources.cite("write") == "pipeline.yaml:12:5"

