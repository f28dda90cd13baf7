"""The code catalog: every code is proved by a golden case and explained by `omlc explain`."""

from __future__ import annotations

from compiler.cli import main
from oml.codes import CATALOG, lookup
from tests.compiler.golden_harness import compile_invalid, invalid_cases

INTERNAL = {"OML090"}  # cannot be provoked by input; covered by test_cli's internal-error test


def test_every_code_has_a_golden_case_that_produces_it() -> None:
    produced = {path.name.split("-", 1)[0] for path in invalid_cases()}
    missing = set(CATALOG) - produced - INTERNAL
    assert not missing, f"codes without a golden/invalid case: {sorted(missing)}"


def test_golden_case_names_use_known_codes() -> None:
    for path in invalid_cases():
        assert path.name.split("-", 1)[0] in CATALOG, path.name


def test_every_diagnostic_code_is_in_the_catalog() -> None:
    for path in invalid_cases():
        result, _ = compile_invalid(path)
        for d in result.diagnostics:
            assert d.code in CATALOG and d.span.line >= 1 and d.span.column >= 1


def test_explain_by_code_and_by_name(capsys) -> None:  # noqa: ANN001
    assert main(["explain", "OML031"]) == 0
    out = capsys.readouterr().out
    assert "duplicate_step_id" in out and "Rename one of them" in out
    assert lookup("secret_inline_forbidden").code == "OML080"
    assert main(["explain", "OML999"]) == 2


def test_docs_diagnostics_md_is_generated_from_the_catalog() -> None:
    from pathlib import Path

    from oml.codes import catalog_markdown

    docs = Path(__file__).resolve().parents[2] / "docs" / "diagnostics.md"
    assert docs.read_text(encoding="utf-8") == catalog_markdown(), (
        "docs/diagnostics.md is stale: run `omlc explain --markdown > docs/diagnostics.md`")
