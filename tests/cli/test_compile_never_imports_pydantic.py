"""`omlc compile`, `omlc check` and `osiris run PIPELINE` run without importing pydantic (issue 12:
its import and model building were ~60 ms of a 140 ms compile, and ~80 ms of every run's start-up).
The pydantic manifest models stay for checking manifests from elsewhere (`osiris run --manifest`);
the compile path builds plain data, and the runtime reads it as the records of
compiler.manifest_records. A project's osiris.yaml is read without it too (cli/settings.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PIPELINE = REPO / "examples" / "quickstart" / "pipeline.yaml"

PROBE = """
import json, sys
from osiris.cli.{cli} import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "pydantic": sorted(m for m in sys.modules if m.split(".")[0] == "pydantic")}),
      file=sys.stderr)
"""


@pytest.mark.parametrize("project", [False, True], ids=["no-project", "osiris.yaml"])
@pytest.mark.parametrize("command", [["compile", "--out", "{out}"], ["check"]])
def test_the_compile_path_leaves_pydantic_unimported(tmp_path: Path, command: list[str], project: bool) -> None:
    (tmp_path / "pipeline.yaml").write_bytes(PIPELINE.read_bytes())
    if project:
        (tmp_path / "osiris.yaml").write_text("version: 1\nvalidation: strict\nrun:\n  step_memory: 1GiB\n")
    argv = [part.format(out=tmp_path / "out") for part in command]
    done = subprocess.run([sys.executable, "-c", PROBE.replace("{cli}", "omlc"), argv[0], "pipeline.yaml", *argv[1:]],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report == {"code": 0, "pydantic": []}, done.stderr
    if command[0] == "compile":
        assert (tmp_path / "out" / "manifest.yaml").is_file()


def _run_probe(tmp_path: Path, *argv: str) -> dict:
    """`osiris ARGV` in a copy of the quickstart (its paths are relative to the repository root)."""
    shutil.copytree(PIPELINE.parent, tmp_path / "examples" / "quickstart")
    done = subprocess.run([sys.executable, "-c", PROBE.replace("{cli}", "osiris"), *argv, "--quiet",
                           "--session-dir", str(tmp_path / "s")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    return json.loads(done.stderr.strip().splitlines()[-1])


def test_running_a_pipeline_leaves_pydantic_unimported(tmp_path: Path) -> None:
    report = _run_probe(tmp_path, "run", "examples/quickstart/pipeline.yaml")
    assert report == {"code": 0, "pydantic": []}
    assert (tmp_path / "out" / "quickstart" / "revenue_by_country.csv").is_file()


def test_running_a_manifest_from_elsewhere_validates_it_with_the_models(tmp_path: Path) -> None:
    """The counterpart: a directory from elsewhere is untrusted, and the pydantic models check it."""
    from osiris.compiler.api import CompileOptions, compile_path, write_output

    write_output(compile_path(PIPELINE, CompileOptions()), tmp_path / "built")
    report = _run_probe(tmp_path, "run", "--manifest", str(tmp_path / "built"))
    assert report["code"] == 0 and "pydantic" in report["pydantic"]
    assert (tmp_path / "out" / "quickstart" / "revenue_by_country.csv").is_file()


def test_the_in_memory_manifest_equals_the_validated_file(tmp_path: Path) -> None:
    """What a runtime gets from an in-memory compile (records built without validation) is what
    validating the written manifest gives."""
    import yaml

    from osiris.compiler.api import CompileOptions, compile_path
    from osiris.compiler.manifest import Manifest, read_sources
    from osiris.compiler.manifest_records import manifest_from_data

    result = compile_path(PIPELINE, CompileOptions())
    assert result.compiled is not None and result.artifacts
    written = yaml.safe_load(result.artifacts["manifest.yaml"])
    assert result.compiled.manifest == manifest_from_data(Manifest.model_validate(written).to_data())
    assert result.compiled.manifest.to_data() == written
    assert result.compiled.sources == read_sources(result.artifacts["sourcemap.json"])
