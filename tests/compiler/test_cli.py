"""omlc as users run it: exit codes, output formats, atomic output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from osiris.cli.omlc import main
from tests.compiler.golden_harness import GOLDEN

VALID = GOLDEN / "valid" / "fan-out-csv-parquet" / "pipeline.yaml"
INVALID = GOLDEN / "invalid" / "OML031-duplicate-step.yaml"


def test_check_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(VALID)]) == 0
    assert "no problems" in capsys.readouterr().err
    assert main(["check", str(INVALID)]) == 1
    err = capsys.readouterr().err
    assert "OML031-duplicate-step.yaml:8:9: error[OML031]: step 'extract' is defined twice" in err
    assert "  help: first defined at line 4" in err
    assert main(["check"]) == 2
    assert main(["check", str(VALID), "--format", "xml"]) == 2
    assert main(["check", str(VALID), "--param", "novalue"]) == 2


def test_check_reports_all_files_and_all_errors(capsys: pytest.CaptureFixture[str]) -> None:
    bad = GOLDEN / "invalid" / "OML044-invalid-config-value.yaml"
    assert main(["check", str(VALID), str(INVALID), str(bad), "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert [f["ok"] for f in report["files"]] == [True, False, False]
    bad_diags = report["files"][2]["diagnostics"]
    assert {d["code"] for d in bad_diags} == {"OML044"} and len(bad_diags) == 2
    first = bad_diags[0]
    assert set(first) == {"file", "line", "column", "end", "code", "name", "severity", "message", "help", "pointer"}
    assert first["pointer"].startswith("/steps/1/config/")


def test_sarif_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(INVALID), "--format", "sarif"]) == 1
    sarif = json.loads(capsys.readouterr().out)
    run = sarif["runs"][0]
    assert sarif["version"] == "2.1.0" and run["tool"]["driver"]["name"] == "omlc"
    result = run["results"][0]
    assert result["ruleId"] == "OML031" and result["level"] == "error"
    region = result["locations"][0]["physicalLocation"]["region"]
    assert (region["startLine"], region["startColumn"]) == (8, 9)


def test_diagnostics_are_byte_identical_between_runs(capsys: pytest.CaptureFixture[str]) -> None:
    outputs = []
    for _ in range(2):
        main(["check", str(GOLDEN / "invalid" / "OML080-secret-inline.yaml"), "--format", "json"])
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1]


def test_compile_writes_the_tree_and_a_failed_compile_keeps_it(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["compile", str(VALID), "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert {"manifest.yaml", "meta.json", "effective_config.json", "sourcemap.json"} <= set(before)
    assert main(["compile", str(INVALID), "--out", str(out)]) == 1
    after = {p.name: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert before == after
    assert [p.name for p in tmp_path.iterdir()] == ["out"], "no temp directories left behind"


def test_compile_refuses_to_replace_a_directory_that_is_not_a_manifest(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    precious = tmp_path / "src"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    assert main(["compile", str(VALID), "--out", str(precious)]) == 1
    assert "refusing to replace" in capsys.readouterr().err
    assert (precious / "notes.txt").read_text() == "keep me"


def test_internal_errors_are_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import osiris.compiler.api as compiler_api
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(compiler_api, "compile_path", boom)
    monkeypatch.delenv("OSIRIS_DEBUG", raising=False)
    assert main(["compile", str(VALID), "--out", "x"]) == 3
    err = capsys.readouterr().err
    assert "internal error[OML090]" in err and "Traceback" not in err


def test_graph_and_no_traceback_on_garbage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["graph", str(VALID)]) == 0
    assert capsys.readouterr().out.startswith("flowchart LR")
    assert main(["graph", str(VALID), "--format", "dot"]) == 0
    assert "digraph" in capsys.readouterr().out
    garbage = tmp_path / "g.yaml"
    garbage.write_bytes(b"\xff\xfe\x00garbage")
    assert main(["check", str(garbage)]) == 1
    assert "not UTF-8" in capsys.readouterr().err


def test_omlc_starts_without_heavy_imports() -> None:
    code = (f"import sys; from osiris.cli.omlc import main; main(['check', {str(VALID)!r}]); "
            "heavy = [m for m in ('pyarrow', 'duckdb', 'openai', 'pymysql', 'psycopg', 'adbc_driver_manager',"
            " 'supabase', 'e2b', 'osiris.runtime', 'osiris.drivers', 'osiris.llm') if m in sys.modules]; print(heavy)")
    env = {**os.environ, "PYTHONPATH": str(GOLDEN.parent)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "[]"
