"""Positions inside a compiled SQL field, mapped back to the OML file for diagnostics.

A check that reads SQL (compiler/checks/duckdb_access.py) finds offsets in the bound value,
i.e. after `${params.x}` were replaced and after YAML removed quotes, escapes, indentation
and folding. `bound_sql_span` turns such an offset into the file's line and column: through
the parameter pieces first, then the YAML scalar's style (oml.expr.parser.ScalarPosition),
and when escapes or folding moved the text, by finding the same occurrence in the source.
It only runs when a check found something, so it may take its time.
"""

from __future__ import annotations

from typing import Any

from osiris.oml.expr.nodes import Text
from osiris.oml.expr.parser import ScalarPosition
from osiris.oml.ir import ConfigExpr, Pipeline
from osiris.oml.span import Span

__all__ = ["bound_sql_span"]


def bound_sql_span(pipeline: Pipeline, pointer: str, expr: ConfigExpr | None, sql: str,
                   start: int, end: int) -> Span:
    """Where `sql[start:end]` is written in the OML file.

    `sql` is the config value at `pointer` after binding (what runs), `expr` its `${...}` pieces
    (None when it had none). Exact for the usual scalars; the `${params.x}` when the text came
    from a parameter's value; the scalar itself when nothing better can be said.
    """
    raw = sql[start:end]
    value = _value_at(pipeline.data, pointer)
    offset: int | Span = start
    if expr is not None:
        offset = _unbound_offset(expr, sql, start)
    if isinstance(offset, Span):
        return offset  # inside a parameter's value: point at its `${params.x}`
    scalar = pipeline.span_of(pointer)
    if not isinstance(value, str) or offset < 0:
        return scalar
    lines = pipeline.text.splitlines()
    head = lines[scalar.line - 1][scalar.column - 1:] if 0 < scalar.line <= len(lines) else ""
    style = head[:1] if head[:1] in ("|", ">", "'", '"') else None
    line = value.count("\n", 0, offset) + 1
    column = offset - (value.rfind("\n", 0, offset) + 1) + 1
    guess = ScalarPosition(scalar, style, lines).at(line, column, len(raw))
    if _text_at(lines, guess).lower() == raw.lower():
        return guess
    # Escapes, folding or a multi-line plain scalar moved it: find the same occurrence of its
    # name in the source (without quotes, which YAML may have escaped).
    for text in (raw, raw.strip("'\"`")):
        if text:
            start = offset + raw.find(text)
            found = _nth_in_scalar(lines, scalar, style, text, value[:start].lower().count(text.lower()))
            if found is not None:
                return found
    return scalar


def _value_at(data: Any, pointer: str) -> Any:
    for token in pointer.split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(data, list) and token.isdigit() and int(token) < len(data):
            data = data[int(token)]
        elif isinstance(data, dict) and token in data:
            data = data[token]
        else:
            return None
    return data


def _unbound_offset(expr: ConfigExpr, sql: str, offset: int) -> int | Span:
    """`offset` in the bound SQL -> offset in the OML string, or the span of the `${...}` whose
    value covers it. Literal pieces appear verbatim and in order in the bound SQL."""
    at = 0
    pieces = expr.pieces
    for index, piece in enumerate(pieces):
        if isinstance(piece, Text):
            if at <= offset < at + len(piece.value):
                return piece.start + offset - at
            at += len(piece.value)
            continue
        following = pieces[index + 1] if index + 1 < len(pieces) else None
        if following is None:
            end = len(sql)
        elif isinstance(following, Text):
            end = sql.rfind(following.value) if index + 2 == len(pieces) else sql.find(following.value, at)
        else:
            end = at
        if end < at:
            return -1
        if offset < end:
            return piece.span
        at = end
    return -1


def _text_at(lines: list[str], span: Span) -> str:
    if span.line != span.end_line or not 0 < span.line <= len(lines):
        return ""
    return lines[span.line - 1][span.column - 1:span.end_column - 1]


def _nth_in_scalar(lines: list[str], scalar: Span, style: str | None, raw: str, nth: int) -> Span | None:
    """The `nth` (0-based) case-insensitive occurrence of `raw` in the scalar's source text."""
    first, last = scalar.line, scalar.end_line
    if style in ("|", ">"):  # the span covers only the indicator: the block is the indented lines below
        indent = None
        last = first
        for number in range(first + 1, len(lines) + 1):
            text = lines[number - 1]
            if not text.strip():
                continue
            width = len(text) - len(text.lstrip(" "))
            indent = width if indent is None else indent
            if width < indent:
                break
            last = number
    wanted, seen = raw.lower(), 0
    for number in range(first, min(last, len(lines)) + 1):
        text = lines[number - 1].lower()
        start = scalar.column - 1 if number == first else 0
        stop = scalar.end_column - 1 if number == scalar.end_line and style not in ("|", ">") else len(text)
        found = text.find(wanted, start)
        while found != -1 and found + len(wanted) <= stop:
            if seen == nth:
                return Span(scalar.file, number, found + 1, number, found + 1 + len(raw))
            seen += 1
            found = text.find(wanted, found + 1)
    return None
