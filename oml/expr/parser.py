"""Parse the expression language inside YAML strings, with file positions.

The grammar lives in grammar.lark. Lark reports positions relative to the string; we add
the YAML scalar's own position (and, for block scalars, its indentation) so a diagnostic
points at the exact column in the OML file.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from osiris.oml.diagnostics import Diagnostics
from osiris.oml.expr.nodes import ConnectionRef, EnvReference, Piece, Reference, Text
from osiris.oml.span import Span

if TYPE_CHECKING:
    from lark import Lark

_GRAMMAR = Path(__file__).with_name("grammar.lark")

CONNECTION_FAST = re.compile(r"@([A-Za-z_][A-Za-z0-9_-]*)\.([A-Za-z_][A-Za-z0-9_-]*)")
"""Exactly the grammar's `connection` rule. Well-formed references skip importing lark (about
60 ms of start-up); anything else goes through the grammar for a precise error. A property
test checks that both accept the same strings."""


@lru_cache(maxsize=1)
def _parser() -> Lark:
    from lark import Lark

    return Lark(
        _GRAMMAR.read_text(encoding="utf-8"),
        parser="lalr",
        lexer="contextual",
        start=["template", "connection", "envtemplate"],
        propagate_positions=True,
        maybe_placeholders=False,
        cache=True,  # the LALR tables are built once per grammar version, then loaded (fast start-up)
    )


class ScalarPosition:
    """Maps (line, column) inside a YAML string scalar back to the file."""

    def __init__(self, span: Span, style: str | None, source_lines: list[str] | None = None) -> None:
        self.span = span
        self.style = style
        self.block_indent = 0
        if style in ("|", ">") and source_lines is not None:
            for index in range(span.line, len(source_lines)):  # by index: no copy of the tail
                line = source_lines[index]
                if line.strip():
                    self.block_indent = len(line) - len(line.lstrip(" "))
                    break

    def at(self, line: int, column: int, length: int) -> Span:
        """`line`/`column` are lark's 1-based positions within the string."""
        if self.style in ("|", ">"):
            return self.span.shifted(line, self.block_indent + column, length)
        if line == 1:
            quote = 1 if self.style in ('"', "'") else 0
            return self.span.shifted(0, self.span.column + quote + column - 1, length)
        return self.span  # a folded multi-line flow scalar: the scalar itself is the best we have


_HAS_EXPR = re.compile(r"\$\{|\$\$\{")


def has_expression(text: str) -> bool:
    """Cheap pre-check: most strings contain no `${` and need no parsing at all."""
    return _HAS_EXPR.search(text) is not None


def _error_span(error: Any, where: ScalarPosition) -> Span:
    line = getattr(error, "line", 1) or 1
    column = getattr(error, "column", 1) or 1
    return where.at(max(line, 1), max(column, 1), 1)


_TEMPLATE_FAST = re.compile(
    r"(?P<escaped>\$\$\{)"
    r"|\$\{(?P<ref>[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)+)\}"
    r"|(?P<text>(?:[^$]|\$(?![{$])|\$\$(?!\{))+)",
    re.S,
)
"""The grammar's `template` rule token by token (TEXT, ESCAPED_DOLLAR, interpolation). Strings
it covers completely never import lark; anything else goes to the grammar, which reports the
exact error. tests/oml/test_grammar.py checks that both give the same pieces."""


def _template_fast(text: str, where: ScalarPosition) -> list[Piece] | None:
    pieces: list[Piece] = []
    position = 0
    while position < len(text):
        match = _TEMPLATE_FAST.match(text, position)
        if match is None:
            return None
        start, end = match.span()
        if match.group("escaped"):
            pieces.append(Text("${", start))
        elif match.group("ref"):
            line = text.count("\n", 0, start) + 1
            column = start - (text.rfind("\n", 0, start) + 1) + 1
            pieces.append(Reference(tuple(match.group("ref").split(".")), where.at(line, column, end - start),
                                    start, end))
        else:
            pieces.append(Text(match.group("text"), start))
        position = end
    return pieces


