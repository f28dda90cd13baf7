"""The project root: relative paths resolve against the nearest osiris.yaml above the pipeline,
so a run writes the same files from any directory of the project."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from osiris.cli.osiris import main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """The repository's osiris.yaml and the quickstart, laid out as in the repository."""
    shutil.copy(REPO / "osiris.yaml", tmp_path / "osiris.yaml")
    target = tmp_path / "examples" / "quickstart"
    target.mkdir(parents=True)
    shutil.copy(REPO / "examples" / "quickstart" / "pipeline.yaml", target / "pipeline.yaml")
    shutil.copytree(REPO / "examples" / "quickstart" / "data", target / "data")
    return tmp_path


def _outputs(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted((root / "out").rglob("*")) if p.is_file()}


def _manifest(root: Path) -> bytes:
    (session,) = (root / ".osiris" / "sessions").iterdir()
    return (session / "compiled" / "manifest.yaml").read_bytes()


def test_quickstart_writes_the_same_files_from_the_root_and_from_its_directory(repo_copy, monkeypatch):
    monkeypatch.chdir(repo_copy)
    assert main(["run", "examples/quickstart/pipeline.yaml", "--quiet", "--run-id", "a"]) == 0
    from_root, manifest_from_root = _outputs(repo_copy), _manifest(repo_copy)
    shutil.rmtree(repo_copy / "out")
    shutil.rmtree(repo_copy / ".osiris")
    monkeypatch.chdir(repo_copy / "examples" / "quickstart")
    assert main(["run", "pipeline.yaml", "--quiet", "--run-id", "a"]) == 0
    assert set(from_root) == {"out/quickstart/revenue_by_country.csv", "out/quickstart/revenue_by_country.parquet"}
    assert _outputs(repo_copy) == from_root
    assert _manifest(repo_copy) == manifest_from_root  # the session lands in the root's sessions_dir too
    assert not (repo_copy / "examples" / "quickstart" / "out").exists()


def test_without_osiris_yaml_paths_resolve_against_the_current_directory(repo_copy, monkeypatch):
    (repo_copy / "osiris.yaml").unlink()
    monkeypatch.chdir(repo_copy / "examples" / "quickstart")
    assert main(["run", "pipeline.yaml", "--quiet"]) == 1  # examples/quickstart/data/... is not here
    monkeypatch.chdir(repo_copy)
    assert main(["run", "examples/quickstart/pipeline.yaml", "--quiet"]) == 0
    assert (repo_copy / "out" / "quickstart" / "revenue_by_country.csv").is_file()


def test_a_compiled_manifest_runs_the_same_from_any_directory_of_the_project(repo_copy, monkeypatch):
    from osiris.cli.omlc import main as omlc

    monkeypatch.chdir(repo_copy)
    assert omlc(["compile", "examples/quickstart/pipeline.yaml", "--out", "build"]) == 0
    monkeypatch.chdir(repo_copy / "examples")
    assert main(["run", "--manifest", "../build", "--quiet"]) == 0
    assert (repo_copy / "out" / "quickstart" / "revenue_by_country.parquet").is_file()
    assert not (repo_copy / "examples" / "out").exists()


def test_the_connections_file_is_found_in_the_project_root(tmp_path, monkeypatch, capsys):
    (tmp_path / "osiris.yaml").write_text("version: 1\n")
    (tmp_path / "osiris_connections.yaml").write_text(
        "version: 1\nconnections:\n  filesystem:\n    here:\n      base_dir: .\n      default: true\n")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    assert main(["connections", "list"]) == 0
    assert "@filesystem.here (default)" in capsys.readouterr().out


def test_a_connections_file_named_in_osiris_yaml_resolves_against_the_root(tmp_path, monkeypatch):
    (tmp_path / "osiris.yaml").write_text("connections: config/conns.yaml\n")
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "conns.yaml").write_text(
        "version: 1\nconnections:\n  filesystem:\n    data:\n      base_dir: files\n      default: true\n")
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "in.csv").write_text("a\n1\n")
    (tmp_path / "p.yaml").write_text(
        'oml_version: "0.1.0"\nname: p\nsteps:\n'
        "  - {id: r, component: filesystem.csv_extractor, mode: read, config: {path: in.csv}}\n"
        "  - {id: w, component: filesystem.csv_writer, mode: write, needs: [r], config: {path: out.csv}}\n")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    assert main(["run", "../p.yaml", "--quiet"]) == 0
    assert (tmp_path / "files" / "out.csv").read_text().splitlines() == ["a", "1"]


def test_a_bad_osiris_yaml_stops_run_with_its_position_and_exit_2(tmp_path, monkeypatch, capsys):
    (tmp_path / "osiris.yaml").write_text("version: 1\nsession_dir: x\n")
    (tmp_path / "p.yaml").write_text("oml_version: \"0.1.0\"\n")
    monkeypatch.chdir(tmp_path)
    assert main(["run", "p.yaml"]) == 2
    err = capsys.readouterr().err
    assert "osiris.yaml:2:1: error[OML097]: unknown setting 'session_dir'" in err
    assert "did you mean 'sessions_dir'?" in err and "Traceback" not in err


def test_connections_doctor_checks_a_relative_base_dir_in_the_project_root(tmp_path, monkeypatch, capsys):
    (tmp_path / "osiris.yaml").write_text("version: 1\n")
    (tmp_path / "osiris_connections.yaml").write_text(
        "version: 1\nconnections:\n  filesystem:\n    data:\n      base_dir: data\n      default: true\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")  # no sub/data: checked against the current directory, it would fail
    assert main(["connections", "doctor"]) == 0
    assert "ok   @filesystem.data" in capsys.readouterr().out
    assert main(["validate", "--doctor", "--mode", "strict"]) == 0


def test_omlc_checks_and_compiles_against_the_project_root_from_any_directory(repo_copy, monkeypatch, capsys):
    """omlc settles paths like `osiris run`: the connections file is found in the project root, so a
    reference is checked (and the compiled output is the same) from the root and from the example."""
    from osiris.cli.omlc import main as omlc

    (repo_copy / "osiris_connections.yaml").write_text(
        "version: 1\nconnections:\n  mysql:\n    shop:\n      host: db.example\n      user: u\n"
        "      database: d\n", encoding="utf-8")
    (repo_copy / "examples" / "quickstart" / "ref.yaml").write_text(
        'oml_version: "0.1.0"\nname: ref\nsteps:\n  - id: extract\n    component: mysql.extractor\n'
        '    mode: read\n    config:\n      connection: "@mysql.nope"\n      query: SELECT 1 AS x\n',
        encoding="utf-8")
    monkeypatch.chdir(repo_copy)
    assert omlc(["compile", "examples/quickstart/pipeline.yaml", "--out", str(repo_copy / "a")]) == 0
    monkeypatch.chdir(repo_copy / "examples" / "quickstart")
    assert omlc(["compile", "pipeline.yaml", "--out", str(repo_copy / "b")]) == 0
    built = {p.relative_to(repo_copy / "a").as_posix(): p.read_bytes() for p in (repo_copy / "a").rglob("*")
             if p.is_file()}
    assert built and all((repo_copy / "b" / name).read_bytes() == data for name, data in built.items())
    capsys.readouterr()
    assert omlc(["check", "ref.yaml"]) == 1  # the root's connections file was found: @mysql.nope is undefined
    assert "nope" in capsys.readouterr().err
    (repo_copy / "osiris.yaml").unlink()  # without a project, the current directory is the root again
    assert omlc(["check", "ref.yaml"]) == 0
    assert "OML070" in capsys.readouterr().err  # no connections file here: references are not checked
