"""One connections loader: a connections file named with `~` is expanded, in pipeline and manifest mode."""

from __future__ import annotations

from pathlib import Path

from osiris.runtime.connections import load_connections_file
from osiris.runtime.local.executor import ExecOptions
from osiris.runtime.registry import DriverRegistry
from osiris.runtime.run import RunRequest, run
from tests.runtime.conftest import compile_to
from tests.runtime.doubles import OVERRIDES, spec_registry

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
