"""mysql.writer against the real MariaDB: modes, DDL, round trips, all-or-nothing behaviour."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pymysql
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osiris.drivers.mysql.extractor import MySQLExtractor
from osiris.drivers.mysql.writer import MySQLWriter
from osiris.runtime.driver import Cancelled, DriverError, ResolvedConnection
from osiris.runtime.testing import RecordingContext

METHODS = ["insert", "load_data"]
UTC = dt.UTC
TRICKY = ["plain", "it's \"quoted\"", "back\\slash \\N", "tab\tand\nnewline\r", "comma,semi;", "NULL", "",
          "emoji 😀 ünïcode", "\x00nul"]


def resolved(db: dict) -> ResolvedConnection:
    fields = {k: db[k] for k in ("host", "port", "user", "password", "database")}
    return ResolvedConnection("mysql", "test", fields, frozenset({"password"}))


def run_sql(db: dict, *statements: str) -> list[tuple]:
    conn = pymysql.connect(host=db["host"], port=db["port"], user=db["user"], password=db["password"],
                           database=db["database"], charset="utf8mb4", autocommit=True)
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
            return list(cur.fetchall())
    finally:
        conn.close()


def write(db: dict, config: dict, data: pa.Table | pa.RecordBatchReader, **ctx_args: Any):
    ctx = RecordingContext(config=config, connection=resolved(db), component="mysql.writer", mode="write",
                           **ctx_args)
    reader = data.to_reader(max_chunksize=2) if isinstance(data, pa.Table) else data
    return MySQLWriter().write(ctx, reader)


def read(db: dict, table: str) -> pa.Table:
    ctx = RecordingContext(config={"table": table}, connection=resolved(db))
    return MySQLExtractor().extract(ctx).read_all().sort_by("id")


def failing(table: pa.Table, after: int, error: BaseException) -> pa.RecordBatchReader:
    def batches() -> Iterator[pa.RecordBatch]:
        for index, batch in enumerate(table.to_batches(max_chunksize=1)):
            if index == after:
                raise error
            yield batch
    return pa.RecordBatchReader.from_batches(table.schema, batches())


def people(ids: list[int], name: str = "n") -> pa.Table:
    return pa.table({"id": pa.array(ids, pa.int64()), "name": [f"{name}{i}" for i in ids],
                     "score": pa.array([Decimal(i) / 4 for i in ids], pa.decimal128(10, 2))})


@pytest.fixture(scope="module")
def db(mysql_db: dict) -> dict:
    return mysql_db


@pytest.fixture
def target(db: dict, request: pytest.FixtureRequest) -> str:
    """A fresh `people` table holding ids 1..3."""
    name = f"p_{request.node.name.replace('[', '_').replace(']', '').replace('-', '_')}"[:60]
    run_sql(db, f"DROP TABLE IF EXISTS `{name}`",
            f"CREATE TABLE `{name}` (id BIGINT PRIMARY KEY, name VARCHAR(50) NOT NULL, score DECIMAL(10,2), "
            "KEY by_name (name))")
    write(db, {"table": name, "load_method": "insert"}, people([1, 2, 3]))
    return name


def rows(db: dict, table: str) -> list[tuple]:
    return run_sql(db, f"SELECT id, name, score FROM `{table}` ORDER BY id")


ROUND_TRIP = pa.table({
    "id": pa.array([1, 2, 3], pa.int32()),
    "flag": [True, False, None],
    "i8": pa.array([-128, 127, None], pa.int8()),
    "u64": pa.array([2**64 - 1, 0, None], pa.uint64()),
    "f32": pa.array([1.5, -0.25, None], pa.float32()),
    "f64": [1e300, -1 / 3, None],
    "money": pa.array([Decimal("1234567890123.45"), Decimal("-0.01"), None], pa.decimal128(15, 2)),
    "widest": pa.array([Decimal("12345678901234567890123456789012345.123456789012345678901234567890"),
                        Decimal("-0.000000000000000000000000000001"), None], pa.decimal256(65, 30)),
    "day": pa.array([dt.date(2024, 2, 29), dt.date(1000, 1, 1), None], pa.date32()),
    "at": pa.array([dt.datetime(2024, 2, 29, 12, 34, 56, 123456), dt.datetime(9999, 12, 31, 23, 59, 59),
                    None], pa.timestamp("us")),
    "tod": pa.array([dt.time(23, 59, 59, 999999), dt.time(0, 0), None], pa.time64("us")),
    "text": ["héllo 😀", "it's \"q\" \\ \n", None],
    "blob": pa.array([b"\x00\xff\x01", b"", None], pa.binary()),
})


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.mysql
def test_round_trip_through_created_table_keeps_types_and_values(db: dict, method: str) -> None:
    table = f"rt_{method}"
    mode = "append" if method == "insert" else "replace"  # both create the table when it is missing
    config = {"table": table, "create_if_missing": True, "primary_key": "id", "load_method": method,
              "write_mode": mode}
    result = write(db, config, ROUND_TRIP)
    assert result.rows == 3 and result.target == table
    back = read(db, table)
    expected = ROUND_TRIP.schema.set(0, pa.field("id", pa.int32(), nullable=False))
    assert back.schema.remove_metadata() == expected
    assert back.to_pylist() == ROUND_TRIP.to_pylist()


@pytest.mark.mysql
def test_created_ddl_follows_the_arrow_schema(db: dict) -> None:
    data = pa.table({"code": ["a"], "amount": pa.array([Decimal("1.50")], pa.decimal128(12, 2)),
                     "big": pa.array([1], pa.uint64()), "at": pa.array([0], pa.timestamp("us", tz="UTC")),
                     "ok": [True], "raw": [b"x"], "note": ["n"]})
    write(db, {"table": "ddl", "create_if_missing": True, "primary_key": "code"}, data)
    ddl = run_sql(db, "SHOW CREATE TABLE ddl")[0][1].lower()
    for expected in ("`code` varchar(255) not null", "`amount` decimal(12,2)", "`big` bigint(20) unsigned",
                     "`at` datetime(6)", "`ok` tinyint(1)", "`raw` longblob", "`note` longtext",
                     "primary key (`code`)"):
        assert expected in ddl


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.mysql
def test_tricky_strings_survive(db: dict, method: str) -> None:
    data = pa.table({"id": list(range(len(TRICKY))), "s": TRICKY, "b": [s.encode() for s in TRICKY]})
    write(db, {"table": f"tricky_{method}", "create_if_missing": True, "primary_key": "id",
               "load_method": method}, data)
    back = read(db, f"tricky_{method}")
    assert back.column("s").to_pylist() == TRICKY
    assert back.column("b").to_pylist() == [s.encode() for s in TRICKY]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.mysql
def test_append_adds_rows(db: dict, target: str, method: str) -> None:
    write(db, {"table": target, "load_method": method}, people([4, 5], "new"))
    assert [r[0] for r in rows(db, target)] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.mysql
def test_replace_swaps_contents_and_keeps_the_table_definition(db: dict, target: str, method: str) -> None:
    write(db, {"table": target, "write_mode": "replace", "load_method": method}, people([7, 8], "r"))
    assert rows(db, target) == [(7, "r7", Decimal("1.75")), (8, "r8", Decimal("2.00"))]
    assert "by_name" in run_sql(db, f"SHOW CREATE TABLE `{target}`")[0][1]
    leftovers = [r for r in run_sql(db, "SHOW TABLES LIKE '%osiris%'") if r[0] != "_osiris_loads"]
    assert leftovers == []


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.mysql
def test_upsert_updates_and_inserts_by_key(db: dict, target: str, method: str) -> None:
    write(db, {"table": target, "write_mode": "upsert", "primary_key": ["id"], "load_method": method},
          people([2, 3, 9], "up"))
    assert [(r[0], r[1]) for r in rows(db, target)] == [(1, "n1"), (2, "up2"), (3, "up3"), (9, "up9")]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("mode", ["append", "replace", "upsert"])
@pytest.mark.mysql
def test_a_stream_failing_midway_leaves_the_target_unchanged(db: dict, target: str, method: str,
                                                             mode: str) -> None:
    before = rows(db, target)
    config = {"table": target, "write_mode": mode, "primary_key": "id", "load_method": method,
              "batch_size": 1}
    with pytest.raises(RuntimeError, match="upstream broke"):
        first = 10 if mode == "append" else 2  # upsert and replace also touch an existing key
        write(db, config, failing(people([first, 11, 12, 13]), 3, RuntimeError("upstream broke")))
    assert rows(db, target) == before
    assert [r for r in run_sql(db, "SHOW TABLES LIKE '%osiris%'") if r[0] != "_osiris_loads"] == []


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.mysql
def test_cancellation_rolls_back(db: dict, target: str, method: str) -> None:
    before = rows(db, target)
    ctx = RecordingContext(config={"table": target, "load_method": method, "batch_size": 1},
                           connection=resolved(db), mode="write")

    def batches() -> Iterator[pa.RecordBatch]:
        yield from people([20, 21]).to_batches(max_chunksize=1)
        ctx.cancelled = True
        yield from people([22]).to_batches()

    with pytest.raises(Cancelled):
        MySQLWriter().write(ctx, pa.RecordBatchReader.from_batches(people([1]).schema, batches()))
    assert rows(db, target) == before


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.mysql
def test_duplicate_key_fails_with_the_server_message_and_changes_nothing(db: dict, target: str,
                                                                         method: str) -> None:
    before = rows(db, target)
    with pytest.raises(DriverError, match="Duplicate entry '3'.*1062") as info:
        write(db, {"table": target, "load_method": method}, people([30, 31, 3, 32]))
    assert "already in the table" in (info.value.hint or "")
    assert rows(db, target) == before


@pytest.mark.mysql
def test_a_created_table_is_dropped_again_when_the_write_fails(db: dict) -> None:
    with pytest.raises(RuntimeError):
        write(db, {"table": "created_then_failed", "create_if_missing": True},
              failing(people([1, 2]), 1, RuntimeError("boom")))
    assert run_sql(db, "SHOW TABLES LIKE 'created_then_failed'") == []


@pytest.mark.mysql
def test_configuration_mistakes_are_clear(db: dict, target: str) -> None:
    with pytest.raises(DriverError, match="does not exist") as info:
        write(db, {"table": "absent_table"}, people([1]))
    assert "create_if_missing" in (info.value.hint or "")
    with pytest.raises(DriverError, match="column\\(s\\) extra"):
        write(db, {"table": target}, people([40]).append_column("extra", pa.array([1])))
    with pytest.raises(DriverError, match="unique index"):
        write(db, {"table": target, "write_mode": "upsert", "primary_key": "name"}, people([41]))
    with pytest.raises(DriverError, match="NaN"):
        write(db, {"table": "nan_table", "create_if_missing": True},
              pa.table({"id": [1], "x": [float("nan")]}))


@pytest.mark.mysql
def test_zoned_timestamps_are_stored_as_utc(db: dict) -> None:
    prague = pa.array([dt.datetime(2024, 7, 1, 12, 0, tzinfo=UTC)], pa.timestamp("us", tz="Europe/Prague"))
    write(db, {"table": "zoned", "create_if_missing": True}, pa.table({"id": [1], "at": prague}))
    assert run_sql(db, "SELECT CAST(at AS CHAR) FROM zoned") == [("2024-07-01 12:00:00.000000",)]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.mysql
def test_many_chunks_all_arrive_once(db: dict, method: str) -> None:
    """Regression: LOAD DATA chunk files were reused while the loader thread still read them."""
    ids = list(range(1, 6001))
    data = pa.table({"id": ids, "v": [str(i) * 3 for i in ids]})
    write(db, {"table": f"chunks_{method}", "create_if_missing": True, "primary_key": "id",
               "load_method": method, "batch_size": 50}, data.to_reader(max_chunksize=500))
    assert run_sql(db, f"SELECT COUNT(*), SUM(id), SUM(v = REPEAT(id, 3)) FROM chunks_{method}") == [
        (6000, sum(ids), 6000)]


@pytest.mark.mysql
def test_load_data_is_one_statement_fed_from_memory(db: dict, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole write is one LOAD DATA statement per connection (2 by default) whose bytes never
    touch the disk: the step's temp dir stays empty while the rows stream in (a statement per
    chunk left the server idle between statements and wrote every byte to a file first)."""
    import osiris.drivers.mysql.load as load

    statements: list[str] = []
    real = load._load_data
    monkeypatch.setattr(load, "_load_data", lambda conn, name, *rest: statements.append(name) or real(
        conn, name, *rest))
    seen: list[list[str]] = []

    def batches() -> Iterator[pa.RecordBatch]:
        for lo in range(0, 3000, 300):
            seen.append([p.name for p in tmp_path.iterdir()])
            yield pa.record_batch({"id": pa.array(range(lo, lo + 300), pa.int64()),
                                   "v": [f"row {i}\t\"{i}\"" for i in range(lo, lo + 300)]})

    schema = pa.schema([("id", pa.int64()), ("v", pa.string())])
    write(db, {"table": "one_stream", "create_if_missing": True, "primary_key": "id", "load_method": "load_data",
               "batch_size": 100}, pa.RecordBatchReader.from_batches(schema, batches()), temp_dir=tmp_path)
    assert len(set(statements)) == len(statements) == 2 and not any(Path(s).exists() for s in statements)
    assert seen == [[]] * 10 and list(tmp_path.iterdir()) == []
    assert run_sql(db, "SELECT COUNT(*), SUM(v = CONCAT('row ', id, '\\t\"', id, '\"')) FROM one_stream") == [
        (3000, 3000)]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.mysql
