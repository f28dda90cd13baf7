"""Incremental extraction end to end on the real databases: each run loads only the rows past
the committed cursor, the state row commits with the data, and a failed run leaves both as
they were (docs/incremental.md)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.runtime.conftest import events_of


def _ok(outcome: Any) -> bool:
    return outcome.exit_code == 0

PG_CONNECTIONS = 'version: 1\nconnections:\n  postgres:\n    db: {{dsn: "{dsn}"}}\n'
MY_CONNECTIONS = ("version: 1\nconnections:\n  mysql:\n    db: {{host: 127.0.0.1, port: 3306, user: root, "
                  "password: '', database: {database}}}\n")


def _pg_pipeline(strategy: str = ">", writer_extra: str = "", extractor_extra: str = "") -> str:
    return f"""oml_version: "0.1.0"
name: orders-sync
steps:
  - id: read
    component: postgres.extractor
    config:
      connection: "@postgres.db"
      table: src
      incremental: {{cursor: updated_at, strategy: "{strategy}"{extractor_extra}}}
  - id: save
    component: postgres.writer
    needs: [read]
    config:
      connection: "@postgres.db"
      table: dst
{writer_extra}"""


def _pg(dsn: str, *statements: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        rows: list[tuple[Any, ...]] = []
        for sql in statements:
            cur = conn.execute(sql)
            rows = cur.fetchall() if cur.description else []
        return rows


@pytest.fixture
def pg_tables(postgres_db: dict) -> str:
    dsn = postgres_db["dsn"]
    _pg(dsn, "DROP TABLE IF EXISTS src, dst, _osiris_state",
        "CREATE TABLE src (id int PRIMARY KEY, name text, updated_at timestamptz)",
        "CREATE TABLE dst (id int PRIMARY KEY, name text, updated_at timestamptz)")
    return dsn


def _state(dsn: str) -> dict[str, Any]:
    [(text,)] = _pg(dsn, "SELECT state FROM _osiris_state WHERE pipeline = 'orders-sync' AND step = 'read'")
    return json.loads(text)


@pytest.mark.postgres
def test_second_run_reads_only_rows_after_the_cursor(pg_tables: str, run_oml: Callable[..., Any]) -> None:
    dsn = pg_tables
    _pg(dsn, "INSERT INTO src VALUES (1, 'a', '2026-01-01T00:00:00.000001+00'), (2, 'b', '2026-01-02+00'), "
        "(3, 'c', '2026-01-02+00')")
    conns = PG_CONNECTIONS.format(dsn=dsn)
    first = run_oml(_pg_pipeline(), connections=conns)
    assert _ok(first), (first.diagnostics, first.failures and first.failures[0].error)
    assert _pg(dsn, "SELECT count(*) FROM dst") == [(3,)]
    assert _state(dsn)["value"] == "2026-01-02T00:00:00+00:00"
    _pg(dsn, "INSERT INTO src VALUES (4, 'd', '2026-01-03T10:00:00+02')")
    second = run_oml(_pg_pipeline(), connections=conns)
    assert _ok(second), (second.diagnostics, second.failures and second.failures[0].error)
    [window] = events_of(second, "incremental_window")
    assert window["op"] == ">" and window["stored"] is True
    assert [e["rows"] for e in events_of(second, "incremental_read")] == [1]
    assert _pg(dsn, "SELECT id FROM dst ORDER BY id") == [(1,), (2,), (3,), (4,)]
    assert _state(dsn)["value"] == "2026-01-03T08:00:00+00:00", "time zones kept exactly, as UTC"


@pytest.mark.postgres
def test_ties_and_null_cursors_with_greater_or_equal(pg_tables: str, run_oml: Callable[..., Any]) -> None:
    dsn = pg_tables
    upsert = "      write_mode: upsert\n      primary_key: id\n"
    _pg(dsn, "INSERT INTO src VALUES (1, 'a', '2026-01-01+00'), (2, 'b', '2026-01-01+00'), (3, 'n', NULL)")
    conns = PG_CONNECTIONS.format(dsn=dsn)
    pipeline = _pg_pipeline(">=", upsert, ", primary_key: id")
    assert _ok(run_oml(pipeline, connections=conns))
    assert len(_state(dsn)["boundary"]) == 2, "the two rows at the maximum are remembered"
    # a row arriving later with exactly the last maximum is not missed; the two loaded ones are dropped
    _pg(dsn, "INSERT INTO src VALUES (5, 'late tie', '2026-01-01+00')")
    second = run_oml(pipeline, connections=conns)
    assert _ok(second)
    [read] = events_of(second, "incremental_read")
    assert read["dropped_at_boundary"] == 2 and read["null_cursor_rows"] == 1
    assert _pg(dsn, "SELECT id, name FROM dst ORDER BY id") == [(1, "a"), (2, "b"), (3, "n"), (5, "late tie")]
    assert len(_state(dsn)["boundary"]) == 3


@pytest.mark.postgres
def test_failed_write_advances_neither_rows_nor_state(pg_tables: str, run_oml: Callable[..., Any]) -> None:
    dsn = pg_tables
    _pg(dsn, "INSERT INTO src VALUES (1, 'a', '2026-01-01+00')")
    conns = PG_CONNECTIONS.format(dsn=dsn)
    assert _ok(run_oml(_pg_pipeline(), connections=conns))
    before = _state(dsn)
    _pg(dsn, "INSERT INTO src VALUES (2, 'bad', '2026-02-01+00')",
        "ALTER TABLE dst ADD CONSTRAINT no_bad CHECK (name <> 'bad')")
    failed = run_oml(_pg_pipeline(), connections=conns)
    assert not _ok(failed)
    assert _pg(dsn, "SELECT id FROM dst") == [(1,)]
    assert _state(dsn) == before
    _pg(dsn, "ALTER TABLE dst DROP CONSTRAINT no_bad")
    assert _ok(run_oml(_pg_pipeline(), connections=conns))
    assert _pg(dsn, "SELECT id FROM dst ORDER BY id") == [(1,), (2,)], "the failed window is read again"


@pytest.mark.postgres
def test_initial_starts_the_first_run_and_epoch_zero_is_a_value(pg_tables: str, run_oml: Callable[..., Any]) -> None:
    dsn = pg_tables
    _pg(dsn, "INSERT INTO src VALUES (1, 'old', '1970-01-01+00'), (2, 'new', '2026-01-01+00')")
    conns = PG_CONNECTIONS.format(dsn=dsn)
    assert _ok(run_oml(_pg_pipeline(extractor_extra=', initial: "1970-01-01T00:00:00Z"'), connections=conns))
    assert _pg(dsn, "SELECT id FROM dst ORDER BY id") == [(1,), (2,)], "initial is inclusive, the epoch included"


def _my(db: dict, *statements: str) -> list[tuple[Any, ...]]:
    import pymysql

    conn = pymysql.connect(**db, autocommit=True)
    try:
        rows: list[tuple[Any, ...]] = []
        with conn.cursor() as cur:
            for sql in statements:
                cur.execute(sql)
                rows = list(cur.fetchall())
        return rows
    finally:
        conn.close()


@pytest.mark.mysql
@pytest.mark.parametrize("fetch_mode", ["bulk", "stream"])
def test_mariadb_to_mariadb_by_integer_cursor(mysql_db: dict, run_oml: Callable[..., Any], fetch_mode: str) -> None:
    _my(mysql_db, "DROP TABLE IF EXISTS src, dst, _osiris_state",
        "CREATE TABLE src (id INT PRIMARY KEY, version BIGINT, name VARCHAR(20))",
        "CREATE TABLE dst (id INT PRIMARY KEY, version BIGINT, name VARCHAR(20))",
        "INSERT INTO src VALUES (1, 0, 'zero'), (2, 5, 'five')")
    pipeline = f"""oml_version: "0.1.0"
