"""The code catalog: every code is proved by a golden case and explained by `omlc explain`."""

from __future__ import annotations

from osiris.cli.omlc import main
from osiris.oml.codes import CATALOG, lookup
from tests.compiler.golden_harness import compile_invalid, invalid_cases

INTERNAL = {"OML090"}  # cannot be provoked by input; covered by test_cli's internal-error test
MANIFEST_TESTS = "tests/security/test_manifest_tampering.py"
PROVED_BY_TESTS = {
    # A compiled manifest directory is not OML, so no golden/invalid file can hold the attack:
    # each of these codes is proved by a test that tampers with a compiled directory and runs it.
    "OML092": "test_a_step_id_with_traversal_is_refused_and_creates_nothing_outside",
    "OML093": "test_a_step_config_edited_without_its_fingerprint_is_refused",
    "OML094": "test_a_cycle_fails_the_session_instead_of_hanging",
    "OML095": "test_a_step_its_component_disagrees_with_is_refused",
    "OML096": "test_a_cfg_the_component_would_reject_is_refused",
}
PROJECT_TESTS = "tests/cli/test_project_settings.py"
PROVED_BY_PROJECT_TESTS = {"OML097"}  # osiris.yaml is not OML: its tests read project files


def test_every_code_has_a_golden_case_that_produces_it() -> None:
    produced = {path.name.split("-", 1)[0] for path in invalid_cases()}
    missing = set(CATALOG) - produced - INTERNAL - set(PROVED_BY_TESTS) - PROVED_BY_PROJECT_TESTS
    assert not missing, f"codes without a golden/invalid case: {sorted(missing)}"


def test_every_manifest_code_has_a_test_that_produces_it() -> None:
    import ast
    from pathlib import Path

    source = (Path(__file__).resolve().parents[2] / MANIFEST_TESTS).read_text(encoding="utf-8")
    tests = {node.name: ast.unparse(node) for node in ast.walk(ast.parse(source)) if isinstance(node, ast.FunctionDef)}
    for code, name in PROVED_BY_TESTS.items():
        assert code in CATALOG and name in tests, (code, name)
        assert f"'{code}'" in tests[name], f"{MANIFEST_TESTS}::{name} does not assert {code}"


def test_every_project_code_is_asserted_by_the_project_settings_tests() -> None:
    from pathlib import Path

    source = (Path(__file__).resolve().parents[2] / PROJECT_TESTS).read_text(encoding="utf-8")
    for code in PROVED_BY_PROJECT_TESTS:
        assert code in CATALOG and f'"{code}"' in source, code


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

    from osiris.oml.codes import catalog_markdown

    docs = Path(__file__).resolve().parents[2] / "docs" / "diagnostics.md"
    assert docs.read_text(encoding="utf-8") == catalog_markdown(), (
        "docs/diagnostics.md is stale: run `omlc explain --markdown > docs/diagnostics.md`")
