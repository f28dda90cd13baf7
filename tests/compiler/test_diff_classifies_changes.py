"""`omlc diff` (issue 14, item 4): what changed between two versions of a pipeline, each change
classified breaking, non-breaking or cosmetic, with the OML lines responsible."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osiris.cli.omlc import main
from osiris.compiler.api import CompileOptions, compile_text
from osiris.compiler.diff import Side, diff, normalise_sql, side_from_compile
from osiris.compiler.fmt import format_text
from osiris.compiler.spec_cache import default_registry
from tests.compiler.golden_harness import DIFF_FORMATS, GOLDEN, diff_cases, diff_output
from tests.property.strategies import Generated, dump, pipelines, shuffled, with_comments

CASES = GOLDEN / "diff"


@pytest.mark.parametrize("fmt", sorted(DIFF_FORMATS))
@pytest.mark.parametrize("case", diff_cases(), ids=lambda p: p.name)
def test_golden_pairs(case: Path, fmt: str) -> None:
    """Regenerate with `.venv/bin/python tests/compiler/golden_harness.py --update`."""
    assert diff_output(case, fmt) == (case / DIFF_FORMATS[fmt]).read_text(encoding="utf-8")


def _classes(case: str) -> list[tuple[str | None, str, str]]:
    data = json.loads((CASES / case / "expected.json").read_text())
    return [(c["step"], c["where"], c["severity"]) for c in data["changes"]]


def test_the_golden_verdicts() -> None:
    """What each golden pair is about, stated once more than the expected files do."""
    assert _classes("formatting-only") == [(None, "text", "cosmetic")]
    assert _classes("sql-reformatted-and-changed") == [("by-country", "config.query", "cosmetic"),
                                                       ("top", "config.query", "breaking")]
    assert {severity for _, _, severity in _classes("tuning-only")} == {"non-breaking"}
    assert ("load", "connection", "breaking") in _classes("targets-and-steps")
    assert ("load", "config.write_mode", "breaking") in _classes("targets-and-steps")
    assert ("archive", "step", "breaking") in _classes("targets-and-steps")
    assert ("extract-movies", "config.batch_size", "non-breaking") in _classes("targets-and-steps")
    assert _classes("same-manifest-other-oml") == [(None, "text", "cosmetic")]
    assert _classes("ordering-needs") == [("write-customers", "needs", "breaking")]


@pytest.mark.parametrize("case", ["formatting-only", "same-manifest-other-oml"])
def test_cosmetic_means_the_manifest_fingerprint_is_unchanged(case: str) -> None:
    data = json.loads((CASES / case / "expected.json").read_text())
    fps = data["fingerprints"]
    assert fps["old"]["manifest_fp"] == fps["new"]["manifest_fp"]
    assert (fps["old"]["oml_fp"] == fps["new"]["oml_fp"]) is (case == "formatting-only")


def _omlc(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "osiris.cli.omlc", *argv], cwd=cwd, capture_output=True,
                          text=True, timeout=120, check=False)


@pytest.fixture
def pair(tmp_path: Path) -> Path:
    for name in ("old.yaml", "new.yaml", "osiris_connections.yaml"):
        shutil.copy(CASES / "targets-and-steps" / name, tmp_path / name)
    return tmp_path


def test_exit_codes_follow_git_diff(pair: Path) -> None:
    same = _omlc("diff", "old.yaml", "old.yaml", "--exit-code", cwd=pair)
    assert (same.returncode, same.stdout.splitlines()[-1]) == (0, "no differences")
    differ = _omlc("diff", "old.yaml", "new.yaml", "--exit-code", cwd=pair)
    assert differ.returncode == 1 and "5 breaking, 1 non-breaking" in differ.stdout
    assert _omlc("diff", "old.yaml", "new.yaml", cwd=pair).returncode == 0  # a report, not a verdict


@pytest.mark.parametrize("exit_code", [False, True])
def test_a_side_that_does_not_compile_is_reported_not_compared(pair: Path, exit_code: bool) -> None:
    broken = 'oml_version: "0.1.0"\nname: movies\nsteps:\n  - id: x\n    component: nope.nope\n'
    (pair / "broken.yaml").write_text(broken)
    flags = ["--exit-code"] if exit_code else []
    for argv in (["old.yaml", "broken.yaml"], ["missing.yaml", "new.yaml"]):
        done = _omlc("diff", *argv, *flags, cwd=pair)
        assert done.returncode == (2 if exit_code else 1), done.stderr
        assert "Traceback" not in done.stderr and done.stdout == ""
        assert "error[OML" in done.stderr and "omlc diff: error: cannot compare" in done.stderr
    assert "broken.yaml:5:16: error[OML040]" in _omlc("diff", "old.yaml", "broken.yaml", cwd=pair).stderr


def test_a_compiled_directory_compares_like_its_oml(pair: Path) -> None:
    """Its changes and their lines are the OML file's: sourcemap.json names old.yaml, whose
    oml_fp still matches the directory's, so each config key is cited at its own line."""
    assert _omlc("compile", "old.yaml", "--out", "old-compiled", cwd=pair).returncode == 0
    from_dir = json.loads(_omlc("diff", "old-compiled", "new.yaml", "--json", cwd=pair).stdout)
    from_oml = json.loads(_omlc("diff", "old.yaml", "new.yaml", "--json", cwd=pair).stdout)
    assert from_dir["changes"] == from_oml["changes"]
    assert from_dir["old"] == "old-compiled" and from_dir["fingerprints"] == from_oml["fingerprints"]


