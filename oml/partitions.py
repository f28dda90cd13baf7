"""The rules of a step's `partitions:` block, shared by lowering and manifest verification.

`partitions:` tells a backend that can split a step's work (the Ray backend) how to split it;
the local and E2B backends ignore it. The rules live here, on plain data, so the OML compiler
(which points at the offending YAML node) and the manifest model (which refuses a tampered
manifest) apply exactly the same ones. Which step kinds may use which keys is known only after
component resolution: `compiler/checks/partitions.py` checks that.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from osiris.oml.suggest import did_you_mean

PARTITION_KEYS = ("count", "column", "bounds", "scope", "by")
"""Every key of the block, in the order `omlc fmt` and the manifest write them."""
EXTRACTOR_KEYS = ("column", "bounds")
"""Keys only an extractor may use: the column it splits its read by, and that column's range."""
TRANSFORM_KEYS = ("scope", "by")
"""Keys only a transform may use: how its rows are grouped into partitions."""
Scope = Literal["local", "hash", "single"]
SCOPES: tuple[Scope, ...] = ("local", "hash", "single")
MAX_PARTITIONS = 1024
IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]{0,62}"
"""A plain SQL identifier (PostgreSQL's 63-byte limit): a column name a driver quotes itself."""
IDENTIFIER_RE = re.compile(IDENTIFIER)
"""Matched with `fullmatch`."""
INSTANT_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
                        r"([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2})?)?")
"""The ISO-8601 dates and date-times `bounds` takes (then checked by `datetime.fromisoformat`)."""
EXAMPLE = ("e.g. `partitions: 8` or `partitions: {count: 8, column: id, bounds: [1, 1000000]}` for an "
           "extractor; a transform takes `scope` and `by`")


@dataclass(frozen=True)
class Problem:
    """One broken rule, at `path` inside the block (`()` is the block itself)."""

    path: tuple[str | int, ...]
    message: str
    help: str = EXAMPLE
    at_key: bool = False
    """The mapping key at `path` is the mistake (unknown, or not allowed there), not its value."""


def partition_problems(value: Any, *, compiled: bool = False) -> list[Problem]:  # noqa: ANN401 - plain data
    """Every rule `value` breaks, in the order of its keys. `compiled` applies the manifest's
    normalised form: a mapping (no shorthand number), `by` only with an explicit `scope: hash`,
    and `bounds` both integers or both floats."""
    if isinstance(value, int) and not isinstance(value, bool) and not compiled:
        return _count(value, ())
    if not isinstance(value, dict):
        wanted = "a mapping" if compiled else "a mapping or a number of partitions"
        return [Problem((), f"`partitions` must be {wanted}, not {_type_name(value)}")]
    found: list[Problem] = []
    for key, item in value.items():
        if key not in PARTITION_KEYS:
            hint = did_you_mean(str(key), PARTITION_KEYS) or f"allowed keys: {', '.join(PARTITION_KEYS)}"
            found.append(Problem((key,), f"unknown key `partitions.{key}`", help=hint, at_key=True))
        elif key == "count":
            found += _count(item, ("count",))
        elif key == "column" and not _identifier(item):
            found.append(Problem(("column",), f"`partitions.column` must be a column name (letters, digits and `_`, "
                                           f"at most 63, not starting with a digit), not {item!r}",
                                 help="a column such as `id` or `order_id`; the driver quotes the name itself"))
        elif key == "bounds":
            found += _bounds(item, "column" in value, compiled)
        elif key == "scope" and item not in SCOPES:
            found.append(Problem(("scope",), f"`partitions.scope` must be local, hash or single, not {item!r}",
                                 help="local: each partition on its own; hash: rows grouped by `by` first; "
                                      "single: one task sees all rows"))
        elif key == "by":
            found += _by(item, value.get("scope"), compiled)
    return found


def normalise(value: int | dict[str, Any]) -> dict[str, Any]:
    """A valid block (no problems) in the manifest's form: shorthand `8` -> `{count: 8}`, keys in
    PARTITION_KEYS order, `by` alone -> `scope: hash`, `bounds` mixing an integer and a float ->
    both floats (so the manifest reloads to the same values and fingerprint)."""
    if isinstance(value, int):
        return {"count": value}
    result = {key: value[key] for key in PARTITION_KEYS if key in value}
    if "by" in result:
        result["by"] = list(result["by"])
        result.setdefault("scope", "hash")
    bounds = result.get("bounds")
    if bounds is not None:
        low, high = bounds
        if isinstance(low, float) or isinstance(high, float):
            low, high = float(low), float(high)
        result["bounds"] = [low, high]
    return {key: result[key] for key in PARTITION_KEYS if key in result}