name: my-sync
steps:
  - id: read
    component: mysql.extractor
    config:
      connection: "@mysql.db"
      table: src
      fetch_mode: {fetch_mode}
      incremental: {{cursor: version, lookback: 1, primary_key: id}}
  - id: save
    component: mysql.writer
    needs: [read]
    config: {{connection: "@mysql.db", table: dst, write_mode: upsert, primary_key: id}}
"""
    conns = MY_CONNECTIONS.format(database=mysql_db["database"])
    assert _ok(run_oml(pipeline, connections=conns))
    _my(mysql_db, "UPDATE src SET version = 4, name = 'late' WHERE id = 1", "INSERT INTO src VALUES (3, 9, 'nine')")
    second = run_oml(pipeline, connections=conns)
    assert _ok(second), (second.diagnostics, second.failures and second.failures[0].error)
    [window] = events_of(second, "incremental_window")
    assert (window["op"], window["start"]) == (">=", "4"), "lookback 1 below the stored maximum 5"
    assert _my(mysql_db, "SELECT id, version, name FROM dst ORDER BY id") == [
        (1, 4, "late"), (2, 5, "five"), (3, 9, "nine")]
    [(state,)] = _my(mysql_db, "SELECT state FROM _osiris_state WHERE pipeline = 'my-sync'")
    assert json.loads(state)["value"] == 9


@pytest.mark.postgres
def test_osiris_state_lists_shows_and_resets(pg_tables: str, run_oml: Callable[..., Any], tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from tests.runtime.conftest import REPO

    dsn = pg_tables
    _pg(dsn, "INSERT INTO src VALUES (1, 'a', '2026-01-01+00'), (2, NULL, NULL)")
    assert _ok(run_oml(_pg_pipeline(), connections=PG_CONNECTIONS.format(dsn=dsn)))

    def state(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "osiris.cli.osiris", "state", *args], cwd=tmp_path,
                              capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120,
                              env={**os.environ, "PYTHONPATH": str(REPO)})

    listed = state("list", "pipeline.yaml", "--json")
    assert listed.returncode == 0, listed.stderr
    [step] = json.loads(listed.stdout)["steps"]
    assert (step["step"], step["keeper"], step["value"], step["null_rows"]) == (
        "read", "save", "2026-01-01 00:00:00+00:00", 1)
    shown = state("show", "pipeline.yaml")
    assert shown.returncode == 0 and "cursor type: timestamptz" in shown.stdout, shown.stdout + shown.stderr
    unknown = state("show", "pipeline.yaml", "nope")
    assert unknown.returncode == 2 and "incremental steps: read" in unknown.stderr
    refused = state("reset", "pipeline.yaml")
    assert refused.returncode == 2 and "--yes" in refused.stderr
    assert _pg(dsn, "SELECT count(*) FROM _osiris_state") == [(1,)], "nothing deleted without --yes"
    reset = state("reset", "pipeline.yaml", "read", "--yes")
    assert reset.returncode == 0 and "deleted 1" in reset.stdout, reset.stderr
    after = json.loads(state("list", "pipeline.yaml", "--json").stdout)
    assert after["steps"][0]["stored"] is False


@pytest.mark.postgres
@pytest.mark.parametrize("path", ["rest", "dsn"])
def test_supabase_reads_the_window_over_rest_and_postgres(pg_tables: str, run_oml: Callable[..., Any],
                                                          path: str) -> None:
    from tests.support.postgrest import PostgrestStandIn, running

    dsn = pg_tables
    _pg(dsn, "INSERT INTO src VALUES (1, 'a', '2026-01-01T00:00:00.5+00'), (2, 'b, (odd)', NULL)")
    pipeline = _pg_pipeline(">=", "      write_mode: upsert\n      primary_key: id\n").replace(
        "component: postgres.extractor", "component: supabase.extractor").replace(
        '"@postgres.db"\n      table: src', '"@supabase.main"\n      table: src', 1)
    with running(PostgrestStandIn(dsn, api_key="k")) as api:
        fields = f'{{url: "{api.url}", service_role_key: "k"}}' if path == "rest" else f'{{dsn: "{dsn}"}}'
        conns = PG_CONNECTIONS.format(dsn=dsn) + f"  supabase:\n    main: {fields}\n"
        assert _ok(run_oml(pipeline, connections=conns))
        _pg(dsn, "INSERT INTO src VALUES (3, 'c', '2026-01-01T00:00:00.5+00'), (4, 'old', '2025-01-01+00')",
            "UPDATE src SET name = 'b2' WHERE id = 2")
        second = run_oml(pipeline, connections=conns)
        assert _ok(second), (second.diagnostics, second.failures and second.failures[0].error)
        if path == "rest":
            trees = [dict(r["query"]).get("or") for r in api.requests if r["method"] == "GET"]
            assert trees[-1] == '(updated_at.gte."2026-01-01T00:00:00.500000+00:00",updated_at.is.null)'

    [read] = events_of(second, "incremental_read")
    assert (read["rows"], read["dropped_at_boundary"], read["null_cursor_rows"]) == (2, 1, 1)
    assert _pg(dsn, "SELECT id, name FROM dst ORDER BY id") == [(1, "a"), (2, "b2"), (3, "c")], \
        "the tie at the maximum is loaded, the older row is not, the NULL-cursor row is updated"


@pytest.mark.postgres
def test_files_by_partition_and_by_column(pg_tables: str, run_oml: Callable[..., Any], tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    dsn = pg_tables
    _pg(dsn, "DROP TABLE dst", "CREATE TABLE dst (id bigint PRIMARY KEY, name text, dt text)")
    lake = tmp_path / "lake"

    def drop(day: str, ids: list[int]) -> None:
        (lake / f"dt={day}").mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.table({"id": ids, "name": [f"n{i}" for i in ids]}), lake / f"dt={day}" / "part.parquet")

    drop("2026-01-01", [1, 2])
    drop("2026-01-02", [3])
    pipeline = """oml_version: "0.1.0"
