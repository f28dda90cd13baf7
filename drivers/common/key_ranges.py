"""Split a key's value range into partitions for a distributed extract (postgres, mysql).

Why one module: both SQL drivers must cut a key the same way and describe each slice as plain
JSON (a task argument), and both must be exact: every row in exactly one slice. So the cuts
are open-ended at both ends: the first slice is `key < b1 OR key IS NULL`, the middle ones
`b_i <= key < b_i+1`, the last `key >= b_n-1`. Bounds (the user's or the data's min/max) only
place the cuts; rows outside them land in the first or last slice, never nowhere.

Values travel in specs as JSON (ints, ISO text, decimal text) and are decoded back into typed
Python values before a driver renders them, so a driver only ever renders values it produced.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from osiris.runtime.driver import DriverError

__all__ = ["KINDS", "KeyRange", "coerce", "condition", "from_spec", "key_ranges", "label", "to_spec"]

Kind = Literal["int", "date", "timestamp", "numeric"]
KINDS: tuple[str, ...] = ("int", "date", "timestamp", "numeric")
_EPOCH_NAIVE = datetime(1970, 1, 1)  # noqa: DTZ001 - naive keys are compared as naive
_EPOCH_AWARE = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


@dataclass(frozen=True)
class KeyRange:
    """One slice: `lo <= key < hi`, either end open when None, NULL keys too when `nulls`."""

    lo: Any
    hi: Any
    nulls: bool


def coerce(kind: str, value: Any, what: str = "value") -> Any:
    """`value` (a bound from the user or the database) as the key kind's Python type."""
    try:
        if kind == "int":
            if isinstance(value, bool):
                raise TypeError
            if isinstance(value, (int, str)) or (isinstance(value, Decimal) and value == value.to_integral()):
                return int(value)
            raise TypeError
        if kind == "date":
            if isinstance(value, datetime):
                return value.date()
            return value if isinstance(value, date) else date.fromisoformat(str(value))
        if kind == "timestamp":
            if isinstance(value, datetime):
                return value
            if isinstance(value, date):
                return datetime(value.year, value.month, value.day)  # noqa: DTZ001
            return datetime.fromisoformat(str(value))
        if kind == "numeric":
            if isinstance(value, bool):
                raise TypeError
            number = Decimal(str(value))
            if not number.is_finite():
                raise ValueError
            return number
    except (TypeError, ValueError, InvalidOperation):
        raise DriverError(
            f"partitions: {what} {value!r} is not a {_KIND_WORD[kind]}",
            hint="partition bounds must match the key column's type (e.g. [1, 1000000] or "
                 "['2024-01-01', '2025-01-01'])",
        ) from None
    raise DriverError(f"partitions: unknown key kind {kind!r}")


_KIND_WORD = {"int": "whole number", "date": "date", "timestamp": "timestamp", "numeric": "number"}


def _to_int(kind: str, value: Any) -> int:
    if kind == "int":
        return int(value)
    if kind == "date":
        return value.toordinal()
    epoch = _EPOCH_AWARE if value.tzinfo is not None else _EPOCH_NAIVE
    return (value - epoch) // _MICRO


def _from_int(kind: str, number: int, like: Any) -> Any:
    if kind == "int":
        return number
    if kind == "date":
        return date.fromordinal(number)
    if like.tzinfo is not None:
        return (_EPOCH_AWARE + number * _MICRO).astimezone(like.tzinfo)
    return _EPOCH_NAIVE + number * _MICRO


def _cuts(kind: str, lo: Any, hi: Any, count: int) -> list[Any]:
    """Interior cut points b1 < ... < b(n-1), n <= count, evenly spaced over [lo, hi]."""
    if count <= 1 or not lo < hi:
        return []
    if kind == "numeric":
        step = (hi - lo) / count
        return sorted({lo + step * i for i in range(1, count)} - {lo})
    low, high = _to_int(kind, lo), _to_int(kind, hi)
    span = high - low + 1
    parts = min(count, span)
    return [_from_int(kind, low + span * i // parts, lo) for i in range(1, parts)]


def key_ranges(kind: str, lo: Any, hi: Any, count: int) -> list[KeyRange]:
    """At most `count` slices cut evenly over [lo, hi]; together they cover every key and NULL."""
    if kind == "timestamp" and lo is not None and hi is not None and (lo.tzinfo is None) != (hi.tzinfo is None):
        lo, hi = (v if v.tzinfo is not None else v.replace(tzinfo=UTC) for v in (lo, hi))  # sessions run in UTC
    if lo is not None and hi is not None and hi < lo:
        raise DriverError(f"partitions: bounds [{lo}, {hi}] are reversed", hint="write them low first")
    cuts = _cuts(kind, lo, hi, count) if lo is not None and hi is not None else []
    edges: list[Any] = [None, *cuts, None]
    return [KeyRange(edges[i], edges[i + 1], i == 0) for i in range(len(edges) - 1)]


def _encode(value: Any) -> Any:
    if value is None or isinstance(value, int):
        return value
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value)


def to_spec(key: str, kind: str, part: KeyRange) -> dict[str, Any]:
    """The slice as JSON-able data for a Partition's spec."""
    return {"key": key, "kind": kind, "lo": _encode(part.lo), "hi": _encode(part.hi), "nulls": part.nulls}


def from_spec(spec: Mapping[str, Any]) -> tuple[str, str, KeyRange]:
    """(key, kind, slice) back from a spec, values typed again; a malformed spec is refused."""
    key, kind = spec.get("key"), spec.get("kind")
    if not isinstance(key, str) or not key or kind not in KINDS:
        raise DriverError(f"malformed key-range partition spec {dict(spec)!r}")
    lo = None if spec.get("lo") is None else coerce(kind, spec["lo"], "lower cut")
    hi = None if spec.get("hi") is None else coerce(kind, spec["hi"], "upper cut")
    return key, kind, KeyRange(lo, hi, bool(spec.get("nulls")))


def condition(key_sql: str, part: KeyRange, render: Callable[[Any], str]) -> str:
    """The slice as a SQL predicate ("" for everything); `render` turns a typed value into a literal."""
    terms = []
    if part.lo is not None:
        terms.append(f"{key_sql} >= {render(part.lo)}")
    if part.hi is not None:
        terms.append(f"{key_sql} < {render(part.hi)}")
    if not terms:
        return "" if part.nulls else f"{key_sql} IS NOT NULL"
    predicate = " AND ".join(terms)
    return f"({predicate} OR {key_sql} IS NULL)" if part.nulls else predicate


def label(key: str, part: KeyRange) -> str:
    """A short description for events: "id < 500 or NULL", "id in [500, 1000)", "id >= 1000"."""
    lo, hi = _encode(part.lo), _encode(part.hi)
    if lo is None and hi is None:
        text = f"all {key}"
    elif lo is None:
        text = f"{key} < {hi}"
    elif hi is None:
        text = f"{key} >= {lo}"
    else:
        text = f"{key} in [{lo}, {hi})"
    return f"{text} or NULL" if part.nulls and (lo is not None or hi is not None) else text
