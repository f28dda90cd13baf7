"""Incremental loads against the real MariaDB and PostgreSQL, under generated histories.

A history interleaves inserts (cursor values that tie with the last maximum, NULL cursors),
updates (the cursor moves to the current clock, which may equal the last maximum), successful
runs and failed runs (the target refuses every row while the run loads). After each run the
upserted target must equal the source, and the stored state must equal the highest cursor in
the source: nothing missed at a tie, nothing advanced by a failure, NULL cursors loaded.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.runtime.test_incremental_loads_only_what_changed import MY_CONNECTIONS, PG_CONNECTIONS, _my, _pg

OPS = st.lists(
    st.one_of(
        st.tuples(st.just("insert"), st.lists(st.sampled_from(["tie", "next", "null"]), min_size=1, max_size=4)),
        st.tuples(st.just("update"), st.integers(0, 30), st.sampled_from(["tie", "next", "null"])),
        st.tuples(st.just("run")),
        st.tuples(st.just("fail")),
    ),
    min_size=1,
    max_size=8,
).map(lambda ops: [*ops, ("run",)])


class History:
    """The source table as the test believes it is, and the clock cursor values come from."""

    def __init__(self) -> None:
        self.clock = 0
        self.rows: dict[int, tuple[str, int | None]] = {}

    def cursor(self, how: str) -> int | None:
        if how == "null":
            return None
        if how == "next":
            self.clock += 1
        return self.clock

    def max_cursor(self) -> int | None:
        values = [c for _, c in self.rows.values() if c is not None]
        return max(values) if values else None


def _play(ops: list[tuple], *, insert: Callable[[int, str, int | None], None],
          update: Callable[[int, str, int | None], None], run: Callable[[bool], bool],
          target: Callable[[], dict[int, tuple[str, int | None]]], stored: Callable[[], int | None]) -> None:
    history = History()
    committed: int | None = None
    for step, op in enumerate(ops):
        if op[0] == "insert":
            for how in op[1]:
                key = len(history.rows)
                history.rows[key] = (f"v{step}", history.cursor(how))
                insert(key, *history.rows[key])
        elif op[0] == "update" and history.rows:
            key = op[1] % len(history.rows)
            history.rows[key] = (f"u{step}", history.cursor(op[2]))
            update(key, *history.rows[key])
        elif op[0] in ("run", "fail"):
            before = target()
            ok = run(op[0] == "fail")
            if ok:
                assert target() == history.rows, "after a successful run the target equals the source"
                committed = history.max_cursor() if history.max_cursor() is not None else committed
            else:
                assert target() == before, "a failed run changes nothing"
            assert stored() == committed, "the state is the highest cursor of the last successful run"


def _pipeline(extractor: str, writer: str, cursor_extra: str = "") -> str:
    return f"""oml_version: "0.1.0"
name: history
steps:
  - id: read
    component: {extractor}
    config: {{connection: "@{extractor.split('.')[0]}.db", table: src,
              incremental: {{cursor: version, strategy: ">="{cursor_extra}}}}}
  - id: save
    component: {writer}
    needs: [read]
    config: {{connection: "@{writer.split('.')[0]}.db", table: dst, write_mode: upsert, primary_key: id}}
"""


@pytest.mark.postgres
@settings(max_examples=12, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_postgres_target_follows_the_source(postgres_db: dict, run_oml: Callable[..., Any], ops: list[tuple],
                                            tmp_path: Path) -> None:
    dsn = postgres_db["dsn"]
    _pg(dsn, "DROP TABLE IF EXISTS src, dst, _osiris_state",
        "CREATE TABLE src (id int PRIMARY KEY, name text, version timestamptz)",
        "CREATE TABLE dst (id int PRIMARY KEY, name text, version timestamptz)")
    base = "2026-03-01T00:00:00+00"

    def stamp(value: int | None) -> str:
        return "NULL" if value is None else f"'{base}'::timestamptz + interval '{value} microseconds'"

    def rows(table: str) -> dict[int, tuple[str, int | None]]:
        got = _pg(dsn, f"SELECT id, name, (extract(epoch FROM version - '{base}'::timestamptz) * 1e6)::bigint "
                  f"FROM {table}")
        return {i: (n, None if v is None else int(v)) for i, n, v in got}

    def run(fail: bool) -> bool:
        if fail:
            _pg(dsn, "ALTER TABLE dst ADD CONSTRAINT refuse CHECK (false) NOT VALID")
        try:
            outcome = run_oml(_pipeline("postgres.extractor", "postgres.writer"),
                              connections=PG_CONNECTIONS.format(dsn=dsn))
        finally:
            if fail:
                _pg(dsn, "ALTER TABLE dst DROP CONSTRAINT refuse")
        return outcome.exit_code == 0

    def stored() -> int | None:
        got = _pg(dsn, "SELECT state FROM _osiris_state") if _pg(
            dsn, "SELECT to_regclass('_osiris_state') IS NOT NULL")[0][0] else []
        if not got:
            return None
        value = json.loads(got[0][0])["value"]
        return None if value is None else int(_pg(
            dsn, f"SELECT (extract(epoch FROM '{value}'::timestamptz - '{base}'::timestamptz) * 1e6)::bigint")[0][0])

    assert rows("src") == {}
    _play(ops,
          insert=lambda k, n, c: _pg(dsn, f"INSERT INTO src VALUES ({k}, '{n}', {stamp(c)})"),
          update=lambda k, n, c: _pg(dsn, f"UPDATE src SET name = '{n}', version = {stamp(c)} WHERE id = {k}"),
          run=run, target=lambda: rows("dst"), stored=stored)


@pytest.mark.mysql
@settings(max_examples=12, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_mariadb_target_follows_the_source(mysql_db: dict, run_oml: Callable[..., Any], ops: list[tuple]) -> None:
    _my(mysql_db, "DROP TABLE IF EXISTS src, dst, _osiris_state",
        "CREATE TABLE src (id INT PRIMARY KEY, name VARCHAR(20), version BIGINT)",
        "CREATE TABLE dst (id INT PRIMARY KEY, name VARCHAR(20), version BIGINT)")

    def value(c: int | None) -> str:
        return "NULL" if c is None else str(c)

    def rows(table: str) -> dict[int, tuple[str, int | None]]:
        return {i: (n, v) for i, n, v in _my(mysql_db, f"SELECT id, name, version FROM {table}")}

    def run(fail: bool) -> bool:
        if fail:
            _my(mysql_db, "CREATE TRIGGER refuse BEFORE INSERT ON dst FOR EACH ROW "
                "SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused'")
        try:
            outcome = run_oml(_pipeline("mysql.extractor", "mysql.writer"),
                              connections=MY_CONNECTIONS.format(database=mysql_db["database"]))
        finally:
            if fail:
                _my(mysql_db, "DROP TRIGGER refuse")
        return outcome.exit_code == 0

    def stored() -> int | None:
        try:
            got = _my(mysql_db, "SELECT state FROM _osiris_state")
        except Exception:  # noqa: BLE001 - no state table yet
            return None
        return json.loads(got[0][0])["value"] if got else None

    _play(ops,
          insert=lambda k, n, c: _my(mysql_db, f"INSERT INTO src VALUES ({k}, '{n}', {value(c)})"),
          update=lambda k, n, c: _my(mysql_db, f"UPDATE src SET name = '{n}', version = {value(c)} WHERE id = {k}"),
          run=run, target=lambda: rows("dst"), stored=stored)
