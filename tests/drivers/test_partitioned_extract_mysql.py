"""mysql.extractor split into partitions: the slices' rows together are exactly the whole read,
on every read path (bulk, cxstream, stream)."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pymysql
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osiris.drivers.mysql.extractor import MySQLExtractor
from osiris.runtime.driver import DriverError, PartitionHints, ResolvedConnection
from osiris.runtime.testing import RecordingContext
from tests.support.myrows import no_native  # noqa: F401 - a fixture

pytestmark = pytest.mark.mysql


def resolved(db: dict) -> ResolvedConnection:
    fields = {k: db[k] for k in ("host", "port", "user", "password", "database")}
    return ResolvedConnection("mysql", "test", fields, frozenset({"password"}))


def run_sql(db: dict, *statements: str, rows: list[tuple] | None = None) -> list[tuple]:
    conn = pymysql.connect(host=db["host"], port=db["port"], user=db["user"], password=db["password"],
                           database=db["database"], charset="utf8mb4", autocommit=True)
    try:
        with conn.cursor() as cur:
            for statement in statements:
                if rows is not None and "%s" in statement:
                    cur.executemany(statement, rows)
                else:
                    cur.execute(statement)
            return list(cur.fetchall())
    finally:
        conn.close()


def context(db: dict, config: dict, partition=None) -> RecordingContext:  # noqa: ANN001
    ctx = RecordingContext(config=config, connection=resolved(db), component="mysql.extractor", batch_rows=7)
    ctx.partition = partition  # type: ignore[attr-defined]
    return ctx


def whole(db: dict, **config: Any) -> pa.Table:
    return MySQLExtractor().extract(context(db, config)).read_all()


def split(db: dict, hints: PartitionHints, **config: Any) -> tuple[list, list[pa.Table]]:
    extractor = MySQLExtractor()
    parts = extractor.plan_partitions(context(db, config), hints)
    tables = [extractor.extract(context(db, config, part)).read_all() for part in parts]
    return parts, tables


def rows_of(table: pa.Table) -> list[tuple]:
    rows = [tuple(row.values()) for row in table.to_pylist()]
    return sorted(rows, key=lambda row: [(v is not None, v) for v in row])


def assert_exact(db: dict, hints: PartitionHints, **config: Any) -> list:
    expected = whole(db, **config)
    parts, tables = split(db, hints, **config)
    assert 1 <= len(parts) <= hints.count
    assert [p.index for p in parts] == list(range(len(parts)))
    assert all(p.count == len(parts) for p in parts)
    for part, table in zip(parts, tables, strict=True):
        assert table.schema == expected.schema, part.label
        assert json.loads(json.dumps(part.spec)) == part.spec
    assert rows_of(pa.concat_tables(tables)) == rows_of(expected)
    return parts


@pytest.fixture(scope="module")
def db(mysql_db: dict) -> dict:
    run_sql(mysql_db,
            "CREATE TABLE items (id BIGINT PRIMARY KEY, grp INT NULL, price DECIMAL(10,2) NOT NULL, "
            "day DATE, at DATETIME(6), ts TIMESTAMP NULL, f FLOAT, note VARCHAR(20))",
            "INSERT INTO items SELECT seq, IF(seq % 7 = 0, NULL, seq % 5), seq * 1.25, "
            "'2024-01-01' + INTERVAL seq DAY, '2024-01-01' + INTERVAL seq * 90 MINUTE, "
            "'2024-01-01' + INTERVAL seq HOUR, seq / 3, CONCAT('n', seq) FROM seq_1_to_300",
            "CREATE TABLE nokey (a VARCHAR(5), b INT)", "INSERT INTO nokey VALUES ('x', 1), ('y', 2)",
            "CREATE TABLE nothing (id INT PRIMARY KEY, name VARCHAR(5))",
            "CREATE TABLE x (a INT)")
    return mysql_db


@pytest.mark.parametrize("fetch_mode", ["auto", "stream"])
def test_primary_key_splits_evenly_and_exactly(db, fetch_mode) -> None:
    parts = assert_exact(db, PartitionHints(count=4), table="items", fetch_mode=fetch_mode)
    assert len(parts) == 4
    assert parts[0].spec == {"key": "id", "kind": "int", "lo": None, "hi": 76, "nulls": True}
    assert parts[-1].label == "id >= 226"


@pytest.mark.parametrize("native", [True, False])
def test_slices_keep_the_fast_paths(db, native: bool, request: pytest.FixtureRequest) -> None:
    """A slice reads through the native decoder; without it, a table slice through connectorx key
    ranges and a query slice through cxstream."""
    if not native:
        request.getfixturevalue("no_native")
    paths = ("native", "native") if native else ("bulk", "cxstream")
    for config, path in zip(({"table": "items"}, {"query": "SELECT id, note FROM items"}), paths, strict=True):
        extractor = MySQLExtractor()
        parts = extractor.plan_partitions(context(db, config), PartitionHints(count=2, key="id"))
        ctx = context(db, config, parts[1])
        extractor.extract(ctx).read_all()
        assert [f["path"] for name, f in ctx.events if name == "mysql.extract.path"] == [path]


def test_boundary_value_read_once(db) -> None:
    parts, tables = split(db, PartitionHints(count=3, key="id", bounds=(1, 300)), table="items")
    ids = [i for t in tables for i in t.column("id").to_pylist()]
    assert sorted(ids) == list(range(1, 301))
    assert parts[1].spec["lo"] in tables[1].column("id").to_pylist()


@pytest.mark.parametrize("bounds", [(100, 120), (-1000, 5000), (300, 300), (500, 900)])
def test_user_bounds_narrower_or_wider_lose_nothing(db, bounds) -> None:
    assert_exact(db, PartitionHints(count=5, key="id", bounds=bounds), table="items")


def test_null_keys_read_once_with_columns(db) -> None:
    parts = assert_exact(db, PartitionHints(count=3, key="grp"), table="items", columns=["id", "grp"])
    assert parts[0].spec["nulls"] and not parts[1].spec["nulls"]


@pytest.mark.parametrize("key", ["day", "at", "ts", "price"])
def test_date_datetime_timestamp_decimal_keys(db, key) -> None:
    parts = assert_exact(db, PartitionHints(count=4, key=key), table="items")
    assert len(parts) == 4


def test_date_bounds_as_text(db) -> None:
    assert_exact(db, PartitionHints(count=3, key="day", bounds=("2024-02-01", "2024-03-01")), table="items")


@pytest.mark.parametrize("fetch_mode", ["auto", "stream"])
def test_query_with_key_wraps_the_query(db, fetch_mode) -> None:
    query = "SELECT id, grp, note FROM items WHERE id > 10 -- a trailing comment"
    assert_exact(db, PartitionHints(count=3, key="grp"), query=query, fetch_mode=fetch_mode)


def test_query_without_key_and_keyless_table_are_one_partition(db) -> None:
    assert len(assert_exact(db, PartitionHints(count=3), query="SELECT id FROM items")) == 1
    parts = assert_exact(db, PartitionHints(count=3), table="nokey")
    assert len(parts) == 1 and "primary key" in parts[0].label


def test_text_key_and_limit_are_one_partition(db) -> None:
    parts = assert_exact(db, PartitionHints(count=3, key="note"), table="items")
    assert len(parts) == 1 and "note" in parts[0].label
    parts = assert_exact(db, PartitionHints(count=3), table="items", limit=10)
    assert len(parts) == 1 and "limit" in parts[0].label


def test_empty_table_is_one_partition_with_the_schema(db) -> None:
    parts, tables = split(db, PartitionHints(count=4), table="nothing")
    assert len(parts) == 1 and tables[0].num_rows == 0
    assert tables[0].schema == whole(db, table="nothing").schema


def test_empty_slice_keeps_the_schema(db) -> None:
    _, tables = split(db, PartitionHints(count=3, key="id", bounds=(1000, 2000)), table="items")
    assert tables[1].num_rows == 0 and tables[1].schema == tables[0].schema


def test_hostile_key_is_refused_and_nothing_runs(db) -> None:
    with pytest.raises(DriverError, match="not a column"):
        split(db, PartitionHints(count=3, key="id; DROP TABLE x"), table="items")
    assert run_sql(db, "SELECT COUNT(*) FROM information_schema.TABLES "
                       "WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'x'") == [(1,)]


def test_bad_bounds_are_refused(db) -> None:
    with pytest.raises(DriverError, match="reversed"):
        split(db, PartitionHints(count=3, key="id", bounds=(10, 1)), table="items")
    with pytest.raises(DriverError, match="not a date"):
        split(db, PartitionHints(count=3, key="day", bounds=("soon", "later")), table="items")


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(keys=st.lists(st.one_of(st.none(), st.integers(-50, 50)), max_size=40),
       count=st.integers(1, 6),
       bounds=st.one_of(st.none(), st.tuples(st.integers(-80, 80), st.integers(-80, 80)).map(sorted)),
       fetch_mode=st.sampled_from(["auto", "stream"]))
def test_any_key_distribution_is_read_exactly_once(db, keys, count, bounds, fetch_mode) -> None:
    run_sql(db, "DROP TABLE IF EXISTS rnd", "CREATE TABLE rnd (k INT NULL, n INT)")
    if keys:
        run_sql(db, "INSERT INTO rnd VALUES (%s, %s)", rows=[(k, i) for i, k in enumerate(keys)])
    assert_exact(db, PartitionHints(count=count, key="k", bounds=bounds), table="rnd", fetch_mode=fetch_mode)
