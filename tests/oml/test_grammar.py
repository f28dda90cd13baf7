"""The expression grammar (oml/expr/grammar.lark), on its own."""

from __future__ import annotations

import pytest

from osiris.oml.diagnostics import Diagnostics
from osiris.oml.expr.nodes import EnvReference, Reference, Text
from osiris.oml.expr.parser import ScalarPosition, parse_connection, parse_env_template, parse_template
from osiris.oml.span import Span

AT = ScalarPosition(Span(file="f.yaml", line=5, column=10, end_line=5, end_column=60), '"')


def parts(text: str) -> list[object]:
    d = Diagnostics()
    pieces = parse_template(text, AT, d, "/x")
    assert not len(d), [x.message for x in d]
    return [p.parts if isinstance(p, Reference) else p.value for p in pieces]


@pytest.mark.parametrize(("text", "expected"), [
    ("plain", ["plain"]),
    ("${params.x}", [("params", "x")]),
    ("a ${extract-movies.df} b", ["a ", ("extract-movies", "df"), " b"]),
    ("cost $$5", ["cost $$5"]),
    ("$${literal}", ["${", "literal}"]),
    ("${a.b}${c.d}", [("a", "b"), ("c", "d")]),
    ("ünïcode ${params.x}", ["ünïcode ", ("params", "x")]),
])
def test_templates(text: str, expected: list[object]) -> None:
    assert parts(text) == expected


@pytest.mark.parametrize("text", ["${", "${x}", "${a.}", "${.a}", "${a b.c}", "x ${a.b"])
def test_malformed_templates_are_oml050(text: str) -> None:
    d = Diagnostics()
    parse_template(text, AT, d, "/x")
    assert [x.code for x in d] == ["OML050"]


def test_reference_positions_point_into_the_file() -> None:
    d = Diagnostics()
    ref = [p for p in parse_template("a ${params.x}", AT, d, "/x") if isinstance(p, Reference)][0]
    # column 10 is the opening quote; the string starts at 11; `${` is 2 characters in.
    assert (ref.span.line, ref.span.column, ref.span.end_column) == (5, 13, 24)


def test_block_scalar_positions_use_the_block_indent() -> None:
    lines = ["query: |", "    SELECT 1", "    WHERE y > ${params.x}"]
    where = ScalarPosition(Span(file="f", line=1, column=8, end_line=1, end_column=9), "|", lines)
    d = Diagnostics()
    ref = [p for p in parse_template("SELECT 1\nWHERE y > ${params.x}\n", where, d, "/q")
           if isinstance(p, Reference)][0]
    assert (ref.span.line, ref.span.column) == (3, 15)


@pytest.mark.parametrize(("text", "ok"), [
    ("@mysql.shop", True), ("@my_sql.db-movies", True), ("@mysql", False), ("mysql.shop", False),
    ("@mysql.shop.x", False), ("@ mysql.shop", False), ("@1mysql.shop", False),
])
def test_connection_refs(text: str, ok: bool) -> None:
    d = Diagnostics()
    ref = parse_connection(text, AT, d, "/c")
    assert (ref is not None) is ok
    assert [x.code for x in d] == ([] if ok else ["OML053"])


def test_env_templates() -> None:
    d = Diagnostics()
    pieces = parse_env_template("u:${USER}:${PW:-dflt}:${E:-}", AT, d, "/p")
    refs = [(p.name, p.default) for p in pieces if isinstance(p, EnvReference)]
    assert refs == [("USER", None), ("PW", "dflt"), ("E", "")]
    assert [p.value for p in pieces if isinstance(p, Text)] == ["u:", ":", ":"]


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_ALPHABET = st.sampled_from(list("ab_.-$${}} \n1é"))


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(_ALPHABET, st.sampled_from(["${params.x}", "$${", "${a.b-c.d}", "${x}", "$$"])),
                max_size=12).map("".join))
def test_fast_template_path_agrees_with_the_grammar(text: str) -> None:
    fast_d, slow_d = Diagnostics(), Diagnostics()
    fast = parse_template(text, AT, fast_d, "/x")
    slow = parse_template(text, AT, slow_d, "/x", use_fast_path=False)
    assert fast == slow
    assert [d.code for d in fast_d] == [d.code for d in slow_d]


_ENV_PIECES = st.sampled_from(["${X}", "$${", "${PW:-dflt}", "${E:-}", "${a:-b}c}", ":-", "$$"])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(_ALPHABET, _ENV_PIECES),
                max_size=12).map("".join))
def test_fast_env_template_path_agrees_with_the_grammar(text: str) -> None:
    fast_d, slow_d = Diagnostics(), Diagnostics()
    fast = parse_env_template(text, AT, fast_d, "/x")
    slow = parse_env_template(text, AT, slow_d, "/x", use_fast_path=False)
    assert fast == slow
    assert [d.code for d in fast_d] == [d.code for d in slow_d]
