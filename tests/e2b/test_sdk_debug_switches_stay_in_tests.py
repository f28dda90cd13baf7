"""The SDK's deprecated debug switches are for the wire tests only, and the SDK stays pinned.

`E2B_DEBUG` makes the SDK skip E2B's control plane (any "sandbox" is `debug_sandbox_id` on
localhost, `kill()` does nothing) and `E2B_SANDBOX_URL` / `E2B_API_URL` / `sandbox_url=` /
`api_url=` send its requests elsewhere. tests/support/envd.py sets the first two to reach
the envd stand-in; production code (runtime/, cli/) must never name any of them, or a user's
run could silently go somewhere other than E2B. The wire suites prove the SDK version that
pyproject.toml and constraints.txt pin (docs/e2b.md says how to re-run them after an upgrade).
"""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

from tests.e2b.helpers import REPO

PINNED = "2.63.0"
ENV_SWITCHES = re.compile(r"\b(E2B_DEBUG|E2B_SANDBOX_URL|E2B_API_URL)\b")
KEYWORD_SWITCHES = re.compile(r"\b(sandbox_url|api_url)\b")


def _hits(root: Path, pattern: re.Pattern[str], suffixes: tuple[str, ...] | None = None) -> list[str]:
    found = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or (suffixes and path.suffix not in suffixes):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        found += [f"{path.relative_to(REPO)}: {m.group(0)}" for m in pattern.finditer(text)]
    return found


def test_production_code_never_names_the_debug_switches() -> None:
    for package in ("runtime", "cli"):
        assert _hits(REPO / package, ENV_SWITCHES) == []
        assert _hits(REPO / package, KEYWORD_SWITCHES, (".py",)) == []
    # The scan sees them where they are meant to be: the stand-in that sets them.
    support = _hits(REPO / "tests" / "support", ENV_SWITCHES)
    assert {"tests/support/envd.py: E2B_DEBUG", "tests/support/envd.py: E2B_SANDBOX_URL"} <= set(support)


def test_the_sdk_is_pinned_exactly() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    extra = project["project"]["optional-dependencies"]["e2b"]
    assert [d for d in extra if d.startswith("e2b")] == [f"e2b=={PINNED}"]
    constraints = (REPO / "constraints.txt").read_text(encoding="utf-8").splitlines()
    assert [line for line in constraints if re.match(r"e2b\s*[=<>~!]", line)] == [f"e2b=={PINNED}"]
    assert version("e2b") == PINNED
