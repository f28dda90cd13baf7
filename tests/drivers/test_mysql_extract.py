"""mysql.extractor against the real MariaDB: types, both read paths equal, ranges, failures."""

from __future__ import annotations

import datetime as dt
import gc
import threading
import time
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pymysql
import pytest

from osiris.drivers.mysql.extractor import MySQLExtractor
from osiris.runtime.driver import Cancelled, DriverError, ResolvedConnection, TransientError
from osiris.runtime.testing import RecordingContext
from tests.support.myrows import no_native, require_myrows  # noqa: F401 - no_native is a fixture

TYPES_DDL = """
CREATE TABLE types (
  id INT PRIMARY KEY,
  ti TINYINT, tiu TINYINT UNSIGNED, flag TINYINT(1), si SMALLINT, siu SMALLINT UNSIGNED,
  mi MEDIUMINT, miu MEDIUMINT UNSIGNED, i INT, iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED,
  f FLOAT, d DOUBLE, money DECIMAL(15,2), wide DECIMAL(38,10), widest DECIMAL(65,30), whole DECIMAL(5,0),
  day DATE, dtm DATETIME, dtm6 DATETIME(6), ts TIMESTAMP NULL, ts6 TIMESTAMP(6) NULL,
  tm TIME, tm6 TIME(6), yr YEAR,
  c CHAR(10), vc VARCHAR(100), tx TEXT, js JSON,
  bn BINARY(4), vb VARBINARY(20), bl BLOB,
  e ENUM('a','b','c'), st SET('x','y','z'), b1 BIT(1), b8 BIT(8), b64 BIT(64)
) CHARACTER SET utf8mb4
"""
ROW1 = """INSERT INTO types VALUES (1, -128, 255, 1, -32768, 65535, -8388608, 16777215, -2147483648,
 4294967295, -9223372036854775808, 18446744073709551615, 1.5, 2.25, 1234567890123.45,
 1234567890123456789012345678.0123456789,
 12345678901234567890123456789012345.123456789012345678901234567890, 99999,
 '2024-02-29', '2024-02-29 12:34:56', '2024-02-29 12:34:56.123456', '2024-02-29 12:34:56',
 '2038-01-19 03:14:07.999999', '00:00:00', '23:59:59.999999', 2155,
 'abc', 'héllo 😀', 'tëxt 🎉 ''quoted'' \\\\ back', '{"a": [1, 2]}', X'00FF0102', X'DEADBEEF', X'0001',
 'b', 'x,z', b'1', b'10101010', b'1111111111111111111111111111111111111111111111111111111111111111')"""
ROW2 = "INSERT INTO types (id) VALUES (2)"
ROW3 = """INSERT INTO types (id, ti, flag, money, wide, widest, dtm, tm, yr, vc, vb, b1, b8)
 VALUES (3, 127, 0, -0.01, -0.0000000001, -0.000000000000000000000000000001, '1000-01-01 00:00:00',
 '12:00:00', 1901, '', X'', b'0', b'0')"""

EXPECTED_SCHEMA = pa.schema([
    pa.field("id", pa.int32(), nullable=False),
    ("ti", pa.int8()), ("tiu", pa.uint8()), ("flag", pa.bool_()), ("si", pa.int16()), ("siu", pa.uint16()),
    ("mi", pa.int32()), ("miu", pa.uint32()), ("i", pa.int32()), ("iu", pa.uint32()), ("bi", pa.int64()),
    ("biu", pa.uint64()), ("f", pa.float32()), ("d", pa.float64()), ("money", pa.decimal128(15, 2)),
    ("wide", pa.decimal128(38, 10)), ("widest", pa.decimal256(65, 30)), ("whole", pa.decimal128(5, 0)),
    ("day", pa.date32()), ("dtm", pa.timestamp("us")), ("dtm6", pa.timestamp("us")),
    ("ts", pa.timestamp("us", tz="UTC")), ("ts6", pa.timestamp("us", tz="UTC")),
    ("tm", pa.time64("us")), ("tm6", pa.time64("us")), ("yr", pa.int16()),
    ("c", pa.string()), ("vc", pa.string()), ("tx", pa.string()), ("js", pa.string()),
    ("bn", pa.binary()), ("vb", pa.binary()), ("bl", pa.binary()),
    ("e", pa.string()), ("st", pa.string()), ("b1", pa.bool_()), ("b8", pa.uint64()), ("b64", pa.uint64()),
])
UTC = dt.UTC


