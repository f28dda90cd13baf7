"""The MySQL binary-protocol row decoder (drivers/mysql/myrows_core.c) over bytes we build.

No server here: the rows are encoded by the helpers below as the protocol describes them, so
every split of the stream, rows over 16 MiB and malformed or hostile bytes can be fed. The
decoder must give the same arrays whatever the split, and refuse anything malformed with a
DecodeError (never a crash, never a read past what it was given).
"""

from __future__ import annotations

import datetime as dt
import struct
from decimal import Decimal

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osiris.drivers.mysql.native import decoder_module
from tests.support.myrows import EOF, lenenc, moment, packet, require_myrows, row

_myrows = decoder_module()


@pytest.fixture(autouse=True)
def _built() -> None:
    require_myrows()

# (decoder kind, precision, scale, Arrow type, encoder of one non-NULL value)
COLUMNS = [
    ("BOOL", 0, 0, pa.bool_(), lambda v: struct.pack("<b", int(v))),
    ("INT8", 0, 0, pa.int8(), lambda v: struct.pack("<b", v)),
    ("INT16", 0, 0, pa.int16(), lambda v: struct.pack("<h", v)),
    ("INT32", 0, 0, pa.uint32(), lambda v: struct.pack("<I", v)),
    ("INT64", 0, 0, pa.int64(), lambda v: struct.pack("<q", v)),
    ("FLOAT", 0, 0, pa.float32(), lambda v: struct.pack("<f", v)),
    ("DOUBLE", 0, 0, pa.float64(), lambda v: struct.pack("<d", v)),
    ("DATE", 0, 0, pa.date32(), moment),
    ("DATETIME", 0, 0, pa.timestamp("us"), moment),
    ("DECIMAL", 12, 2, pa.decimal128(12, 2), lambda v: lenenc(f"{v:.2f}".encode())),
    ("TEXT", 0, 0, pa.string(), lambda v: lenenc(v.encode())),
    ("BINARY", 0, 0, pa.binary(), lenenc),
]
VALUES = st.tuples(
    st.none() | st.booleans(),
    st.none() | st.integers(-128, 127),
    st.none() | st.integers(-(2**15), 2**15 - 1),
    st.none() | st.integers(0, 2**32 - 1),
    st.none() | st.integers(-(2**63), 2**63 - 1),
    st.none() | st.floats(width=32, allow_nan=False),
    st.none() | st.floats(allow_nan=False),
    st.none() | st.dates(dt.date(1000, 1, 1), dt.date(9999, 12, 31)),
    st.none() | st.datetimes(dt.datetime(1000, 1, 1), dt.datetime(9999, 12, 31, 23, 59, 59, 999999)),
    st.none() | st.decimals(Decimal("-9999999999.99"), Decimal("9999999999.99"), places=2),
    st.none() | st.text(max_size=40),
    st.none() | st.binary(max_size=40),
)


def decoder(columns: list = COLUMNS) -> object:
    return _myrows.Decoder([(getattr(_myrows, kind), p, s) for kind, p, s, *_ in columns], row_hint=4)


def arrays(rows: int, buffers: list, columns: list = COLUMNS) -> list[pa.Array]:
    out = []
    for (_, _, _, arrow, _), (valid, offsets, data, nulls) in zip(columns, buffers, strict=True):
        parts = [None if valid is None else pa.py_buffer(valid)]
        parts += [pa.py_buffer(offsets)] if offsets is not None else []
        out.append(pa.Array.from_buffers(arrow, rows, [*parts, pa.py_buffer(data)], null_count=nulls))
    return out


def decode(stream: bytes, cuts: list[int], max_rows: int = 1 << 30, columns: list = COLUMNS) -> list[pa.Table]:
    """Feed `stream` in pieces cut at `cuts`; a table per full batch, then the rest."""
    dec, tables, names = decoder(columns), [], [f"c{i}" for i in range(len(columns))]
    edges = [0, *sorted(set(cuts)), len(stream)]
    status = _myrows.MORE
    for start, end in zip(edges, edges[1:], strict=False):
        status, trailing = dec.feed(stream[start:end], max_rows)
        while status == _myrows.FULL:
            tables.append(pa.Table.from_arrays(arrays(*dec.take(), columns), names=names))
            status, trailing = dec.feed(b"", max_rows)
        assert trailing == 0
    assert status == _myrows.END
    if dec.rows:
        tables.append(pa.Table.from_arrays(arrays(*dec.take(), columns), names=names))
    return tables


