"""mysql.writer as a StagedWriter against the real MariaDB: stage per partition, publish all or nothing.

The reference is always `write()` of the whole stream: staging the same rows in partitions and
publishing them must leave the same rows and the same table definition, for every write mode.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from decimal import Decimal

import pyarrow as pa
import pymysql
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osiris.drivers.mysql.writer import MySQLWriter
from osiris.runtime.driver import DriverError, ResolvedConnection, StagedWriter
from osiris.runtime.testing import RecordingContext

pytestmark = pytest.mark.mysql
METHODS = ["insert", "load_data"]
SCHEMA = pa.schema([("id", pa.int64()), ("name", pa.string()), ("score", pa.decimal128(10, 2)),
                    ("seen", pa.timestamp("us", tz="UTC"))])


@pytest.fixture(scope="module")
def db(mysql_db: dict) -> dict:
    return mysql_db


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


def context(db: dict, **config: object) -> RecordingContext:
    return RecordingContext(config=config, connection=resolved(db), component="mysql.writer", mode="write")


def people(ids: list[int], tag: str = "n", names: list[str | None] | None = None) -> pa.Table:
    return pa.table({
        "id": pa.array(ids, pa.int64()),
        "name": names if names is not None else [f"{tag}{i}" for i in ids],
        "score": pa.array([Decimal(i % 10**6) / 4 for i in ids], pa.decimal128(10, 2)),
        "seen": pa.array([dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(hours=i % 10**6) for i in ids],
                         pa.timestamp("us", tz="UTC")),
    }, schema=SCHEMA)


def token() -> str:
    return uuid.uuid4().hex[:12]


def stage_all(db: dict, parts: list[pa.Table], tok: str, **config: object) -> int:
    writer = MySQLWriter()
    return sum(writer.stage(context(db, **config), part.to_reader(max_chunksize=2), tok, index).rows
               for index, part in enumerate(parts))


def publish(db: dict, tok: str, partitions: int, **config: object):
    return MySQLWriter().publish(context(db, **config), tok, partitions)


def snapshot(db: dict, table: str) -> tuple[list, str]:
    """Every row, sorted, and the table's definition as the server prints it (name left out)."""
    rows = sorted(run_sql(db, f"SELECT * FROM `{table}`"), key=repr)
    ddl = run_sql(db, f"SHOW CREATE TABLE `{table}`")[0][1].replace(f"`{table}`", "`T`", 1)
    return rows, ddl


def exists(db: dict, table: str) -> bool:
    return bool(run_sql(db, f"SHOW TABLES LIKE '{table}'"))


def leftovers(db: dict) -> list[str]:
    return sorted(r[0] for r in run_sql(db, "SHOW TABLES LIKE '\\_osiris\\_stage\\_%'"))


def make_target(db: dict, name: str, initial: pa.Table | None) -> None:
    run_sql(db, f"DROP TABLE IF EXISTS `{name}`")
    if initial is None:
        return
    run_sql(db, f"CREATE TABLE `{name}` (id INT PRIMARY KEY, name VARCHAR(20) NOT NULL, score DECIMAL(12,3), "
                "seen DATETIME(6), note VARCHAR(10) DEFAULT 'n/a', KEY by_name (name))")
    MySQLWriter().write(context(db, table=name, load_method="insert"), initial.to_reader())


PARTS = [people([4, 5, 2]), people([]), people([6, 2, 1], tag="late")]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("create", [False, True], ids=["existing", "created"])
@pytest.mark.parametrize("mode", ["append", "replace", "upsert"])
def test_staged_then_published_equals_one_write(db: dict, mode: str, create: bool, method: str) -> None:
    config = {"write_mode": mode, "primary_key": ["id"], "create_if_missing": create, "load_method": method}
    initial = None if create else people([1, 3])
    parts = PARTS if mode == "upsert" else [people([4, 5, 2]), people([]), people([6, 7, 8])]
    make_target(db, "via_write", initial)
    make_target(db, "via_stage", initial)
    whole = MySQLWriter().write(context(db, table="via_write", **config),
                                pa.concat_tables(parts).to_reader(max_chunksize=2))
    before = None if create else snapshot(db, "via_stage")
    tok = token()
    staged_rows = stage_all(db, parts, tok, table="via_stage", **config)
    if create:  # staging neither creates nor touches the target
        assert not exists(db, "via_stage")
    else:
        assert snapshot(db, "via_stage") == before
    result = publish(db, tok, len(parts), table="via_stage", **config)
    assert snapshot(db, "via_stage") == snapshot(db, "via_write")
    assert result.rows == whole.rows == staged_rows == 6
    assert result.target == "via_stage"
    assert leftovers(db) == []


