"""Where a SQL text is code, string, quoted identifier or comment, as the server will read it.

sqlglot's tokenizer for the dialect splits the text into tokens. It was written to parse SQL,
not to guard it, and differs from the servers in places (PostgreSQL's `/*/* */ */` nesting,
`B'0''1'`, string continuation after `E'...'` across a newline, Unicode spaces that servers
read as identifier characters, MySQL's `/*! ... */` executable comments). So every boundary
that decides what a character is gets checked again against the server's own rules, and any
place where the two readings could differ is refused (`NotReadable`, OML067):

- each quoted token (string, quoted identifier, dollar quote) must match, exactly, the
  pattern of its kind in the dialect, and must not be glued to a prefix the tokenizer did
  not take as part of it;
- the text between tokens must be ASCII whitespace and comments that end exactly where the
  tokenizer ended them (MySQL: `#`, `-- ` and flat `/* */`, with `/*!`, `/*M!` and `/*+`
  refused; PostgreSQL and DuckDB: `--` and nested `/* */`);
- code tokens hold no quote, backslash, `--`, `/*` or (PostgreSQL, DuckDB) `$`, and two
  adjacent ones never form `--` or `/*`.

sqlglot is imported only when a text needs lexing (it costs ~80 ms to import).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from osiris.compiler.sql_literals import Dialect

Position = Literal["code", "string"]

_SQLGLOT = {"mysql": "MySQL", "postgres": "Postgres", "duckdb": "DuckDB"}
_SPACE = " \t\n\r"
_MYSQL_LINE = re.compile(r"[^\n]*")
_LINE = re.compile(r"[^\n\r]*")
_COMMENT_MARK = re.compile(r"/\*|\*/")
_ODD_SPACE = re.compile(r"[^\S \t\n\r]")
"""Whitespace to Python but not to the servers (they read Unicode spaces as identifier text)."""
_IDENT_CHAR = re.compile(r"[\w$@&\\]|[^\x00-\x7f]")
"""A character that, right before a quote, could make a prefixed string (E'', _utf8'', @'')."""

_BACKSLASH_BODY = r"(?:[^'\\]|\\[\s\S]|'')*'"
_PLAIN_BODY = r"(?:[^']|'')*'"
_PG_IDENT = re.compile(r'"(?:[^"]|"")*"')
_DOLLAR_OPEN = re.compile(r"\$(?:(?:[A-Za-z_]|[^\x00-\x7f])(?:\w|[^\x00-\x7f])*)?\$", re.ASCII)
_PG_STRINGS = {
    "STRING": re.compile("'" + _PLAIN_BODY),
    "BYTE_STRING": re.compile("[eE]'" + _BACKSLASH_BODY),
    "NATIONAL_STRING": re.compile("[nN]'" + _PLAIN_BODY),
    "HEX_STRING": re.compile(r"[xX]'[^']*'"),
    "BIT_STRING": re.compile(r"[bB]'[^']*'"),
    "UNICODE_STRING": re.compile("[uU]&'" + _PLAIN_BODY),
    "HEREDOC_STRING": _DOLLAR_OPEN,  # checked by _dollar_quoted
}
QUOTED: dict[str, dict[str, re.Pattern[str]]] = {
    "mysql": {
        "STRING": re.compile("'" + _BACKSLASH_BODY + r'|"(?:[^"\\]|\\[\s\S]|"")*"'),
        "NATIONAL_STRING": re.compile("[nN]'" + _BACKSLASH_BODY),
        "HEX_STRING": re.compile(r"[xX]'[0-9A-Fa-f]*'|0x[0-9A-Fa-f]+"),
        "BIT_STRING": re.compile(r"[bB]'[01]*'|0b[01]+"),
        "IDENTIFIER": re.compile(r"`(?:[^`]|``)*`"),
    },
    "postgres": {**_PG_STRINGS, "IDENTIFIER": _PG_IDENT},
    "duckdb": {k: v for k, v in {**_PG_STRINGS, "IDENTIFIER": _PG_IDENT}.items()
               if k in ("STRING", "BYTE_STRING", "NATIONAL_STRING", "HEREDOC_STRING", "IDENTIFIER")},
}
"""Token kinds that may hold quote characters, and the server's spelling of each."""
_CONTINUED_BADLY = frozenset({"BYTE_STRING", "HEX_STRING", "BIT_STRING", "UNICODE_STRING"})
"""PostgreSQL continues these across `'\\n'` with their own rules, not a plain string's."""
_KIND_NAMES = {
    "BYTE_STRING": "an E'...' string", "NATIONAL_STRING": "an N'...' string",
    "HEX_STRING": "a hexadecimal string", "BIT_STRING": "a bit string",
    "UNICODE_STRING": "a U&'...' string", "HEREDOC_STRING": "a dollar-quoted string",
    "IDENTIFIER": "a quoted identifier",
}