def test_timestamps_keep_their_fractions_batch_by_batch(db: dict, method: str) -> None:
    """load_data writes whole-second timestamps without `.000`; a batch with a fraction keeps it."""
    whole = dt.datetime(2024, 1, 2, 3, 4, 5)
    data = pa.Table.from_batches([
        pa.record_batch({"id": [1, 2], "at": pa.array([whole, None], pa.timestamp("ms"))}),
        pa.record_batch({"id": [3, 4], "at": pa.array([whole, whole.replace(microsecond=7000)], pa.timestamp("ms"))}),
    ])
    run_sql(db, f"DROP TABLE IF EXISTS ts_{method}", f"CREATE TABLE ts_{method} (id INT PRIMARY KEY, at DATETIME(6))")
    write(db, {"table": f"ts_{method}", "load_method": method}, data.to_reader())
    assert run_sql(db, f"SELECT id, CAST(at AS CHAR) FROM ts_{method} ORDER BY id") == [
        (1, "2024-01-02 03:04:05.000000"), (2, None), (3, "2024-01-02 03:04:05.000000"),
        (4, "2024-01-02 03:04:05.007000")]


_TEXT = st.one_of(st.none(), st.text(st.characters(exclude_categories=("Cs",)), max_size=12),
                  st.sampled_from(["\\", "\\N", "\t", "\n", "\r", "\"", "\x00", "NULL", "", "\\\t"]))


@pytest.mark.mysql
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_TEXT, min_size=1, max_size=20))
def test_any_text_survives_load_data(db: dict, values: list[str | None]) -> None:
    """LOAD DATA's escapes (backslash, tab, newline, CR, NUL; `"` bare) against the real parser."""
    data = pa.table({"id": list(range(len(values))), "s": pa.array(values, pa.string())})
    write(db, {"table": "any_text", "write_mode": "replace", "create_if_missing": True, "primary_key": "id",
               "load_method": "load_data", "batch_size": 7}, data.to_reader(max_chunksize=5))
    assert read(db, "any_text").column("s").to_pylist() == values
