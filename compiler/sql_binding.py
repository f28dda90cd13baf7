"""Bind parameter values into SQL text as literals, so that a value never becomes syntax.

`bind_sql` takes the text around each `${params.x}` of a field marked `x-sql: <dialect>`:

1. Where a reference stands is read with the dialect's lexer (compiler.sql_lexing): a
   sentinel name replaces each reference, the text is tokenized, and each sentinel must be a
   whole code token ("code") or sit inside a plain single-quoted string ("string"). Anywhere
   else (a comment, a quoted identifier, an `E''`/dollar/`"..."` string, glued to a word) is
   OML066; SQL whose reading the binder cannot vouch for is OML067. When the text around the
   references holds no quote, backslash, `#`, `$`, `--` or `/*`, every position is code in
   every dialect and the lexer (and its ~80 ms import) is skipped.
2. A code reference becomes one literal token (compiler.sql_literals); a string reference
   becomes the escaped text only. A code literal must be separated from its neighbours
   (`a${p}` would make a name, `$${p}` a placeholder), else OML066.
3. Safety net: each literal must read back as the value, and when the lexer ran, the final
   SQL is tokenized again and must equal the sentinel tokens with each code sentinel
   replaced by exactly its literal and each string holding exactly the value's text.

The result is plain SQL with no placeholders, so it works with every driver, and the compiled
cfg shows exactly what will run. The drivers pin the session settings this relies on (MySQL
without NO_BACKSLASH_ESCAPES and ANSI_QUOTES, PostgreSQL with standard_conforming_strings).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from osiris.compiler.sql_lexing import (
    Misplaced,
    NotReadable,
    Position,
    Tok,
    classify,
    duckdb_rewrites,
    tokenize,
)
from osiris.compiler.sql_literals import (
    Dialect,
    UnsafeValue,
    code_literal,
    escape_in_string,
    same_value,
    value_text,
)

__all__ = ["BindRefused", "Slot", "bind_sql"]

SIGNIFICANT = re.compile(r"['\"`\\#$\x00]|--|/\*")
"""Characters that can change where a reference stands; without them all positions are code."""
_SEPARATORS = frozenset(" \t\n\r(),;=<>!+-*/%|^~[]{}:")
"""Characters that may touch a code literal without joining it into another token."""


@dataclass(frozen=True)
class Slot:
    """One reference's value and its parameter's declared type."""

    value: Any
    kind: str = "string"

    @property
    def identifier(self) -> bool:
        return self.kind == "identifier"


class BindRefused(ValueError):
    """The binding is refused: `code` is OML066 (this reference) or OML067 (this SQL)."""

    def __init__(self, code: Literal["OML066", "OML067"], slot: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.slot = slot


def bind_sql(texts: Sequence[str], slots: Sequence[Slot], dialect: Dialect,
             labels: Sequence[str] | None = None) -> str:
    """`texts[0] slot[0] texts[1] ... texts[n]` with each slot bound as a literal of `dialect`.

    `labels` name the references in messages (`${params.x}`); raises BindRefused.
    """
    assert len(texts) == len(slots) + 1
    literals = [_code_literal(i, s, dialect) for i, s in enumerate(slots)]
    if not any(SIGNIFICANT.search(t) for t in texts) and all(_separated(texts, i, s) for i, s in enumerate(slots)):
        parts = literals
    else:
        names = _sentinels(texts, len(slots))
        try:
            parts = _bind_lexed(texts, slots, literals, names, dialect)
        except BindRefused as refused:
            message = str(refused)
            for i, name in enumerate(names):
                message = message.replace(name, labels[i] if labels else "${...}")
            raise BindRefused(refused.code, refused.slot, message) from None
    if dialect == "duckdb":
        _check_duckdb_rewrites(texts, parts)
    return _join(texts, parts)


def _check_duckdb_rewrites(texts: Sequence[str], parts: Sequence[str]) -> None:
    """DuckDB must not rewrite a character of a bound value before lexing (see duckdb_rewrites)."""
    rewrites = duckdb_rewrites(_join(texts, parts))
    for slot, start in enumerate(_starts(texts, parts)):
        if any(start <= r < start + len(parts[slot]) for r in rewrites):
            raise BindRefused("OML066", slot, "DuckDB would turn the value's Unicode space into an ASCII "
                                              "space: the SQL before it misleads DuckDB's quote tracking "
                                              "(a quote inside a /* */ comment?)")


def _code_literal(index: int, slot: Slot, dialect: Dialect) -> str:
    try:
        literal = code_literal(slot.value, dialect, identifier=slot.identifier)
    except UnsafeValue as problem:
        raise BindRefused("OML066", index, str(problem)) from None
    if not same_value(literal, slot.value, dialect, identifier=slot.identifier):
        raise BindRefused("OML066", index, f"the literal {literal!r} does not read back as the value")
    return literal


def _separated(texts: Sequence[str], index: int, slot: Slot) -> bool:
    """Whether the characters touching this reference cannot join its literal to a token."""
    allowed = _SEPARATORS | {"."} if slot.identifier else _SEPARATORS
    before, after = texts[index], texts[index + 1]
    first, last = index == 0, index == len(texts) - 2
    return ((before[-1:] in allowed if before else first) and (after[:1] in allowed if after else last))


def _join(texts: Sequence[str], parts: Sequence[str]) -> str:
    return texts[0] + "".join(part + texts[i + 1] for i, part in enumerate(parts))


def _starts(texts: Sequence[str], parts: Sequence[str]) -> list[int]:
    """Where each part starts in `_join(texts, parts)`."""
    starts, at = [], len(texts[0])
    for i, part in enumerate(parts):
        starts.append(at)
        at += len(part) + len(texts[i + 1])
    return starts


def _sentinels(texts: Sequence[str], count: int) -> list[str]:
    """Names that occur nowhere in the SQL, one per reference (deterministic)."""
    upper = "".join(texts).upper()
    base = "OSIRISPARAM"
    while base in upper:
        base += "X"
    return [f"{base}{i}Z" for i in range(count)]


def _bind_lexed(texts: Sequence[str], slots: Sequence[Slot], literals: Sequence[str], names: Sequence[str],
                dialect: Dialect) -> list[str]:
    """The text to put in place of each reference, after lexing and verifying."""
    marked = _join(texts, names)
    spans = [(start, start + len(names[i])) for i, start in enumerate(_starts(texts, names))]
    try:
        tokens = tokenize(marked, dialect)
        places = classify(marked, tokens, spans)
    except NotReadable as problem:
        raise BindRefused("OML067", 0, str(problem)) from None
    except Misplaced as problem:
        raise BindRefused("OML066", problem.slot, str(problem)) from None
    parts = []
    for i, (position, _) in enumerate(places):
        if position == "code" and not _separated(texts, i, slots[i]):
            raise BindRefused("OML066", i, "it touches the text around it; put a space or an operator "
                                           "between the reference and the SQL next to it")
        parts.append(literals[i] if position == "code" else _string_text(i, slots[i], dialect))
    final = _join(texts, parts)
    try:
        got = tokenize(final, dialect)
    except NotReadable:
        got = []
    if not _reads_as_written(final, got, tokens, places, names, slots, literals):
        raise BindRefused("OML066", 0, "after binding, the SQL would not read as written (a wrong escape?)")
    return parts


def _string_text(index: int, slot: Slot, dialect: Dialect) -> str:
    if slot.identifier:
        raise BindRefused("OML066", index, "an identifier parameter goes where a name goes, not inside a string")
    try:
        return escape_in_string(value_text(slot.value), dialect)
    except UnsafeValue as problem:
        raise BindRefused("OML066", index, str(problem)) from None


def _reads_as_written(final: str, got: Sequence[Tok], tokens: Sequence[Tok], places: Sequence[tuple[Position, int]],
                      names: Sequence[str], slots: Sequence[Slot], literals: Sequence[str]) -> bool:
    """Whether `got` (the final SQL's tokens) are `tokens` (the sentinel SQL's) with each code
    sentinel replaced by exactly its literal and each string holding exactly the value's text."""
    code = {index: slot for slot, (position, index) in enumerate(places) if position == "code"}
    k = 0
    for index, tok in enumerate(tokens):
        if index in code:
            literal = literals[code[index]]
            width = 4 if literal.startswith("(-") else 1  # (-5) is four tokens
            found = got[k:k + width]
            if len(found) < width or final[found[0].start:found[-1].end] != literal:
                return False
            k += width
            continue
        text = tok.text
        for slot, name in enumerate(names):
            if places[slot] == ("string", index):
                text = text.replace(name, value_text(slots[slot].value))
        if k >= len(got) or (got[k].kind, got[k].text) != (tok.kind, text):
            return False
        k += 1
    return k == len(got) and [c for t in tokens for c in t.comments] == [c for t in got for c in t.comments]