ROUND_TRIP = pa.table({
    "code": ["a", "b", "c"],
    "flag": [True, False, None],
    "u64": pa.array([2**64 - 1, 0, None], pa.uint64()),
    "f64": [1e300, -1 / 3, None],
    "money": pa.array([Decimal("1234567890123.45"), Decimal("-0.01"), None], pa.decimal128(15, 2)),
    "day": pa.array([dt.date(2024, 2, 29), dt.date(1000, 1, 1), None], pa.date32()),
    "at": pa.array([dt.datetime(2024, 2, 29, 12, 34, 56, 123456), dt.datetime(9999, 12, 31, 23, 59, 59),
                    None], pa.timestamp("us")),
    "tod": pa.array([dt.time(23, 59, 59, 999999), dt.time(0, 0), None], pa.time64("us")),
    "text": ["héllo 😀", "it's \"q\" \\ \n", None],
    "blob": pa.array([b"\x00\xff\x01", b"", None], pa.binary()),
    "fixed": pa.array([b"ab", b"cd", None], pa.binary(2)),
})


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("mode", ["append", "replace"])
def test_a_created_table_is_the_one_write_creates(db: dict, method: str, mode: str) -> None:
    config = {"create_if_missing": True, "primary_key": "code", "load_method": method, "write_mode": mode}
    make_target(db, "rt_write", None)
    make_target(db, "rt_stage", None)
    MySQLWriter().write(context(db, table="rt_write", **config), ROUND_TRIP.to_reader(max_chunksize=1))
    tok = token()
    stage_all(db, [ROUND_TRIP.slice(0, 1), ROUND_TRIP.slice(1)], tok, table="rt_stage", **config)
    publish(db, tok, 2, table="rt_stage", **config)
    staged, written = snapshot(db, "rt_stage"), snapshot(db, "rt_write")
    assert staged == written
    assert "primary key (`code`)" in staged[1].lower() and "_osiris" not in staged[1]


def test_a_retried_partition_counts_once(db: dict) -> None:
    make_target(db, "retried", people([1]))
    tok = token()
    writer = MySQLWriter()
    ctx = context(db, table="retried")
    writer.stage(ctx, people([10, 11, 12]).to_reader(), tok, 0)
    writer.stage(ctx, people([20, 21], tag="first").to_reader(), tok, 1)
    writer.stage(ctx, people([20, 21], tag="retry").to_reader(), tok, 1)
    assert writer.publish(ctx, tok, 2).rows == 5
    assert run_sql(db, "SELECT id, name FROM retried ORDER BY id") == [
        (1, "n1"), (10, "n10"), (11, "n11"), (12, "n12"), (20, "retry20"), (21, "retry21")]


@pytest.mark.parametrize("method", METHODS)
def test_upsert_keeps_the_later_partitions_row(db: dict, method: str) -> None:
    make_target(db, "upserted", people([1, 2]))
    tok = token()
    parts = [people([2, 3], tag="p0"), people([3, 2], tag="p1"), people([], tag="p2"),
             people([3, 3], names=["p3-first", "p3-last"])]
    config = {"table": "upserted", "write_mode": "upsert", "primary_key": "id", "load_method": method}
    stage_all(db, parts, tok, **config)
    publish(db, tok, len(parts), **config)
    assert run_sql(db, "SELECT id, name FROM upserted ORDER BY id") == [(1, "n1"), (2, "p12"), (3, "p3-last")]


