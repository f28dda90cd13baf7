"""Seed corpus for tests/fuzz/myrows_fuzz.c: valid results of every kind, in the harness's input layout.

    .venv/bin/python tests/fuzz/make_myrows_seeds.py DIR
"""

from __future__ import annotations

import datetime as dt
import struct
import sys
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support.myrows import EOF, lenenc, moment, packet, row  # noqa: E402

# kind name, its number in myrows_core.h, an encoder, two values
KINDS = [
    ("BOOL", 1, lambda v: struct.pack("<b", v), [1, 0]),
    ("INT8", 2, lambda v: struct.pack("<b", v), [-128, 7]),
    ("INT16", 3, lambda v: struct.pack("<h", v), [300, -5]),
    ("INT32", 4, lambda v: struct.pack("<i", v), [-(2**31), 7]),
    ("INT64", 5, lambda v: struct.pack("<q", v), [2**62, -1]),
    ("FLOAT", 6, lambda v: struct.pack("<f", v), [1.5, -0.0]),
    ("DOUBLE", 7, lambda v: struct.pack("<d", v), [2.25, 1e300]),
    ("DATE", 8, moment, [dt.date(2024, 2, 29), dt.date(1000, 1, 1)]),
    ("DATETIME", 9, moment, [dt.datetime(2024, 2, 29, 12, 34, 56, 789012), dt.datetime(1970, 1, 1)]),
    ("DECIMAL", 10, lambda v: lenenc(str(v).encode()), [Decimal("1234567890.12"), Decimal("-0.05")]),
    ("TEXT", 11, lambda v: lenenc(v.encode()), ["Zürich — 東京 🚀", ""]),
    ("BINARY", 12, lenenc, [b"\x00\xff", b""]),
]


def seed(picked: list[int], split: int) -> bytes:
    """Harness layout: column count, a kind byte per column (decimals: precision 12,2), split byte, stream."""
    kinds = [KINDS[i] for i in picked]
    head = bytes([len(kinds) - 1]) + bytes(number - 1 for _, number, _, _ in kinds) + bytes([split])
    encoders = [encode for _, _, encode, _ in kinds]
    body = b"".join(row(tuple(values[r] for _, _, _, values in kinds), encoders) for r in range(2))
    body += row(tuple(None for _ in kinds), encoders)
    return head + body + packet(EOF)


def main(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    count = 0
    for i in range(len(KINDS)):
        for split in (0, 7, 0x45, 0xC3):
            (folder / f"seed-{count}").write_bytes(seed([i], split))
            count += 1
    for start in range(0, len(KINDS), 3):
        (folder / f"seed-{count}").write_bytes(seed(list(range(start, min(start + 6, len(KINDS)))), 0x83))
        count += 1
    print(f"{count} seeds in {folder}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
