"""`pip install osiris-oml` without extras is a working compiler, and installs only `osiris`.

The wheel is built from the source folders, installed into a fresh venv (pip fetches the core
dependencies from the configured index), and then: `omlc check` and `omlc compile` work on the
examples; `osiris run` says which extra to install, exit 2, no traceback; `osiris components list`
and `osiris connections doctor` show each driver's extra. Then the `llm` distribution from the
index is installed beside it and both are used: the wheel puts no top-level name but `osiris`
into site-packages (issue 10, item 9).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
OPTIONAL = ("pyarrow", "duckdb", "pymysql", "connectorx", "psycopg", "supabase", "openai", "e2b", "boto3", "rich")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]


def _sh(*args: str | Path, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=180)
    if check:
        assert done.returncode == 0, f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def _wheel(tmp: Path) -> Path:
    """Build from a copy of pyproject.toml, README.md and the mapped folders (the checkout stays clean)."""
    source = tmp / "src"
    source.mkdir()
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    for folder in config["tool"]["setuptools"]["package-dir"].values():
        shutil.copytree(REPO / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    _sh(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", tmp / "dist", source)
    (wheel,) = (tmp / "dist").glob("osiris_oml-*.whl")
    return wheel


@pytest.fixture(scope="module")
def slim(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("slim")
    wheel = _wheel(tmp)
    _sh(sys.executable, "-m", "venv", tmp / "venv")
    _sh(tmp / "venv" / "bin" / "python", "-m", "pip", "install", "-q", wheel)
    return wheel, tmp / "venv" / "bin"


def test_the_wheel_installs_no_top_level_name_but_osiris(slim: tuple[Path, Path]) -> None:
    wheel, _ = slim
    with zipfile.ZipFile(wheel) as archive:
        tops = {name.split("/", 1)[0] for name in archive.namelist()}
    assert {top for top in tops if not top.endswith(".dist-info")} == {"osiris"}


def test_the_core_install_brings_no_optional_library(slim: tuple[Path, Path]) -> None:
    _, bin_dir = slim
    listed = _sh(bin_dir / "python", "-m", "pip", "list", "--format=freeze").stdout.lower()
    names = {line.split("==")[0].replace("-", "_") for line in listed.splitlines()}
    assert "osiris_oml" in names and not names & set(OPTIONAL)


def test_omlc_checks_and_compiles_the_examples_without_extras(slim: tuple[Path, Path], tmp_path: Path) -> None:
    _, bin_dir = slim
    for pipeline in sorted((REPO / "examples").glob("*/pipeline.yaml")):
        own = pipeline.parent / "osiris_connections.yaml"  # the project root (the repository) has none
        given = ["--connections", own] if own.is_file() else []
        checked = _sh(bin_dir / "omlc", "check", pipeline, *given, cwd=pipeline.parent)
        assert "no problems" in checked.stdout + checked.stderr, pipeline
        out = tmp_path / pipeline.parent.name
        _sh(bin_dir / "omlc", "compile", pipeline, "--out", out, *given, cwd=pipeline.parent)
        assert (out / "manifest.yaml").is_file()


def test_osiris_run_names_the_extra_to_install(slim: tuple[Path, Path], tmp_path: Path) -> None:
    _, bin_dir = slim
    shutil.copytree(REPO / "examples" / "quickstart", tmp_path / "q")
    done = _sh(bin_dir / "osiris", "run", "pipeline.yaml", cwd=tmp_path / "q", check=False)
    assert done.returncode == 2, done.stderr
    assert "pip install 'osiris-oml[run]'" in done.stderr and "Traceback" not in done.stderr
    listed = _sh(bin_dir / "osiris", "components", "list", cwd=tmp_path).stdout
    assert "not installed: needs extra mysql" in listed and "not installed: needs extra run" in listed
    doctor = _sh(bin_dir / "osiris", "connections", "doctor", cwd=REPO / "examples" / "mysql_to_postgres").stdout
    assert "skip @mysql.movies: the mysql driver is not installed: needs extra mysql" in doctor
    assert "hint: pip install 'osiris-oml[postgres]'" in doctor


def test_osiris_installs_and_works_beside_the_llm_distribution(slim: tuple[Path, Path], tmp_path: Path) -> None:
    _, bin_dir = slim
    _sh(bin_dir / "python", "-m", "pip", "install", "-q", "llm")
    both = _sh(bin_dir / "python", "-c",
               "import llm, osiris.llm.families, osiris.compiler.api; print(llm.__file__); "
               "print(osiris.llm.__file__); print(callable(llm.get_models))",
               cwd=tmp_path).stdout.split()  # not the checkout: its llm/ folder would shadow the distribution
    assert both[0].endswith("site-packages/llm/__init__.py")
    assert both[1].endswith("site-packages/osiris/llm/__init__.py") and both[2] == "True"
    assert _sh(bin_dir / "llm", "--version", cwd=tmp_path).stdout.startswith("llm, version")
    checked = _sh(bin_dir / "omlc", "check", REPO / "examples" / "quickstart" / "pipeline.yaml", cwd=tmp_path)
    assert "no problems" in checked.stdout + checked.stderr
