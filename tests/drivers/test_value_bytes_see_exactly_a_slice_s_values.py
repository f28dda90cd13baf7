"""`drivers.common.arrow_types.value_bytes`: the bytes of exactly an array's values, slices included.

The MySQL load renderer asks it whether any value of a column holds a backslash or a NUL (one
byte search instead of a kernel call per value), and the Parquet writer how wide the values are.
A slice shares its parent's buffers, so reading the wrong offsets would escape (or fail to escape)
text that belongs to the neighbouring batch.
"""

from __future__ import annotations

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from osiris.drivers.common.arrow_types import hex_array, value_bytes
from osiris.drivers.mysql.render import load_bytes

_VALUES = st.lists(st.one_of(st.none(), st.text(max_size=6)), max_size=30)


@given(values=_VALUES, data=st.data(),
       kind=st.sampled_from([pa.string(), pa.large_string(), pa.binary(), pa.large_binary()]))
def test_the_bytes_are_the_slice_s_values_joined(values: list, data: st.DataObject, kind: pa.DataType) -> None:
    encoded = [None if v is None else (v.encode() if pa.types.is_binary(kind) or pa.types.is_large_binary(kind)
                                       else v) for v in values]
    array = pa.array(encoded, kind)
    start = data.draw(st.integers(0, len(values)))
    length = data.draw(st.integers(0, len(values) - start))
    piece = array.slice(start, length)
    expected = b"".join(v.encode() for v in values[start:start + length] if v is not None)
    assert bytes(value_bytes(piece)) == expected


def test_a_backslash_outside_a_batch_s_slice_is_not_escaped_inside_it() -> None:
    whole = pa.record_batch({"s": pa.array(["a\\b", "plain", "c\x00d", "tail"])})
    assert load_bytes(whole.slice(1, 1)) == b"plain\n"
    assert load_bytes(whole.slice(3, 1)) == b"tail\n"
    assert load_bytes(whole.slice(0, 3)) == b"a\\\\b\nplain\nc\\0d\n"


@given(values=st.lists(st.one_of(st.none(), st.binary(max_size=6)), max_size=30), data=st.data())
def test_hex_text_of_a_slice_is_its_own_values(values: list, data: st.DataObject) -> None:
    """`hex_array` (binary columns written as hex) reads the same span: a slice's text is its own."""
    start = data.draw(st.integers(0, len(values)))
    length = data.draw(st.integers(0, len(values) - start))
    piece = pa.array(values, pa.binary()).slice(start, length)
    assert hex_array(piece).to_pylist() == [None if v is None else v.hex() for v in values[start:start + length]]
