"""postgres.writer against the real server: modes, created DDL, all-or-nothing behaviour."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from zoneinfo import ZoneInfo

import psycopg
import pyarrow as pa
import pytest

from osiris.drivers.postgres.extractor import PostgresExtractor
from osiris.drivers.postgres.writer import PostgresWriter
from osiris.runtime.driver import Cancelled, DriverError, ResolvedConnection
from osiris.runtime.testing import RecordingContext


@pytest.fixture(scope="module")
def db(postgres_db: dict) -> Iterator[psycopg.Connection]:
    with psycopg.connect(postgres_db["dsn"], autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="module")
def connection(postgres_db: dict) -> ResolvedConnection:
    return ResolvedConnection("postgres", "w", {"dsn": postgres_db["dsn"]}, frozenset({"dsn"}))


def write(connection: ResolvedConnection, data: pa.Table | pa.RecordBatchReader, **config: object):
    ctx = RecordingContext(config=config, connection=connection, mode="write", batch_rows=2)
    reader = data.to_reader() if isinstance(data, pa.Table) else data
    return PostgresWriter().write(ctx, reader), ctx


def rows(db: psycopg.Connection, sql: str) -> list[tuple]:
    return db.execute(sql).fetchall()


def people(ids: list[int], names: list[str]) -> pa.Table:
    return pa.table({"id": pa.array(ids, pa.int64()), "name": names})


def failing(table: pa.Table, after: int, error: BaseException) -> pa.RecordBatchReader:
    def batches():
        for i, batch in enumerate(table.to_batches(max_chunksize=1)):
            if i == after:
                raise error
            yield batch

    return pa.RecordBatchReader.from_batches(table.schema, batches())


@pytest.fixture
def target(db: psycopg.Connection) -> Iterator[str]:
    db.execute("DROP TABLE IF EXISTS people")
    db.execute(
        "CREATE TABLE people (id int4 PRIMARY KEY, name varchar(20) NOT NULL, note text DEFAULT 'n/a')"
    )
    db.execute("INSERT INTO people (id, name) VALUES (1, 'old one'), (2, 'old two')")
    yield "people"
    db.execute("DROP TABLE IF EXISTS people")


@pytest.mark.postgres
def test_append_converts_types_through_staging(connection, db, target) -> None:
    result, ctx = write(connection, people([3, 4, 5], ["Čapek", "東京", "x"]), table=target)
    assert (result.rows, result.target) == (3, "public.people")
    assert rows(db, "SELECT id, name, note FROM people ORDER BY id")[2:] == [
        (3, "Čapek", "n/a"),
        (4, "東京", "n/a"),
        (5, "x", "n/a"),
    ]
    plan = dict(ctx.events)["postgres_write_plan"]
    assert plan["path"] == "staging"  # int64 -> int4 needs a cast
    assert ctx.progress_calls[-1][0] == 3


@pytest.mark.postgres
def test_append_copies_directly_when_types_match(connection, db, target) -> None:
    data = pa.table({"id": pa.array([7], pa.int32()), "name": ["direct"]})
    _, ctx = write(connection, data, table=target)
    assert dict(ctx.events)["postgres_write_plan"]["path"] == "copy"
    assert rows(db, "SELECT name, note FROM people WHERE id = 7") == [("direct", "n/a")]


@pytest.mark.postgres
def test_replace_swaps_contents(connection, db, target) -> None:
    write(connection, people([10, 11], ["a", "b"]), table=target, write_mode="replace")
    assert rows(db, "SELECT id, name FROM people ORDER BY id") == [(10, "a"), (11, "b")]


@pytest.mark.postgres
def test_upsert_updates_inserts_and_last_duplicate_wins(connection, db, target) -> None:
    data = people([2, 3, 3], ["new two", "first three", "last three"])
    result, _ = write(connection, data, table=target, write_mode="upsert", primary_key="id")
    assert result.rows == 3
    assert rows(db, "SELECT id, name FROM people ORDER BY id") == [
        (1, "old one"),
        (2, "new two"),
        (3, "last three"),
    ]


@pytest.mark.parametrize("mode", ["append", "replace", "upsert"])
@pytest.mark.postgres
def test_stream_failing_midway_leaves_target_unchanged(connection, db, target, mode) -> None:
    before = rows(db, "SELECT * FROM people ORDER BY id")
    data = failing(people([5, 6, 7, 8], list("abcd")), after=3, error=RuntimeError("upstream broke"))
    with pytest.raises(RuntimeError, match="upstream broke"):
        write(connection, data, table=target, write_mode=mode, primary_key="id")
    assert rows(db, "SELECT * FROM people ORDER BY id") == before


@pytest.mark.postgres
def test_cancel_midway_rolls_back(connection, db, target) -> None:
    before = rows(db, "SELECT * FROM people ORDER BY id")
    data = failing(people([5, 6, 7], list("abc")), after=2, error=Cancelled("step"))
    with pytest.raises(Cancelled):
        write(connection, data, table=target, write_mode="replace")
    assert rows(db, "SELECT * FROM people ORDER BY id") == before


@pytest.mark.postgres
def test_unique_violation_leaves_target_unchanged(connection, db, target) -> None:
    before = rows(db, "SELECT * FROM people ORDER BY id")
    for data in (
        people([9, 1], ["new", "dup"]),
        pa.table({"id": pa.array([9, 1], pa.int32()), "name": ["n", "d"]}),
    ):
        with pytest.raises(DriverError, match=r"\[23505\].*duplicate key") as info:
            write(connection, data, table=target)
        assert "upsert" in info.value.hint
        assert "Query was" not in str(info.value)
    assert rows(db, "SELECT * FROM people ORDER BY id") == before


@pytest.mark.postgres
def test_not_null_and_length_violations_are_driver_errors(connection, db, target) -> None:
    with pytest.raises(DriverError, match=r"\[23502\]"):
        write(connection, people([20], [None]), table=target)
    with pytest.raises(DriverError, match=r"\[22001\].*too long"):
        write(connection, people([21], ["x" * 21]), table=target)


@pytest.mark.postgres
def test_missing_table_extra_columns_and_missing_constraint(connection, db, target) -> None:
    with pytest.raises(DriverError, match="does not exist") as info:
        write(connection, people([1], ["a"]), table="nobody")
    assert "create_if_missing" in info.value.hint
    with pytest.raises(DriverError, match=r"\['Name'\] of the stream are not in") as info:
        write(connection, pa.table({"id": [1], "Name": ["a"]}), table=target)
    assert "case-sensitive" in info.value.hint
    db.execute("CREATE TABLE IF NOT EXISTS nokey (id int, v text)")
    with pytest.raises(DriverError, match=r"\[42P10\]") as info:
        write(
            connection,
            pa.table({"id": [1], "v": ["a"]}),
            table="nokey",
            write_mode="upsert",
            primary_key="id",
        )
    assert "PRIMARY KEY or UNIQUE" in info.value.hint


@pytest.mark.postgres
def test_create_if_missing_keeps_precision_and_types(connection, db) -> None:
    columns = {
        "id": pa.array([1, 2], pa.uint64()),
        "amount": pa.array([Decimal("12.34"), None], pa.decimal128(15, 2)),
        "big": pa.array([Decimal("9" * 28 + "." + "9" * 10), Decimal(0)], pa.decimal128(38, 10)),
        "u64": pa.array([2**64 - 1, 0], pa.uint64()),
        "at": pa.array(
            [dt.datetime(2024, 1, 1, 12, tzinfo=ZoneInfo("Europe/Prague")), None],
            pa.timestamp("ms", tz="Europe/Prague"),
        ),
        "naive": pa.array([dt.datetime(2024, 1, 1), None], pa.timestamp("ns")),
        "doc": pa.ExtensionArray.from_storage(pa.json_(), pa.array(['{"a": 1}', None])),
        "tags": pa.array([["x", "y"], []], pa.list_(pa.large_string())),
        "blob": pa.array([b"\x00", None], pa.large_binary()),
        "flag": pa.array([True, None]),
        "small": pa.array([-128, 127], pa.int8()),
        "label": pa.array(["a", "b"]).dictionary_encode(),
        "free": pa.array(["3.14159265358979323846264338327950288", None]),
    }
    fields = [pa.field(name, array.type) for name, array in columns.items()]
    fields[-1] = fields[-1].with_metadata({b"POSTGRESQL:type": b"numeric"})
    data = pa.Table.from_arrays(list(columns.values()), schema=pa.schema(fields))
    db.execute("DROP TABLE IF EXISTS created")
    result, _ = write(connection, data, table="created", create_if_missing=True, primary_key=["id"])
    assert result.rows == 2
    declared = dict(
        rows(
            db,
            """
        SELECT column_name, CASE WHEN data_type = 'numeric' THEN format('numeric(%s,%s)', numeric_precision,
               numeric_scale) WHEN data_type = 'ARRAY' THEN udt_name ELSE data_type END
        FROM information_schema.columns WHERE table_name = 'created'""",
        )
    )
    assert declared == {
        "id": "numeric(20,0)",
        "amount": "numeric(15,2)",
        "big": "numeric(38,10)",
        "u64": "numeric(20,0)",
        "at": "timestamp with time zone",
        "naive": "timestamp without time zone",
        "doc": "jsonb",
        "tags": "_text",
        "blob": "bytea",
        "flag": "boolean",
        "small": "smallint",
        "label": "text",
        "free": "numeric(,)",
    }
    assert rows(
        db,
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
        "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = 'created'::regclass AND i.indisprimary",
    ) == [("id",)]
    back = (
        PostgresExtractor()
        .extract(
            RecordingContext(config={"query": "SELECT * FROM created ORDER BY id"}, connection=connection)
        )
        .read_all()
        .to_pylist()
    )
    assert [(r["id"], r["u64"]) for r in back] == [(Decimal(1), Decimal(2**64 - 1)), (Decimal(2), Decimal(0))]
    first = back[0]
    assert first["amount"] == Decimal("12.34") and first["big"] == Decimal("9" * 28 + "." + "9" * 10)
    assert first["at"] == dt.datetime(2024, 1, 1, 11, tzinfo=dt.UTC)
    assert first["naive"] == dt.datetime(2024, 1, 1)
    assert json.loads(first["doc"]) == {"a": 1} and first["tags"] == ["x", "y"] and first["blob"] == b"\x00"
    assert (first["flag"], first["small"], first["label"]) == (True, -128, "a")
    assert first["free"] == "3.14159265358979323846264338327950288"


@pytest.mark.postgres
def test_round_trip_table_to_table_keeps_values(connection, db) -> None:
    db.execute("DROP TABLE IF EXISTS src; DROP TABLE IF EXISTS dst")
    db.execute(
        "CREATE TABLE src (id int8 PRIMARY KEY, n numeric(12,3), u uuid, j jsonb, ts timestamptz, "
        "d date, t time, b bytea, a int4[], i interval, ip inet)"
    )
    db.execute(
        'INSERT INTO src VALUES (1, 123456789.123, gen_random_uuid(), \'{"k": [1, "ü"]}\', '
        "'2024-05-06 07:08:09.123456+00', '2024-05-06', '07:08:09', '\\xdead', '{1,NULL}', "
        "'1 mon 2 days 00:00:03', '192.168.0.1'), (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, "
        "NULL)"
    )
    source = PostgresExtractor().extract(RecordingContext(config={"table": "src"}, connection=connection))
    write(connection, source, table="dst", create_if_missing=True, primary_key="id")
    assert (
        rows(
            db,
            "SELECT * FROM dst EXCEPT "
            "SELECT id, n, u, j, ts, d, t, b, a, i, NULLIF(format('%s', ip), '') FROM src",
        )
        == []
    )
    assert rows(db, "SELECT count(*) FROM dst") == [(2,)]


@pytest.mark.postgres
def test_empty_stream_creates_or_empties_the_table(connection, db) -> None:
    db.execute("DROP TABLE IF EXISTS empty_target")
    empty = pa.table({"id": pa.array([], pa.int32()), "v": pa.array([], pa.string())})
    result, _ = write(connection, empty, table="empty_target", create_if_missing=True)
    assert result.rows == 0 and rows(db, "SELECT count(*) FROM empty_target") == [(0,)]
    db.execute("INSERT INTO empty_target VALUES (1, 'x')")
    write(connection, empty, table="empty_target", write_mode="replace")
    assert rows(db, "SELECT count(*) FROM empty_target") == [(0,)]


@pytest.mark.postgres
def test_replace_of_a_referenced_table_deletes_instead_of_truncating(connection, db) -> None:
    db.execute("DROP TABLE IF EXISTS child; DROP TABLE IF EXISTS parent")
    db.execute("CREATE TABLE parent (id int4 PRIMARY KEY, v text)")
    db.execute("CREATE TABLE child (pid int4 REFERENCES parent (id))")
    db.execute("INSERT INTO parent VALUES (1, 'a'), (2, 'b')")
    write(
        connection,
        pa.table({"id": pa.array([3], pa.int32()), "v": ["c"]}),
        table="parent",
        write_mode="replace",
    )
    assert rows(db, "SELECT * FROM parent") == [(3, "c")]
    db.execute("INSERT INTO child VALUES (3)")
    with pytest.raises(DriverError, match=r"\[23503\].*foreign key") as info:
        write(
            connection,
            pa.table({"id": pa.array([4], pa.int32()), "v": ["d"]}),
            table="parent",
            write_mode="replace",
        )
    assert "referenced table" in info.value.hint
    assert rows(db, "SELECT * FROM parent") == [(3, "c")]