name: lake-sync
steps:
  - id: read
    component: filesystem.parquet_extractor
    config: {path: lake, incremental: {cursor: dt, strategy: ">="}}
  - id: save
    component: postgres.writer
    needs: [read]
    config: {connection: "@postgres.db", table: dst, write_mode: upsert, primary_key: id}
"""
    conns = PG_CONNECTIONS.format(dsn=dsn)
    assert _ok(run_oml(pipeline, connections=conns))
    drop("2026-01-02", [3, 4])  # the last day gets more rows; an older day is rewritten too
    drop("2026-01-01", [1, 2, 99])
    drop("2026-01-03", [5])
    second = run_oml(pipeline, connections=conns)
    assert _ok(second), (second.diagnostics, second.failures and second.failures[0].error)
    [read] = events_of(second, "incremental_read")
    assert (read["rows"], read["dropped_at_boundary"]) == (2, 1), "day 2's new row and day 3; day 1 not opened"
    assert [r[0] for r in _pg(dsn, "SELECT id FROM dst ORDER BY id")] == [1, 2, 3, 4, 5]

    (tmp_path / "events.csv").write_text("id,name,version\n1,a,0\n2,b,7\n", encoding="utf-8")
    _pg(dsn, "CREATE TABLE ev (id bigint, name text, version bigint)")
    csv_pipeline = """oml_version: "0.1.0"
