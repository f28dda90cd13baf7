"""SQL literals for parameter values, one spelling per dialect, and a check of each spelling.

A value becomes exactly one literal token (a negative number is `(-5)`, so a `-` before it
cannot make `--`, a comment). Strings are quoted so that they mean the same thing on the
server whatever its escape settings, as far as the dialect allows:

- MySQL/MariaDB: `'...'` with `'` and `\\` doubled (the session runs without
  NO_BACKSLASH_ESCAPES, drivers/mysql/connect.py, so `\\` is one backslash);
- PostgreSQL: `'...'` with `'` doubled, or `E'...'` with `\\` doubled too when the value holds a
  backslash, which reads the same whether `standard_conforming_strings` is on or off;
- DuckDB: `'...'` with `'` doubled (DuckDB has no backslash escapes in plain strings).

Identifiers (parameters declared `type: identifier`) are quoted with backticks (MySQL) or
double quotes (PostgreSQL, DuckDB), the quote character doubled. `decode_literal` reads a
literal back with the dialect's rules; the binder requires it to give the value again, a
check that needs no tokenizer.
"""

from __future__ import annotations

import math
import re
from typing import Any

from osiris.spec.models import SqlDialect as Dialect

_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?")
_BACKSLASH_STRING = re.compile(r"'((?:[^'\\]|\\[\s\S]|'')*)'")
_PLAIN_STRING = re.compile(r"'((?:[^']|'')*)'")
_PAIRS = re.compile(r"''|\\([\s\S])")
_BACKTICKED = re.compile(r"`((?:[^`]|``)*)`")
_DOUBLE_QUOTED = re.compile(r'"((?:[^"]|"")*)"')


class UnsafeValue(ValueError):
    """The value has no literal form at this position; the message says why."""


def check_text(text: str) -> str:
    """`text` if every character can travel to a server as UTF-8 and end a literal safely."""
    if "\x00" in text:
        raise UnsafeValue("the value contains a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise UnsafeValue("the value is not valid Unicode (it holds a lone surrogate)") from None
    return text


def value_text(value: Any) -> str:
    """The value as text, for a position inside a quoted string."""
    if value is None:
        raise UnsafeValue("null has no text form inside a quoted SQL string")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return _number(value)
    if isinstance(value, str):
        return check_text(value)
    raise UnsafeValue(f"a {type(value).__name__} cannot be bound into SQL")


def _number(value: int | float) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        raise UnsafeValue(f"{value!r} has no SQL literal form")
    return repr(value)


def escape_in_string(text: str, dialect: Dialect) -> str:
    """`text` escaped for the inside of a plain `'...'` string of `dialect`."""
    check_text(text)
    if dialect == "mysql":
        text = text.replace("\\", "\\\\")
    return text.replace("'", "''")


def quote_identifier(name: Any, dialect: Dialect) -> str:
    """A quoted identifier naming exactly `name`."""
    if not isinstance(name, str) or not name:
        raise UnsafeValue("an identifier must be a non-empty string")
    check_text(name)
    quote = "`" if dialect == "mysql" else '"'
    return quote + name.replace(quote, quote + quote) + quote


def code_literal(value: Any, dialect: Dialect, *, identifier: bool = False) -> str:
    """The literal that stands for `value` in code position (outside quotes and comments)."""
    if identifier:
        return quote_identifier(value, dialect)
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        text = _number(value)
        return f"({text})" if text.startswith("-") else text
    if isinstance(value, str):
        body = escape_in_string(value, dialect)
        if dialect == "postgres" and "\\" in value:
            return "E'" + body.replace("\\", "\\\\") + "'"
        return "'" + body + "'"
    raise UnsafeValue(f"a {type(value).__name__} cannot be bound into SQL")


def decode_literal(literal: str, dialect: Dialect) -> Any:
    """Read a literal written by `code_literal` back with `dialect`'s rules (None if it is not one).

    NULL reads as None; a literal this module would never write reads as `_INVALID`.
    """
    upper = literal.upper()
    if upper in ("TRUE", "FALSE"):
        return upper == "TRUE"
    if upper == "NULL":
        return None
    negative = literal.startswith("(-") and literal.endswith(")")
    number = literal[1:-1] if negative else literal
    if _NUMBER.fullmatch(number) and number.startswith("-") == negative:
        return float(number) if "." in number or "e" in number else int(number)
    if dialect == "postgres" and literal.startswith("E'"):
        return _unquote(literal[1:], _BACKSLASH_STRING)
    if literal.startswith("'"):
        return _unquote(literal, _BACKSLASH_STRING if dialect == "mysql" else _PLAIN_STRING)
    name = (_BACKTICKED if dialect == "mysql" else _DOUBLE_QUOTED).fullmatch(literal)
    if name is not None:
        quote = literal[0]
        return Identifier(name.group(1).replace(quote + quote, quote))
    return _INVALID


class Identifier(str):
    """A decoded quoted identifier (distinct from a decoded string literal)."""


_INVALID = object()


def _unquote(literal: str, pattern: re.Pattern[str]) -> Any:
    found = pattern.fullmatch(literal)
    if found is None:
        return _INVALID
    if pattern is _PLAIN_STRING:
        return found.group(1).replace("''", "'")
    return _PAIRS.sub(lambda m: "'" if m.group(0) == "''" else m.group(1), found.group(1))


def same_value(literal: str, value: Any, dialect: Dialect, *, identifier: bool = False) -> bool:
    """Whether `literal` reads back as exactly `value` (and as the right kind of token)."""
    decoded = decode_literal(literal, dialect)
    if identifier:
        return isinstance(decoded, Identifier) and str(decoded) == value
    if isinstance(decoded, Identifier) or decoded is _INVALID:
        return False
    if isinstance(value, bool) or value is None:
        return decoded is value
    if isinstance(value, (int, float)):
        return not isinstance(decoded, (bool, str)) and type(decoded) is type(value) and decoded == value
    return isinstance(decoded, str) and decoded == value
