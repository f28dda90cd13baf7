"""Run a Python snippet without root's power to ignore file permissions.

Tests of "permission denied" paths mean nothing as root, where permission bits do not bind.
As root the snippet runs in a child process whose bounding set lacks the capabilities that
override them (util-linux `setpriv`); CI must have setpriv, elsewhere its absence skips.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

_DROP = "-dac_override,-dac_read_search,-fowner"


def run_unprivileged(script: str) -> subprocess.CompletedProcess[str]:
    """Run `script` (dedented) with `python -c`, without permission-overriding capabilities."""
    if shutil.which("setpriv") is None:
        if os.environ.get("CI"):
            pytest.fail("running as root without setpriv (util-linux): cannot test permissions")
        pytest.skip("running as root without setpriv: cannot drop CAP_DAC_OVERRIDE")
    return subprocess.run(
        ["setpriv", f"--bounding-set={_DROP}", sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True, text=True, timeout=60, check=False,
    )