def resolved(db: dict, **fields: Any) -> ResolvedConnection:
    base = {k: db[k] for k in ("host", "port", "user", "password", "database")}
    return ResolvedConnection("mysql", "test", {**base, **fields}, frozenset({"password"}))


def admin(db: dict) -> pymysql.connections.Connection:
    return pymysql.connect(host=db["host"], port=db["port"], user=db["user"], password=db["password"],
                           database=db["database"], charset="utf8mb4", autocommit=True)


def run_sql(db: dict, *statements: str) -> list[tuple]:
    conn = admin(db)
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
            return list(cur.fetchall())
    finally:
        conn.close()


def extract(db: dict, config: dict, **ctx_args: Any) -> tuple[pa.Table, RecordingContext]:
    ctx = RecordingContext(config=config, connection=resolved(db), component="mysql.extractor", **ctx_args)
    return MySQLExtractor().extract(ctx).read_all(), ctx


def running_statements(db: dict, marker: str, seconds: float) -> list[tuple]:
    """The server threads still running a statement that holds `marker`, after waiting up to `seconds` for none."""
    deadline = time.monotonic() + seconds
    while True:
        running = run_sql(db, f"SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE '%{marker}%' "
                          "AND INFO NOT LIKE '%PROCESSLIST%'")
        if not running or time.monotonic() > deadline:
            return running
        time.sleep(0.1)


def path_of(ctx: RecordingContext) -> str:
    return next(fields["path"] for name, fields in ctx.events if name == "mysql.extract.path")


@pytest.fixture(scope="module")
def db(mysql_db: dict) -> dict:
    run_sql(mysql_db, TYPES_DDL, ROW1, ROW2, ROW3,
            "CREATE TABLE tm_bad (id INT PRIMARY KEY, t TIME)", "INSERT INTO tm_bad VALUES (1, '-01:00:00')",
            "CREATE TABLE sparse (id BIGINT PRIMARY KEY, grp INT NULL, name VARCHAR(20))",
            "INSERT INTO sparse SELECT seq * seq, IF(seq % 10 = 0, NULL, seq % 7), CONCAT('n', seq) "
            "FROM seq_1_to_3000",
            "CREATE TABLE nokey (a VARCHAR(5), b INT)", "INSERT INTO nokey VALUES ('x', 1), ('y', 2)",
            "CREATE TABLE floats (id INT PRIMARY KEY, f FLOAT, d DOUBLE)",
            "INSERT INTO floats VALUES (1, 3.14159274, 0.1), (2, 16777217, 1e308), "
            "(3, 1.17549435e-38, 5e-324)")
    return mysql_db


