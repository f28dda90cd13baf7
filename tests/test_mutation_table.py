"""`make mutate` covers the modules that guard safety, each with tests that exist."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SAFETY_MODULES = {"compiler/sql_binding.py", "compiler/passes/bind_params.py", "oml/secrets.py",
                  "compiler/manifest.py", "compiler/manifest_verify.py", "compiler/path_policy.py",
                  "oml/diagnostics.py"}
"""runtime/secrets.py re-exports the masker, which lives in oml/secrets.py."""


def _mutate():
    spec = importlib.util.spec_from_file_location("mutate", REPO / ".ci" / "mutate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_safety_module_is_mutated_with_tests_that_exist() -> None:
    mutate = _mutate()
    assert SAFETY_MODULES <= set(mutate.MODULES)
    for module in mutate.MODULES:
        assert (REPO / module).is_file(), module
        assert mutate.test_paths(module), f"{module}: none of its test paths exist"


def test_equivalent_mutants_are_read_from_the_security_doc() -> None:
    names = _mutate().documented_equivalents()
    assert all("__mutmut_" in name for name in names)
