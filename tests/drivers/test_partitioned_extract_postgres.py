"""postgres.extractor split into partitions: the slices' rows together are exactly the whole read."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import psycopg
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osiris.drivers.postgres.extractor import PostgresExtractor
from osiris.runtime.driver import DriverError, PartitionHints, ResolvedConnection
from osiris.runtime.testing import RecordingContext

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def db(postgres_db: dict) -> Iterator[psycopg.Connection]:
    with psycopg.connect(postgres_db["dsn"], autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="module")
def connection(postgres_db: dict) -> ResolvedConnection:
    return ResolvedConnection("postgres", "src", {"dsn": postgres_db["dsn"]}, frozenset({"dsn"}))


def context(connection: ResolvedConnection, config: dict, partition=None) -> RecordingContext:  # noqa: ANN001
    ctx = RecordingContext(config=config, connection=connection, batch_rows=7)
    ctx.partition = partition  # type: ignore[attr-defined]
    return ctx


def whole(connection: ResolvedConnection, **config: object) -> pa.Table:
    return PostgresExtractor().extract(context(connection, config)).read_all()


def split(connection: ResolvedConnection, hints: PartitionHints, **config: object) -> tuple[list, list[pa.Table]]:
    extractor = PostgresExtractor()
    parts = extractor.plan_partitions(context(connection, config), hints)
    tables = [extractor.extract(context(connection, config, part)).read_all() for part in parts]
    return parts, tables


def rows_of(table: pa.Table) -> list[tuple]:
    """The table's rows as a sorted multiset (None sorts first)."""
    rows = [tuple(row.values()) for row in table.to_pylist()]
    return sorted(rows, key=lambda row: [(v is not None, v) for v in row])


def assert_exact(connection: ResolvedConnection, hints: PartitionHints, **config: object) -> list:
    expected = whole(connection, **config)
    parts, tables = split(connection, hints, **config)
    assert 1 <= len(parts) <= hints.count
    assert [p.index for p in parts] == list(range(len(parts)))
    assert all(p.count == len(parts) for p in parts)
    for table in tables:
        assert table.schema == expected.schema
    assert rows_of(pa.concat_tables(tables)) == rows_of(expected)
    return parts


@pytest.fixture(scope="module")
def items(db: psycopg.Connection) -> str:
    db.execute("DROP TABLE IF EXISTS items")
    db.execute("CREATE TABLE items (id int8 PRIMARY KEY, grp int4, price numeric(10,2), day date, "
               "at timestamptz, note text)")
    db.execute("INSERT INTO items SELECT i, CASE WHEN i % 7 = 0 THEN NULL ELSE i % 5 END, i * 1.25, "
               "date '2024-01-01' + i, timestamptz '2024-01-01 00:00:00+00' + i * interval '90 minutes', "
               "'n' || i FROM generate_series(1, 300) AS i")
    return "items"


def test_primary_key_splits_evenly_and_exactly(connection, items) -> None:
    parts = assert_exact(connection, PartitionHints(count=4), table=items)
    assert len(parts) == 4
    assert parts[0].spec == {"key": "id", "kind": "int", "lo": None, "hi": 76, "nulls": True}
    assert parts[-1].label == "id >= 226"


def test_boundary_value_read_once(connection, items) -> None:
    parts, tables = split(connection, PartitionHints(count=3, key="id", bounds=(1, 300)), table=items)
    ids = [i for t in tables for i in t.column("id").to_pylist()]
    assert sorted(ids) == list(range(1, 301))
    cut = parts[1].spec["lo"]
    assert ids.count(cut) == 1 and cut in tables[1].column("id").to_pylist()


@pytest.mark.parametrize("bounds", [(100, 120), (-1000, 5000), (300, 300), (500, 900)])
def test_user_bounds_narrower_or_wider_lose_nothing(connection, items, bounds) -> None:
    assert_exact(connection, PartitionHints(count=5, key="id", bounds=bounds), table=items)


def test_null_keys_read_once_with_columns(connection, items) -> None:
    parts = assert_exact(connection, PartitionHints(count=3, key="grp"), table=items, columns=["id", "grp"])
    assert parts[0].spec["nulls"] and not parts[1].spec["nulls"]


@pytest.mark.parametrize("key", ["day", "at", "price"])
def test_date_timestamp_numeric_keys(connection, items, key) -> None:
    parts = assert_exact(connection, PartitionHints(count=4, key=key), table=items)
    assert len(parts) == 4


def test_date_bounds_as_text(connection, items) -> None:
    parts = assert_exact(connection, PartitionHints(count=3, key="day", bounds=("2024-02-01", "2024-03-01")),
                         table=items)
    assert parts[1].spec["kind"] == "date"


def test_query_with_key_wraps_the_query(connection, items) -> None:
    query = "SELECT id, grp, note FROM items WHERE id > 10 -- a trailing comment"
    assert_exact(connection, PartitionHints(count=3, key="grp"), query=query)


