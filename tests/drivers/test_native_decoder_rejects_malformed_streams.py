"""The native binary COPY decoder (drivers/postgres/_pgcopy.c) against streams a server never sends.

A broken or hostile server (or anything between us and it) can send any bytes: truncated tuples,
negative or huge lengths, wrong field counts, numerics with impossible digits, infinities, invalid
UTF-8. Each must end in DecodeError (a clean exception, turned into a DriverError by the reader),
never a crash, a hang or an out-of-bounds read; what the decoder does accept must be valid Arrow
(`validate(full=True)`). Valid streams decode to their rows however the bytes are split, since libpq
hands over one message at a time and a message boundary is not a tuple boundary by contract.
The longer coverage-guided run under AddressSanitizer is recorded in docs/security.md.
"""

from __future__ import annotations

import datetime as dt
import struct
import uuid
from decimal import Decimal

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osiris.drivers.postgres.native_plan import plan, to_batch
from tests.support.pgcopy import HEADER, TRAILER, encode_value, numeric_send, require_decoder, stream, tuple_bytes

# kind name -> (type OID, typmod) for native_plan.plan, and a strategy of Python values
TYPMOD_12_2 = ((12 << 16) | 2) + 4
TYPMOD_38_10 = ((38 << 16) | 10) + 4
_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
COLUMNS = {
    "bool": ("BOOL", 16, -1, st.booleans()),
    "int2": ("INT2", 21, -1, st.integers(-(2**15), 2**15 - 1)),
    "int4": ("INT4", 23, -1, st.integers(-(2**31), 2**31 - 1)),
    "int8": ("INT8", 20, -1, st.integers(-(2**63), 2**63 - 1)),
    "float4": ("FLOAT4", 700, -1, st.floats(width=32, allow_nan=False)),
    "float8": ("FLOAT8", 701, -1, st.floats(allow_nan=False)),
    "date": ("DATE", 1082, -1, st.dates()),
    "time": ("TIME", 1083, -1, st.times()),
    "timestamp": ("TIMESTAMP", 1114, -1, st.datetimes()),
    "text": ("TEXT", 25, -1, _TEXT),
    "bytea": ("BYTEA", 17, -1, st.binary(max_size=12)),
    "jsonb": ("JSONB", 3802, -1, _TEXT),
    "uuid": ("UUID", 2950, -1, st.uuids()),
    "n12_2": ("DECIMAL", 1700, TYPMOD_12_2, st.integers(-(10**12) + 1, 10**12 - 1).map(lambda n: Decimal(f"{n}e-2"))),
    "n38_10": ("DECIMAL", 1700, TYPMOD_38_10,
               st.integers(-(10**38) + 1, 10**38 - 1).map(lambda n: Decimal(f"{n}e-10"))),
}


@pytest.fixture(scope="module")
def pgcopy():
    return require_decoder()


def _plan(names):
    native = plan([(name, COLUMNS[name][1], COLUMNS[name][2]) for name in names])
    assert native is not None
    return native


def _decode(pgcopy, names, chunks) -> pa.RecordBatch:
    native = _plan(names)
    decoder = pgcopy.Decoder(native.kinds, 16)
    for chunk in chunks:
        decoder.feed(chunk)
    decoder.finish()
    batch = to_batch(native, *decoder.take())
    batch.validate(full=True)
    return batch


def _expected(names, rows) -> pa.RecordBatch:
    native = _plan(names)
    arrays = []
    for i, (name, field, storage) in enumerate(zip(names, native.schema, native.storage, strict=True)):
        values = [row[i] for row in rows]
        if COLUMNS[name][0] == "UUID":
            values = [None if v is None else v.bytes for v in values]
        array = pa.array(values, type=storage)
        arrays.append(pa.ExtensionArray.from_storage(field.type, array)
                      if isinstance(field.type, pa.ExtensionType) else array)
    return pa.RecordBatch.from_arrays(arrays, schema=native.schema)


@st.composite
def tables(draw):
    names = draw(st.lists(st.sampled_from(sorted(COLUMNS)), min_size=1, max_size=6))
    row = st.tuples(*[st.one_of(st.none(), COLUMNS[n][3]) for n in names])
    return names, draw(st.lists(row, max_size=12))


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


@settings(max_examples=300)
@given(tables(), st.lists(st.integers(0, 10**6), max_size=8))
def test_a_valid_stream_decodes_to_its_rows_however_it_is_split(pgcopy, table, cuts):
    names, rows = table
    data = stream([COLUMNS[n][0] for n in names], rows)
    assert _decode(pgcopy, names, _split(data, cuts)).equals(_expected(names, rows))


