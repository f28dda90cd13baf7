"""`osiris connections doctor` checks filesystem aliases too: their base_dir must be a usable directory.

It used to skip them ("no installed filesystem driver offers a health check") and exit 0, so a
mistyped base_dir showed up only when a run wrote there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CONNECTIONS = """\
version: 1
connections:
  filesystem:
    here: {default: true}
    lake: {base_dir: lake}
    file: {base_dir: notes.txt}
    env: {base_dir: "${LAKE_DIR}"}
"""


def _doctor(project: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "osiris.cli.osiris", "connections", "doctor", "--json"], cwd=project,
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=120)


def test_each_filesystem_alias_is_checked(tmp_path: Path) -> None:
    (tmp_path / "osiris_connections.yaml").write_text(CONNECTIONS, encoding="utf-8")
    (tmp_path / "notes.txt").write_text("x", encoding="utf-8")
    (tmp_path / "elsewhere").mkdir()
    done = _doctor(tmp_path, {"LAKE_DIR": str(tmp_path / "elsewhere")})
    assert done.returncode == 1, done.stdout + done.stderr
    report = json.loads(done.stdout)
    found = {entry["ref"]: (entry["ok"], entry["message"]) for entry in report["connections"]}
    assert found == {
        "@filesystem.here": (True, "the working directory (no base_dir) is a readable and writable directory"),
        "@filesystem.lake": (False, "base_dir lake does not exist"),
        "@filesystem.file": (False, "base_dir notes.txt is not a directory"),
        "@filesystem.env": (True, f"base_dir {tmp_path / 'elsewhere'} is a readable and writable directory"),
    }
    assert report["ok"] is False


def test_a_fresh_init_project_passes(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "osiris.cli.osiris", "init", "proj"], cwd=tmp_path, check=True,
                   capture_output=True, timeout=120)
    done = _doctor(tmp_path / "proj", {})
    assert done.returncode == 0, done.stdout + done.stderr
    (entry,) = json.loads(done.stdout)["connections"]
    assert entry["ref"] == "@filesystem.local" and entry["ok"] is True
