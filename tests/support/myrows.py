"""The compiled MySQL row decoder for the tests that need it, and binary-protocol rows built by hand."""

from __future__ import annotations

import datetime as dt
import os
import struct
from types import ModuleType

import pytest

from osiris.drivers.mysql.native import decoder_module


def require_myrows() -> ModuleType:
    """The compiled module; a missing build fails under CI (the install must build it) and skips elsewhere."""
    module = decoder_module()
    if module is None:
        message = "the native MySQL row decoder is not built (no C compiler at install time)"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI=true: `make install` must build it)", pytrace=False)
        pytest.skip(message)
    return module


@pytest.fixture
def no_native(monkeypatch: pytest.MonkeyPatch) -> None:
    """auto as on an install without a C compiler: the connectorx and pymysql paths are what remains."""
    from osiris.drivers.mysql import native

    monkeypatch.setattr(native, "decoder_module", lambda: None)


EOF = b"\xfe\x00\x00\x22\x00"


def packet(payload: bytes, seq: int = 0) -> bytes:
    """Frame a payload as packets, splitting it at 16 MiB - 1 as the protocol does."""
    out, first = [], True
    while first or payload:
        part, payload = payload[:0xFFFFFF], payload[0xFFFFFF:]
        out.append(len(part).to_bytes(3, "little") + bytes([seq % 256]) + part)
        seq += 1
        if len(part) == 0xFFFFFF and not payload:
            out.append(b"\x00\x00\x00" + bytes([seq % 256]))  # an exact multiple ends with an empty packet
        first = False
    return b"".join(out)


def lenenc(data: bytes) -> bytes:
    n = len(data)
    if n < 0xFB:
        head = bytes([n])
    elif n < 1 << 16:
        head = b"\xfc" + n.to_bytes(2, "little")
    elif n < 1 << 24:
        head = b"\xfd" + n.to_bytes(3, "little")
    else:
        head = b"\xfe" + n.to_bytes(8, "little")
    return head + data


def moment(value: dt.date | dt.datetime) -> bytes:
    if isinstance(value, dt.datetime):
        body = struct.pack("<HBBBBBI", value.year, value.month, value.day, value.hour, value.minute,
                           value.second, value.microsecond)
        return bytes([11]) + body
    return bytes([4]) + struct.pack("<HBB", value.year, value.month, value.day)


def row(values: tuple, encoders: list) -> bytes:
    bitmap = bytearray((len(values) + 9) // 8)
    body = b""
    for i, (value, encode) in enumerate(zip(values, encoders, strict=True)):
        if value is None:
            bitmap[(i + 2) // 8] |= 1 << ((i + 2) % 8)
        else:
            body += encode(value)
    return packet(b"\x00" + bytes(bitmap) + body)