def _count(value: Any, path: tuple[str | int, ...]) -> list[Problem]:  # noqa: ANN401
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_PARTITIONS:
        return []
    shown = "`partitions`" if not path else "`partitions.count`"
    return [Problem(path, f"{shown} must be an integer from 1 to {MAX_PARTITIONS}, not {value!r}",
                    help="e.g. `partitions: 8`; leave `count` out to let the backend decide "
                         "(`--partitions`, the cluster's CPUs)")]


def _bounds(value: Any, has_column: bool, compiled: bool) -> list[Problem]:  # noqa: ANN401
    help = "e.g. `bounds: [1, 1000000]` or `bounds: [\"2024-01-01\", \"2025-01-01\"]`, the range of `column`"
    if not has_column:
        return [Problem(("bounds",), "`partitions.bounds` needs `partitions.column`: they are the range of the "
                                     "split column", help="name the split column, e.g. `column: id`, or drop `bounds`",
                        at_key=True)]
    if not isinstance(value, list | tuple) or len(value) != 2:
        shown = f"{len(value)} values" if isinstance(value, list | tuple) else _type_name(value)
        return [Problem(("bounds",), f"`partitions.bounds` must be a list of two values [low, high], not {shown}",
                        help=help)]
    kinds: list[str] = []
    for index, item in enumerate(value):
        kind = _bound_kind(item)
        if kind is None:
            return [Problem(("bounds", index), f"`partitions.bounds[{index}]` must be an integer, a finite number or "
                                               f"an ISO-8601 date or timestamp, not {item!r}", help=help)]
        kinds.append(kind)
    low, high = value
    numeric = {"integer", "number"}
    same = kinds[0] == kinds[1] if compiled else (kinds[0] == kinds[1] or set(kinds) <= numeric)
    if not same:
        return [Problem(("bounds",), f"`partitions.bounds` mixes {kinds[0]} {low!r} and {kinds[1]} {high!r}",
                        help="both integers, both numbers, or both ISO-8601 dates or timestamps")]
    if kinds[0] == "timestamp":
        low, high = _instant(low), _instant(high)
        if (low.tzinfo is None) != (high.tzinfo is None):
            return [Problem(("bounds",), "`partitions.bounds` compares a timestamp with a UTC offset to one "
                                         "without", help="give both bounds an offset (`+00:00`), or neither")]
    if not low < high:
        return [Problem(("bounds",), f"`partitions.bounds` must be [low, high] with low < high, not "
                                     f"[{value[0]!r}, {value[1]!r}]", help=help)]
    return []


def _bound_kind(value: Any) -> str | None:  # noqa: ANN401
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return "integer" if _finite(value) else None
    if isinstance(value, float):
        return "number" if _finite(value) else None
    if isinstance(value, str):
        try:
            _instant(value)
        except ValueError:
            return None
        return "timestamp"
    return None


def _instant(text: str) -> datetime:
    """An ISO-8601 date (as midnight) or date-time in the extended form every database reads
    (`2024-01-31`, `2024-01-31T10:00:00.5+02:00`); raises ValueError for anything else, such as
    the week dates and basic forms Python's `fromisoformat` also reads."""
    if not INSTANT_RE.fullmatch(text):
        raise ValueError(text)
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return datetime.fromisoformat(text)
    return datetime(day.year, day.month, day.day)


def _by(value: Any, scope: Any, compiled: bool) -> list[Problem]:  # noqa: ANN401
    if not isinstance(value, list | tuple) or not value or not all(_identifier(column) for column in value):
        return [Problem(("by",), f"`partitions.by` must be a non-empty list of column names, not {value!r}",
                        help="e.g. `by: [customer_id]`: rows with equal values land in one partition")]
    if scope in ("local", "single"):
        return [Problem(("by",), f"`partitions.by` goes with `scope: hash`, not `scope: {scope}`",
                        help="drop `by`, or write `scope: hash`", at_key=True)]
    if compiled and scope != "hash":
        return [Problem(("by",), "`partitions.by` needs `scope: hash` in a compiled manifest",
                        help="recompile the pipeline with omlc", at_key=True)]
    return []


def _identifier(value: Any) -> bool:  # noqa: ANN401
    return isinstance(value, str) and IDENTIFIER_RE.fullmatch(value) is not None


def _finite(value: int | float) -> bool:
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def _type_name(value: Any) -> str:  # noqa: ANN401
    if value is None:
        return "null"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "a mapping"}.get(type(value), "a value")
