"""The native COPY reader gives exactly what the ADBC reader gives, on the real PostgreSQL.

Each case reads the same SQL through both paths (stream_query, which must take the native path,
and stream_adbc) and compares the Arrow schema with its field metadata and every value: NULLs,
negative and 38-digit numerics, time zones, empty strings, unicode, 0 and 1 rows, many rows.
Values Arrow cannot hold (+/-infinity, numeric NaN) and server errors mid-stream fail both paths
with the same DriverError. Whole-table reads go over two page ranges in one exported snapshot:
a change committed after the read began is invisible to both ranges. Under CI an unbuilt decoder
fails these tests (tests/support/pgcopy.require_decoder).
"""

from __future__ import annotations

import gc
import os
import threading
import time

import psycopg
import pyarrow as pa
import pytest

from osiris.drivers.common.priority import READER_NICE
from osiris.drivers.postgres import native_stream
from osiris.drivers.postgres.connect import params_from
from osiris.drivers.postgres.extract import stream_adbc, stream_query
from osiris.drivers.postgres.extractor import PostgresExtractor
from osiris.runtime.driver import DriverError, ResolvedConnection
from osiris.runtime.testing import RecordingContext
from tests.support.pgcopy import require_decoder

pytestmark = pytest.mark.postgres

DDL = """
CREATE TABLE every_type (
  id int8 PRIMARY KEY, b bool, i2 int2, i4 int4, f4 float4, f8 float8, n12 numeric(12,2), n38 numeric(38,10),
  n1 numeric(1,0), t text, v varchar(20), c char(5), nm name, d date, tm time, ts timestamp, tz timestamptz,
  by bytea, u uuid, j json, jb jsonb
);
INSERT INTO every_type VALUES
  (1, true, -32768, 2147483647, 1.5, -2.25e300, -9999999999.99, 9999999999999999999999999999.9999999999, -9,
   '', 'Zürich — 東京 🚀', 'ab', 'a name', '4713-11-24 BC', '00:00', '0001-01-01 00:00', '2024-03-31 01:30+05:45',
   '', '00000000-0000-0000-0000-000000000000', '{"a" : [1, 2]}', '{"b": {"c": null}, "a": "ü"}'),
  (2, false, 32767, -2147483648, 'NaN', 'Infinity', 0.01, -0.0000000001, 0, 'tab	and
newline', '', '', '', '9999-12-31', '23:59:59.999999', '9999-12-31 23:59:59.999999', '1970-01-01 00:00-08',
   '\\x00ff10', 'ffffffff-ffff-ffff-ffff-ffffffffffff', 'null', '[]'),
  (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
   NULL, NULL),
  (4, true, 0, 0, '-Infinity', -0.0, -0.50, -1234567890123456789012345678.0123456789, 9, 'x', 'y', 'z', 'n',
   '2000-01-01', '12:00', '2000-01-01 00:00', '2000-01-01 00:00+00', '\\x', '12345678-1234-5678-1234-567812345678',
   '"s"', '1');
CREATE TABLE many AS
  SELECT g AS id, g % 7 = 0 AS flag, ((g * 37 % 100000) / 100.0)::numeric(12,2) AS amount, md5(g::text) AS name,
         CASE WHEN g % 5 = 0 THEN NULL ELSE 'note ' || g END AS note, DATE '2020-01-01' + g % 1000 AS day,
         TIMESTAMP '2020-01-01' + g * INTERVAL '1 second' AS created, g * 1.5::float8 AS score
  FROM generate_series(1, 20000) AS g;
CREATE TABLE empty_one (id int4, t text);
CREATE TABLE has_interval (id int4, iv interval, a int4[]);
INSERT INTO has_interval VALUES (1, '1 day 2 hours', '{1,NULL}');
"""


@pytest.fixture(scope="module")
def pg(postgres_db):
    require_decoder()
    with psycopg.connect(postgres_db["dsn"], autocommit=True) as conn:
        conn.execute(DDL)
    return postgres_db


