"""Golden files: valid pipelines compile to their expected trees byte for byte, invalid ones
print their expected diagnostics. Regenerate with the command in golden_harness.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.compiler.golden_harness import (
    compile_invalid,
    compile_valid,
    expected_tree,
    invalid_cases,
    valid_cases,
)

REGEN = "regenerate with: .venv/bin/python tests/compiler/golden_harness.py --update (then review the diff)"


@pytest.mark.parametrize("case", valid_cases(), ids=lambda p: p.name)
def test_valid_case_compiles_to_expected_tree(case: Path) -> None:
    result = compile_valid(case)
    assert result.ok, [f"{d.code} {d.message}" for d in result.diagnostics]
    expected = expected_tree(case)
    assert sorted(result.artifacts) == sorted(expected), REGEN
    for name, data in expected.items():
        assert result.artifacts[name] == data, f"{case.name}/expected/{name} differs; {REGEN}"


@pytest.mark.parametrize("path", invalid_cases(), ids=lambda p: p.stem)
def test_invalid_case_prints_expected_diagnostics(path: Path) -> None:
    result, rendered = compile_invalid(path)
    expected = path.with_suffix(".txt").read_text(encoding="utf-8")
    assert rendered == expected, f"{path.name}: diagnostics differ; {REGEN}"
    code = path.name.split("-", 1)[0]
    assert code in {d.code for d in result.diagnostics}, f"{path.name} does not produce {code}"
    severities = {d.severity for d in result.diagnostics if d.code == code}
    if "error" in severities:
        assert not result.ok and not result.artifacts


def test_compiling_twice_is_byte_identical() -> None:
    for case in valid_cases():
        assert compile_valid(case).artifacts == compile_valid(case).artifacts
