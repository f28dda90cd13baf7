"""File paths in step configs stay inside the project (compiler/path_policy.py), at compile
time (OML083/OML084 at the path's line) and at run time after symbolic links are resolved.

Attacks run for real: `osiris run PIPELINE.yaml` as its own process for what OML or a model
writes, real symbolic links inside the project that point outside it for what only the run
can see, and the file drivers called directly for paths no file system accepts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from osiris.compiler.path_policy import MAX_PATH_BYTES, PathRefused, check_path, confine_path, path_roots
from osiris.drivers.files.csv_extractor import CsvExtractor
from osiris.drivers.files.csv_writer import CsvWriter
from osiris.drivers.files.parquet_extractor import ParquetExtractor
from osiris.drivers.files.parquet_writer import ParquetWriter
from osiris.runtime.driver import DriverError
from osiris.runtime.testing import RecordingContext
from tests.security.manifest_attacks import snapshot

SECRET = "TOPSECRET-3141"


def _pipeline(read: str, write: str, *, read_component: str = "filesystem.csv_extractor",
              write_component: str = "filesystem.csv_writer", extra: str = "") -> str:
    return f"""\
oml_version: "0.1.0"
name: paths
{extra}steps:
  - id: read
    component: {read_component}
    config: {{path: {json.dumps(read)}}}
  - id: write
    component: {write_component}
    needs: [read]
    config: {{path: {json.dumps(write)}}}