_UNREADABLE = {
    "mysql": "a quote or comment is not closed, a hexadecimal or bit string holds other characters, or `$$` "
             "stands outside a string (MySQL has no dollar quotes)",
    "postgres": "a quote or comment is not closed, or a hexadecimal or bit string holds other characters (a "
                "backslash does not escape a quote here: write 'it''s', or E'it\\'s')",
    "duckdb": "a quote or comment is not closed (a backslash does not escape a quote here: write 'it''s', or "
              "E'it\\'s')",
}


class NotReadable(ValueError):
    """The binder cannot be sure how the server reads this SQL (OML067)."""


class Misplaced(ValueError):
    """A reference stands where no value can go (OML066); `slot` says which."""

    def __init__(self, slot: int, message: str) -> None:
        super().__init__(message)
        self.slot = slot


@dataclass(frozen=True)
class Tok:
    """One token: sqlglot's kind and decoded text, and where it is in the SQL."""

    kind: str
    text: str
    start: int
    end: int
    """One past the last character."""
    comments: tuple[str, ...]


@cache
def _tokenizer_class(dialect: Dialect) -> Any:
    import sqlglot.dialects as dialects

    return getattr(dialects, _SQLGLOT[dialect]).tokenizer_class


@cache
def _commands(dialect: Dialect) -> frozenset[str]:
    return frozenset(t.name for t in _tokenizer_class(dialect).COMMANDS)


def tokenize(sql: str, dialect: Dialect) -> list[Tok]:
    """The tokens of `sql`, after checking every boundary against the server's rules."""
    if "\x00" in sql:
        raise NotReadable("the SQL contains a NUL character")
    from sqlglot.errors import TokenError

    try:
        raw = _tokenizer_class(dialect)().tokenize(sql)
    except TokenError:
        raise NotReadable(_UNREADABLE[dialect]) from None
    tokens = [Tok(t.token_type.name, t.text, t.start, t.end + 1, tuple(t.comments)) for t in raw]
    _check(sql, tokens, dialect)
    return tokens


def _check(sql: str, tokens: list[Tok], dialect: Dialect) -> None:
    previous: Tok | None = None
    for tok in tokens:
        gap_start = previous.end if previous else 0
        if tok.start < gap_start:
            raise NotReadable(f"the tokenizer's tokens overlap near {_excerpt(sql, tok.start)}")
        _check_gap(sql, gap_start, tok.start, dialect)
        if tok.kind == "HINT":
            _check_gap(sql, tok.start, tok.end, dialect)
        elif tok.kind in QUOTED[dialect]:
            _check_quoted(sql, tok, previous, dialect)
        else:
            _check_code(sql, tok, previous, dialect)
        previous = tok
    _check_gap(sql, previous.end if previous else 0, len(sql), dialect)


