"""Canonical bytes and fingerprints: the one place that decides what "the same" means.

Every fingerprint in Osiris is `sha256:<hex>` over canonical JSON (sorted keys, no
insignificant whitespace, UTF-8). Artifacts are written as pretty canonical JSON. Floats
that are whole numbers stay floats (1.0), so 1 and 1.0 hash differently, as they differ in
type.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

FP_PREFIX = "sha256:"


def _check(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("NaN and infinity have no canonical JSON form")
    return value


def canonical_json(value: Any) -> bytes:
    """Compact canonical JSON bytes, the input of every fingerprint."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


def pretty_json(value: Any) -> bytes:
    """Canonical JSON for files people read: sorted keys, two-space indent, LF, final newline."""
    text = json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)
    return (text + "\n").encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return FP_PREFIX + hashlib.sha256(data).hexdigest()


def fingerprint(value: Any) -> str:
    """`sha256:<hex>` of the canonical JSON of `value`."""
    return sha256_hex(canonical_json(value))


def nests_deeper_than(data: Any, limit: int) -> bool:
    """Whether `data` nests containers more than `limit` deep (iteratively: no recursion)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def utf8_encodable(data: Any) -> bool:  # noqa: ANN401 - parsed JSON
    """Whether `data` can be written as UTF-8: json.loads turns a lone surrogate escape
    (\\ud800) into a string that cannot be, and a log or a page writing it crashes."""
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