def _connection(pg) -> ResolvedConnection:
    fields = {k: pg[k] for k in ("host", "port", "user", "database")}
    return ResolvedConnection("postgres", "test", fields, frozenset({"password"}))


def _both(pg, sql: str, batch_rows: int = 65536) -> tuple[pa.Table, pa.Table, RecordingContext]:
    params = params_from(_connection(pg), {})
    ctx = RecordingContext(config={}, connection=_connection(pg), batch_rows=batch_rows)
    native = stream_query(params, sql, ctx, batch_rows=batch_rows).read_all()
    assert ("postgres_reader", {"path": "native", "connections": 1}) in ctx.events, ctx.events
    adbc = stream_adbc(params, sql, RecordingContext(config={}), batch_rows=batch_rows).read_all()
    return native, adbc, ctx


def _assert_same(native: pa.Table, adbc: pa.Table) -> None:
    assert native.schema.equals(adbc.schema, check_metadata=True), f"{native.schema}\n---\n{adbc.schema}"
    assert native.num_rows == adbc.num_rows
    for name in native.column_names:
        ours, theirs = native.column(name), adbc.column(name)
        if pa.types.is_floating(ours.type):  # NaN is not equal to itself; its text is
            assert repr(ours.to_pylist()) == repr(theirs.to_pylist()), name
        else:
            assert ours.equals(theirs), name


@pytest.mark.parametrize("sql", [
    "SELECT * FROM every_type ORDER BY id",
    "SELECT * FROM every_type WHERE id = 1",
    "SELECT * FROM every_type WHERE false",
    "SELECT * FROM empty_one",
    "SELECT * FROM many ORDER BY id",
    "SELECT id, (-amount)::numeric(12,2) AS amount, note || '€' AS note FROM many ORDER BY id",
])
def test_the_native_reader_matches_adbc(pg, sql):
    native, adbc, _ = _both(pg, sql, batch_rows=3000)
    _assert_same(native, adbc)


def test_small_batches_cut_where_asked(pg):
    native, adbc, _ = _both(pg, "SELECT * FROM many ORDER BY id", batch_rows=1000)
    assert max(len(b) for b in native.to_batches()) == 1000
    _assert_same(native, adbc)


@pytest.mark.parametrize("sql", [
    "SELECT 'infinity'::timestamptz AS tz",
    "SELECT '-infinity'::timestamp AS ts",
    "SELECT 'infinity'::date AS d",
    "SELECT 'NaN'::numeric(12,2) AS n",
])
def test_values_arrow_cannot_hold_fail_both_paths_alike(pg, sql):
    params = params_from(_connection(pg), {})
    failures = []
    for read in (stream_query, stream_adbc):
        with pytest.raises(DriverError) as caught:
            read(params, sql, RecordingContext(config={}), batch_rows=100).read_all()
        failures.append(str(caught.value))
    assert failures[0] == failures[1]


def test_a_server_error_mid_stream_is_a_driver_error_with_its_sqlstate(pg):
    params = params_from(_connection(pg), {})
    sql = "SELECT 1 / (i - 30000) AS x FROM generate_series(1, 40000) AS i"
    for read, words in ((stream_query, r"reading rows failed \[22012\]: division by zero"),
                        (stream_adbc, "division by zero")):  # ADBC's COPY reader drops the SQLSTATE
        with pytest.raises(DriverError, match=words):
            read(params, sql, RecordingContext(config={}), batch_rows=100).read_all()


def test_an_unsupported_column_type_reads_through_adbc(pg):
    params = params_from(_connection(pg), {})
    ctx = RecordingContext(config={})
    table = stream_query(params, "SELECT * FROM has_interval", ctx, batch_rows=100).read_all()
    assert ctx.events[0][0] == "postgres_reader" and ctx.events[0][1]["path"] == "adbc"
    assert table.column("iv").type == pa.month_day_nano_interval()


