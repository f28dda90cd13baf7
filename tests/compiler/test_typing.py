"""The front end and compiler type-check cleanly (mypy), so their typed IR stays honest."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.namespace_tree import namespace_tree

REPO = Path(__file__).resolve().parents[2]


def test_mypy_accepts_oml_compiler_and_spec(tmp_path: Path) -> None:
    tree = namespace_tree(tmp_path / "tree")
    packages = [arg for name in ("oml", "compiler", "spec") for arg in ("-p", f"osiris.{name}")]
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache"), *packages],
        cwd=REPO, capture_output=True, text=True, timeout=300, env={**os.environ, "MYPYPATH": str(tree)},
    )
    assert done.returncode == 0, done.stdout + done.stderr