@settings(max_examples=200)
@given(st.lists(st.sampled_from(sorted(COLUMNS)), min_size=1, max_size=5).flatmap(
    lambda names: st.tuples(st.just(names), st.lists(st.lists(
        st.tuples(*[st.one_of(st.none(), COLUMNS[n][3]) for n in names]), max_size=6), min_size=1, max_size=4))))
def test_streams_read_one_after_another_continue_the_same_batch(pgcopy, table):
    """One decoder reads a table's page ranges as consecutive COPY streams: after each stream's
    `finish`, the next stream's header is expected and its rows go on into the unfilled batch."""
    names, parts = table
    native = _plan(names)
    decoder = pgcopy.Decoder(native.kinds, 16)
    for rows in parts:
        decoder.feed(stream([COLUMNS[n][0] for n in names], rows))
        decoder.finish()
    batch = to_batch(native, *decoder.take())
    batch.validate(full=True)
    assert batch.equals(_expected(names, [row for rows in parts for row in rows]))


def test_a_second_stream_is_checked_like_the_first(pgcopy):
    native = _plan(["int4"])
    decoder = pgcopy.Decoder(native.kinds, 16)
    decoder.feed(stream(["INT4"], [(1,)]))
    decoder.finish()
    with pytest.raises(pgcopy.DecodeError, match="not a binary COPY stream"):
        decoder.feed(tuple_bytes([b"\0\0\0\2"]) + TRAILER)  # rows without the next stream's header


_INTERESTING_INT32 = [-2, -(2**31), 2**31 - 1, 2**30 + 1, 0, 1, 3, 7, 8, 15, 16, 17]


