"""An incremental pipeline run through the sandbox transport keeps the same state, reads the
same windows and loads the same rows as the local run (the worker runs the local executor)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2b.helpers import events, run_pipeline

PIPELINE = """oml_version: "0.1.0"
name: e2b-inc
steps:
  - id: read
    component: postgres.extractor
    config: {connection: "@postgres.db", table: src, incremental: {cursor: version, strategy: ">="}}
  - id: save
    component: postgres.writer
    needs: [read]
    config: {connection: "@postgres.db", table: TARGET, write_mode: upsert, primary_key: id}
"""


@pytest.mark.postgres
def test_two_runs_in_the_sandbox_match_two_local_runs(tmp_path: Path, postgres_db: dict) -> None:
    import psycopg

    def sql(*statements: str) -> list[tuple]:
        with psycopg.connect(postgres_db["dsn"], autocommit=True) as conn:
            rows: list[tuple] = []
            for statement in statements:
                cur = conn.execute(statement)
                rows = cur.fetchall() if cur.description else []
            return rows

    sql("DROP TABLE IF EXISTS src, here, there, _osiris_state",
        "CREATE TABLE src (id int PRIMARY KEY, name text, version bigint)",
        "CREATE TABLE here (LIKE src INCLUDING ALL)", "CREATE TABLE there (LIKE src INCLUDING ALL)",
        "INSERT INTO src VALUES (1, 'a', 0), (2, 'b', 5), (3, 'n', NULL)")
    windows: dict[str, list] = {"here": [], "there": []}
    for table in ("here", "there"):
        work = tmp_path / table
        work.mkdir()
        (work / "p.yaml").write_text(PIPELINE.replace("TARGET", table).replace("e2b-inc", f"inc-{table}"),
                                     encoding="utf-8")
        (work / "osiris_connections.yaml").write_text(
            f'version: 1\nconnections:\n  postgres:\n    db: {{dsn: "{postgres_db["dsn"]}"}}\n', encoding="utf-8")
    for round_ in range(2):
        if round_:
            sql("INSERT INTO src VALUES (4, 'tie', 5), (5, 'new', 9)")
        for table in ("here", "there"):
            outcome, _ = run_pipeline(tmp_path / table, "p.yaml", sandbox=table == "there",
                                      connections="osiris_connections.yaml")
            assert outcome.exit_code == 0, outcome.status
            windows[table] += [{k: e[k] for k in ("op", "start", "stored")} | {"rows": r["rows"]}
                               for e, r in zip([e for e in events(outcome) if e["event"] == "incremental_window"],
                                               [e for e in events(outcome) if e["event"] == "incremental_read"],
                                               strict=True)]
    assert windows["there"] == windows["here"]
    assert [w["rows"] for w in windows["here"]] == [3, 3], "all three, then the tie, the new row and the NULL"
    assert sql("SELECT * FROM there ORDER BY id") == sql("SELECT * FROM here ORDER BY id")
    states = dict(sql("SELECT pipeline, state FROM _osiris_state"))
    here, there = json.loads(states["inc-here"]), json.loads(states["inc-there"])
    assert here.pop("source").replace("here", "") == there.pop("source").replace("there", "")
    assert here == there and here["value"] == 9