@pytest.mark.parametrize("mode", ["bulk", "stream"])
@pytest.mark.mysql
def test_every_type_maps_to_the_documented_arrow_type(db: dict, mode: str) -> None:
    table, ctx = extract(db, {"table": "types", "fetch_mode": mode})
    assert path_of(ctx) == mode
    assert table.schema == EXPECTED_SCHEMA
    rows = {row["id"]: row for row in table.to_pylist()}
    one = rows[1]
    assert one["biu"] == 18446744073709551615 and one["bi"] == -9223372036854775808
    assert one["flag"] is True and one["f"] == 1.5 and one["d"] == 2.25
    assert one["money"] == Decimal("1234567890123.45")
    assert one["wide"] == Decimal("1234567890123456789012345678.0123456789")
    assert one["widest"] == Decimal("12345678901234567890123456789012345.123456789012345678901234567890")
    assert one["whole"] == Decimal("99999")
    assert one["day"] == dt.date(2024, 2, 29)
    assert one["dtm"] == dt.datetime(2024, 2, 29, 12, 34, 56)
    assert one["dtm6"] == dt.datetime(2024, 2, 29, 12, 34, 56, 123456)
    assert one["ts"] == dt.datetime(2024, 2, 29, 12, 34, 56, tzinfo=UTC)
    assert one["ts6"] == dt.datetime(2038, 1, 19, 3, 14, 7, 999999, tzinfo=UTC)
    assert one["tm"] == dt.time(0, 0) and one["tm6"] == dt.time(23, 59, 59, 999999)
    assert one["yr"] == 2155
    assert one["vc"] == "héllo 😀" and one["tx"] == "tëxt 🎉 'quoted' \\ back"
    assert one["js"].replace(" ", "") == '{"a":[1,2]}'
    assert (one["bn"], one["vb"], one["bl"]) == (b"\x00\xff\x01\x02", b"\xde\xad\xbe\xef", b"\x00\x01")
    assert (one["e"], one["st"]) == ("b", "x,z")
    assert (one["b1"], one["b8"], one["b64"]) == (True, 170, 2**64 - 1)
    assert all(value is None for key, value in rows[2].items() if key != "id")
    three = rows[3]
    assert three["money"] == Decimal("-0.01") and three["wide"] == Decimal("-0.0000000001")
    assert three["widest"] == Decimal("-0.000000000000000000000000000001")
    assert three["dtm"] == dt.datetime(1000, 1, 1) and three["yr"] == 1901
    assert (three["vc"], three["vb"], three["b1"], three["b8"], three["flag"]) == ("", b"", False, 0, False)


@pytest.mark.mysql
def test_bulk_and_stream_paths_give_identical_tables(db: dict) -> None:
    bulk, _ = extract(db, {"table": "types", "fetch_mode": "bulk"})
    stream, _ = extract(db, {"table": "types", "fetch_mode": "stream"})
    assert bulk.sort_by("id").equals(stream.sort_by("id"), check_metadata=True)
    query = "SELECT id, money, widest, ts6, vc, b8 FROM types WHERE id <> 2"
    qbulk, ctx = extract(db, {"query": query, "partition_on": "id"})
    assert path_of(ctx) == "bulk"
    qstream, ctx = extract(db, {"query": query, "fetch_mode": "stream"})
    assert path_of(ctx) == "stream"
    assert qbulk.sort_by("id").equals(qstream.sort_by("id")) and qbulk.num_rows == 2


CX_SAFE = [f.name for f in EXPECTED_SCHEMA if f.name not in ("tm", "tm6", "b1", "b8", "b64", "wide", "widest")]


@pytest.mark.mysql
@pytest.mark.usefixtures("no_native")
def test_a_query_is_read_through_connectorx_when_its_columns_allow(db: dict) -> None:
    query = f"SELECT {', '.join(CX_SAFE)} FROM types ORDER BY id DESC"
    cxs, ctx = extract(db, {"query": query})
    assert path_of(ctx) == "cxstream"
    stream, _ = extract(db, {"query": query, "fetch_mode": "stream"})
    assert cxs.equals(stream, check_metadata=True)
    assert cxs.schema == pa.schema([EXPECTED_SCHEMA.field(name) for name in CX_SAFE])
    assert cxs.column("id").to_pylist() == [3, 2, 1]  # the query's own ORDER BY is kept
    for column in ("tm", "b8", "wide"):  # connectorx cannot carry these exactly: pymysql reads them
        table, ctx = extract(db, {"query": f"SELECT id, {column} FROM types"})
        reason = next(f["reason"] for name, f in ctx.events if name == "mysql.extract.path")
        assert path_of(ctx) == "stream" and column in reason and table.num_rows == 3