def expected(rows: list[tuple]) -> pa.Table:
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(COLUMNS)
    return pa.Table.from_arrays([pa.array(list(values), arrow) for values, (_, _, _, arrow, _) in
                                 zip(columns, COLUMNS, strict=True)], names=[f"c{i}" for i in range(len(COLUMNS))])


@settings(max_examples=150, deadline=None)
@given(st.lists(VALUES, max_size=12), st.data())
def test_every_split_of_the_stream_decodes_to_the_same_values(rows: list[tuple], data: st.DataObject) -> None:
    encoders = [c[4] for c in COLUMNS]
    stream = b"".join(row(values, encoders) for values in rows) + packet(EOF)
    cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=8))
    max_rows = data.draw(st.integers(1, 5))
    tables = decode(stream, cuts, max_rows)
    assert all(t.num_rows == max_rows for t in tables[:-1])
    got = pa.concat_tables(tables) if tables else expected([])
    assert got.equals(expected(rows))


def test_a_row_over_16_mib_arrives_in_several_packets_and_decodes_whole() -> None:
    columns = [("INT32", 0, 0, pa.int32(), None), ("TEXT", 0, 0, pa.string(), None)]
    big = "é" * (9 << 20)  # 18 MiB of UTF-8
    payload = b"\x00\x00" + struct.pack("<i", 7) + lenenc(big.encode())
    stream = packet(payload) + packet(b"\x00\x00" + struct.pack("<i", 8) + lenenc(b"x")) + packet(EOF)
    assert stream[:3] == b"\xff\xff\xff"  # really split
    for cuts in ([], [3, 0xFFFFFF + 2, 0xFFFFFF + 7, len(stream) - 3]):
        (table,) = decode(stream, cuts, columns=columns)
        assert table.column(0).to_pylist() == [7, 8]
        assert table.column(1).to_pylist() == [big, "x"]


def test_a_server_error_ends_the_result_with_its_payload() -> None:
    err = b"\xff\x1a\x05#HY000Subquery returns more than 1 row"
    dec = decoder()
    first = row((True, 1, 2, 3, 4, 1.5, 2.5, dt.date(2024, 2, 29), dt.datetime(2024, 2, 29, 1, 2, 3, 4),
                 Decimal("1.25"), "a", b"b"), [c[4] for c in COLUMNS])
    status, trailing = dec.feed(first + packet(err), 100)
    assert (status, trailing, dec.rows) == (_myrows.SERVER_ERR, 0, 1)
    assert dec.server_error == err


def test_bytes_after_the_end_of_the_result_are_counted() -> None:
    dec = decoder()
    status, trailing = dec.feed(packet(EOF) + b"\x01\x02\x03", 10)
    assert (status, trailing) == (_myrows.END, 3)
    with pytest.raises(_myrows.DecodeError):
        dec.feed(b"\x00", 10)


ONE_INT = [("INT32", 0, 0, pa.int32(), None)]
ONE_TEXT = [("TEXT", 0, 0, pa.string(), None)]
ONE_DATE = [("DATE", 0, 0, pa.date32(), None)]
ONE_DECIMAL = [("DECIMAL", 5, 2, pa.decimal128(5, 2), None)]