@pytest.mark.parametrize("mode", ["append", "replace", "upsert"])
@pytest.mark.parametrize("broken", ["not-null", "dropped-stage", "bad-cast", "unfinished-stage"])
def test_a_publish_failing_half_way_changes_nothing(db: dict, mode: str, broken: str) -> None:
    make_target(db, "guarded", people([1, 2, 3]))
    before = snapshot(db, "guarded")
    tok = token()
    config = {"table": "guarded", "write_mode": mode, "primary_key": "id"}
    parts = [people([4, 5]), people([6]), people([7, 8])]
    if broken == "not-null":
        parts[2] = people([7, 8], names=["ok", None])
    if broken == "bad-cast":
        parts[1] = people([2**40])  # does not fit the target's INT id
    stage_all(db, parts, tok, **config)
    if broken == "dropped-stage":
        run_sql(db, f"DROP TABLE `_osiris_stage_{tok}_p1`")
    if broken == "unfinished-stage":  # a task that died between its CREATE and its commit
        run_sql(db, f"ALTER TABLE `_osiris_stage_{tok}_p1` COMMENT = ''")
    with pytest.raises(DriverError) as failure:
        publish(db, tok, len(parts), **config)
    expected = {"not-null": "cannot be null", "dropped-stage": "partition 1 has no staging table",
                "bad-cast": "Out of range", "unfinished-stage": "partition 1 was not staged completely"}[broken]
    assert expected in str(failure.value)
    assert snapshot(db, "guarded") == before
    assert [t for t in run_sql(db, "SHOW TABLES") if "__osiris_" in t[0]] == []  # no replace copy left
    assert leftovers(db)  # the backend discards them
    MySQLWriter().discard(context(db, **config), tok, len(parts))
    assert leftovers(db) == []


def test_a_failed_create_if_missing_publish_leaves_no_table(db: dict) -> None:
    make_target(db, "never", None)
    tok = token()
    config = {"table": "never", "create_if_missing": True, "primary_key": "id"}
    stage_all(db, [people([1]), people([1])], tok, **config)  # the key repeats: append fails
    with pytest.raises(DriverError, match="Duplicate entry"):
        publish(db, tok, 2, **config)
    assert not exists(db, "never")
    MySQLWriter().discard(context(db, **config), tok, 2)
    assert leftovers(db) == []


@pytest.mark.parametrize("method", METHODS)
def test_discard_after_a_failed_stage(db: dict, method: str) -> None:
    make_target(db, "half", people([1]))
    tok = token()
    writer = MySQLWriter()
    ctx = context(db, table="half", load_method=method, batch_size=1)
    writer.stage(ctx, people([2, 3]).to_reader(), tok, 0)

    def batches() -> Iterator[pa.RecordBatch]:
        yield from people([4, 5]).to_batches(max_chunksize=1)
        raise RuntimeError("upstream died")

    with pytest.raises(RuntimeError, match="upstream died"):
        writer.stage(ctx, pa.RecordBatchReader.from_batches(SCHEMA, batches()), tok, 1)
    assert leftovers(db) == [f"_osiris_stage_{tok}_p0"]  # the failed partition dropped its table
    writer.discard(ctx, tok, 2)
    writer.discard(ctx, tok, 2)  # quiet when nothing is left
    assert leftovers(db) == []
    assert run_sql(db, "SELECT id FROM half") == [(1,)]


def test_discard_finds_partitions_beyond_the_count(db: dict) -> None:
    tok = token()
    ctx = context(db, table="anything")
    MySQLWriter().stage(ctx, people([1]).to_reader(), tok, 7)
    MySQLWriter().discard(ctx, tok, 2)
    assert leftovers(db) == []


