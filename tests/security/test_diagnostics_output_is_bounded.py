"""A hostile file cannot make the diagnostics themselves explode.

A 3 MB pipeline written on one line with 200,000 unknown keys printed its whole line under
each of the 50 diagnostics shown (159 MB of stderr) and masked that line 50 times (240 s).
Now a long line is shown as a window around the span, masked once per line (whole, so a
window never cuts a key from its secret value).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.timeout(120)

KEYS = 20_000


def _one_line(extra: str = "") -> str:
    keys = ", ".join(f"k{i}: {i}" for i in range(KEYS))
    return ('{oml_version: "0.1.0", name: flat, steps: [{id: a, component: filesystem.csv_extractor, '
            f"config: {{path: a.csv{extra}}}}}], {keys}}}\n")


def _check(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "flat.yaml").write_text(text, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "osiris.cli.omlc", "check", "flat.yaml"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=100, check=False)


def test_a_long_line_is_shown_as_a_window_around_each_problem(tmp_path: Path) -> None:
    text = _one_line()
    assert len(text) > 200_000
    done = _check(tmp_path, text)
    assert done.returncode == 1
    assert f"{KEYS} errors in 1 file" in done.stderr and "and 19950 more diagnostics" in done.stderr
    assert len(done.stderr) < 40_000, f"{len(done.stderr):,} bytes of diagnostics for a {len(text):,}-byte file"
    excerpts = [line for line in done.stderr.splitlines() if line.startswith(" 1 | ")]
    assert len(excerpts) == 50 and all(len(line) < 300 for line in excerpts)
    lines = done.stderr.splitlines()
    at = next(i for i, line in enumerate(lines) if line.endswith("unknown top-level key 'k7'"))
    shown, carets = lines[at + 1], lines[at + 2]  # " 1 | …source" and "   |    ^^": same prefix width
    assert shown[carets.index("^"):].startswith("k7: 7,"), (shown, carets)


def test_the_window_is_masked_like_the_whole_line(tmp_path: Path) -> None:
    done = _check(tmp_path, _one_line(extra=", password: hunter2-hunter2"))
    assert done.returncode == 1
    assert "hunter2" not in done.stderr and "***" in done.stderr
