"""The PostgREST query grammar a supabase step may use: `filter`, `order`, `select`.

One parser serves both paths. Over REST the parsed filters are handed to the supabase client
unchanged (PostgREST evaluates them); on the Postgres path (`dsn`) they become SQL with every
value rendered as an escaped literal, so the two paths select the same rows.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from osiris.drivers.postgres.connect import literal, quote_ident
from osiris.runtime.driver import DriverError

__all__ = ["Filter", "OrderTerm", "filters_sql", "incremental_any_of", "order_sql", "parse_filters", "parse_order",
           "split_top"]

OPERATORS = ("eq", "neq", "gt", "gte", "lt", "lte", "like", "ilike", "is", "in")
_SQL_OPS = {
    "eq": "=",
    "neq": "<>",
    "gt": ">",
    "gte": ">=",
    "lt": "<",
    "lte": "<=",
    "like": "LIKE",
    "ilike": "ILIKE",
}
_IS_VALUES = {"null": "NULL", "true": "TRUE", "false": "FALSE", "unknown": "UNKNOWN"}
_FILTER = re.compile(r"^(not\.)?(" + "|".join(OPERATORS) + r")\.(.*)$", re.DOTALL)
_HINT = (
    "write filters as `column: op.value`, op one of " + ", ".join(OPERATORS) + " (prefix `not.` to negate)"
)


@dataclass(frozen=True)
class Filter:
    column: str
    op: str
    value: str
    negate: bool = False

    @property
    def operator(self) -> str:
        """The operator as the supabase client's `filter()` expects it (`not.eq`, `in`, ...)."""
        return f"not.{self.op}" if self.negate else self.op


@dataclass(frozen=True)
class OrderTerm:
    column: str
    desc: bool = False
    nulls_first: bool | None = None


def parse_filters(mapping: Mapping[str, Any] | None) -> list[Filter]:
    """Parse `{status: eq.completed, total: gte.100, deleted_at: is.null, n: 5}`; bare values mean eq."""
    filters = []
    for column, raw in (mapping or {}).items():
        if isinstance(raw, bool):
            filters.append(Filter(column, "is", "true" if raw else "false"))
            continue
        if isinstance(raw, int | float):
            filters.append(Filter(column, "eq", str(raw)))
            continue
        match = _FILTER.match(str(raw))
        if not match:
            raise DriverError(f"filter on {column!r}: cannot read {raw!r}", hint=_HINT)
        negate, op, value = bool(match.group(1)), match.group(2), match.group(3)
        if op == "is" and value.lower() not in _IS_VALUES:
            raise DriverError(f"filter on {column!r}: `is` takes null, true, false or unknown, not {value!r}")
        if op == "in":
            _in_values(column, value)
        filters.append(Filter(column, op, value, negate))
    return filters


def split_top(text: str) -> list[str]:
    """Split on commas that are outside double quotes and parentheses."""
    parts: list[str] = []
    current: list[str] = []
    depth, quoted = 0, False
    for char in text:
        if char == '"':
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        elif not quoted and depth == 0 and char == ",":
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    parts.append("".join(current).strip())
    return [part for part in parts if part]


def _in_values(column: str, value: str) -> list[str]:
    if not (value.startswith("(") and value.endswith(")")):
        raise DriverError(f'filter on {column!r}: `in` takes a list like in.(a,b,"c,d"), not {value!r}')
    items = split_top(value[1:-1])
    return [item[1:-1].replace('\\"', '"') if item.startswith('"') else item for item in items]


def parse_order(text: str | None) -> list[OrderTerm]:
    """Parse `created_at.desc.nullslast,id` into terms."""
    terms = []
    for part in split_top(text or ""):
        column, *modifiers = part.split(".")
        desc, nulls = False, None
        for modifier in modifiers:
            if modifier in ("asc", "desc"):
                desc = modifier == "desc"
            elif modifier in ("nullsfirst", "nullslast"):
                nulls = modifier == "nullsfirst"
            else:
                raise DriverError(
                    f"order {text!r}: unknown modifier {modifier!r}",
                    hint="use column[.asc|.desc][.nullsfirst|.nullslast], comma-separated",
                )
        terms.append(OrderTerm(column, desc, nulls))
    return terms


def _filter_sql(item: Filter) -> str:
    column = quote_ident(item.column)
    if item.op in _SQL_OPS:
        value = item.value.replace("*", "%") if item.op in ("like", "ilike") else item.value
        clause = f"{column} {_SQL_OPS[item.op]} {literal(value)}"
    elif item.op == "is":
        clause = f"{column} IS {_IS_VALUES[item.value.lower()]}"
    else:
        values = _in_values(item.column, item.value)
        clause = f"{column} IN ({', '.join(literal(v) for v in values)})" if values else "FALSE"
    return f"NOT ({clause})" if item.negate else clause


def filters_sql(filters: list[Filter]) -> str:
    """` WHERE ...` for the Postgres path ('' without filters); values are escaped literals."""
    return f" WHERE {' AND '.join(_filter_sql(f) for f in filters)}" if filters else ""


def order_sql(terms: list[OrderTerm]) -> str:
    parts = []
    for term in terms:
        text = f"{quote_ident(term.column)} {'DESC' if term.desc else 'ASC'}"
        if term.nulls_first is not None:
            text += " NULLS FIRST" if term.nulls_first else " NULLS LAST"
        parts.append(text)
    return f" ORDER BY {', '.join(parts)}" if parts else ""


def _rest_value(value: Any) -> str:
    """A cursor value for a PostgREST logic tree: typed text (timestamps as ISO with their
    offset), double-quoted so commas, dots and parentheses stay inside the value."""
    from datetime import date, datetime
    from decimal import Decimal

    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str, date)):
        raise DriverError(f"{value!r} is not a cursor value")
    if isinstance(value, datetime) and value.tzinfo is not None:
        value = value.astimezone(UTC)
    text = value.isoformat() if isinstance(value, date) else format(value, "f") if isinstance(value, Decimal) \
        else str(value)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def incremental_any_of(bound: Any) -> str | None:
    """An incremental window (runtime/incremental.py) as PostgREST's `or` filter, or None."""
    if bound is None or bound.value is None:
        return None
    op = {">": "gt", ">=": "gte"}[bound.op]
    column = bound.column if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", bound.column) else \
        '"' + bound.column.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"({column}.{op}.{_rest_value(bound.value)},{column}.is.null)"
