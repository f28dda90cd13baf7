"""Bind parameter values into SQL text as typed literals, never as raw text.

A `${params.x}` inside a field marked `x-sql` is replaced by a literal chosen by the value's
type and by where the reference stands in the SQL:

- outside quotes: integers and finite floats as numbers (negative ones in parentheses, so a
  `-` before the reference cannot form a `--` comment), booleans as TRUE/FALSE, null as
  NULL, strings as a quoted literal with `'` doubled (and `\\` doubled for MySQL, whose
  default sql_mode treats backslash as an escape);
- inside a single-quoted string: the value's text, escaped the same way, without new quotes;
- inside a double-quoted identifier or a comment: rejected, since no quoting makes an
  arbitrary value safe there (a newline ends a `--` comment).

Values that have no literal form (NaN, infinity, NUL characters, lists, mappings) are
rejected. The result is plain SQL text with no placeholders, so it works with every driver,
and the compiled cfg shows exactly what will run.
"""

from __future__ import annotations

import math
from typing import Any, Literal

Context = Literal["code", "string", "identifier", "comment"]
Dialect = Literal["ansi", "mysql"]


class UnsafeValue(ValueError):
    """The value cannot be bound at this position; the message says why."""


def context_after(sql: str, start: Context = "code") -> Context:
    """The lexical context at the end of `sql` (a tiny SQL lexer: quotes and comments)."""
    state: Context = start
    i, n = 0, len(sql)
    block = False
    closing = '"'
    while i < n:
        ch = sql[i]
        if state == "code":
            if ch == "'":
                state = "string"
            elif ch == '"' or ch == "`":
                state = "identifier"
                closing = ch
            elif sql.startswith("--", i) or ch == "#":
                state, block = "comment", False
            elif sql.startswith("/*", i):
                state, block = "comment", True
                i += 1
        elif state == "string":
            if ch == "'":
                if i + 1 < n and sql[i + 1] == "'":
                    i += 1
                else:
                    state = "code"
        elif state == "identifier":
            if ch == closing:
                state = "code"
        elif state == "comment":
            if block and sql.startswith("*/", i):
                state = "code"
                i += 1
            elif not block and ch == "\n":
                state = "code"
        i += 1
    return state


def _escape(text: str, dialect: Dialect) -> str:
    if "\x00" in text:
        raise UnsafeValue("the value contains a NUL character")
    if dialect == "mysql":
        text = text.replace("\\", "\\\\")
    return text.replace("'", "''")


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise UnsafeValue(f"{value!r} has no SQL literal form")
        return repr(value)
    if isinstance(value, (int, str)):
        return str(value)
    raise UnsafeValue(f"a {type(value).__name__} cannot be bound into SQL")


def sql_literal(value: Any, context: Context, dialect: Dialect = "ansi") -> str:
    """The text to splice in for `value` at a position whose lexical context is `context`."""
    if context in ("identifier", "comment"):
        raise UnsafeValue(f"parameters cannot be bound inside a SQL {context}")
    if context == "string":
        if value is None:
            raise UnsafeValue("null cannot be bound inside a quoted SQL string")
        return _escape(_as_text(value), dialect)
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        text = _as_text(value)
        # Parenthesised when negative: after a `-` in the SQL, `-5` would make `--5`, a comment.
        return f"({text})" if text.startswith("-") else text
    if isinstance(value, str):
        return "'" + _escape(value, dialect) + "'"
    raise UnsafeValue(f"a {type(value).__name__} cannot be bound into SQL")
