"""The dependency direction holds: oml <- compiler <- runtime <- drivers (import-linter)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.namespace_tree import namespace_tree

REPO = Path(__file__).resolve().parent.parent



def test_import_linter_contracts_hold(tmp_path: Path) -> None:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert lint, "import-linter is a dev dependency: pip install -e '.[dev]'"
    env = {**os.environ, "PYTHONPATH": str(namespace_tree(tmp_path))}
    result = subprocess.run([lint], cwd=REPO, capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken." in result.stdout