@pytest.mark.parametrize(("columns", "payload", "code", "words"), [
    (ONE_INT, b"\x00\x00\x01\x02", "ERR_STREAM", "ends inside a value"),
    (ONE_INT, b"\x00\x00\x01\x02\x03\x04\x05", "ERR_STREAM", "after the row's last value"),
    (ONE_INT, b"\x00", "ERR_STREAM", "NULL bitmap"),
    (ONE_TEXT, b"\x00\x00\xff", "ERR_STREAM", "value length"),
    (ONE_TEXT, b"\x00\x00\xfe\xff\xff\xff\xff\xff\xff\xff\x7f", "ERR_STREAM", "ends inside a value"),
    (ONE_TEXT, b"\x00\x00\x02\xc3\x28", "ERR_STREAM", "UTF-8"),
    (ONE_TEXT, b"\x00\x00\x03\xed\xa0\x80", "ERR_STREAM", "UTF-8"),  # a surrogate
    (ONE_DATE, b"\x00\x00\x05\xe8\x07\x02\x1d\x00", "ERR_STREAM", "5 bytes"),
    (ONE_DATE, b"\x00\x00\x00", "ERR_RANGE", "0000-00-00"),
    (ONE_DATE, b"\x00\x00\x04\xe8\x07\x00\x0a", "ERR_RANGE", "2024-00-10"),
    (ONE_DATE, b"\x00\x00\x04\xe8\x07\x0d\x0a", "ERR_STREAM", "date"),
    (ONE_DECIMAL, b"\x00\x00\x04" + b"1e10", "ERR_STREAM", "character"),
    (ONE_DECIMAL, b"\x00\x00\x06" + b"1000.0", "ERR_DECIMAL", "5 digits"),
    (ONE_DECIMAL, b"\x00\x00\x05" + b"1.125", "ERR_DECIMAL", "after the point"),
    (ONE_DECIMAL, b"\x00\x00\x01" + b"-", "ERR_STREAM", "without digits"),
    (ONE_INT, b"\x03SELECT", "ERR_STREAM", "0x03"),
    (ONE_INT, b"", "ERR_STREAM", "empty packet"),
])
def test_malformed_rows_are_refused_with_what_is_wrong(columns: list, payload: bytes, code: str, words: str) -> None:
    dec = decoder(columns)
    with pytest.raises(_myrows.DecodeError) as caught:
        dec.feed(packet(payload), 10)
    got_code, column, message = caught.value.args
    assert got_code == getattr(_myrows, code) and words in message
    with pytest.raises(_myrows.DecodeError):  # unusable after
        dec.feed(packet(EOF), 10)


def test_decimals_keep_every_digit() -> None:
    columns = [("DECIMAL", 38, 10, pa.decimal128(38, 10), None)]
    texts = [b"1234567890123456789012345678.0123456789", b"-0.0000000001", b"0", b"-9.5", b"7.1200000000000"]
    stream = b"".join(packet(b"\x00\x00" + lenenc(t)) for t in texts) + packet(EOF)
    (table,) = decode(stream, [], columns=columns)
    assert table.column(0).to_pylist() == [Decimal(t.decode()) for t in texts]


def test_a_null_type_column_holds_only_nulls() -> None:
    columns = [("NULL", 0, 0, pa.null(), None)]
    dec = decoder(columns)
    status, _ = dec.feed(packet(b"\x00\x04") + packet(EOF), 10)
    assert status == _myrows.END and dec.rows == 1
    with pytest.raises(_myrows.DecodeError, match="NULL type"):
        decoder(columns).feed(packet(b"\x00\x00"), 10)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.integers(1, 4))
def test_arbitrary_bytes_never_crash_the_decoder(data: bytes, max_rows: int) -> None:
    dec = decoder()
    try:
        status, _ = dec.feed(data, max_rows)
        while status == _myrows.FULL:
            dec.take()
            status, _ = dec.feed(b"", max_rows)
    except _myrows.DecodeError:
        return
    assert status in (_myrows.MORE, _myrows.END, _myrows.SERVER_ERR)


@settings(max_examples=300, deadline=None)
@given(st.lists(VALUES, min_size=1, max_size=4), st.data())
def test_a_mutated_stream_is_refused_or_decodes_to_valid_arrow(rows: list[tuple], data: st.DataObject) -> None:
    """Bit flips, cuts, inserted bytes and overwritten lengths: a DecodeError, or arrays Arrow trusts."""
    stream = bytearray(b"".join(row(values, [c[4] for c in COLUMNS]) for values in rows) + packet(EOF))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(stream) - 1))
        how = data.draw(st.sampled_from(["flip", "cut", "insert", "length"]))
        if how == "flip":
            stream[at] ^= 1 << data.draw(st.integers(0, 7))
        elif how == "cut":
            del stream[at:at + data.draw(st.integers(1, 8))]
        elif how == "insert":
            stream[at:at] = data.draw(st.binary(min_size=1, max_size=8))
        else:
            stream[at:at + 3] = data.draw(st.sampled_from([b"\xff\xff\xff", b"\x00\x00\x00", b"\xfe\xff\xff"]))
        if not stream:
            return
    dec = decoder()
    names = [f"c{i}" for i in range(len(COLUMNS))]
    try:
        status, _ = dec.feed(bytes(stream), 2)
        while True:
            if status == _myrows.FULL or dec.rows:
                pa.Table.from_arrays(arrays(*dec.take()), names=names).validate(full=True)
            if status != _myrows.FULL:
                break
            status, _ = dec.feed(b"", 2)
    except _myrows.DecodeError:
        return
