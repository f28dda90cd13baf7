"""`omlc compile` and `omlc check` run without importing pydantic (issue 12, item 4: its import and
model building were ~60 ms of a 140 ms compile). The typed manifest models stay for runtimes and
for checking manifests from elsewhere; the compile path builds plain data and plain dataclasses.
A project's osiris.yaml is read without it too (cli/settings.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PIPELINE = REPO / "examples" / "quickstart" / "pipeline.yaml"

PROBE = """
import json, sys
from osiris.cli.omlc import main
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
    done = subprocess.run([sys.executable, "-c", PROBE, argv[0], "pipeline.yaml", *argv[1:]],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report == {"code": 0, "pydantic": []}, done.stderr
    if command[0] == "compile":
        assert (tmp_path / "out" / "manifest.yaml").is_file()


def test_the_in_memory_manifest_equals_the_validated_file(tmp_path: Path) -> None:
    """What a runtime gets from an in-memory compile (built without validation) is the model that
    validating the written manifest gives."""
    import yaml

    from osiris.compiler.api import CompileOptions, compile_path
    from osiris.compiler.manifest import Manifest, SourceMap

    result = compile_path(PIPELINE, CompileOptions())
    assert result.compiled is not None and result.artifacts
    written = yaml.safe_load(result.artifacts["manifest.yaml"])
    assert result.compiled.manifest == Manifest.model_validate(written)
    assert result.compiled.manifest.to_data() == written
    assert result.compiled.sources == SourceMap.model_validate_json(result.artifacts["sourcemap.json"])
