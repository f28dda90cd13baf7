"""postgres.writer as a StagedWriter against the real server: stage per partition, publish all or nothing.

The reference is always `write()` of the whole stream: staging the same rows in partitions and
publishing them must leave the same rows and column types, for every write mode.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from decimal import Decimal

import psycopg
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osiris.drivers.postgres.writer import PostgresWriter
from osiris.runtime.driver import DriverError, ResolvedConnection, StagedWriter
from osiris.runtime.testing import RecordingContext

pytestmark = pytest.mark.postgres
UTC = dt.UTC
SCHEMA = pa.schema([("id", pa.int64()), ("name", pa.string()), ("score", pa.decimal128(10, 2)),
                    ("seen", pa.timestamp("us", tz="UTC"))])


@pytest.fixture(scope="module")
def db(postgres_db: dict) -> Iterator[psycopg.Connection]:
    with psycopg.connect(postgres_db["dsn"], autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="module")
def connection(postgres_db: dict) -> ResolvedConnection:
    return ResolvedConnection("postgres", "w", {"dsn": postgres_db["dsn"]}, frozenset({"dsn"}))


def context(connection: ResolvedConnection, **config: object) -> RecordingContext:
    return RecordingContext(config=config, connection=connection, component="postgres.writer", mode="write",
                            batch_rows=2)


def people(ids: list[int], tag: str = "n", names: list[str | None] | None = None) -> pa.Table:
    return pa.table({
        "id": pa.array(ids, pa.int64()),
        "name": names if names is not None else [f"{tag}{i}" for i in ids],
        "score": pa.array([Decimal(i % 10**6) / 4 for i in ids], pa.decimal128(10, 2)),
        "seen": pa.array([dt.datetime(2024, 1, 1, tzinfo=UTC) + dt.timedelta(hours=i % 10**6) for i in ids],
                         pa.timestamp("us", tz="UTC")),
    }, schema=SCHEMA)


def token() -> str:
    return uuid.uuid4().hex[:12]


def stage_all(connection: ResolvedConnection, parts: list[pa.Table], tok: str, **config: object) -> int:
    writer = PostgresWriter()
    rows = 0
    for index, part in enumerate(parts):
        rows += writer.stage(context(connection, **config), part.to_reader(max_chunksize=2), tok, index).rows
    return rows


def publish(connection: ResolvedConnection, tok: str, partitions: int, **config: object):
    return PostgresWriter().publish(context(connection, **config), tok, partitions)


def snapshot(db: psycopg.Connection, table: str) -> tuple[list, list]:
    """Every row as PostgreSQL prints it, sorted, and the columns with their declared types."""
    rows = db.execute(f'SELECT t::text FROM "{table}" AS t ORDER BY 1').fetchall()
    columns = db.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull FROM pg_attribute a "
        "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        (f'"{table}"',)).fetchall()
    key = db.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass "
                     "AND contype = 'p'", (f'"{table}"',)).fetchall()
    return rows, columns + key


def leftovers(db: psycopg.Connection) -> list[str]:
    return [r[0] for r in db.execute("SELECT relname FROM pg_class WHERE relname LIKE '\\_osiris\\_stage\\_%'")]


def make_target(db: psycopg.Connection, name: str, initial: pa.Table | None, connection: ResolvedConnection) -> None:
    db.execute(f'DROP TABLE IF EXISTS "{name}"')
    if initial is None:
        return
    db.execute(f'CREATE TABLE "{name}" (id int4 PRIMARY KEY, name varchar(20) NOT NULL, score numeric(12,3), '
               "seen timestamptz, note text DEFAULT 'n/a')")
    PostgresWriter().write(context(connection, table=name), initial.to_reader())


PARTS = [people([4, 5, 2]), people([]), people([6, 2, 1], tag="late")]


@pytest.mark.parametrize("create", [False, True], ids=["existing", "created"])
@pytest.mark.parametrize("mode", ["append", "replace", "upsert"])
def test_staged_then_published_equals_one_write(db: psycopg.Connection, connection: ResolvedConnection,
                                                mode: str, create: bool) -> None:
    config = {"write_mode": mode, "primary_key": ["id"], "create_if_missing": create}
    initial = None if create else people([1, 3])
    parts = PARTS if mode == "upsert" else [people([4, 5, 2]), people([]), people([6, 7, 8])]
    make_target(db, "via_write", initial, connection)
    make_target(db, "via_stage", initial, connection)
    whole = PostgresWriter().write(context(connection, table="via_write", **config),
                                   pa.concat_tables(parts).to_reader(max_chunksize=2))
    before = None if create else snapshot(db, "via_stage")
    tok = token()
    staged_rows = stage_all(connection, parts, tok, table="via_stage", **config)
    if create:  # staging neither creates nor touches the target
        assert db.execute("SELECT to_regclass('via_stage')").fetchone() == (None,)
    else:
        assert snapshot(db, "via_stage") == before
    result = publish(connection, tok, len(parts), table="via_stage", **config)
    assert snapshot(db, "via_stage") == snapshot(db, "via_write")
    assert result.rows == whole.rows == staged_rows == 6
    assert result.target == "public.via_stage"
    assert leftovers(db) == []


def test_staging_does_not_touch_the_target(db: psycopg.Connection, connection: ResolvedConnection) -> None:
    make_target(db, "untouched", people([1, 3]), connection)
    before = snapshot(db, "untouched")
    tok = token()
    stage_all(connection, PARTS, tok, table="untouched", write_mode="replace")
    assert snapshot(db, "untouched") == before
    assert sorted(leftovers(db)) == [f"_osiris_stage_{tok}_p{i}" for i in range(3)]
    PostgresWriter().discard(context(connection, table="untouched"), tok, 3)
    assert leftovers(db) == []


def test_a_retried_partition_counts_once(db: psycopg.Connection, connection: ResolvedConnection) -> None:
    make_target(db, "retried", people([1]), connection)
    tok = token()
    writer = PostgresWriter()
    ctx = context(connection, table="retried")
    writer.stage(ctx, people([10, 11, 12]).to_reader(), tok, 0)
    writer.stage(ctx, people([20, 21], tag="first").to_reader(), tok, 1)
    writer.stage(ctx, people([20, 21], tag="retry").to_reader(), tok, 1)
    result = writer.publish(ctx, tok, 2)
    assert result.rows == 5
    assert db.execute("SELECT id, name FROM retried ORDER BY id").fetchall() == [
        (1, "n1"), (10, "n10"), (11, "n11"), (12, "n12"), (20, "retry20"), (21, "retry21")]


def test_upsert_keeps_the_later_partitions_row(db: psycopg.Connection, connection: ResolvedConnection) -> None:
    make_target(db, "upserted", people([1, 2]), connection)
    tok = token()
    parts = [people([2, 3], tag="p0"), people([3, 2], tag="p1"), people([], tag="p2"),
             people([3, 3], names=["p3-first", "p3-last"])]
    config = {"table": "upserted", "write_mode": "upsert", "primary_key": "id"}
    stage_all(connection, parts, tok, **config)
    publish(connection, tok, len(parts), **config)
    assert db.execute("SELECT id, name FROM upserted ORDER BY id").fetchall() == [
        (1, "n1"), (2, "p12"), (3, "p3-last")]


@pytest.mark.parametrize("mode", ["append", "replace", "upsert"])
@pytest.mark.parametrize("broken", ["not-null", "dropped-stage", "bad-cast"])
def test_a_publish_failing_half_way_changes_nothing(db: psycopg.Connection, connection: ResolvedConnection,
                                                    mode: str, broken: str) -> None:
    make_target(db, "guarded", people([1, 2, 3]), connection)
    before = snapshot(db, "guarded")
    tok = token()
    config = {"table": "guarded", "write_mode": mode, "primary_key": "id"}
    parts = [people([4, 5]), people([6]), people([7, 8])]
    if broken == "not-null":
        parts[2] = people([7, 8], names=["ok", None])
    if broken == "bad-cast":
        parts[1] = people([2**40])  # does not fit the target's int4 id
    stage_all(connection, parts, tok, **config)
    if broken == "dropped-stage":
        db.execute(f'DROP TABLE "_osiris_stage_{tok}_p1"')
    with pytest.raises(DriverError) as failure:
        publish(connection, tok, len(parts), **config)
    expected = {"not-null": "null value", "dropped-stage": "partition 1 has no staging table",
                "bad-cast": "out of range"}[broken]
    assert expected in str(failure.value)
    assert snapshot(db, "guarded") == before
    assert leftovers(db)  # the rollback kept them; the backend discards them
    PostgresWriter().discard(context(connection, **config), tok, len(parts))
    assert leftovers(db) == []


def test_a_failed_create_if_missing_publish_leaves_no_table(db: psycopg.Connection,
                                                            connection: ResolvedConnection) -> None:
    db.execute("DROP TABLE IF EXISTS never")
    tok = token()
    config = {"table": "never", "create_if_missing": True, "primary_key": "id"}
    stage_all(connection, [people([1]), people([1])], tok, **config)  # the key repeats: append fails
    with pytest.raises(DriverError, match="duplicate key"):
        publish(connection, tok, 2, **config)
    assert db.execute("SELECT to_regclass('never')").fetchone() == (None,)
    PostgresWriter().discard(context(connection, **config), tok, 2)
    assert leftovers(db) == []


def test_discard_after_a_failed_stage(db: psycopg.Connection, connection: ResolvedConnection) -> None:
    make_target(db, "half", people([1]), connection)
    tok = token()
    writer = PostgresWriter()
    ctx = context(connection, table="half")
    writer.stage(ctx, people([2, 3]).to_reader(), tok, 0)

    def batches() -> Iterator[pa.RecordBatch]:
        yield from people([4]).to_batches()
        raise RuntimeError("upstream died")

    with pytest.raises(RuntimeError, match="upstream died"):
        writer.stage(ctx, pa.RecordBatchReader.from_batches(SCHEMA, batches()), tok, 1)
    assert leftovers(db) == [f"_osiris_stage_{tok}_p0"]  # the failed partition rolled back entirely
    writer.discard(ctx, tok, 2)
    writer.discard(ctx, tok, 2)  # quiet when nothing is left
    assert leftovers(db) == []
    assert db.execute("SELECT id FROM half").fetchall() == [(1,)]


def test_discard_finds_partitions_beyond_the_count(db: psycopg.Connection, connection: ResolvedConnection) -> None:
    tok = token()
    ctx = context(connection, table="anything")
    PostgresWriter().stage(ctx, people([1]).to_reader(), tok, 7)
    PostgresWriter().discard(ctx, tok, 2)
    assert leftovers(db) == []


@pytest.mark.parametrize("bad", ["ABCDEFGHIJKL", "abc", "abcdefghijk;", "x'); drop --", "abcdefghijklm", 12])
def test_a_hostile_token_is_refused(db: psycopg.Connection, connection: ResolvedConnection, bad: object) -> None:
    make_target(db, "safe", people([1]), connection)
    writer: StagedWriter = PostgresWriter()
    ctx = context(connection, table="safe")
    with pytest.raises(DriverError, match="token"):
        writer.stage(ctx, people([2]).to_reader(), bad, 0)  # type: ignore[arg-type]
    with pytest.raises(DriverError, match="token"):
        writer.publish(ctx, bad, 1)  # type: ignore[arg-type]
    with pytest.raises(DriverError, match="token"):
        writer.discard(ctx, bad, 1)  # type: ignore[arg-type]
    with pytest.raises(DriverError, match="partition"):
        writer.stage(ctx, people([2]).to_reader(), token(), -1)
    assert leftovers(db) == []
    assert db.execute("SELECT id FROM safe").fetchall() == [(1,)]


def test_partitions_staged_with_different_schemas_are_refused(db: psycopg.Connection,
                                                              connection: ResolvedConnection) -> None:
    make_target(db, "mixed", people([1]), connection)
    tok = token()
    ctx = context(connection, table="mixed")
    PostgresWriter().stage(ctx, people([2]).to_reader(), tok, 0)
    PostgresWriter().stage(ctx, people([3]).select(["id", "name"]).to_reader(), tok, 1)
    with pytest.raises(DriverError, match="different schema"):
        PostgresWriter().publish(ctx, tok, 2)
    PostgresWriter().discard(ctx, tok, 2)
    assert db.execute("SELECT id FROM mixed").fetchall() == [(1,)]


def test_zero_partitions_is_refused(connection: ResolvedConnection) -> None:
    with pytest.raises(DriverError, match="at least one"):
        PostgresWriter().publish(context(connection, table="x"), token(), 0)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    keys=st.lists(st.integers(0, 5), max_size=20),
    cuts=st.lists(st.integers(0, 20), max_size=4),
    mode=st.sampled_from(["append", "upsert"]),
)
def test_any_partitioning_publishes_what_one_write_writes(db: psycopg.Connection, connection: ResolvedConnection,
                                                         keys: list[int], cuts: list[int], mode: str) -> None:
    data = pa.table({"id": pa.array(keys, pa.int64()), "pos": pa.array(range(len(keys)), pa.int64())})
    bounds = sorted({0, len(keys), *(c for c in cuts if c <= len(keys))})
    parts = [data.slice(lo, hi - lo) for lo, hi in zip(bounds, bounds[1:], strict=False)] or [data]
    config = {"write_mode": mode, "primary_key": "id", "create_if_missing": True}
    for name in ("prop_write", "prop_stage"):
        db.execute(f"DROP TABLE IF EXISTS {name}")
    unique = mode == "upsert"
    if not unique:  # append with repeated ids: no key on the created table
        config = {"write_mode": mode, "create_if_missing": True}
    PostgresWriter().write(context(connection, table="prop_write", **config), data.to_reader(max_chunksize=3))
    tok = token()
    stage_all(connection, parts, tok, table="prop_stage", **config)
    result = publish(connection, tok, len(parts), table="prop_stage", **config)
    assert result.rows == len(keys)
    assert snapshot(db, "prop_stage") == snapshot(db, "prop_write")
    assert leftovers(db) == []


def test_staging_tables_live_in_the_targets_schema(db: psycopg.Connection, connection: ResolvedConnection) -> None:
    db.execute("DROP SCHEMA IF EXISTS sales CASCADE")
    db.execute("CREATE SCHEMA sales")
    tok = token()
    config = {"table": "sales.orders", "create_if_missing": True, "primary_key": "id", "write_mode": "upsert"}
    stage_all(connection, [people([1, 2]), people([2], tag="b")], tok, **config)
    assert db.execute("SELECT schemaname FROM pg_tables WHERE tablename LIKE '\\_osiris\\_stage\\_%'").fetchall() == [
        ("sales",), ("sales",)]
    assert publish(connection, tok, 2, **config).target == "sales.orders"
    assert db.execute("SELECT id, name FROM sales.orders ORDER BY id").fetchall() == [(1, "n1"), (2, "b2")]
    assert leftovers(db) == []