def parse_template(text: str, where: ScalarPosition, diagnostics: Diagnostics, pointer: str,
                   *, use_fast_path: bool = True) -> list[Piece]:
    """Split `text` into literal text and `${...}` references; OML050 on malformed input."""
    if not has_expression(text):
        return [Text(text, 0)]
    if use_fast_path:
        fast = _template_fast(text, where)
        if fast is not None:
            return fast
    from lark import Token, Tree
    from lark.exceptions import UnexpectedInput

    try:
        tree = _parser().parse(text, start="template")
    except UnexpectedInput as error:
        diagnostics.add(
            "OML050", _error_span(error, where),
            "malformed expression: `${` must be followed by a dotted name and `}`",
            help="write `${params.name}` or `${step_id.df}`; write `$${` for a literal `${`",
            pointer=pointer,
        )
        return [Text(text, 0)]
    pieces: list[Piece] = []
    for child in tree.children:
        if isinstance(child, Token):
            value = "${" if child.type == "ESCAPED_DOLLAR" else str(child)
            pieces.append(Text(value, child.start_pos or 0))
        elif isinstance(child, Tree) and child.data == "interpolation":
            ref = child.children[0]
            assert isinstance(ref, Tree)
            parts = tuple(str(t) for t in ref.children)
            meta = child.meta
            length = meta.end_pos - meta.start_pos
            pieces.append(Reference(parts, where.at(meta.line, meta.column, length),
                                    meta.start_pos, meta.end_pos))
    return pieces


def parse_connection(text: str, where: ScalarPosition, diagnostics: Diagnostics,
                     pointer: str) -> ConnectionRef | None:
    """Parse a whole-string `@family.alias`; OML053 when it is anything else."""
    fast = CONNECTION_FAST.fullmatch(text)
    if fast is not None:
        return ConnectionRef(fast.group(1), fast.group(2), where.at(1, 1, len(text)))
    from lark.exceptions import UnexpectedInput

    try:
        tree = _parser().parse(text, start="connection")
    except UnexpectedInput as error:
        diagnostics.add(
            "OML053", _error_span(error, where),
            f"'{text}' is not a connection reference",
            help="write `@family.alias`, e.g. `\"@mysql.shop\"` (quote it: YAML reserves a leading @)",
            pointer=pointer,
        )
        return None
    family, alias = (str(t) for t in tree.children)
    return ConnectionRef(family, alias, where.at(1, 1, len(text)))


_ENV_FAST = re.compile(
    r"(?P<escaped>\$\$\{)"
    r"|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<sep>:-)(?P<default>[^}]+)?)?\}"
    r"|(?P<text>(?:[^$]|\$(?![{$])|\$\$(?!\{))+)",
    re.S,
)
"""The grammar's `envtemplate` rule token by token, like `_TEMPLATE_FAST`: a connections file
with `${VAR}` values then runs `osiris run` without importing lark (about 40 ms of start-up).
tests/oml/test_grammar.py checks that both give the same pieces."""


def _env_template_fast(text: str, where: ScalarPosition) -> list[Text | EnvReference] | None:
    pieces: list[Text | EnvReference] = []
    position = 0
    while position < len(text):
        match = _ENV_FAST.match(text, position)
        if match is None:
            return None
        start, end = match.span()
        if match.group("escaped"):
            pieces.append(Text("${", start))
        elif match.group("name"):
            line = text.count("\n", 0, start) + 1
            column = start - (text.rfind("\n", 0, start) + 1) + 1
            default = (match.group("default") or "") if match.group("sep") else None
            pieces.append(EnvReference(match.group("name"), default, where.at(line, column, end - start)))
        else:
            pieces.append(Text(match.group("text"), start))
        position = end
    return pieces


def parse_env_template(text: str, where: ScalarPosition, diagnostics: Diagnostics,
                       pointer: str, code: str = "OML074", *,
                       use_fast_path: bool = True) -> list[Text | EnvReference]:
    """Split a connections-file value into text and `${VAR}` / `${VAR:-default}` references."""
    if not has_expression(text):
        return [Text(text, 0)]
    if use_fast_path:
        fast = _env_template_fast(text, where)
        if fast is not None:
            return fast
    from lark import Token, Tree
    from lark.exceptions import UnexpectedInput

    try:
        tree = _parser().parse(text, start="envtemplate")
    except UnexpectedInput as error:
        diagnostics.add(code, _error_span(error, where), "malformed `${VAR}` reference",
                        help="write `${VAR}` or `${VAR:-default}`; `$${` is a literal `${`",
                        pointer=pointer)
        return [Text(text, 0)]
    pieces: list[Text | EnvReference] = []
    for child in tree.children:
        if isinstance(child, Token):
            pieces.append(Text("${" if child.type == "ESCAPED_DOLLAR" else str(child), child.start_pos or 0))
        elif isinstance(child, Tree):
            tokens = [t for t in child.children if isinstance(t, Token)]
            name = str(tokens[0])
            has_sep = any(t.type == "ENV_DEFAULT_SEP" for t in tokens)
            default_tokens = [str(t) for t in tokens if t.type == "ENV_DEFAULT"]
            default = (default_tokens[0] if default_tokens else "") if has_sep else None
            meta = child.meta
            pieces.append(EnvReference(name, default, where.at(meta.line, meta.column,
                                                               meta.end_pos - meta.start_pos)))
    return pieces