@pytest.mark.parametrize("bad", ["ABCDEFGHIJKL", "abc", "abcdefghijk`", "x`; drop --", "abcdefghijklm", 12])
def test_a_hostile_token_is_refused(db: dict, bad: object) -> None:
    make_target(db, "safe", people([1]))
    writer: StagedWriter = MySQLWriter()
    ctx = context(db, table="safe")
    with pytest.raises(DriverError, match="token"):
        writer.stage(ctx, people([2]).to_reader(), bad, 0)  # type: ignore[arg-type]
    with pytest.raises(DriverError, match="token"):
        writer.publish(ctx, bad, 1)  # type: ignore[arg-type]
    with pytest.raises(DriverError, match="token"):
        writer.discard(ctx, bad, 1)  # type: ignore[arg-type]
    with pytest.raises(DriverError, match="partition"):
        writer.stage(ctx, people([2]).to_reader(), token(), -1)
    assert leftovers(db) == []
    assert run_sql(db, "SELECT id FROM safe") == [(1,)]


def test_partitions_staged_with_different_columns_are_refused(db: dict) -> None:
    make_target(db, "mixed", people([1]))
    tok = token()
    ctx = context(db, table="mixed")
    MySQLWriter().stage(ctx, people([2]).to_reader(), tok, 0)
    MySQLWriter().stage(ctx, people([3]).select(["id", "name"]).to_reader(), tok, 1)
    with pytest.raises(DriverError, match="different columns"):
        MySQLWriter().publish(ctx, tok, 2)
    MySQLWriter().discard(ctx, tok, 2)
    assert run_sql(db, "SELECT id FROM mixed") == [(1,)]


def test_zero_partitions_is_refused(db: dict) -> None:
    with pytest.raises(DriverError, match="at least one"):
        MySQLWriter().publish(context(db, table="x"), token(), 0)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    keys=st.lists(st.integers(0, 5), max_size=20),
    cuts=st.lists(st.integers(0, 20), max_size=4),
    mode=st.sampled_from(["append", "upsert"]),
    method=st.sampled_from(METHODS),
)
def test_any_partitioning_publishes_what_one_write_writes(db: dict, keys: list[int], cuts: list[int], mode: str,
                                                         method: str) -> None:
    data = pa.table({"id": pa.array(keys, pa.int64()), "pos": pa.array(range(len(keys)), pa.int64())})
    bounds = sorted({0, len(keys), *(c for c in cuts if c <= len(keys))})
    parts = [data.slice(lo, hi - lo) for lo, hi in zip(bounds, bounds[1:], strict=False)] or [data]
    config: dict[str, object] = {"write_mode": mode, "create_if_missing": True, "load_method": method}
    if mode == "upsert":  # append with repeated ids: no key on the created table
        config["primary_key"] = "id"
    make_target(db, "prop_write", None)
    make_target(db, "prop_stage", None)
    MySQLWriter().write(context(db, table="prop_write", **config), data.to_reader(max_chunksize=3))
    tok = token()
    stage_all(db, parts, tok, table="prop_stage", **config)
    result = publish(db, tok, len(parts), table="prop_stage", **config)
    assert result.rows == len(keys)
    assert snapshot(db, "prop_stage") == snapshot(db, "prop_write")
    assert leftovers(db) == []


def test_staging_tables_live_in_the_targets_database(db: dict) -> None:
    other = f"{db['database']}_other"
    run_sql(db, f"DROP DATABASE IF EXISTS `{other}`", f"CREATE DATABASE `{other}`")
    try:
        tok = token()
        config = {"table": f"{other}.orders", "create_if_missing": True, "primary_key": "id", "write_mode": "upsert"}
        stage_all(db, [people([1, 2]), people([2], tag="b")], tok, **config)
        assert len(run_sql(db, f"SHOW TABLES FROM `{other}` LIKE '\\_osiris\\_stage\\_%'")) == 2
        assert leftovers(db) == []
        publish(db, tok, 2, **config)
        assert run_sql(db, f"SELECT id, name FROM `{other}`.orders ORDER BY id") == [(1, "n1"), (2, "b2")]
        assert run_sql(db, f"SHOW TABLES FROM `{other}`") == [("orders",)]
    finally:
        run_sql(db, f"DROP DATABASE IF EXISTS `{other}`")


def test_a_partition_count_that_is_not_a_number_is_refused(db: dict) -> None:
    with pytest.raises(DriverError, match="whole number"):
        MySQLWriter().discard(context(db, table="x"), token(), "3")  # type: ignore[arg-type]
