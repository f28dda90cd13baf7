"""`omlc check` checks an incremental cursor against what `osiris discover` cached (OML047):
the column must exist, order changes and take `initial`; a nullable cursor feeding an appending
writer is a warning. Without a cached table nothing is claimed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.runtime.conftest import REPO

PIPELINE = """oml_version: "0.1.0"
name: checked
steps:
  - id: read
    component: postgres.extractor
    config: {{connection: "@postgres.db", table: {table}, incremental: {{cursor: {cursor}{initial}}}}}
  - id: save
    component: postgres.writer
    needs: [read]
    config: {{connection: "@postgres.db", table: dst{mode}}}
"""


def _run(work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "OSIRIS_CACHE_DIR": str(work / "cache")}
    return subprocess.run([sys.executable, "-m", *args], cwd=work, capture_output=True, text=True, env=env,
                          timeout=120, stdin=subprocess.DEVNULL)


@pytest.mark.postgres
def test_cursor_against_the_discovered_table(postgres_db: dict, tmp_path: Path) -> None:
    import psycopg

    with psycopg.connect(postgres_db["dsn"], autocommit=True) as conn:
        conn.execute("CREATE TABLE orders (id int PRIMARY KEY, updated_at timestamptz NOT NULL, "
                     "touched timestamptz, doc jsonb)")
    (tmp_path / "osiris_connections.yaml").write_text(
        f'version: 1\nconnections:\n  postgres:\n    db: {{dsn: "{postgres_db["dsn"]}"}}\n', encoding="utf-8")

    def check(table: str = "orders", cursor: str = "updated_at", initial: str = "", mode: str = "") -> str:
        (tmp_path / "p.yaml").write_text(PIPELINE.format(table=table, cursor=cursor, initial=initial, mode=mode),
                                         encoding="utf-8")
        done = _run(tmp_path, "osiris.cli.omlc", "check", "p.yaml")
        return done.stdout + done.stderr

    assert "OML047" not in check(cursor="updated_atx"), "nothing is claimed before discovery"
    discovered = _run(tmp_path, "osiris.cli.osiris", "discover", "@postgres.db", "--tables", "orders")
    assert discovered.returncode == 0, discovered.stderr
    assert "OML047" not in check()
    assert "p.yaml:6:" in (out := check(cursor="updated_atx")) and "did you mean 'updated_at'" in out, out
    assert "cannot order changes" in check(cursor="doc")
    assert "`initial` 'yesterday' is not a value" in check(initial=", initial: yesterday")
    assert "OML047" not in check(initial=', initial: "2026-01-01T00:00:00Z"')
    warned = check(cursor="touched")
    assert "warning[OML047]" in warned and "appends them each time" in warned, warned
    assert "OML047" not in check(cursor="touched", mode=", write_mode: upsert, primary_key: id")
    assert "OML047" not in check(table="elsewhere", cursor="anything"), "an undiscovered table is not judged"