def test_a_directory_whose_oml_was_edited_cites_its_steps_only(pair: Path) -> None:
    """Once old.yaml no longer matches the directory's oml_fp, its lines would be wrong: the step's
    line from sourcemap.json is cited instead."""
    assert _omlc("compile", "old.yaml", "--out", "old-compiled", cwd=pair).returncode == 0
    (pair / "old.yaml").write_text((pair / "old.yaml").read_text().replace("append", "replace"))
    from_dir = json.loads(_omlc("diff", "old-compiled", "new.yaml", "--json", cwd=pair).stdout)
    assert {c["old_at"] for c in from_dir["changes"] if c["step"] == "load"} == {"old.yaml:15:5"}
    assert ("load", "config.write_mode") in {(c["step"], c["where"]) for c in from_dir["changes"]}


def test_a_tampered_directory_is_refused(pair: Path) -> None:
    assert _omlc("compile", "old.yaml", "--out", "old-compiled", cwd=pair).returncode == 0
    cfg = pair / "old-compiled" / "cfg.json"
    cfg.write_text(cfg.read_text().replace("movie_stats", "other_table"))
    done = _omlc("diff", "old-compiled", "new.yaml", "--exit-code", cwd=pair)
    assert done.returncode == 2 and "Traceback" not in done.stderr and "error[OML" in done.stderr


def test_markdown_is_a_pull_request_comment(pair: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(pair)
    assert main(["diff", "old.yaml", "new.yaml", "--format", "markdown"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("### `omlc diff`: **Breaking changes**")
    assert "| ~ | load | `config.write_mode` | breaking |" in out


@pytest.mark.parametrize(("a", "b", "same"), [
    ("SELECT a FROM t", "select a\nfrom t -- why", True),
    ("SELECT a FROM t WHERE x = 1", "SELECT a FROM t WHERE x = 2", False),
    ("SELECT a, b FROM t", "SELECT b, a FROM t", False),
    ("SELECT 'It''s'", "SELECT 'It''s'  ", True),
    ("not sql at all (", "not  sql at all (", True),
])
def test_sql_is_compared_by_meaning(a: str, b: str, same: bool) -> None:
    assert (normalise_sql(a, "duckdb") == normalise_sql(b, "duckdb")) is same


OPTIONS = CompileOptions(search_connections=False, env={})


def _side(text: str, label: str):  # noqa: ANN202
    result = compile_text(text, label, OPTIONS)
    assert result.ok, [(d.code, d.message) for d in result.diagnostics]
    return side_from_compile(label, result)


@settings(max_examples=15, deadline=None)
@given(pipelines(), st.randoms(use_true_random=False))
def test_a_pipeline_against_itself_or_its_respelling(generated: Generated, rng: random.Random) -> None:
    registry = default_registry()
    original = _side(generated.text, "a.yaml")
    assert diff(original, _side(generated.text, "b.yaml"), registry).identical
    respelled = with_comments(dump(shuffled(generated.data, rng), indent=(4, 6, 4)), rng)
    result = diff(original, _side(respelled, "b.yaml"), registry)
    assert {c.severity for c in result.changes} <= {"cosmetic"}, [c.to_data() for c in result.changes]


@settings(max_examples=15, deadline=None)
@given(pipelines())
def test_a_pipeline_against_its_formatted_self_is_cosmetic_only(generated: Generated) -> None:
    """`omlc fmt`'s output differs from the input in text only: the diff says cosmetic, and the
    manifest fingerprint that proves it is the same on both sides."""
    original = _side(generated.text, "a.yaml")
    formatted = _side(format_text(generated.text), "b.yaml")
    result = diff(original, formatted, default_registry())
    assert {c.severity for c in result.changes} <= {"cosmetic"}, [c.to_data() for c in result.changes]
    assert [c.where for c in result.changes] in ([], ["text"])
    fps = result.to_data()["fingerprints"]
    assert fps["old"]["manifest_fp"] == fps["new"]["manifest_fp"]


def test_a_changed_fingerprint_no_step_explains_is_breaking() -> None:
    """The safe default: a manifest difference outside the compared steps is never called cosmetic."""
    text = (CASES / "formatting-only" / "old.yaml").read_text()
    old = _side(text, "a.yaml")
    manifest = {**old.manifest, "pipeline": {**old.manifest["pipeline"], "oml_version": "0.2.0"}}
    meta = {**old.meta, "fingerprints": {**old.meta["fingerprints"], "manifest_fp": "sha256:other"}}
    new = Side("b.yaml", manifest, old.cfgs, meta, text)
    [change] = diff(old, new, default_registry()).changes
    assert (change.where, change.severity) == ("manifest", "breaking") and "pipeline" in change.reason


def test_an_unclassified_step_field_is_breaking() -> None:
    text = (CASES / "formatting-only" / "old.yaml").read_text()
    old = _side(text, "a.yaml")
    steps = [{**step, "placement": "gpu"} if step["id"] == "paid" else step for step in old.manifest["steps"]]
    new = Side("b.yaml", {**old.manifest, "steps": steps}, old.cfgs, old.meta, text)
    [change] = diff(old, new, default_registry()).changes
    assert (change.step, change.where, change.severity) == ("paid", "placement", "breaking")