def test_the_adbc_escape_hatch(pg, monkeypatch):
    monkeypatch.setenv(native_stream.READER_ENV, "adbc")
    params = params_from(_connection(pg), {})
    ctx = RecordingContext(config={})
    stream_query(params, "SELECT 1 AS x", ctx, batch_rows=100).read_all()
    assert ctx.events == [("postgres_reader", {"path": "adbc", "reason": "OSIRIS_POSTGRES_READER=adbc"})]


def _extract(pg, config, **kw):
    ctx = RecordingContext(config=config, connection=_connection(pg), **kw)
    return PostgresExtractor().extract(ctx), ctx


def test_a_table_read_over_two_connections_matches_adbc(pg, monkeypatch):
    monkeypatch.setattr(native_stream, "MIN_SPLIT_PAGES", 2)
    reader, ctx = _extract(pg, {"table": "many"}, batch_rows=500)
    native = reader.read_all()
    assert ("postgres_reader", {"path": "native", "connections": 2}) in ctx.events
    adbc = stream_adbc(params_from(_connection(pg), {}), "SELECT * FROM many", RecordingContext(config={}),
                       batch_rows=500).read_all()
    _assert_same(native.sort_by("id"), adbc.sort_by("id"))


def _many_ranges(monkeypatch) -> list[str]:
    """Split every table read into ranges of one page; the queries the readers run are recorded."""
    monkeypatch.setattr(native_stream, "MIN_SPLIT_PAGES", 2)
    monkeypatch.setattr(native_stream, "MIN_RANGE_PAGES", 1)
    seen: list[str] = []
    original = native_stream.copy_batches

    def recording(conn, queries, *args, **kwargs):
        def each():
            for sql in queries:
                seen.append(sql)
                yield sql
        return original(conn, each(), *args, **kwargs)

    monkeypatch.setattr(native_stream, "copy_batches", recording)
    return seen


def test_a_table_read_over_many_page_ranges_gets_every_row_once(pg, monkeypatch):
    queries = _many_ranges(monkeypatch)
    with psycopg.connect(pg["dsn"], autocommit=True) as conn:
        pages = conn.execute("SELECT pg_relation_size('many') / current_setting('block_size')::int").fetchone()[0]
    reader, ctx = _extract(pg, {"table": "many"}, batch_rows=700)
    native = reader.read_all()
    assert ("postgres_reader", {"path": "native", "connections": 2}) in ctx.events
    assert len(queries) == len(list(native_stream.PageRanges(pages, readers=2).bounds())) > 4
    assert len(set(queries)) == len(queries)
    adbc = stream_adbc(params_from(_connection(pg), {}), "SELECT * FROM many", RecordingContext(config={}),
                       batch_rows=500).read_all()
    _assert_same(native.sort_by("id"), adbc.sort_by("id"))


def test_a_limit_or_a_query_reads_on_one_connection(pg, monkeypatch):
    monkeypatch.setattr(native_stream, "MIN_SPLIT_PAGES", 2)
    for config in ({"table": "many", "limit": 10}, {"query": "SELECT * FROM many ORDER BY id"}):
        reader, ctx = _extract(pg, config)
        table = reader.read_all()
        assert ("postgres_reader", {"path": "native", "connections": 1}) in ctx.events
    assert table.column("id").to_pylist() == list(range(1, 20001))


