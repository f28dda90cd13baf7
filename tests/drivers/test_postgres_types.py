"""Type round-trip: every supported PostgreSQL type extracts to exact Python values.

Rows hold ordinary values, extremes (numeric(38,10) max, int8 min/max, the first and last
microsecond Python can show) and NULLs; the table is read through postgres.extractor and
compared value by value, along with the Arrow types.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import psycopg
import pyarrow as pa
import pytest

from osiris.drivers.postgres.extractor import PostgresExtractor
from osiris.runtime.driver import DriverError, ResolvedConnection
from osiris.runtime.testing import RecordingContext

UTC = dt.UTC
U1 = uuid.UUID("12345678-1234-5678-1234-567812345678")
BIG = Decimal("9999999999999999999999999999.9999999999")

DDL = """
CREATE TABLE everything (
  id int4 PRIMARY KEY, n15 numeric(15,2), n38 numeric(38,10), nfree numeric, u uuid, jb jsonb, j json,
  tz timestamptz, ts timestamp, d date, t time, b bytea, ai int4[], at text[], bo bool,
  i2 int2, i4 int4, i8 int8, f4 float4, f8 float8, tx text, vc varchar(20), ip inet, iv interval,
  n60 numeric(60,5)
)"""
ROWS = [
    (
        1,
        "1234567890123.45",
        "1.5",
        "3.14159265358979323846264338327950288419716939937510",
        str(U1),
        '{"b": [1, 2], "a": "ü"}',
        '{"raw" : true}',
        "2024-02-29 12:34:56.789012+00",
        "2024-02-29 12:34:56.789012",
        "2024-02-29",
        "12:34:56.789012",
        b"\x00\xff",
        [1, None, 3],
        ["a", "Zürich — 東京 🚀"],
        True,
        7,
        8,
        9,
        1.5,
        2.25,
        "Zürich — 東京 🚀",
        "short",
        "10.1.2.3",
        "1 day 2 hours",
        "123456789012345678901234567890123456789012345678901234.12345",
    ),
    (
        2,
        "-9999999999999.99",
        str(BIG),
        "-0.000000000000000000001",
        "00000000-0000-0000-0000-000000000000",
        "[]",
        "null",
        "0001-01-01 00:00:00+00",
        "9999-12-31 23:59:59.999999",
        "0001-01-01",
        "23:59:59.999999",
        b"",
        [],
        [],
        False,
        -32768,
        -2147483648,
        -9223372036854775808,
        3.4028235e38,
        1.7976931348623157e308,
        "",
        "x" * 20,
        "::1",
        "-3 mons",
        "-1.00001",
    ),
    (
        3,
        "0.01",
        "-" + str(BIG),
        "1e-5",
        str(U1),
        '{"n": 1.0000000000000000001}',
        "[1,2]",
        "9999-12-31 23:59:59.999999+00",
        "0001-01-01 00:00:00",
        "9999-12-31",
        "00:00:00",
        b"x" * 3,
        [2147483647],
        [None],
        None,
        32767,
        2147483647,
        9223372036854775807,
        -0.0,
        -1e-308,
        "'; DROP --",
        None,
        None,
        None,
        None,
    ),
    (4,) + (None,) * 24,
]

EXPECTED_TYPES = {
    "id": pa.int32(),
    "n15": pa.decimal128(15, 2),
    "n38": pa.decimal128(38, 10),
    "nfree": pa.string(),
    "u": pa.uuid(),
    "jb": pa.json_(),
    "j": pa.json_(),
    "tz": pa.timestamp("us", tz="UTC"),
    "ts": pa.timestamp("us"),
    "d": pa.date32(),
    "t": pa.time64("us"),
    "b": pa.binary(),
    "ai": pa.list_(pa.int32()),
    "at": pa.list_(pa.string()),
    "bo": pa.bool_(),
    "i2": pa.int16(),
    "i4": pa.int32(),
    "i8": pa.int64(),
    "f4": pa.float32(),
    "f8": pa.float64(),
    "tx": pa.string(),
    "vc": pa.string(),
    "ip": pa.string(),
    "iv": pa.month_day_nano_interval(),
    "n60": pa.decimal256(60, 5),
}


@pytest.fixture(scope="module")
def connection(postgres_db: dict) -> ResolvedConnection:
    with psycopg.connect(postgres_db["dsn"], autocommit=True) as conn:
        conn.execute(DDL)
        with conn.cursor() as cur:
            cur.executemany(f"INSERT INTO everything VALUES ({', '.join(['%s'] * 25)})", ROWS)
        conn.execute("CREATE TABLE infinite (ts timestamp, d date)")
        conn.execute("INSERT INTO infinite VALUES ('infinity', '-infinity')")
        conn.execute("CREATE TABLE far (id int, ts timestamp)")
        conn.execute("INSERT INTO far VALUES (1, '4714-11-24 BC'), (2, '294246-12-31 23:59:59.999999')")
        conn.execute("INSERT INTO infinite VALUES ('294276-12-31 23:59:59.999999', '5874897-12-31')")
    fields = {k: postgres_db[k] for k in ("host", "port", "database", "user")}
    return ResolvedConnection("postgres", "test", fields, frozenset({"password"}))


def _read(connection: ResolvedConnection, **config: object) -> pa.Table:
    ctx = RecordingContext(config=config, connection=connection)
    return PostgresExtractor().extract(ctx).read_all()


@pytest.mark.postgres
def test_arrow_types_follow_declared_types(connection: ResolvedConnection) -> None:
    table = _read(connection, table="everything")
    assert {f.name: f.type for f in table.schema} == EXPECTED_TYPES
    assert table.schema.field("nfree").metadata[b"POSTGRESQL:type"] == b"numeric"


@pytest.mark.postgres
def test_values_round_trip_exactly(connection: ResolvedConnection) -> None:
    rows = {r["id"]: r for r in _read(connection, query="SELECT * FROM everything ORDER BY id").to_pylist()}
    first = rows[1]
    assert first["n15"] == Decimal("1234567890123.45")
    assert first["n38"] == Decimal("1.5000000000")
    assert first["nfree"] == "3.14159265358979323846264338327950288419716939937510"
    assert first["u"] == U1
    assert first["jb"] == '{"a": "ü", "b": [1, 2]}'
    assert first["j"] == '{"raw" : true}'
    assert first["tz"] == dt.datetime(2024, 2, 29, 12, 34, 56, 789012, tzinfo=UTC)
    assert first["ts"] == dt.datetime(2024, 2, 29, 12, 34, 56, 789012)
    assert first["d"] == dt.date(2024, 2, 29)
    assert first["t"] == dt.time(12, 34, 56, 789012)
    assert first["b"] == b"\x00\xff"
    assert first["ai"] == [1, None, 3]
    assert first["at"] == ["a", "Zürich — 東京 🚀"]
    assert [first[k] for k in ("bo", "i2", "i4", "i8", "f4", "f8")] == [True, 7, 8, 9, 1.5, 2.25]
    assert first["tx"] == "Zürich — 東京 🚀" and first["vc"] == "short"
    assert first["ip"] == "10.1.2.3"
    assert first["iv"] == pa.MonthDayNano([0, 1, 2 * 3600 * 10**9])
    assert first["n60"] == Decimal("123456789012345678901234567890123456789012345678901234.12345")

    low = rows[2]
    assert low["n15"] == Decimal("-9999999999999.99") and low["n38"] == BIG
    assert low["nfree"] == "-0.000000000000000000001"
    assert low["u"] == uuid.UUID(int=0) and low["jb"] == "[]" and low["j"] == "null"
    assert low["tz"] == dt.datetime(1, 1, 1, tzinfo=UTC)
    assert low["ts"] == dt.datetime(9999, 12, 31, 23, 59, 59, 999999)
    assert low["d"] == dt.date(1, 1, 1) and low["t"] == dt.time(23, 59, 59, 999999)
    assert low["b"] == b"" and low["ai"] == [] and low["at"] == []
    assert (low["i2"], low["i4"], low["i8"]) == (-32768, -(2**31), -(2**63))
    assert low["f4"] == pytest.approx(3.4028235e38, rel=1e-7) and low["f8"] == 1.7976931348623157e308
    assert low["tx"] == "" and low["vc"] == "x" * 20 and low["ip"] == "::1"
    assert low["iv"] == pa.MonthDayNano([-3, 0, 0]) and low["n60"] == Decimal("-1.00001")

    high = rows[3]
    assert high["n38"] == Decimal("-" + str(BIG)) and high["nfree"] == "0.00001"
    assert high["jb"] == '{"n": 1.0000000000000000001}'
    assert high["tz"] == dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert high["ts"] == dt.datetime(1, 1, 1) and high["d"] == dt.date(9999, 12, 31)
    assert high["ai"] == [2147483647] and high["at"] == [None] and high["bo"] is None
    assert (high["i2"], high["i4"], high["i8"]) == (32767, 2**31 - 1, 2**63 - 1)
    assert str(high["f4"]) == "-0.0" and high["f8"] == -1e-308 and high["tx"] == "'; DROP --"

    assert all(value is None for key, value in rows[4].items() if key != "id")


@pytest.mark.postgres
def test_timestamps_beyond_python_keep_their_microseconds(connection: ResolvedConnection) -> None:
    table = _read(connection, query="SELECT ts FROM far ORDER BY id")
    micros = table.column("ts").combine_chunks().view(pa.int64()).to_pylist()
    with psycopg.connect(_dsn(connection)) as conn:
        epoch = "SELECT (extract(epoch FROM ts) * 1000000)::int8 FROM far ORDER BY id"
        expected = [row[0] for row in conn.execute(epoch)]
    assert micros == expected
    assert micros[0] == -210866803200000000


@pytest.mark.postgres
def test_infinity_and_overflowing_timestamps_are_refused(connection: ResolvedConnection) -> None:
    for query in (
        "SELECT ts FROM infinite WHERE ts = 'infinity'",
        "SELECT d FROM infinite WHERE d = '-infinity'",
        "SELECT '-infinity'::timestamptz AS x",
        "SELECT 'infinity'::date AS x",
        "SELECT ts FROM infinite WHERE ts <> 'infinity'",
    ):
        with pytest.raises(DriverError, match="infinity") as info:
            _read(connection, query=query)
        assert "NULLIF" in (info.value.hint or "")
    far_date = _read(connection, query="SELECT d FROM infinite WHERE d <> '-infinity'")
    assert far_date.column("d").combine_chunks().view(pa.int32()).to_pylist() == [2145042905]


@pytest.mark.postgres
def test_numeric_nan_in_a_declared_column_is_a_clear_error(connection: ResolvedConnection) -> None:
    with pytest.raises(DriverError, match="(?i)'nan' does not fit decimal128"):
        _read(connection, query="SELECT 'NaN'::numeric(10,2) AS x")


@pytest.mark.postgres
def test_columns_and_limit(connection: ResolvedConnection) -> None:
    table = _read(connection, table="everything", columns=["id", "tx"], limit=2)
    assert table.column_names == ["id", "tx"] and table.num_rows == 2


def _dsn(connection: ResolvedConnection) -> str:
    f = connection.fields
    return f"postgresql://{f['user']}@{f['host']}:{f['port']}/{f['database']}"