name: csv-sync
steps:
  - id: read
    component: filesystem.csv_extractor
    config: {path: events.csv, incremental: {cursor: version}}
  - id: save
    component: postgres.writer
    needs: [read]
    config: {connection: "@postgres.db", table: ev}
"""
    assert _ok(run_oml(csv_pipeline, connections=conns))
    (tmp_path / "events.csv").write_text("id,name,version\n1,a,0\n2,b,7\n3,c,8\n", encoding="utf-8")
    assert _ok(run_oml(csv_pipeline, connections=conns))
    assert _pg(dsn, "SELECT id FROM ev ORDER BY id") == [(1,), (2,), (3,)], "appended once each"


def test_a_file_keeper_publishes_the_state_after_the_data(run_oml: Callable[..., Any], tmp_path: Path) -> None:
    (tmp_path / "in.csv").write_text("id,version\n1,10\n2,20\n", encoding="utf-8")
    pipeline = """oml_version: "0.1.0"
name: files
steps:
  - id: read
    component: filesystem.csv_extractor
    config: {path: in.csv, block_size: 65536, incremental: {cursor: version}}
  - id: save
    component: filesystem.parquet_writer
    needs: [read]
    config: {path: out/delta.parquet}
"""
    import pyarrow.parquet as pq

    assert _ok(run_oml(pipeline))
    state_file = tmp_path / "out" / ".osiris-state" / "files" / "read.json"
    assert json.loads(state_file.read_text(encoding="utf-8"))["value"] == 20
    # the source breaks after many rows went to the writer: neither the data nor the state may change
    broken = "".join(f"{i},{100 + i}\n" for i in range(3, 20_000)) + "x,not a number\n"
    (tmp_path / "in.csv").write_text("id,version\n1,10\n2,20\n" + broken, encoding="utf-8")
    failed = run_oml(pipeline)
    assert not _ok(failed)
    assert failed.result.steps["read"].rows_out > 0, "rows had reached the writer"
    assert json.loads(state_file.read_text(encoding="utf-8"))["value"] == 20
    assert pq.read_table(tmp_path / "out" / "delta.parquet").column("id").to_pylist() == [1, 2]
    (tmp_path / "in.csv").write_text("id,version\n1,10\n2,20\n3,30\n", encoding="utf-8")
    assert _ok(run_oml(pipeline))
    assert pq.read_table(tmp_path / "out" / "delta.parquet").column("id").to_pylist() == [3], "only the delta"
    assert json.loads(state_file.read_text(encoding="utf-8"))["value"] == 30


def test_files_by_modification_time(run_oml: Callable[..., Any], tmp_path: Path) -> None:
    import os

    import pyarrow as pa
    import pyarrow.parquet as pq

    lake = tmp_path / "drops"
    lake.mkdir()

    def drop(name: str, ids: list[int], at: int) -> None:
        pq.write_table(pa.table({"id": ids}), lake / name)
        os.utime(lake / name, ns=(at, at))

    drop("a.parquet", [1, 2], 1_000_000_000_000_000_000)
    drop("b.parquet", [3], 1_000_000_000_000_000_000)
    pipeline = """oml_version: "0.1.0"