def _check_quoted(sql: str, tok: Tok, previous: Tok | None, dialect: Dialect) -> None:
    raw = sql[tok.start:tok.end]
    pattern = QUOTED[dialect][tok.kind]
    fits = _dollar_quoted(raw) if tok.kind == "HEREDOC_STRING" else pattern.fullmatch(raw) is not None
    if not fits:
        raise NotReadable(f"the server may read {_excerpt(sql, tok.start)} with other quoting rules")
    if tok.kind == "IDENTIFIER":
        return
    if tok.start > 0 and _IDENT_CHAR.match(sql[tok.start - 1]):
        raise NotReadable(f"a string glued to `{sql[tok.start - 1]}` ({_excerpt(sql, tok.start - 1)}) "
                          "may be a prefixed string with other quoting rules")
    if (dialect != "mysql" and previous is not None and previous.kind in _CONTINUED_BADLY
            and raw.startswith("'") and any(c in sql[previous.end:tok.start] for c in "\n\r")):
        raise NotReadable(f"{_excerpt(sql, tok.start)} continues {_KIND_NAMES[previous.kind]} across a "
                          "line break, which the server reads with that string's rules")


def _dollar_quoted(raw: str) -> bool:
    opener = _DOLLAR_OPEN.match(raw)
    if opener is None:
        return False
    tag = opener.group(0)
    return raw.find(tag, len(tag)) == len(raw) - len(tag)


def _check_code(sql: str, tok: Tok, previous: Tok | None, dialect: Dialect) -> None:
    raw = sql[tok.start:tok.end]
    if tok.kind in _commands(dialect):
        raise NotReadable(f"the tokenizer reads the rest of the SQL after `{raw}` as one command")
    bad = re.search(r"['\"`\\]|--|/\*|#" if dialect == "mysql" else r"['\"`\\]|--|/\*", raw)
    if bad or _ODD_SPACE.search(raw):
        raise NotReadable(f"the server may read {_excerpt(sql, tok.start)} differently")
    if dialect != "mysql" and "$" in raw and not (tok.kind == "VAR" and raw[0] != "$"):
        raise NotReadable(f"`$` at {_excerpt(sql, tok.start)} may start a dollar quote or a placeholder")
    if previous is not None and previous.end == tok.start:
        pair = sql[tok.start - 1:tok.start + 1]
        if pair in ("--", "/*"):
            raise NotReadable(f"`{pair}` at {_excerpt(sql, tok.start - 1)} may start a comment on the server")


def _check_gap(sql: str, i: int, end: int, dialect: Dialect) -> None:
    """`sql[i:end]`, which the tokenizer skipped, must be whitespace and comments ending at `end`."""
    while i < end:
        c = sql[i]
        if c in _SPACE:
            i += 1
        elif sql.startswith("--", i):
            if dialect == "mysql" and sql[i + 2:i + 3] not in ("", " ", "\t", "\n", "\r"):
                raise NotReadable(f"`--` not followed by a space or tab at {_excerpt(sql, i)}")
            i = _line_end(sql, i, dialect)
        elif c == "#" and dialect == "mysql":
            i = _line_end(sql, i, dialect)
        elif sql.startswith("/*", i):
            i = _block_end(sql, i, dialect)
        else:
            raise NotReadable(f"unexpected character {c!r} outside any token at {_excerpt(sql, i)}")
    if i != end:
        raise NotReadable(f"the server ends the comment at {_excerpt(sql, end)} "
                          "elsewhere than the tokenizer does")


def _line_end(sql: str, i: int, dialect: Dialect) -> int:
    """Where a line comment starting at `i` ends: MySQL only at \\n, the others at \\n or \\r."""
    return (_MYSQL_LINE if dialect == "mysql" else _LINE).match(sql, i).end()  # type: ignore[union-attr]


def _block_end(sql: str, i: int, dialect: Dialect) -> int:
    if dialect == "mysql":
        if sql.startswith(("/*!", "/*+"), i) or sql[i + 2:i + 4].upper() == "M!":
            raise NotReadable(f"MySQL reads the comment at {_excerpt(sql, i)} as SQL (`/*!`, `/*M!`) "
                              "or as optimizer hints (`/*+`)")
        close = sql.find("*/", i + 2)
        if close < 0:
            raise NotReadable(f"the comment at {_excerpt(sql, i)} is not closed")
        return close + 2
    depth = 0  # PostgreSQL and DuckDB nest block comments
    for mark in _COMMENT_MARK.finditer(sql, i):
        if mark.group() == "/*":
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                return mark.end()
    raise NotReadable(f"the comment at {_excerpt(sql, i)} is not closed")


