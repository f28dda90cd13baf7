"""Seed corpus for tests/fuzz/pgcopy_fuzz.c: valid streams of every kind, in the harness's input layout.

    .venv/bin/python tests/fuzz/make_pgcopy_seeds.py DIR
"""

from __future__ import annotations

import datetime as dt
import sys
import uuid
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support.pgcopy import stream  # noqa: E402

KINDS = ["BOOL", "INT2", "INT4", "INT8", "FLOAT4", "FLOAT8", "DATE", "TIME", "TIMESTAMP", "TEXT", "BYTEA", "JSONB",
         "UUID", "DECIMAL"]
VALUES = {
    "BOOL": [True, False], "INT2": [-5, 300], "INT4": [7, -(2**31)], "INT8": [2**62, -1], "FLOAT4": [1.5, -0.0],
    "FLOAT8": [2.25, 1e300], "DATE": [dt.date(2024, 2, 29), dt.date(1, 1, 1)],
    "TIME": [dt.time(12, 34, 56, 789), dt.time(0)], "TIMESTAMP": [dt.datetime(2024, 2, 29, 12, 34, 56, 789012),
                                                                   dt.datetime(1970, 1, 1)],
    "TEXT": ["Zürich — 東京 🚀", ""], "BYTEA": [b"\x00\xff", b""], "JSONB": ['{"a": 1}', "[]"],
    "UUID": [uuid.UUID(int=1), uuid.UUID(int=2**100)], "DECIMAL": [Decimal("1234567890.12"), Decimal("-0.05")],
}


def seed(kinds: list[str], split: int) -> bytes:
    head = bytes([len(kinds) - 1]) + bytes(KINDS.index(k) for k in kinds) + bytes([split])
    rows = [tuple(VALUES[k][i % 2] for k in kinds) for i in range(4)] + [tuple(None for _ in kinds)]
    return head + stream(kinds, rows)


def main() -> None:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for i, kind in enumerate(KINDS):
        (out / f"one_{kind.lower()}").write_bytes(seed([kind], 0))
        (out / f"pair_{kind.lower()}").write_bytes(seed([kind, KINDS[(i + 5) % len(KINDS)]], 7))
    (out / "wide").write_bytes(seed(["INT8", "TEXT", "DECIMAL", "TIMESTAMP", "UUID", "JSONB"], 3))


if __name__ == "__main__":
    main()
