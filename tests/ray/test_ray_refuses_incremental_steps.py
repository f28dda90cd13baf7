"""The Ray backend refuses incremental steps before it connects: their cursor state commits in
one writer's transaction, which only the local executor (and E2B's, which is the same) keeps."""

from __future__ import annotations

from pathlib import Path

from tests.ray.helpers import run_in, workspace

PIPELINE = """oml_version: "0.1.0"
name: inc
steps:
  - id: read
    component: postgres.extractor
    config: {connection: "@postgres.db", table: src, incremental: {cursor: updated_at}}
  - id: save
    component: postgres.writer
    needs: [read]
    config: {connection: "@postgres.db", table: dst}
"""


def test_incremental_pipeline_fails_with_the_reason_and_touches_nothing(tmp_path: Path) -> None:
    work = workspace(tmp_path / "w", {
        "p.yaml": PIPELINE,
        "osiris_connections.yaml": 'version: 1\nconnections:\n  postgres:\n    db: {dsn: "postgresql://nobody@127.0.0.1:1/x"}\n',
    })
    ran = run_in(work, "p.yaml", backend="ray", connections="osiris_connections.yaml")
    assert ran.outcome.exit_code != 0
    steps = ran.status["steps"]
    by_id = steps if isinstance(steps, dict) else {s["id"]: s for s in steps}
    assert by_id["read"]["status"] == "failed"
    assert "does not run incremental steps (read)" in by_id["read"]["error"]["message"]
    assert by_id["save"]["status"] == "skipped"