def test_query_without_key_is_one_partition(connection, items) -> None:
    parts = assert_exact(connection, PartitionHints(count=3), query="SELECT id FROM items")
    assert len(parts) == 1 and "query" in parts[0].label


def test_text_key_is_one_partition_and_says_why(connection, items) -> None:
    parts = assert_exact(connection, PartitionHints(count=3, key="note"), table=items)
    assert len(parts) == 1 and "note" in parts[0].label


def test_limit_is_one_partition(connection, items) -> None:
    parts = assert_exact(connection, PartitionHints(count=3), table=items, limit=10)
    assert len(parts) == 1 and "limit" in parts[0].label


def test_table_without_key_splits_by_pages(connection, db) -> None:
    db.execute("DROP TABLE IF EXISTS heap")
    db.execute("CREATE TABLE heap (v int4, pad text)")
    db.execute("INSERT INTO heap SELECT i % 10, repeat('x', 200) FROM generate_series(1, 3000) AS i")
    parts = assert_exact(connection, PartitionHints(count=4), table="heap")
    assert len(parts) == 4 and parts[0].spec == {"mode": "pages", "lo": None, "hi": parts[1].spec["lo"]}
    assert parts[-1].spec["hi"] is None


def test_empty_table_is_one_partition_with_the_schema(connection, db) -> None:
    db.execute("DROP TABLE IF EXISTS nothing")
    db.execute("CREATE TABLE nothing (id int4 PRIMARY KEY, name text)")
    parts, tables = split(connection, PartitionHints(count=4), table="nothing")
    assert len(parts) == 1 and tables[0].num_rows == 0
    assert tables[0].schema == whole(connection, table="nothing").schema


def test_empty_slice_keeps_the_schema(connection, items) -> None:
    parts, tables = split(connection, PartitionHints(count=3, key="id", bounds=(1000, 2000)), table=items)
    assert tables[1].num_rows == 0 and tables[1].schema == tables[0].schema


def test_hostile_key_is_refused_before_any_sql(connection, db, items) -> None:
    db.execute("DROP TABLE IF EXISTS x")
    db.execute("CREATE TABLE x (a int4)")
    with pytest.raises(DriverError, match="not a column"):
        split(connection, PartitionHints(count=3, key="id; DROP TABLE x"), table=items)
    assert db.execute("SELECT to_regclass('x') IS NOT NULL").fetchone()[0]


def test_reversed_bounds_are_refused(connection, items) -> None:
    with pytest.raises(DriverError, match="reversed"):
        split(connection, PartitionHints(count=3, key="id", bounds=(10, 1)), table=items)


def test_specs_are_plain_json(connection, items) -> None:
    import json

    parts, _ = split(connection, PartitionHints(count=3, key="at"), table=items)
    for part in parts:
        assert json.loads(json.dumps(part.spec)) == part.spec


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(keys=st.lists(st.one_of(st.none(), st.integers(-50, 50)), max_size=40),
       count=st.integers(1, 6),
       bounds=st.one_of(st.none(), st.tuples(st.integers(-80, 80), st.integers(-80, 80)).map(sorted)))
def test_any_key_distribution_is_read_exactly_once(connection, db, keys, count, bounds) -> None:
    db.execute("DROP TABLE IF EXISTS rnd")
    db.execute("CREATE TABLE rnd (k int4, n int4)")
    if keys:
        with db.cursor() as cur:
            cur.executemany("INSERT INTO rnd VALUES (%s, %s)", [(k, i) for i, k in enumerate(keys)])
    parts = assert_exact(connection, PartitionHints(count=count, key="k", bounds=bounds), table="rnd")
    assert len(parts) <= count


def test_timestamp_cuts_are_even(connection, db) -> None:
    db.execute("DROP TABLE IF EXISTS ev")
    db.execute("CREATE TABLE ev (at timestamp PRIMARY KEY, v numeric)")
    db.execute("INSERT INTO ev VALUES ('2024-01-01 00:00', 1.5), ('2024-01-03 00:00', 2.5), "
               "('2024-01-02 00:00:00.5', NULL)")
    parts = assert_exact(connection, PartitionHints(count=2), table="ev")
    assert parts[1].spec["lo"] == dt.datetime(2024, 1, 2).isoformat()  # the middle of the two days
    assert_exact(connection, PartitionHints(count=3, key="v", bounds=(Decimal("1.5"), "2.5")), table="ev")


def test_timestamp_bounds_with_and_without_zone(connection, items) -> None:
    hints = PartitionHints(count=3, key="at", bounds=("2024-01-05", "2024-01-10T00:00:00+00:00"))
    parts = assert_exact(connection, hints, table=items)
    assert parts[1].spec["lo"].endswith("+00:00")