"""


def _project(tmp_path: Path) -> Path:
    """tmp/proj (the project, with data/in.csv) beside tmp/outside (holding a secret file)."""
    project, outside = tmp_path / "proj", tmp_path / "outside"
    (project / "data").mkdir(parents=True)
    outside.mkdir()
    (project / "data" / "in.csv").write_text("id,name\n1,a\n2,b\n", encoding="utf-8")
    (outside / "secret.csv").write_text(f"id,name\n1,{SECRET}\n", encoding="utf-8")
    pq.write_table(pa.table({"id": [1], "name": [SECRET]}), outside / "secret.parquet")
    return project


def _osiris(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    return subprocess.run([sys.executable, "-m", "osiris.cli.osiris", *args], cwd=project, env=env,
                          capture_output=True, text=True, timeout=120)


def _session_text(project: Path) -> str:
    (session,) = (project / ".osiris" / "sessions").iterdir()
    return "".join(p.read_text(encoding="utf-8", errors="replace") for p in session.rglob("*") if p.is_file())


# -- compile time: what OML (or a model) writes ---------------------------------------------------
@pytest.mark.parametrize(("write", "code"), [
    ("../../../x.csv", "OML083"),
    ("../outside/x.csv", "OML083"),
    ("out/../../outside/x.csv", "OML083"),
    ("{outside}/x.csv", "OML083"),
    ("~/x.csv", "OML083"),
    ("out/x\u0000.csv", "OML084"),
    ("out/" + "n" * 256 + ".csv", "OML084"),
    ("out/" + "d/" * 2100 + "x.csv", "OML084"),
])
def test_a_writer_path_that_leaves_the_project_is_a_compile_error(tmp_path, write, code):  # noqa: ANN001
    project = _project(tmp_path)
    write = write.replace("{outside}", str(tmp_path / "outside"))
    (project / "p.yaml").write_text(_pipeline("data/in.csv", write), encoding="utf-8")
    before = snapshot(tmp_path)
    result = _osiris(project, "run", "p.yaml")
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"p.yaml:10:20: error[{code}]" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    after = {k: v for k, v in snapshot(tmp_path).items() if not k.startswith("proj/.osiris")}
    assert after == before  # nothing written anywhere, inside the project or out of it


def test_a_path_from_a_parameter_is_checked_where_the_parameter_is_used(tmp_path):
    project = _project(tmp_path)
    extra = "params:\n  out: {type: string, default: out/x.csv}\n"
    (project / "p.yaml").write_text(_pipeline("data/in.csv", "${params.out}", extra=extra), encoding="utf-8")
    result = _osiris(project, "run", "p.yaml", "--param", "out=../outside/x.csv")
    assert result.returncode == 1 and "p.yaml:12:20: error[OML083]" in result.stderr, result.stderr
    assert not (tmp_path / "outside" / "x.csv").exists()


def test_omlc_check_reports_the_code_at_the_path(tmp_path):
    project = _project(tmp_path)
    (project / "p.yaml").write_text(_pipeline("/etc/passwd", "out/x.csv"), encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "osiris.cli.omlc", "check", "p.yaml"], cwd=project,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "p.yaml:6:20: error[OML083]: path '/etc/passwd' is outside the project" in result.stdout + result.stderr


def test_a_base_dir_is_a_root_but_its_paths_cannot_climb_out_of_it(tmp_path):
    project = _project(tmp_path)
    lake = tmp_path / "lake"
    lake.mkdir()
    (project / "osiris_connections.yaml").write_text(
        f"version: 1\nconnections:\n  filesystem:\n    lake: {{base_dir: {lake}}}\n", encoding="utf-8")
    text = _pipeline("data/in.csv", "copy.csv").replace(
        "config: {path: \"copy.csv\"}", "config: {connection: \"@filesystem.lake\", path: \"copy.csv\"}")
    (project / "ok.yaml").write_text(text, encoding="utf-8")
    result = _osiris(project, "run", "ok.yaml")
    assert result.returncode == 0, result.stderr
    assert (lake / "copy.csv").read_text(encoding="utf-8").startswith("id,name")
    (project / "bad.yaml").write_text(text.replace("\"copy.csv\"", "\"../outside/x.csv\""), encoding="utf-8")
    result = _osiris(project, "run", "bad.yaml")
    assert result.returncode == 1 and "error[OML083]" in result.stderr
    assert not (tmp_path / "outside" / "x.csv").exists()


# -- the operator's roots ---------------------------------------------------------------------------
def test_roots_the_operator_allows_are_usable_and_nothing_beside_them(tmp_path):
    project = _project(tmp_path)
    shared = tmp_path / "shared"
    shared.mkdir()
    (project / "osiris_connections.yaml").write_text(
        f"version: 1\nfilesystem:\n  roots: [{shared}]\nconnections: {{}}\n", encoding="utf-8")
    (project / "ok.yaml").write_text(_pipeline("data/in.csv", str(shared / "x.csv")), encoding="utf-8")
    result = _osiris(project, "run", "ok.yaml")
    assert result.returncode == 0, result.stderr
    assert (shared / "x.csv").is_file()
    # A sibling whose name starts with the root's is not inside it.
    (project / "bad.yaml").write_text(_pipeline("data/in.csv", f"{shared}-evil/x.csv"), encoding="utf-8")
    result = _osiris(project, "run", "bad.yaml")
    assert result.returncode == 1 and "error[OML083]" in result.stderr
    assert not (tmp_path / "shared-evil").exists()


# -- run time: symbolic links inside the project -----------------------------------------------------
def test_a_symlink_inside_the_project_pointing_outside_is_refused_when_read(tmp_path):
    project = _project(tmp_path)
    (project / "data" / "link.csv").symlink_to(tmp_path / "outside" / "secret.csv")
    (project / "p.yaml").write_text(_pipeline("data/link.csv", "out/copy.csv"), encoding="utf-8")
    result = _osiris(project, "run", "p.yaml")
    assert result.returncode == 1
    assert ("path 'data/link.csv' resolves outside the project (through a symbolic link) [OML083]"
            in result.stderr), result.stderr
    assert "unexpected error" not in result.stderr and "Traceback" not in result.stderr
    assert not (project / "out").exists()
    assert SECRET not in result.stdout + result.stderr + _session_text(project)


def test_a_symlinked_directory_pointing_outside_is_refused_when_written(tmp_path):
    project = _project(tmp_path)
    (project / "out").symlink_to(tmp_path / "outside", target_is_directory=True)
    (project / "p.yaml").write_text(_pipeline("data/in.csv", "out/x.csv"), encoding="utf-8")
    before = sorted(os.listdir(tmp_path / "outside"))
    result = _osiris(project, "run", "p.yaml")
    assert result.returncode == 1
    assert "path 'out/x.csv' resolves outside the project (through a symbolic link) [OML083]" in result.stderr
    assert sorted(os.listdir(tmp_path / "outside")) == before  # not even a temp file


def test_a_symlink_inside_a_parquet_directory_is_refused(tmp_path):
    project = _project(tmp_path)
    parts = project / "data" / "parts"
    parts.mkdir()
    pq.write_table(pa.table({"id": [2], "name": ["ok"]}), parts / "a.parquet")
    (parts / "b.parquet").symlink_to(tmp_path / "outside" / "secret.parquet")
    (project / "p.yaml").write_text(
        _pipeline("data/parts", "out/copy.csv", read_component="filesystem.parquet_extractor"), encoding="utf-8")
    result = _osiris(project, "run", "p.yaml")
    assert result.returncode == 1
    assert "path 'data/parts/b.parquet' resolves outside the project (through a symbolic link)" in result.stderr
    assert not (project / "out").exists() and SECRET not in _session_text(project)


def test_discovery_refuses_a_symlink_that_leads_out_of_the_directory(tmp_path, monkeypatch):
    project = _project(tmp_path)
    (project / "data" / "link.csv").symlink_to(tmp_path / "outside" / "secret.csv")
    monkeypatch.chdir(project)
    with pytest.raises(DriverError, match=r"data/link.csv' resolves outside the project"):
        CsvExtractor().discover(None, path="data", sample_rows=5)


def test_a_link_to_a_file_inside_the_project_is_fine(tmp_path):
    project = _project(tmp_path)
    (project / "data" / "alias.csv").symlink_to(project / "data" / "in.csv")
    ctx = RecordingContext(config={"path": "data/alias.csv"}, work_dir=project)
    assert CsvExtractor().extract(ctx).read_all().num_rows == 2


# -- hidden names and the connections file (OML085) ----------------------------------------------------
@pytest.mark.parametrize(("read", "write", "shown"), [
    ("osiris_connections.yaml", "out/copy.csv", "path 'osiris_connections.yaml' is the connections file"),
    ("data/../.env", "out/copy.csv", "path 'data/../.env' goes through the hidden name '.env'"),
    ("data/in.csv", ".venv/lib/python3.12/site-packages/x.pth", "goes through the hidden name '.venv'"),
    ("data/in.csv", ".git/hooks/pre-commit", "goes through the hidden name '.git'"),
    ("data/in.csv", ".osiris/sessions/forged/status.json", "goes through the hidden name '.osiris'"),
], ids=["connections-file", "dotenv", "venv-pth", "git-hook", "forged-session"])
def test_hidden_files_and_the_connections_file_are_a_compile_error(tmp_path, read, write, shown):  # noqa: ANN001
    project = _project(tmp_path)
    (project / "osiris_connections.yaml").write_text(f"version: 1\n# {SECRET}\n", encoding="utf-8")
    (project / ".env").write_text(f"TOKEN={SECRET}\n", encoding="utf-8")
    (project / "p.yaml").write_text(_pipeline(read, write), encoding="utf-8")
    before = snapshot(tmp_path)
    result = _osiris(project, "run", "p.yaml")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "[OML085]" in result.stderr and shown in result.stderr, result.stderr
    assert SECRET not in result.stdout + result.stderr + _session_text(project)
    after = {k: v for k, v in snapshot(tmp_path).items() if not k.startswith("proj/.osiris")}
    assert after == before


@pytest.mark.parametrize("target", ["osiris_connections.yaml", ".env", "settings/connections.yaml"])
def test_a_link_to_a_protected_file_is_refused_when_read(tmp_path, target):  # noqa: ANN001
    """Named innocently, resolved at run time: the connections file (by its name, or the one
    `--connections` names under any other) and hidden files stay unread."""
    project = _project(tmp_path)
    (project / "settings").mkdir()
    connections = f"version: 1\n# id,name\n# 1,{SECRET}\nconnections:\n  filesystem:\n    local: {{base_dir: data}}\n"
    for name in ("osiris_connections.yaml", "settings/connections.yaml"):
        (project / name).write_text(connections, encoding="utf-8")
    (project / ".env").write_text(f"id,name\n1,{SECRET}\n", encoding="utf-8")
    (project / "data" / "link.csv").symlink_to(project / target)
    (project / "p.yaml").write_text(_pipeline("data/link.csv", "out/copy.csv"), encoding="utf-8")
    args = ("--connections", "settings/connections.yaml") if target.startswith("settings") else ()
    result = _osiris(project, "run", "p.yaml", *args)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "[OML085]" in result.stderr, result.stderr
    assert not (project / "out").exists()
    assert SECRET not in result.stdout + result.stderr + _session_text(project)


def test_a_root_inside_a_hidden_folder_still_works(tmp_path):
    """Only names below the root count: an operator root under ~/.local is fine."""
    project = _project(tmp_path)
    lake = tmp_path / ".local" / "lake"
    lake.mkdir(parents=True)
    (lake / "in.csv").write_text("id,name\n1,a\n", encoding="utf-8")
    (project / "osiris_connections.yaml").write_text(f"version: 1\nfilesystem:\n  roots: [{lake}]\n"
                                                     "connections:\n  filesystem:\n    local: {base_dir: data}\n",
                                                     encoding="utf-8")
    (project / "p.yaml").write_text(_pipeline(str(lake / "in.csv"), "out/copy.csv"), encoding="utf-8")
    result = _osiris(project, "run", "p.yaml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (project / "out" / "copy.csv").read_text(encoding="utf-8").startswith("id,name")
    assert check_path(str(lake / ".x" / "in.csv"), path_roots(project, [str(lake)])).code == "OML085"


# -- run time: paths no file system accepts are clear DriverErrors --------------------------------------
WRITERS = {"csv": CsvWriter, "parquet": ParquetWriter}


@pytest.mark.parametrize(("path", "message"), [
    ("out/x\u0000.csv", r"path 'out/x\\x00.csv' holds a NUL byte \[OML084\]"),
    ("out/" + "n" * 256 + ".csv", r"260-byte file or directory name .at most 255. \[OML084\]"),
    ("d/" * 2048 + "x.csv", r"bytes long .at most 4095. \[OML084\]"),
])
@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_unusable_paths_are_clear_errors_in_the_writers(tmp_path, path, message, kind):  # noqa: ANN001
    ctx = RecordingContext(config={"path": path}, work_dir=tmp_path)
    with pytest.raises(DriverError, match=message):
        WRITERS[kind]().write(ctx, pa.table({"a": [1]}).to_reader())
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("reader", [CsvExtractor, ParquetExtractor])
def test_unusable_paths_are_clear_errors_in_the_readers(tmp_path, reader):  # noqa: ANN001
    for path in ("data/in\u0000.csv", "x" * 300, "d/" * 2048 + "x"):
        with pytest.raises(DriverError, match=r"\[OML084\]"):
            reader().extract(RecordingContext(config={"path": path}, work_dir=tmp_path))


def test_a_path_too_long_only_once_joined_to_the_project_is_a_clear_error(tmp_path):
    # Within the limit as written; the project directory's own length pushes it past PATH_MAX.
    path = "d/" * ((MAX_PATH_BYTES - 10) // 2) + "x.csv"
    assert len(path) <= MAX_PATH_BYTES
    assert check_path(path, path_roots(tmp_path)).code == "OML084"
    with pytest.raises(DriverError, match=r"bytes long once resolved .at most 4095. \[OML084\]"):
        CsvWriter().write(RecordingContext(config={"path": path}, work_dir=tmp_path), pa.table({"a": [1]}).to_reader())


def test_the_run_reports_an_unusable_path_as_the_step_error_not_an_unexpected_one(tmp_path):
    """Through the executor, for an embedder that hands it a cfg no manifest check has seen."""
    from osiris.runtime.local.executor import ExecOptions, execute
    from osiris.runtime.run import RunRequest, run

    project = _project(tmp_path)
    (project / "p.yaml").write_text(_pipeline("data/in.csv", "out/x.csv"), encoding="utf-8")

    def handing_over_a_bad_path(manifest, cfgs, **kwargs):  # noqa: ANN001, ANN003, ANN202
        return execute(manifest, {**cfgs, "write": {**cfgs["write"], "path": "out/x\u0000.csv"}}, **kwargs)

    outcome = run(RunRequest(pipeline=Path("p.yaml"), work_dir=project, session_root=project / ".osiris" / "sessions",
                             exec_options=ExecOptions(work_dir=project)), executor=handing_over_a_bad_path)
    error = outcome.status["steps"]["write"]["error"]
    assert outcome.exit_code == 1
    assert error["message"] == "path 'out/x\\x00.csv' holds a NUL byte [OML084]", error
    assert "unexpected" not in error.get("hint", "")
    assert not (project / "out").exists()


@pytest.mark.parametrize("url", ["s3://bucket/out.parquet", "gs://b/x.csv", "az://container/x", "https://host/x.csv",
                                 "file:///etc/passwd", "S3://Bucket/x"])
def test_a_url_is_not_taken_for_a_local_path(url: str, tmp_path: Path) -> None:
    """`s3://b/x` used to compile and then write a local folder named `s3:`: refused at compile and run time."""
    problem = check_path(url, path_roots(tmp_path))
    assert problem is not None and problem.code == "OML084" and "is a URL" in problem.message
    with pytest.raises(PathRefused) as refused:
        confine_path(url, path_roots(tmp_path))
    assert refused.value.code == "OML084"
    assert not any(tmp_path.iterdir())
    assert check_path("data/s3:/x.csv", path_roots(tmp_path)) is None  # a colon inside a name is still a name


def test_omlc_points_at_the_url_in_the_pipeline(tmp_path: Path) -> None:
    """An object-store URI without its store's connection is OML086; any other URL stays OML084."""
    (tmp_path / "p.yaml").write_text(
        'oml_version: "0.1.0"\nname: lake\nsteps:\n  - id: w\n    component: filesystem.csv_extractor\n'
        '    mode: read\n    config:\n      path: "s3://bucket/in.csv"\n'
        '  - id: h\n    component: filesystem.csv_extractor\n    config:\n      path: "https://host/in.csv"\n')
    done = subprocess.run([str(Path(sys.executable).parent / "omlc"), "check", "p.yaml"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 1
    assert ("p.yaml:8:13: error[OML086]: path 's3://bucket/in.csv' is an object-store URI and the step has no "
            "connection") in done.stderr
    assert "p.yaml:12:13: error[OML084]: path 'https://host/in.csv' is a URL (https://), not a file path" in done.stderr