@pytest.mark.mysql
@pytest.mark.usefixtures("no_native")
def test_a_slow_consumer_spools_the_query_to_disk_and_loses_nothing(db: dict) -> None:
    query = "SELECT a.id, b.id AS id2 FROM sparse a, sparse b ORDER BY a.id, b.id LIMIT 1500000"
    ctx = RecordingContext(config={"query": query, "batch_size": 50_000}, connection=resolved(db),
                           memory_limit_bytes=1 << 20)
    reader = MySQLExtractor().extract(ctx)
    first = reader.read_next_batch()
    spool_dirs = list(ctx.temp_dir.glob("osiris-read-*"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not any(d.glob("spool-*.arrow") for d in spool_dirs):
        time.sleep(0.05)
        spool_dirs = list(ctx.temp_dir.glob("osiris-read-*"))
    assert any(d.glob("spool-*.arrow") for d in spool_dirs), "connectorx never got ahead of the consumer"
    rest = reader.read_all()
    ids = pa.concat_arrays([first.column("id"), *rest.column("id").chunks])
    assert len(ids) == 1_500_000 and ids.to_pylist()[:2] == [1, 1]
    assert pa.compute.all(pa.compute.greater_equal(ids.slice(1), ids.slice(0, len(ids) - 1))).as_py()
    spooled = [f for name, f in ctx.events if name == "mysql.extract.spooled"]
    assert spooled and spooled[0]["batches"] > 0
    assert not list(ctx.temp_dir.glob("osiris-read-*/*"))


@pytest.mark.parametrize("path", ["native", "cxstream"])
@pytest.mark.mysql
def test_stopping_a_query_early_kills_it_on_the_server(db: dict, path: str, request: pytest.FixtureRequest) -> None:
    if path == "cxstream":
        request.getfixturevalue("no_native")
    marker = f"osiris_early_stop_{path}"
    query = f"SELECT /* {marker} */ a.id, b.id AS id2 FROM sparse a, sparse b"
    table, ctx = extract(db, {"query": query, "limit": 10, "batch_size": 5})
    assert path_of(ctx) == path and table.num_rows == 10
    assert not running_statements(db, marker, seconds=10)
    assert not [t for t in threading.enumerate() if t.name == f"osiris-mysql-{path}"]


@pytest.mark.mysql
@pytest.mark.usefixtures("no_native")
def test_key_ranges_cover_sparse_keys_and_null_partition_values(db: dict) -> None:
    expected = sorted(n * n for n in range(1, 3001))
    table, ctx = extract(db, {"table": "sparse", "batch_size": 100}, memory_limit_bytes=1 << 20)
    assert path_of(ctx) == "bulk"
    assert sorted(table.column("id").to_pylist()) == expected
    assert max(b.num_rows for b in table.to_batches()) <= 100
    by_group, ctx = extract(db, {"table": "sparse", "partition_on": "grp", "batch_size": 100})
    assert path_of(ctx) == "bulk" and sorted(by_group.column("id").to_pylist()) == expected
    assert by_group.column("grp").null_count == 300


@pytest.mark.mysql
def test_limit_and_columns_on_both_paths(db: dict) -> None:
    for mode in ("bulk", "stream"):
        table, _ = extract(db, {"table": "sparse", "columns": ["name", "id"], "limit": 250,
                                "batch_size": 100, "fetch_mode": mode})
        assert table.num_rows == 250 and table.schema.names == ["name", "id"]
    table, _ = extract(db, {"query": "SELECT id FROM sparse ORDER BY id DESC", "limit": 3})
    assert table.column("id").to_pylist() == [9_000_000, 2999 * 2999, 2998 * 2998]


@pytest.mark.mysql
@pytest.mark.usefixtures("no_native")
def test_auto_falls_back_to_stream_without_an_integer_key(db: dict) -> None:
    table, ctx = extract(db, {"table": "nokey"})
    assert path_of(ctx) == "stream" and table.num_rows == 2
    with pytest.raises(DriverError, match="no primary key"):
        extract(db, {"table": "nokey", "fetch_mode": "bulk"})
    with pytest.raises(DriverError, match="not an integer"):
        extract(db, {"table": "nokey", "partition_on": "a"})


@pytest.mark.parametrize("mode", ["bulk", "stream"])
@pytest.mark.mysql
def test_time_that_is_not_a_time_of_day_fails_clearly(db: dict, mode: str) -> None:
    with pytest.raises(DriverError, match="not a time of day") as info:
        extract(db, {"table": "tm_bad", "fetch_mode": mode})
    assert "TIME_TO_SEC" in (info.value.hint or "")


@pytest.mark.mysql
def test_sql_errors_carry_the_server_message(db: dict) -> None:
    with pytest.raises(DriverError, match=r"doesn't exist \(MySQL error 1146\)") as info:
        extract(db, {"query": "SELECT * FROM no_such_table"})
    assert not isinstance(info.value, TransientError)
    with pytest.raises(DriverError, match="1064"):
        extract(db, {"query": "SELEC 1"})


@pytest.mark.mysql
def test_wrong_password_never_appears_in_the_error(db: dict) -> None:
    run_sql(db, "CREATE USER IF NOT EXISTS 'osiris_pw_test'@'%' IDENTIFIED BY 'Corr#ct-horse@1'")
    secret = "Wr0ng#p@ss/word"
    ctx = RecordingContext(config={"table": "types"},
                           connection=resolved(db, user="osiris_pw_test", password=secret))
    try:
        with pytest.raises(DriverError) as info:
            MySQLExtractor().extract(ctx)
    finally:
        run_sql(db, "DROP USER IF EXISTS 'osiris_pw_test'@'%'")
    text = f"{info.value} {info.value.hint}"
    assert "1045" in text and secret not in text and "Wr0ng" not in text


@pytest.mark.parametrize("mode", ["auto", "stream"])
@pytest.mark.mysql
def test_killed_connection_mid_stream_is_a_transient_error(db: dict, mode: str) -> None:
    marker = "osiris_kill_marker"
    query = f"SELECT /* {marker} */ a.id, b.id AS id2 FROM sparse a, sparse b"
    ctx = RecordingContext(config={"query": query, "batch_size": 1000, "fetch_mode": mode}, connection=resolved(db))
    reader = MySQLExtractor().extract(ctx)
    reader.read_next_batch()
    ids = running_statements(db, marker, seconds=0)
    assert len(ids) == 1
    run_sql(db, f"KILL {ids[0][0]}")
    with pytest.raises(TransientError, match="MySQL error 20(13|06)"):
        while True:
            reader.read_next_batch()


@pytest.mark.mysql
@pytest.mark.usefixtures("no_native")
def test_database_dropped_during_a_bulk_read_fails_clearly(db: dict) -> None:
    scratch = f"{db['database']}_drop"
    run_sql(db, f"CREATE DATABASE `{scratch}`",
            f"CREATE TABLE `{scratch}`.t (id INT PRIMARY KEY, v INT)",
            f"INSERT INTO `{scratch}`.t SELECT seq, seq FROM seq_1_to_20000")
    ctx = RecordingContext(config={"table": "t", "batch_size": 100},
                           connection=resolved(db, database=scratch), memory_limit_bytes=1 << 20)
    reader = MySQLExtractor().extract(ctx)
    reader.read_next_batch()
    run_sql(db, f"DROP DATABASE `{scratch}`")
    with pytest.raises(DriverError, match="1146|1049|2013"):
        while True:
            reader.read_next_batch()


@pytest.mark.mysql
def test_float_values_are_exact_on_both_paths(db: dict) -> None:
    """The text protocol prints FLOAT with 6 digits; the stream path reads it as DOUBLE instead."""
    bulk, _ = extract(db, {"table": "floats", "fetch_mode": "bulk"})
    stream, _ = extract(db, {"table": "floats", "fetch_mode": "stream"})
    assert bulk.sort_by("id").equals(stream.sort_by("id"))
    assert stream.sort_by("id").column("f").to_pylist()[:2] == [3.1415927410125732, 16777216.0]


@pytest.mark.parametrize("mode", ["native", "bulk", "stream", "cxstream"])
@pytest.mark.mysql
def test_cancellation_stops_the_read_and_its_threads(db: dict, mode: str, request: pytest.FixtureRequest) -> None:
    if mode == "cxstream":
        request.getfixturevalue("no_native")
    source = {"query": "SELECT * FROM sparse"} if mode == "cxstream" else {"table": "sparse", "fetch_mode": mode}
    ctx = RecordingContext(config={**source, "batch_size": 100},
                           connection=resolved(db), memory_limit_bytes=1 << 20)
    reader = MySQLExtractor().extract(ctx)
    reader.read_next_batch()
    ctx.cancelled = True
    with pytest.raises(Cancelled):
        while True:
            reader.read_next_batch()
    assert path_of(ctx) == mode
    assert not [t for t in threading.enumerate() if t.name.startswith("osiris-mysql-")]


NATIVE_SAFE = [f.name for f in EXPECTED_SCHEMA if f.name not in ("tm", "tm6", "b1", "b8", "b64", "widest")]


@pytest.mark.mysql
def test_the_native_path_reads_every_type_it_decodes_as_the_stream_path_does(db: dict) -> None:
    require_myrows()
    table, ctx = extract(db, {"table": "types", "columns": NATIVE_SAFE})
    assert path_of(ctx) == "native"
    stream, _ = extract(db, {"table": "types", "columns": NATIVE_SAFE, "fetch_mode": "stream"})
    assert table.schema == pa.schema([EXPECTED_SCHEMA.field(name) for name in NATIVE_SAFE])
    assert table.sort_by("id").equals(stream.sort_by("id"), check_metadata=True)
    query = f"SELECT {', '.join(NATIVE_SAFE)} FROM types ORDER BY id DESC"
    ordered, ctx = extract(db, {"query": query, "fetch_mode": "native"})
    assert path_of(ctx) == "native" and ordered.column("id").to_pylist() == [3, 2, 1]
    assert ordered.equals(extract(db, {"query": query, "fetch_mode": "stream"})[0], check_metadata=True)
    floats, ctx = extract(db, {"table": "floats"})  # FLOAT travels as its four bytes: exact
    assert path_of(ctx) == "native"
    assert floats.sort_by("id").equals(extract(db, {"table": "floats", "fetch_mode": "stream"})[0].sort_by("id"))
    nokey, ctx = extract(db, {"table": "nokey"})  # no key needed
    assert path_of(ctx) == "native" and nokey.to_pydict() == {"a": ["x", "y"], "b": [1, 2]}


@pytest.mark.mysql
def test_columns_the_native_path_cannot_carry_go_another_way_and_say_why(db: dict) -> None:
    require_myrows()
    table, ctx = extract(db, {"table": "types"})
    reason = next(f["reason"] for name, f in ctx.events if name == "mysql.extract.path")
    assert path_of(ctx) == "bulk" and "'widest'" in reason and table.schema == EXPECTED_SCHEMA
    for column in ("tm", "b8"):
        with pytest.raises(DriverError, match=f"`fetch_mode: native` cannot read this: column '{column}'"):
            extract(db, {"query": f"SELECT id, {column} FROM types", "fetch_mode": "native"})


@pytest.mark.mysql
def test_a_zero_date_fails_the_native_read_with_the_column_and_a_way_out(db: dict) -> None:
    require_myrows()
    conn = admin(db)
    try:
        with conn.cursor() as cur:
            cur.execute("SET SESSION sql_mode = ''")
            cur.execute("CREATE TABLE zero_dates (id INT PRIMARY KEY, d DATE, t DATETIME)")
            cur.execute("INSERT INTO zero_dates VALUES (1, '2024-01-02', '2024-01-02 03:04:05'), "
                        "(2, '0000-00-00', '2024-01-02 03:04:05'), (3, '2024-01-02', '2024-00-00 00:00:00'), "
                        "(4, '0000-01-01', '0000-12-31 23:59:59')")
    finally:
        conn.close()
    with pytest.raises(DriverError, match="column 'd' holds the zero or partial date 0000-00-00") as info:
        extract(db, {"table": "zero_dates", "columns": ["id", "d"]})
    assert "NULLIF(d, '0000-00-00')" in (info.value.hint or "")
    with pytest.raises(DriverError, match="column 't' holds the zero or partial date 2024-00-00"):
        extract(db, {"query": "SELECT id, t FROM zero_dates"})
    table, ctx = extract(db, {"query": "SELECT id, NULLIF(d, '0000-00-00') AS d FROM zero_dates ORDER BY id"})
    assert table.column("d").cast(pa.int32()).to_pylist() == [19724, None, 19724, -719528]  # year 0 is a date
    assert path_of(ctx) == "native"
    year_zero = "SELECT d, t FROM zero_dates WHERE id = 4"
    assert extract(db, {"query": year_zero})[0].equals(extract(db, {"query": year_zero, "fetch_mode": "stream"})[0])


@pytest.mark.mysql
def test_a_server_error_after_the_first_rows_fails_the_native_read(db: dict) -> None:
    require_myrows()
    run_sql(db, "CREATE TABLE twice (k INT)", "INSERT INTO twice SELECT seq FROM seq_1_to_2000",
            "INSERT INTO twice VALUES (1936)")
    query = "SELECT s.id, (SELECT k FROM twice WHERE k = s.id) AS k FROM sparse s ORDER BY s.id"  # 1936 = 44² repeats
    ctx = RecordingContext(config={"query": query, "batch_size": 10}, connection=resolved(db))
    reader = MySQLExtractor().extract(ctx)
    assert reader.read_next_batch().num_rows == 10  # rows came before the error
    with pytest.raises(DriverError, match="1242"):
        while True:
            reader.read_next_batch()
    assert path_of(ctx) == "native"


@pytest.mark.mysql
def test_closing_a_native_read_while_the_server_is_quiet_returns_and_stops_the_query(db: dict) -> None:
    """The reader thread may sit in recv while the server computes; closing must not wait for it."""
    require_myrows()
    marker = "osiris_quiet_close"
    query = f"SELECT /* {marker} */ seq, REPEAT('x', 200) AS pad, IF(seq = 300, SLEEP(600), 0) AS s FROM seq_1_to_400"
    ctx = RecordingContext(config={"query": query, "batch_size": 200}, connection=resolved(db))
    readers = [MySQLExtractor().extract(ctx)]
    assert readers[0].read_next_batch().num_rows == 200

    def drop() -> None:  # as the runtime lets go of a reader: the batch generator is closed when collected
        reader = readers.pop()
        reader.close()
        del reader
        gc.collect()

    closer = threading.Thread(target=drop)
    closer.start()
    closer.join(timeout=60)
    assert not closer.is_alive(), "close() waited for the server"
    assert not running_statements(db, marker, seconds=30), "the statement still runs on the server"
    assert path_of(ctx) == "native"
    assert not [t for t in threading.enumerate() if t.name == "osiris-mysql-native"]


@pytest.mark.mysql
def test_results_the_native_decoder_does_not_take_are_read_another_way(db: dict) -> None:
    require_myrows()
    wide = "SELECT " + ", ".join(f"{i} AS c{i}" for i in range(4097))
    table, ctx = extract(db, {"query": wide})
    reason = next(f["reason"] for name, f in ctx.events if name == "mysql.extract.path")
    assert path_of(ctx) != "native" and "4097 columns" in reason and table.num_columns == 4097
    for statement in ("SELECT 1 INTO @v", "DO 1", "SET @a = 1"):
        with pytest.raises(DriverError, match="the query returns no rows") as info:
            extract(db, {"query": statement})
        assert "SELECT" in (info.value.hint or "")