name: drops
steps:
  - id: read
    component: filesystem.parquet_extractor
    config: {path: drops, incremental: {cursor: "@modified", strategy: ">="}}
  - id: save
    component: filesystem.csv_writer
    needs: [read]
    config:
      path: out/new-${params.n}.csv
params:
  n: {type: string}
"""
    assert _ok(run_oml(pipeline, params={"n": "1"}))
    assert (tmp_path / "out" / "new-1.csv").read_text(encoding="utf-8").split() == ["id", "1", "2", "3"]
    drop("c.parquet", [4], 1_000_000_000_000_000_000)  # same second as the last maximum: a tie, not missed
    drop("b.parquet", [3, 30], 1_000_000_000_000_000_000)  # rewritten within that second, another size
    drop("d.parquet", [5], 1_000_000_000_500_000_000)
    second = run_oml(pipeline, params={"n": "2"})
    assert _ok(second), (second.diagnostics, second.failures and second.failures[0].error)
    assert sorted((tmp_path / "out" / "new-2.csv").read_text(encoding="utf-8").split()[1:], key=int) == [
        "3", "4", "5", "30"], "a.parquet was loaded already; the rest changed"
    third = run_oml(pipeline, params={"n": "3"})
    assert _ok(third)
    assert (tmp_path / "out" / "new-3.csv").read_text(encoding="utf-8").split() == ["id"], "nothing changed"

    (tmp_path / "one.csv").write_text("id\n1\n", encoding="utf-8")
    csv_pipeline = pipeline.replace("filesystem.parquet_extractor", "filesystem.csv_extractor").replace(
        "path: drops", "path: one.csv").replace("new-", "csv-").replace("name: drops", "name: drops-csv")
    assert _ok(run_oml(csv_pipeline, params={"n": "1"}))
    assert _ok(run_oml(csv_pipeline, params={"n": "2"}))
    assert (tmp_path / "out" / "csv-2.csv").read_text(encoding="utf-8").split() == ["id"], "unchanged: not read"
    (tmp_path / "one.csv").write_text("id\n1\n2\n", encoding="utf-8")
    assert _ok(run_oml(csv_pipeline, params={"n": "3"}))
    assert (tmp_path / "out" / "csv-3.csv").read_text(encoding="utf-8").split() == ["id", "1", "2"], "changed: all"


def test_modified_files_are_filtered_by_the_sql_filter(run_oml: Callable[..., Any], tmp_path: Path) -> None:
    import os

    import pyarrow as pa
    import pyarrow.parquet as pq

    lake = tmp_path / "drops"
    for day in ("d=1", "d=2"):
        (lake / day).mkdir(parents=True)

    def drop(name: str, ids: list[int], at: int) -> None:
        pq.write_table(pa.table({"id": ids}), lake / name)
        os.utime(lake / name, ns=(at, at))

    drop("d=1/a.parquet", [1, 2, 3, 4], 1_000_000_000_000_000_000)
    pipeline = """oml_version: "0.1.0"