@st.composite
def mutations(draw, data: bytes):
    data = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        what = draw(st.sampled_from(["flip", "cut", "insert", "int32", "int16", "drop"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if what == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif what == "cut":
            del data[at:]
        elif what == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif what == "int32":
            data[at:at + 4] = struct.pack(">i", draw(st.sampled_from(_INTERESTING_INT32)))
        elif what == "int16":
            data[at:at + 2] = struct.pack(">h", draw(st.sampled_from([-1, -2, 0, 1, 2, 0x7FFF, -0x8000])))
        elif what == "drop" and data:
            del data[at:at + draw(st.integers(1, 6))]
    return bytes(data)


@settings(max_examples=600)
@given(st.data(), tables(), st.lists(st.integers(0, 10**6), max_size=4))
def test_a_mutated_stream_raises_decode_error_or_decodes_to_valid_arrow(pgcopy, data, table, cuts):
    names, rows = table
    mutated = data.draw(mutations(stream([COLUMNS[n][0] for n in names], rows)))
    try:
        _decode(pgcopy, names, _split(mutated, cuts))
    except pgcopy.DecodeError as error:
        code, column, message = error.args
        assert code in (pgcopy.ERR_STREAM, pgcopy.ERR_RANGE, pgcopy.ERR_DECIMAL) and message
        assert -1 <= column < len(names)


@settings(max_examples=300)
@given(st.binary(max_size=200), st.booleans(), st.lists(st.sampled_from(sorted(COLUMNS)), min_size=1, max_size=4))
def test_random_bytes_raise_decode_error_or_decode_to_valid_arrow(pgcopy, junk, with_header, names):
    try:
        _decode(pgcopy, names, [HEADER + junk if with_header else junk])
    except pgcopy.DecodeError:
        pass


def _one(kind: str, field: bytes | None) -> bytes:
    return HEADER + tuple_bytes([field]) + TRAILER


BAD_STREAMS = {
    "empty": ("int4", b"", "ended before its header"),
    "not copy": ("int4", b"COPY 1\n" + b"\0" * 20, "not a binary COPY stream"),
    "oids": ("int4", HEADER[:11] + struct.pack(">ii", 1 << 16, 0), "OIDs"),
    "critical flag": ("int4", HEADER[:11] + struct.pack(">ii", 1 << 20, 0), "critical header flags"),
    "huge header extension": ("int4", HEADER[:11] + struct.pack(">iI", 0, 0xFFFFFFF0), "header extension"),
    "no trailer": ("int4", HEADER + tuple_bytes([b"\0\0\0\1"]), "without its end-of-data marker"),
    "truncated tuple": ("int4", HEADER + tuple_bytes([b"\0\0\0\1"])[:-2], "inside a row"),
    "truncated length": ("int4", HEADER + struct.pack(">hh", 1, 0), "inside a row"),
    "data after trailer": ("int4", HEADER + TRAILER + b"\0", "after the end-of-data marker"),
    "too many fields": ("int4", HEADER + tuple_bytes([b"\0\0\0\1", b"\0\0\0\1"]) + TRAILER, "2 fields where 1"),
    "negative field count": ("int4", HEADER + struct.pack(">h", -2) + TRAILER, "-2 fields"),
    "length -2": ("text", HEADER + struct.pack(">hi", 1, -2) + TRAILER, "field length of -2"),
    "length over 1 GiB": ("bytea", HEADER + struct.pack(">hi", 1, 2**30 + 1) + TRAILER, "over 1 GiB"),
    "huge length, stream ends": ("bytea", HEADER + struct.pack(">hi", 1, 2**30) + b"abc", "inside a row"),
    "int4 of 3 bytes": ("int4", _one("int4", b"\0\0\1"), "3 bytes where 4"),
    "int8 of 9 bytes": ("int8", _one("int8", b"\0" * 9), "9 bytes where 8"),
    "bool of 0 bytes": ("bool", _one("bool", b""), "0 bytes where 1"),
    "uuid of 15 bytes": ("uuid", _one("uuid", b"\0" * 15), "15 bytes where 16"),
    "invalid utf-8": ("text", _one("text", b"ab\xff"), "not valid UTF-8"),
    "overlong utf-8": ("text", _one("text", b"\xc0\xaf"), "not valid UTF-8"),
    "surrogate in utf-8": ("text", _one("text", b"\xed\xa0\x80"), "not valid UTF-8"),
    "truncated utf-8": ("text", _one("text", b"\xe6\x97"), "not valid UTF-8"),
    "jsonb version 2": ("jsonb", _one("jsonb", b"\x02{}"), "version byte"),
    "jsonb empty": ("jsonb", _one("jsonb", b""), "version byte"),
    "time past midnight": ("time", _one("time", struct.pack(">q", 86_400_000_001)), "time of day"),
    "negative time": ("time", _one("time", struct.pack(">q", -1)), "time of day"),
    "numeric short header": ("n12_2", _one("n12_2", b"\0\1\0\0"), "header alone"),
    "numeric digit count": ("n12_2", _one("n12_2", struct.pack(">hhHhH", 3, 0, 0, 0, 1)), "claiming 3 digits"),
    "numeric negative digit count": ("n12_2", _one("n12_2", struct.pack(">hhHh", -1, 0, 0, 0)), "claiming -1"),
    "numeric digit 10000": ("n12_2", _one("n12_2", struct.pack(">hhHhH", 1, 0, 0, 0, 10000)), "over 9999"),
    "numeric sign": ("n12_2", _one("n12_2", struct.pack(">hhHhH", 1, 0, 0x1234, 0, 1)), "sign word"),
    "numeric dscale": ("n12_2", _one("n12_2", struct.pack(">hhHhH", 1, 0, 0, -1, 1)), "display scale"),
}


@pytest.mark.parametrize("name", sorted(BAD_STREAMS))
def test_a_malformed_stream_raises_a_stream_error(pgcopy, name):
    column, data, words = BAD_STREAMS[name]
    with pytest.raises(pgcopy.DecodeError) as caught:
        _decode(pgcopy, [column], [data])
    code, _, message = caught.value.args
    assert code == pgcopy.ERR_STREAM
    assert words in message


VALUES_ARROW_CANNOT_HOLD = {
    "date infinity": ("date", struct.pack(">i", 2**31 - 1), "range"),
    "date -infinity": ("date", struct.pack(">i", -(2**31)), "range"),
    "date before 4713 BC": ("date", struct.pack(">i", -2451545 - 1), "range"),
    "timestamp infinity": ("timestamp", struct.pack(">q", 2**63 - 1), "range"),
    "timestamp -infinity": ("timestamp", struct.pack(">q", -(2**63)), "range"),
    "timestamp past int64": ("timestamp", struct.pack(">q", 2**63 - 2), "range"),
    "timestamp before 4713 BC": ("timestamp", struct.pack(">q", -211813488000000000 - 1), "range"),
    "numeric NaN": ("n12_2", numeric_send("NaN"), "decimal"),
    "numeric Infinity": ("n12_2", numeric_send("Infinity"), "decimal"),
    "numeric -Infinity": ("n12_2", numeric_send("-Infinity"), "decimal"),
    "numeric 13 digits in (12,2)": ("n12_2", numeric_send(Decimal("12345678901.00")), "decimal"),
    "numeric 3 decimals in (12,2)": ("n12_2", numeric_send(Decimal("1.005")), "decimal"),
    "numeric 1e40 in (38,10)": ("n38_10", numeric_send(Decimal("1e40")), "decimal"),
    "numeric tiny in (12,2)": ("n12_2", numeric_send(Decimal("1e-9")), "decimal"),
    "numeric weight 32767": ("n12_2", struct.pack(">hhHhH", 1, 32767, 0, 0, 1), "decimal"),
}


@pytest.mark.parametrize("name", sorted(VALUES_ARROW_CANNOT_HOLD))
def test_a_value_arrow_cannot_hold_raises_a_value_error_naming_the_column(pgcopy, name):
    column, field, expected = VALUES_ARROW_CANNOT_HOLD[name]
    with pytest.raises(pgcopy.DecodeError) as caught:
        _decode(pgcopy, ["int4", column], [HEADER + tuple_bytes([b"\0\0\0\1", field]) + TRAILER])
    code, index, _ = caught.value.args
    assert code == {"range": pgcopy.ERR_RANGE, "decimal": pgcopy.ERR_DECIMAL}[expected]
    assert index == 1


EDGE_VALUES = {
    "int8 extremes": ("int8", [-(2**63), 2**63 - 1, 0]),
    "first and last PostgreSQL dates Python shows": ("date", [dt.date(1, 1, 1), dt.date(9999, 12, 31)]),
    "midnight at both ends": ("time", [dt.time(0), dt.time(23, 59, 59, 999999)]),
    "negative and tiny decimals": ("n12_2", [Decimal("-0.01"), Decimal("-9999999999.99"), Decimal("0.00")]),
    "38 digits": ("n38_10", [Decimal("9999999999999999999999999999.9999999999"),
                             Decimal("-9999999999999999999999999999.9999999999")]),
    "empty and unicode text": ("text", ["", "Zürich — 東京 🚀", "\u0000"]),
    "empty bytea": ("bytea", [b"", b"\x00\xff"]),
    "uuid": ("uuid", [uuid.UUID(int=0), uuid.UUID(int=2**128 - 1)]),
}


@pytest.mark.parametrize("name", sorted(EDGE_VALUES))
def test_edge_values_decode_exactly(pgcopy, name):
    column, values = EDGE_VALUES[name]
    rows = [(v,) for v in [*values, None]]
    assert _decode(pgcopy, [column], [stream([COLUMNS[column][0]], rows)]).equals(_expected([column], rows))


def test_a_decimal_with_more_digit_groups_than_needed_decodes(pgcopy):
    """numeric_send may carry trailing zero groups past the scale (a value of dscale 8 in numeric(12,2))."""
    field = struct.pack(">hhHhHHH", 3, 0, 0x4000, 8, 12, 3400, 0)  # -12.34000000
    batch = _decode(pgcopy, ["n12_2"], [HEADER + tuple_bytes([field]) + TRAILER])
    assert batch.column(0).to_pylist() == [Decimal("-12.34")]


def test_no_rows_decode_to_empty_arrays(pgcopy):
    names = sorted(COLUMNS)
    batch = _decode(pgcopy, names, [HEADER + TRAILER])
    assert batch.num_rows == 0 and batch.schema == _plan(names).schema


def test_the_decoder_is_unusable_after_an_error(pgcopy):
    decoder = pgcopy.Decoder(_plan(["int4"]).kinds)
    with pytest.raises(pgcopy.DecodeError):
        decoder.feed(b"garbage!")
    with pytest.raises(pgcopy.DecodeError):
        decoder.feed(HEADER)
    with pytest.raises(pgcopy.DecodeError):
        decoder.take()


def test_the_decoder_refuses_kinds_it_does_not_have(pgcopy):
    with pytest.raises(ValueError, match="unknown kind"):
        pgcopy.Decoder([(99, 0, 0)])
    with pytest.raises(ValueError, match="decimal128"):
        pgcopy.Decoder([(pgcopy.DECIMAL, 39, 0)])
    with pytest.raises(ValueError):
        pgcopy.Decoder([])


def test_encode_value_helper_is_the_binary_send_format():
    """The reference encoder agrees with PostgreSQL's documented examples (a test of the test helper)."""
    assert numeric_send(Decimal("12345.678")) == struct.pack(">hhHhHHH", 3, 1, 0, 3, 1, 2345, 6780)
    assert numeric_send(Decimal("-0.05")) == struct.pack(">hhHhH", 1, -1, 0x4000, 2, 500)
    assert encode_value("DATE", dt.date(2000, 1, 2)) == struct.pack(">i", 1)