def _excerpt(sql: str, at: int) -> str:
    """About 30 characters around `at`, widened to whole words (a reference's sentinel is one)."""
    start, end = max(0, at - 10), at + 20
    while start > 0 and sql[start - 1].isalnum():
        start -= 1
    while end < len(sql) and sql[end].isalnum():
        end += 1
    return repr(sql[start:end].replace("\n", " "))


def classify(sql: str, tokens: Sequence[Tok], spans: Sequence[tuple[int, int]]) -> list[tuple[Position, int]]:
    """For each `(start, end)` span of a sentinel: code or inside a plain string, and its token."""
    starts = [t.start for t in tokens]
    result: list[tuple[Position, int]] = []
    for slot, (start, end) in enumerate(spans):
        index = bisect_right(starts, start) - 1
        tok = tokens[index] if index >= 0 else None
        if tok is None or tok.end < end:
            raise Misplaced(slot, "it stands inside a SQL comment")
        raw = sql[tok.start:tok.end]
        if tok.kind == "VAR" and (tok.start, tok.end) == (start, end):
            result.append(("code", index))
        elif tok.kind == "STRING" and raw.startswith("'"):
            result.append(("string", index))
        elif tok.kind == "STRING":
            raise Misplaced(slot, "it stands inside a double-quoted string; use single quotes")
        elif tok.kind in _KIND_NAMES:
            raise Misplaced(slot, f"it stands inside {_KIND_NAMES[tok.kind]}, whose quoting the binder "
                                  "does not write")
        elif tok.kind == "VAR":
            raise Misplaced(slot, f"it is glued to the text around it ({_excerpt(sql, tok.start)})")
        else:
            raise Misplaced(slot, f"it stands inside {_excerpt(sql, tok.start)}, not where a value goes")
    return result


_DUCKDB_DOLLAR = re.compile(r"\$(?:(?:[A-Za-z_]|[^\x00-\x7f])(?:\w|[^\x00-\x7f])*)?\$", re.ASCII)
"""A dollar quote's opening tag as DuckDB 2.0.1's pre-lexer reads it: `$$`, or `$tag$` starting with a
letter, `_` or a non-ASCII character."""
DUCKDB_SPACES = re.compile("[\u00a0\u2000-\u200b\u202f\u205f\u2060\u3000\ufeff]")
"""What DuckDB's parser replaces with a space before it lexes (Parser::StripUnicodeSpaces)."""


def duckdb_rewrites(sql: str) -> list[int]:
    """Offsets of the characters DuckDB will replace with a space before lexing `sql`.

    DuckDB tracks quotes for this with a simpler model than its lexer ('...', "...", dollar
    quotes, `--` comments; no block comments, no backslash escapes), so after a quote inside a
    `/* */` comment it also rewrites characters inside real strings: a value's Unicode space
    would arrive as an ASCII space. A port of that loop, on characters instead of bytes.
    """
    if not DUCKDB_SPACES.search(sql):
        return []
    found, i = [], 0
    while i < len(sql):
        c = sql[i]
        if DUCKDB_SPACES.match(c):
            found.append(i)
            i += 1
        elif c in "'\"":
            close = sql.find(c, i + 1)  # '' is a close and a reopen here: the same for this loop
            i = len(sql) if close < 0 else close + 1
        elif tag := _DUCKDB_DOLLAR.match(sql, i):
            # DuckDB looks for the closing tag from the opener's last `$` and resumes at the
            # closer's last `$`, so `$$$` is a whole dollar quote to it
            close = sql.find(tag.group(), tag.end() - 1)
            i = len(sql) if close < 0 else close + len(tag.group()) - 1
        elif sql.startswith("--", i):
            i = _line_end(sql, i, "duckdb")
        else:
            i += 1
    return found