@pytest.mark.parametrize("when", ["before the first range", "after the first range"])
def test_every_page_range_reads_one_snapshot(pg, monkeypatch, when):
    """Rows changed after the read's snapshot was taken, before any COPY or while the first range is
    read, are invisible to every range, on either connection."""
    queries = _many_ranges(monkeypatch)
    with psycopg.connect(pg["dsn"], autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS moving")
        conn.execute("CREATE TABLE moving AS SELECT g AS id, 'row ' || g AS t FROM generate_series(1, 20000) AS g")

    def change():
        with psycopg.connect(pg["dsn"], autocommit=True) as conn:
            conn.execute("DELETE FROM moving WHERE id % 2 = 0; UPDATE moving SET id = -id WHERE id % 3 = 0; "
                         "INSERT INTO moving SELECT g, 'new' FROM generate_series(20001, 30000) AS g")

    original_read, original_clauses = native_stream._read, native_stream.PageRanges.clauses

    def change_then_read(*args, **kwargs):
        change()
        return original_read(*args, **kwargs)

    def change_after_the_first(self):
        for number, clause in enumerate(original_clauses(self)):
            if number == 1:
                change()
            yield clause

    if when == "before the first range":
        monkeypatch.setattr(native_stream, "_read", change_then_read)
    else:
        monkeypatch.setattr(native_stream.PageRanges, "clauses", change_after_the_first)
    reader, ctx = _extract(pg, {"table": "moving"}, batch_rows=1000)
    ids = sorted(reader.read_all().column("id").to_pylist())
    assert ("postgres_reader", {"path": "native", "connections": 2}) in ctx.events
    assert len(queries) > 4
    assert ids == list(range(1, 20001))


def _copies_running(pg) -> int:
    with psycopg.connect(pg["dsn"], autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND query LIKE 'COPY (%%' "
                            "AND pid <> pg_backend_pid()", [pg["database"]]).fetchone()[0]


@pytest.mark.parametrize("ranges", ["one range", "ranges of one page"])
def test_stopping_early_cancels_the_reads_and_closes_the_connections(pg, monkeypatch, ranges):
    monkeypatch.setattr(native_stream, "MIN_SPLIT_PAGES", 2)
    if ranges == "ranges of one page":
        monkeypatch.setattr(native_stream, "MIN_RANGE_PAGES", 1)
    before = threading.active_count()
    reader, ctx = _extract(pg, {"table": "many"}, batch_rows=100)
    first = reader.read_next_batch()
    assert first.num_rows == 100
    reader.close()
    del reader  # pyarrow's close() keeps the Python iterator; dropping the reader closes it (as for ADBC's)
    gc.collect()
    assert threading.active_count() == before
    for _ in range(50):
        if _copies_running(pg) == 0:
            break
        time.sleep(0.1)
    assert _copies_running(pg) == 0


def test_the_reader_threads_run_below_their_consumer(pg, monkeypatch):
    """The decoding threads lower their own priority (drivers/common/priority.py); the thread that
    consumes the batches keeps its own."""
    _many_ranges(monkeypatch)  # both readers have ranges left while the first batch is consumed
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    before = set(threading.enumerate())
    reader, ctx = _extract(pg, {"table": "many"}, batch_rows=100)
    assert reader.read_next_batch().num_rows == 100  # the readers now wait on the full queue
    readers = [t for t in set(threading.enumerate()) - before if t.name.startswith("osiris-pg-native-")]
    assert len(readers) == 2
    assert {os.getpriority(os.PRIO_PROCESS, t.native_id) for t in readers} == {min(19, mine + READER_NICE)}
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine
    assert reader.read_all().num_rows == 20000 - 100


def test_text_that_is_not_utf8_is_a_clean_error(pg):
    """A SQL_ASCII database stores bytes unchecked; the reader asks for UTF-8 on the wire, so the server
    refuses to send them (Arrow strings must be UTF-8) and the step fails with the server's words."""
    name = f"{pg['database']}_ascii"
    with psycopg.connect(pg["dsn"], autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name} ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0")
    try:
        params = params_from(_connection({**pg, "database": name}), {})
        with pytest.raises(DriverError, match=r'\[22021\]: invalid byte sequence for encoding "UTF8": 0xff'):
            stream_query(params, "SELECT convert_from('\\xff'::bytea, 'SQL_ASCII') AS t", RecordingContext(config={}),
                         batch_rows=10).read_all()
    finally:
        with psycopg.connect(pg["dsn"], autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