name: drops-filtered
steps:
  - id: read
    component: filesystem.parquet_extractor
    config: {path: drops, filter: "id % 2 = 0 AND d >= 1", incremental: {cursor: "@modified", strategy: ">"}}
  - id: save
    component: filesystem.csv_writer
    needs: [read]
    config:
      path: out/new-${params.n}.csv
params:
  n: {type: string}
"""
    assert _ok(run_oml(pipeline, params={"n": "1"}))
    assert (tmp_path / "out" / "new-1.csv").read_text(encoding="utf-8").split() == ["id,d", "2,1", "4,1"]
    drop("d=2/b.parquet", [5, 6, 8], 1_000_000_000_500_000_000)
    assert _ok(run_oml(pipeline, params={"n": "2"}))
    assert (tmp_path / "out" / "new-2.csv").read_text(encoding="utf-8").split() == ["id,d", "6,2", "8,2"], \
        "only the changed file, filtered, with the partition column typed as in the whole dataset"
    assert _ok(run_oml(pipeline, params={"n": "3"}))
    assert (tmp_path / "out" / "new-3.csv").read_text(encoding="utf-8").split() == ["id,d"], "nothing changed"


@pytest.mark.postgres
def test_supabase_writer_keeps_state_on_its_postgres_path_and_refuses_rest(pg_tables: str,
                                                                           run_oml: Callable[..., Any]) -> None:
    from tests.support.postgrest import PostgrestStandIn, running

    dsn = pg_tables
    _pg(dsn, "INSERT INTO src VALUES (1, 'a', '2026-01-01+00'), (2, 'b', '2026-01-02+00')")
    pipeline = _pg_pipeline(">", "      write_mode: upsert\n      primary_key: id\n").replace(
        "component: postgres.writer", "component: supabase.writer").replace(
        '"@postgres.db"\n      table: dst', '"@supabase.main"\n      table: dst', 1)
    with running(PostgrestStandIn(dsn, api_key="k")) as api:
        rest = PG_CONNECTIONS.format(dsn=dsn) + f'  supabase:\n    main: {{url: "{api.url}", service_role_key: "k"}}\n'
        refused = run_oml(pipeline, connections=rest)
        assert not _ok(refused)
        assert "needs the Postgres path" in str(refused.failures[0].error) if refused.failures else \
            "needs the Postgres path" in json.dumps(refused.status)
        assert _pg(dsn, "SELECT count(*) FROM dst") == [(0,)], "nothing written over REST"
    conns = PG_CONNECTIONS.format(dsn=dsn) + f'  supabase:\n    main: {{dsn: "{dsn}"}}\n'
    assert _ok(run_oml(pipeline, connections=conns))
    assert _state(dsn)["value"].startswith("2026-01-02")
    _pg(dsn, "INSERT INTO src VALUES (3, 'c', '2026-01-03+00')", "UPDATE src SET name = 'a2' WHERE id = 1")
    second = run_oml(pipeline, connections=conns)
    assert _ok(second)
    [read] = events_of(second, "incremental_read")
    assert read["rows"] == 1, "only the row past the committed cursor"
    assert _pg(dsn, "SELECT id, name FROM dst ORDER BY id") == [(1, "a"), (2, "b"), (3, "c")]
    assert _state(dsn)["value"].startswith("2026-01-03")
