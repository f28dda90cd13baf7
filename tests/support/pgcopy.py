"""A reference encoder of PostgreSQL's binary COPY format, for the native decoder's tests.

Written from the protocol documentation (COPY, "Binary Format") and the types' send functions,
not from the decoder, so a test that decodes these bytes checks the decoder against the format.
Also: the `decoder` fixture helper that fails (never skips) under CI when the extension was not built.
"""

from __future__ import annotations

import datetime as dt
import os
import struct
import uuid
from collections.abc import Sequence
from decimal import Decimal, localcontext
from typing import Any

import pytest

SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
HEADER = SIGNATURE + struct.pack(">ii", 0, 0)
TRAILER = struct.pack(">h", -1)
_EPOCH = dt.date(2000, 1, 1)
_EPOCH_TS = dt.datetime(2000, 1, 1)


def require_decoder() -> Any:
    """The compiled module; a missing build fails under CI (the install must build it) and skips elsewhere."""
    from osiris.drivers.postgres.native_plan import decoder_missing_reason, decoder_module

    module = decoder_module()
    if module is None:
        message = f"the native COPY decoder is not built: {decoder_missing_reason()}"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI=true: `make install` must build it)", pytrace=False)
        pytest.skip(message)
    return module


def numeric_send(value: Decimal | str, dscale: int | None = None) -> bytes:
    """numeric_send: digit groups of base 10000, weight of the first, sign word, display scale."""
    if value in ("NaN", "Infinity", "-Infinity"):
        sign = {"NaN": 0xC000, "Infinity": 0xD000, "-Infinity": 0xF000}[str(value)]
        return struct.pack(">hhHh", 0, 0, sign, 0)
    value = Decimal(value)
    if dscale is None:
        dscale = max(0, -value.as_tuple().exponent)
    sign = 0x4000 if value.is_signed() and value != 0 else 0
    with localcontext(prec=2000):
        text = format(abs(value).quantize(Decimal(1).scaleb(-dscale)), "f")
    whole, _, frac = text.partition(".")
    whole = whole.lstrip("0")
    whole = "0" * (-len(whole) % 4) + whole
    frac += "0" * (-len(frac) % 4)
    digits = whole + frac
    groups = [int(digits[i:i + 4]) for i in range(0, len(digits), 4)]
    weight = len(whole) // 4 - 1
    while groups and groups[0] == 0:
        groups.pop(0)
        weight -= 1
    while groups and groups[-1] == 0:
        groups.pop()
    if not groups:
        weight = 0
    return struct.pack(">hhHh", len(groups), weight, sign, dscale) + b"".join(struct.pack(">H", g) for g in groups)


def encode_value(kind: str, value: Any) -> bytes:
    """One value in its type's binary send format (kind: the decoder's kind name)."""
    if kind == "BOOL":
        return b"\x01" if value else b"\x00"
    if kind in ("INT2", "INT4", "INT8", "FLOAT4", "FLOAT8"):
        return struct.pack({"INT2": ">h", "INT4": ">i", "INT8": ">q", "FLOAT4": ">f", "FLOAT8": ">d"}[kind], value)
    if kind == "DATE":
        return struct.pack(">i", (value - _EPOCH).days)
    if kind == "TIME":
        return struct.pack(">q", ((value.hour * 60 + value.minute) * 60 + value.second) * 1_000_000 + value.microsecond)
    if kind == "TIMESTAMP":
        delta = value.replace(tzinfo=None) - _EPOCH_TS
        return struct.pack(">q", (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds)
    if kind == "TEXT":
        return value.encode()
    if kind == "BYTEA":
        return bytes(value)
    if kind == "JSONB":
        return b"\x01" + value.encode()
    if kind == "UUID":
        return uuid.UUID(str(value)).bytes
    if kind == "DECIMAL":
        return numeric_send(value)
    raise ValueError(kind)


def tuple_bytes(fields: Sequence[bytes | None]) -> bytes:
    """One tuple: the field count, then each field's length (-1 for NULL) and bytes."""
    out = [struct.pack(">h", len(fields))]
    for field in fields:
        out.append(struct.pack(">i", -1) if field is None else struct.pack(">i", len(field)) + field)
    return b"".join(out)


def stream(kinds: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    """A whole binary COPY stream of `rows` (None is NULL)."""
    body = [tuple_bytes([None if v is None else encode_value(k, v) for k, v in zip(kinds, row, strict=True)])
            for row in rows]
    return HEADER + b"".join(body) + TRAILER
