"""The SQL binder per dialect: where a reference may stand, the literal it becomes, and what is
refused (OML066: this reference; OML067: SQL whose reading the binder cannot vouch for)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from osiris.compiler import sql_binding, sql_lexing
from osiris.compiler.api import CompileOptions, compile_text
from osiris.compiler.spec_cache import default_registry
from osiris.compiler.sql_binding import BindRefused, Slot, bind_sql
from osiris.compiler.sql_lexing import Misplaced, NotReadable, Tok, duckdb_rewrites
from osiris.compiler.sql_literals import (
    UnsafeValue,
    code_literal,
    decode_literal,
    escape_in_string,
    same_value,
    value_text,
)
from osiris.oml.canonical import pretty_json


def bind(dialect: str, sql: str, *values: object, kind: str = "string") -> str:
    """`sql` with each `?` replaced by the next value's binding."""
    texts = sql.split("?")
    assert len(texts) == len(values) + 1
    return bind_sql(texts, [Slot(v, kind) for v in values], dialect)  # type: ignore[arg-type]


def refused(dialect: str, sql: str, *values: object, kind: str = "string") -> str:
    """The code of the refusal (and fails when the binding goes through)."""
    with pytest.raises(BindRefused) as caught:
        bind(dialect, sql, *values, kind=kind)
    return caught.value.code


# --- literals ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("value", "dialect", "expected"), [
    (42, "mysql", "42"), (-7, "postgres", "(-7)"), (-1.5, "duckdb", "(-1.5)"), (0.1, "mysql", "0.1"),
    (1e300, "postgres", "1e+300"), (True, "mysql", "TRUE"), (False, "duckdb", "FALSE"), (None, "postgres", "NULL"),
    ("O'Hara", "mysql", "'O''Hara'"), ("O'Hara", "postgres", "'O''Hara'"), ("O'Hara", "duckdb", "'O''Hara'"),
    ("a\\b'", "mysql", "'a\\\\b'''"), ("a\\b'", "postgres", "E'a\\\\b'''"), ("a\\b'", "duckdb", "'a\\b'''"),
    ("x'; DROP TABLE t; --", "duckdb", "'x''; DROP TABLE t; --'"), ("é😀\n", "mysql", "'é😀\n'"),
])
def test_each_value_has_one_literal_per_dialect(value: object, dialect: str, expected: str) -> None:
    assert code_literal(value, dialect) == expected  # type: ignore[arg-type]
    assert same_value(expected, value, dialect)  # type: ignore[arg-type]


@pytest.mark.parametrize(("name", "dialect", "expected"), [
    ("orders", "mysql", "`orders`"), ("a`b", "mysql", "`a``b`"), ('a"b', "postgres", '"a""b"'),
    ("s.t", "duckdb", '"s.t"'), ("x`", "duckdb", '"x`"'),
])
def test_identifiers_are_quoted_per_dialect(name: str, dialect: str, expected: str) -> None:
    assert code_literal(name, dialect, identifier=True) == expected  # type: ignore[arg-type]
    assert same_value(expected, name, dialect, identifier=True)  # type: ignore[arg-type]
    assert not same_value(expected, name, dialect)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "nul\x00byte", "lone \udc80", [1], {"a": 1}, b"x"])
def test_values_without_a_literal_form_are_refused(value: object) -> None:
    with pytest.raises(UnsafeValue):
        code_literal(value, "postgres")


@pytest.mark.parametrize("name", ["", None, 5, "a\x00b"])
def test_an_identifier_is_a_non_empty_string_without_nul(name: object) -> None:
    with pytest.raises(UnsafeValue):
        code_literal(name, "mysql", identifier=True)


def test_escaping_inside_a_string_differs_by_dialect() -> None:
    assert escape_in_string("it's \\", "mysql") == "it''s \\\\"
    assert escape_in_string("it's \\", "postgres") == "it''s \\"
    assert escape_in_string("it's \\", "duckdb") == "it''s \\"


@pytest.mark.parametrize(("literal", "dialect"), [
    ("'a\\'", "mysql"), ("'a'b'", "duckdb"), ("E'a\\'", "postgres"), ("-5", "mysql"), ("(5)", "mysql"),
    ("'a''", "postgres"), ("`a`b`", "mysql"), ('"a', "duckdb"), ("'\\'", "mysql"),
])
def test_malformed_literals_never_read_back_as_a_value(literal: str, dialect: str) -> None:
    value = decode_literal(literal, dialect)  # type: ignore[arg-type]
    assert not any(same_value(literal, v, dialect) for v in (value, "a", "a'b", 5, -5))  # type: ignore[arg-type]


def test_decoding_respects_each_dialects_escapes() -> None:
    assert decode_literal("'a\\\\b'", "mysql") == "a\\b"
    assert decode_literal("'a\\\\b'", "duckdb") == "a\\\\b"
    assert decode_literal("E'a\\\\b'''", "postgres") == "a\\b'"
    assert decode_literal("(-2.5)", "postgres") == -2.5 and decode_literal("TRUE", "mysql") is True
    assert not same_value("1", True, "mysql") and not same_value("'5'", 5, "mysql")
    assert not same_value("5.0", 5, "duckdb") and not same_value("NULL", "NULL", "duckdb")


# --- where a reference stands ----------------------------------------------------------------------
@pytest.mark.parametrize("dialect", ["mysql", "postgres", "duckdb"])
def test_code_and_plain_string_positions_bind_in_every_dialect(dialect: str) -> None:
    assert bind(dialect, "SELECT * FROM t WHERE a = ?", "x' OR '1'='1") == \
        "SELECT * FROM t WHERE a = 'x'' OR ''1''=''1'"
    assert bind(dialect, "SELECT * FROM t WHERE a LIKE '%?%'", "a'b") == "SELECT * FROM t WHERE a LIKE '%a''b%'"
    assert bind(dialect, "SELECT '?' AS x, ? AS y", "it's", "it's") == "SELECT 'it''s' AS x, 'it''s' AS y"
    assert bind(dialect, "SELECT 1 -?", -5) == "SELECT 1 -(-5)"
    assert bind(dialect, "SELECT ? LIMIT ?", True, 3) == "SELECT TRUE LIMIT 3"


def test_mysql_reads_backslash_escapes_so_the_value_after_one_stays_a_value() -> None:
    attack = "name OR true UNION SELECT CURRENT_USER()"
    assert bind("mysql", "SELECT 'it\\'s', ?", attack) == f"SELECT 'it\\'s', '{attack}'"
    assert bind("mysql", 'SELECT "a\\"b", ?', "x") == "SELECT \"a\\\"b\", 'x'"
    assert bind("mysql", "SELECT 'a\\\\' , '?'", "b\\") == "SELECT 'a\\\\' , 'b\\\\'"


def test_a_hash_starts_a_comment_in_mysql_only() -> None:
    assert refused("mysql", "SELECT 1 # ?\n", "x") == "OML066"
    assert bind("mysql", "SELECT 1 # it's a comment\n, ?", "x") == "SELECT 1 # it's a comment\n, 'x'"
    assert bind("mysql", "SELECT 1 # it's\n, '?'", "y'") == "SELECT 1 # it's\n, 'y'''"
    assert refused("postgres", "SELECT 1 # it's\n, ?", "x") == "OML067"  # PostgreSQL: `#` is an operator, `'` opens


@pytest.mark.parametrize(("sql", "code"), [
    ("SELECT 1 -- ?", "OML066"), ("SELECT 1 /* ? */", "OML066"), ("SELECT 1 --?", "OML067"),
    ("SELECT 1 --\xa0 ' , ?", "OML067"), ("SELECT 1 --\x0b , ?", "OML067"), ("SELECT /*! 1, */ ?", "OML067"),
    ("SELECT /*M! 1, */ ?", "OML067"), ("SELECT /*+ BKA(t) */ ?", "OML067"), ("SELECT \"?\"", "OML066"),
    ("SELECT `?`", "OML066"), ("SELECT N'?'", "OML066"), ("SELECT _utf8mb4'?'", "OML067"), ("SELECT @'?'", "OML067"),
    ("SELECT \\'a' , ?", "OML067"), ("SELECT 'unclosed ?", "OML067"), ("SELECT $$a'$$, ?", "OML067"),
])
def test_mysql_refusals(sql: str, code: str) -> None:
    assert refused("mysql", sql, "x") == code


@pytest.mark.parametrize(("sql", "code"), [
    ("SELECT E'?'", "OML066"), ("SELECT $$?$$", "OML066"), ("SELECT $t$ ? $t$", "OML066"), ('SELECT "?"', "OML066"),
    ("SELECT 1 /* a /* b */ ? */", "OML066"), ("SELECT /*/* */ ? */ 1", "OML067"), ("SELECT 'it\\'s', ?", "OML067"),
    ("SELECT E'a'\n'?'", "OML067"), ("SELECT B'0''1', ?", "OML067"), ("SELECT U&'?'", "OML066"),
    ("SELECT $1, ?", "OML067"), ("SELECT $a-b$ x $a-b$, ?", "OML067"), ("SELECT a\u3000E'\\' ' ?", "OML067"),
    ("SELECT 1 -- ?\n", "OML066"),
])
def test_postgres_refusals(sql: str, code: str) -> None:
    assert refused("postgres", sql, "x") == code


def test_postgres_reads_e_strings_dollar_quotes_and_nested_comments() -> None:
    assert bind("postgres", "SELECT E'it\\'s', ?", "a") == "SELECT E'it\\'s', 'a'"
    assert bind("postgres", "SELECT $$a'b$$, $t$ $$ ' $t$, ?", 5) == "SELECT $$a'b$$, $t$ $$ ' $t$, 5"
    assert bind("postgres", "SELECT /* a /* ' */ b */ ?", "x") == "SELECT /* a /* ' */ b */ 'x'"
    assert bind("postgres", "SELECT 'a'\n'?'", "b'") == "SELECT 'a'\n'b'''"  # a plain continuation is plain
    assert bind("postgres", "SELECT ?", "a\\b") == "SELECT E'a\\\\b'"
    assert bind("postgres", "SELECT 1 --\r?", "x") == "SELECT 1 --\r'x'"  # `--` ends at a carriage return


@pytest.mark.parametrize(("sql", "code"), [
    ("SELECT read_text($$?$$)", "OML066"), ("SELECT x'?'", "OML067"), ("SELECT B'0''1', ?", "OML067"),
    ("SELECT $name, ?", "OML067"), ("SELECT 'a\\'', ?", "OML067"), ("SELECT /*/* */ ? */ 1", "OML067"),
])
def test_duckdb_refusals(sql: str, code: str) -> None:
    assert refused("duckdb", sql, "x") == code


def test_duckdb_reads_dollar_quotes_so_a_file_read_stays_text() -> None:
    bound = bind("duckdb", "SELECT read_text($$/etc/hostname$$) AS f, ? AS v", "x) UNION SELECT read_text('/etc/passwd")
    assert bound == "SELECT read_text($$/etc/hostname$$) AS f, 'x) UNION SELECT read_text(''/etc/passwd' AS v"


def test_duckdb_would_rewrite_a_unicode_space_after_a_quote_in_a_comment() -> None:
    assert duckdb_rewrites("SELECT /* ' */ 1, '\u3000'") == [19]
    assert duckdb_rewrites("SELECT '\u3000', $$'$$, '\xa0'") == []
    assert refused("duckdb", "SELECT /* ' */ 1, ?", "a\u3000b") == "OML066"
    assert bind("duckdb", "SELECT /* ' */ 1, ?", "a b") == "SELECT /* ' */ 1, 'a b'"
    assert bind("duckdb", "SELECT ?", "a\u3000b") == "SELECT 'a\u3000b'"


@pytest.mark.parametrize("dialect", ["mysql", "postgres", "duckdb"])
@pytest.mark.parametrize(("sql", "code"), [
    ("SELECT a?", "OML066"), ("SELECT ?b", "OML066"), ("SELECT ??", "OML066"), ("SELECT 1.?", "OML066"),
    ("SELECT 'a'?", "OML066"), ("SELECT '?' \x00", "OML067"), ("SELECT\u3000?", "OML067"),
    ("SELECT 1 \\ ?", "OML067"), ("SELECT '?", "OML067"),
])
def test_refusals_in_every_dialect(dialect: str, sql: str, code: str) -> None:
    values = ("x",) * sql.count("?")
    assert refused(dialect, sql, *values) == code


@pytest.mark.parametrize("dialect", ["mysql", "postgres", "duckdb"])
def test_an_identifier_parameter_is_a_quoted_name_and_never_a_string(dialect: str) -> None:
    quote = "`" if dialect == "mysql" else '"'
    bound = bind(dialect, "SELECT * FROM ?.?", "sales", f"or{quote}ders", kind="identifier")
    assert bound == f"SELECT * FROM {quote}sales{quote}.{quote}or{quote * 2}ders{quote}"
    assert refused(dialect, "SELECT '?'", "t", kind="identifier") == "OML066"
    assert refused(dialect, "SELECT * FROM ?", "", kind="identifier") == "OML066"
    assert refused(dialect, "SELECT 1.?", 5) == "OML066"  # a dot touches only names


def test_a_sentinel_never_collides_with_the_sql() -> None:
    assert bind("postgres", "SELECT 'OSIRISPARAM0Z', osirisparam0z, ?", "v") == \
        "SELECT 'OSIRISPARAM0Z', osirisparam0z, 'v'"


def test_the_verification_refuses_a_wrong_escape(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sql_binding, "escape_in_string", lambda text, dialect: text)
    assert refused("postgres", "SELECT '?'", "x' OR true --") == "OML066"
    assert bind("postgres", "SELECT '?'", "plain") == "SELECT 'plain'"


def test_a_wrong_code_literal_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sql_binding, "code_literal", lambda value, dialect, identifier=False: f"'{value}'")
    assert refused("mysql", "SELECT ?", "x' OR 1=1 --") == "OML066"
    assert refused("mysql", "SELECT ?", "a\\") == "OML066"


def test_messages_name_the_reference_not_the_sentinel() -> None:
    with pytest.raises(BindRefused) as caught:
        bind_sql(["SELECT 1 --", ""], [Slot(1, "integer")], "mysql", ["${params.n}"])
    assert "${params.n}" in str(caught.value) and "OSIRISPARAM" not in str(caught.value)


def test_plain_sql_is_bound_without_importing_sqlglot() -> None:
    code = textwrap.dedent("""
        import sys
        from osiris.compiler.sql_binding import Slot, bind_sql
        assert bind_sql(["SELECT * FROM t WHERE a >= ", " AND b = ", ""], [Slot(5, "integer"), Slot("x")],
                        "duckdb") == "SELECT * FROM t WHERE a >= 5 AND b = 'x'"
        assert "sqlglot" not in sys.modules
        bind_sql(["SELECT '", "'"], [Slot("x")], "duckdb")
        assert "sqlglot" in sys.modules
    """)
    subprocess.run([sys.executable, "-c", code], check=True)


# --- the dialect comes from the component spec ------------------------------------------------------
def test_each_sql_field_names_its_servers_dialect() -> None:
    registry = default_registry()
    found = {name: spec.sql_dialects() for name, spec in registry.components.items() if spec.sql_dialects()}
    assert found == {
        "mysql.extractor": {"query": "mysql"}, "postgres.extractor": {"query": "postgres"},
        "supabase.extractor": {"query": "postgres"}, "duckdb.processor": {"query": "duckdb"},
        "filesystem.parquet_extractor": {"filter": "duckdb"},
    }


def test_a_marker_without_a_dialect_is_an_error_in_the_spec() -> None:
    spec = default_registry().get("duckdb.processor")
    assert spec is not None
    schema = {**spec.config_schema, "properties": {"query": {"type": "string", "x-sql": True}}}
    with pytest.raises(ValueError, match="x-sql"):
        spec.evolve(config_schema=schema).sql_dialects()


# --- through the compiler ----------------------------------------------------------------------------
def _compile(component: str, query: str, params: str, cli: dict[str, str]) -> tuple[list[tuple[str, int, int]], str]:
    upstream = "  - id: e\n    component: filesystem.csv_extractor\n    config: {path: a.csv}\n"
    step = f"  - id: t\n    component: {component}\n"
    if component == "duckdb.processor":
        text_steps = upstream + step + "    needs: [e]\n"
    else:
        text_steps = step
    family = component.split(".")[0]
    text = (f'oml_version: "0.1.0"\nname: p\nparams:\n{params}\nsteps:\n{text_steps}'
            f"    config:\n      query: {query}\n" + ("" if component == "duckdb.processor"
                                                     else f'      connection: "@{family}.db"\n'))
    result = compile_text(text, "p.yaml", CompileOptions(params=cli, env={}, search_connections=False))
    errors = [(d.code, d.span.line, d.span.column) for d in result.diagnostics if d.severity == "error"]
    return errors, pretty_json(json.loads(result.artifacts["cfg.json"])["t"]).decode() if not errors else ""


def test_the_mysql_extractor_binds_with_mysql_rules() -> None:
    errors, cfg = _compile("mysql.extractor", "\"SELECT 'it\\\\'s' AS a, ${params.who} AS b\"",
                           "  who: {type: string, default: x}", {"who": "name OR true UNION SELECT CURRENT_USER()"})
    assert errors == []
    assert "'it\\\\'s' AS a, 'name OR true UNION SELECT CURRENT_USER()' AS b" in cfg


def test_the_postgres_extractor_binds_with_postgres_rules() -> None:
    errors, cfg = _compile("postgres.extractor", "\"SELECT E'it\\\\'s', $$a'$$ AS a, ${params.who}\"",
                           "  who: {type: string, default: x}", {"who": "x' OR true --"})
    assert errors == [] and "$$a'$$ AS a, 'x'' OR true --'" in cfg
    errors, _ = _compile("postgres.extractor", "|\n        SELECT 'it\\'s', ${params.who}",
                         "  who: {type: string, default: x}", {})
    assert errors == [("OML067", 10, 25)]  # `        SELECT 'it\'s', ${params.who}`: PostgreSQL has no `\'`


def test_refusals_point_at_the_reference() -> None:
    errors, _ = _compile("duckdb.processor", "\"SELECT 1 /* ${params.a} */, ${params.b}\"",
                         "  a: {type: integer, default: 1}\n  b: {type: integer, default: 1}", {})
    assert errors == [("OML066", 14, 27)]  # line 14: `      query: "SELECT 1 /* ${params.a}`


def test_a_negative_cli_number_after_a_minus_cannot_start_a_comment() -> None:
    errors, cfg = _compile("duckdb.processor", "\"SELECT * FROM input_df WHERE a = 1 -${params.n} AND t = 7\"",
                           "  n: {type: integer, default: 1}", {"n": "-5"})
    assert errors == [] and "a = 1 -(-5) AND t = 7" in cfg


def test_an_identifier_parameter_through_the_compiler() -> None:
    errors, cfg = _compile("duckdb.processor", "\"SELECT * FROM ${params.t}\"",
                           "  t: {type: identifier, default: input_df}", {"t": 'x"; DROP TABLE y; --'})
    assert errors == [] and '"SELECT * FROM \\"x\\"\\"; DROP TABLE y; --\\""' in cfg
    errors, _ = _compile("duckdb.processor", "\"SELECT * FROM ${params.t}\"", "  t: {type: identifier}", {"t": ""})
    assert [e[0] for e in errors] == ["OML061"]


# --- exact texts and edges (each line kills a mutant the tests above let live) -----------------------
@pytest.mark.parametrize(("value", "message"), [
    (float("nan"), "nan has no SQL literal form"), (float("-inf"), "-inf has no SQL literal form"),
    ("a\x00", "the value contains a NUL character"),
    ("\udc80", "the value is not valid Unicode (it holds a lone surrogate)"),
    ([1], "a list cannot be bound into SQL"), (b"x", "a bytes cannot be bound into SQL"),
])
def test_why_a_value_has_no_literal(value: object, message: str) -> None:
    with pytest.raises(UnsafeValue) as caught:
        code_literal(value, "duckdb")
    assert str(caught.value) == message


@pytest.mark.parametrize(("value", "text"), [
    (True, "true"), (False, "false"), (5, "5"), (-1.5, "-1.5"), (1e16, "1e+16"), ("it's", "it's"),
])
def test_the_text_of_a_value_inside_a_string(value: object, text: str) -> None:
    assert value_text(value) == text


@pytest.mark.parametrize(("value", "message"), [
    (None, "null has no text form inside a quoted SQL string"), ({"a": 1}, "a dict cannot be bound into SQL"),
    (float("nan"), "nan has no SQL literal form"), ("\x00", "the value contains a NUL character"),
])
def test_why_a_value_has_no_text(value: object, message: str) -> None:
    with pytest.raises(UnsafeValue) as caught:
        value_text(value)
    assert str(caught.value) == message


def test_why_a_name_is_refused() -> None:
    for name in ("", None):
        with pytest.raises(UnsafeValue) as caught:
            code_literal(name, "postgres", identifier=True)
        assert str(caught.value) == "an identifier must be a non-empty string"


def test_decoding_edges() -> None:
    assert decode_literal("(-5)", "mysql") == -5 and decode_literal("5", "mysql") == 5
    assert decode_literal("2.5", "duckdb") == 2.5 and decode_literal("1e+16", "duckdb") == 1e16
    assert not any(same_value(bad, -5, "mysql") for bad in ("(-5x", "-5)", "(-5", "x-5)", "-5"))
    assert not same_value("(5)", 5, "mysql") and not same_value("5", 5.0, "mysql")
    assert decode_literal('""', "postgres") == "" and same_value('"a""b"', 'a"b', "duckdb", identifier=True)
    assert not same_value("`", "", "mysql", identifier=True) and not same_value('"', "", "duckdb", identifier=True)
    assert not same_value('"a"', "b", "postgres", identifier=True) and not same_value("`a`", "a", "postgres",
                                                                                        identifier=True)
    assert not same_value("'a'", "b", "duckdb") and not same_value("'a'", "a", "duckdb", identifier=True)
    assert not same_value("'a''", "a'", "duckdb") and not same_value("x", "x", "mysql")
    assert same_value("NULL", None, "mysql") and same_value("FALSE", False, "postgres")
    assert not same_value("TRUE", 1, "mysql") and not same_value("1", True, "duckdb")


# --- every refusal, exactly: code, which reference, message -----------------------------------------
NAN = float("nan")
GLUED = "it touches the text around it; put a space or an operator between the reference and the SQL next to it"
REWRITE = ("DuckDB would turn the value's Unicode space into an ASCII space: the SQL before it misleads "
           "DuckDB's quote tracking (a quote inside a /* */ comment?)")
PG_UNCLOSED = ("a quote or comment is not closed, or a hexadecimal or bit string holds other characters (a backslash "
               "does not escape a quote here: write 'it''s', or E'it\\'s')")
DUCK_UNCLOSED = ("a quote or comment is not closed (a backslash does not escape a quote here: write 'it''s', "
                 "or E'it\\'s')")
MYSQL_UNCLOSED = ("a quote or comment is not closed, a hexadecimal or bit string holds other characters, or `$$` "
                  "stands outside a string (MySQL has no dollar quotes)")
ANYWHERE = "whose quoting the binder does not write"


@pytest.mark.parametrize(("dialect", "sql", "values", "kind", "code", "slot", "message"), [
    ("duckdb", "SELECT ?, ?", ("x", NAN), "number", "OML066", 1, "nan has no SQL literal form"),
    ("duckdb", "SELECT 'a'?, 1", ("x",), "string", "OML066", 0, GLUED),
    ("duckdb", "SELECT ?, 'a'?", ("x", "y"), "string", "OML066", 1, GLUED),
    ("postgres", "SELECT ?, '?'", ("t", "t"), "identifier", "OML066", 1,
     "an identifier parameter goes where a name goes, not inside a string"),
    ("mysql", "SELECT ?, 1 # ?\n", ("a", "b"), "string", "OML066", 1, "it stands inside a SQL comment"),
    ("mysql", "-- ?", ("x",), "string", "OML066", 0, "it stands inside a SQL comment"),
    ("postgres", "-- ?\nSELECT 1", ("x",), "string", "OML066", 0, "it stands inside a SQL comment"),
    ("mysql", "SELECT 1 --?", (1,), "integer", "OML067", 0,
     "`--` at 'SELECT 1 --${...}' may start a comment on the server"),
    ("duckdb", "SELECT /* ' */ 1, ?, ?", ("a", "b\u3000"), "string", "OML066", 1, REWRITE),
    ("duckdb", "SELECT /* ' */ 1, ?, ?", ("a\u3000", "b"), "string", "OML066", 0, REWRITE),
    ("duckdb", "SELECT /* ' */ '?'", ("\u3000x",), "string", "OML066", 0, REWRITE),
    ("duckdb", "SELECT '?' \x00", ("x",), "string", "OML067", 0, "the SQL contains a NUL character"),
    ("mysql", "SELECT 'x?", ("x",), "string", "OML067", 0, MYSQL_UNCLOSED),
    ("postgres", "SELECT 'x?", ("x",), "string", "OML067", 0, PG_UNCLOSED),
    ("duckdb", "SELECT 'x?", ("x",), "string", "OML067", 0, DUCK_UNCLOSED),
    ("postgres", "SELECT X'?'", ("x",), "string", "OML067", 0, PG_UNCLOSED),
    ("postgres", "SELECT X'ab'\n'?'", ("x",), "string", "OML067", 0,
     "\"SELECT X'ab' '${...}'\" continues a hexadecimal string across a line break, which the server reads with "
     "that string's rules"),
    ("postgres", "SELECT B'01'\n'?'", ("x",), "string", "OML067", 0,
     "\"SELECT B'01' '${...}'\" continues a bit string across a line break, which the server reads with "
     "that string's rules"),
    ("postgres", "SELECT U&'a'\n'?'", ("x",), "string", "OML067", 0,
     "\"SELECT U&'a' '${...}'\" continues a U&'...' string across a line break, which the server reads with "
     "that string's rules"),
    ("duckdb", "SELECT x'?'", ("x",), "string", "OML067", 0,
     "a string glued to `x` (\"SELECT x'${...}'\") may be a prefixed string with other quoting rules"),
    ("postgres", "SELECT E'a'\n'?'", ("x",), "string", "OML067", 0,
     "\"SELECT E'a' '${...}'\" continues an E'...' string across a line break, which the server reads with "
     "that string's rules"),
    ("postgres", "SHOW x '?'", ("x",), "string", "OML067", 0,
     "the tokenizer reads the rest of the SQL after `SHOW` as one command"),
    ("postgres", "SELECT \\ '?'", ("x",), "string", "OML067", 0,
     "the server may read \"SELECT \\\\ '${...}'\" differently"),
    ("postgres", "SELECT $1, '?'", ("x",), "string", "OML067", 0,
     "`$` at \"SELECT $1, '${...}'\" may start a dollar quote or a placeholder"),
    ("mysql", "SELECT 0x?", ("x",), "string", "OML067", 0,
     "the server may read 'SELECT 0x${...}' with other quoting rules"),
    ("mysql", "SELECT 1 --\xa0 ?\n", ("x",), "string", "OML067", 0,
     "`--` not followed by a space or tab at 'SELECT 1 --\\xa0 ${...} '"),
    ("postgres", "SELECT\u3000'?'", ("x",), "string", "OML067", 0,
     "unexpected character '\\u3000' outside any token at \"SELECT\\u3000'${...}'\""),
    ("postgres", "SELECT /*/* */ ? */ 1", ("x",), "string", "OML067", 0,
     "the server ends the comment at 'SELECT /*/* */ ${...} */ 1' elsewhere than the tokenizer does"),
    ("mysql", "SELECT /*! 1, */ ?", ("x",), "string", "OML067", 0,
     "MySQL reads the comment at 'SELECT /*! 1, */ ${...}' as SQL (`/*!`, `/*M!`) or as optimizer hints (`/*+`)"),
    ("mysql", "SELECT /*+ BKA(t) */ ?", ("x",), "string", "OML067", 0,
     "MySQL reads the comment at 'SELECT /*+ BKA(t) */ ${...}' as SQL (`/*!`, `/*M!`) or as optimizer hints (`/*+`)"),
    ("mysql", 'SELECT "?"', ("x",), "string", "OML066", 0,
     "it stands inside a double-quoted string; use single quotes"),
    ("postgres", "SELECT E'?'", ("x",), "string", "OML066", 0, f"it stands inside an E'...' string, {ANYWHERE}"),
    ("postgres", "SELECT N'?'", ("x",), "string", "OML066", 0, f"it stands inside an N'...' string, {ANYWHERE}"),
    ("postgres", "SELECT U&'?'", ("x",), "string", "OML066", 0, f"it stands inside a U&'...' string, {ANYWHERE}"),
    ("postgres", "SELECT $$?$$", ("x",), "string", "OML066", 0, f"it stands inside a dollar-quoted string, {ANYWHERE}"),
    ("postgres", 'SELECT "?"', ("x",), "string", "OML066", 0, f"it stands inside a quoted identifier, {ANYWHERE}"),
    ("postgres", "SELECT a? || 'x'", ("x",), "string", "OML066", 0,
     "it is glued to the text around it (\"SELECT a${...} || 'x\")"),
    ("duckdb", "SELECT '?'", (None,), "string", "OML066", 0, "null has no text form inside a quoted SQL string"),
    ("duckdb", "SELECT ?, '?'", (1, None), "string", "OML066", 1, "null has no text form inside a quoted SQL string"),
])
def test_each_refusal_says_why_and_where(dialect, sql, values, kind, code, slot, message) -> None:
    with pytest.raises(BindRefused) as caught:
        bind_sql(sql.split("?"), [Slot(v, kind) for v in values], dialect)
    assert (caught.value.code, caught.value.slot, str(caught.value)) == (code, slot, message)


def test_the_safety_net_refuses_a_wrong_escape_at_the_first_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sql_binding, "escape_in_string", lambda text, dialect: text)
    for values in (("x' OR true --",), ("a'",)):
        with pytest.raises(BindRefused) as caught:
            bind_sql(["SELECT '", "'"], [Slot(v) for v in values], "postgres")
        assert (caught.value.code, caught.value.slot, str(caught.value)) == (
            "OML066", 0, "after binding, the SQL would not read as written (a wrong escape?)")


def test_a_literal_that_does_not_read_back_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sql_binding, "code_literal", lambda value, dialect, identifier=False: f"'{value}'")
    with pytest.raises(BindRefused) as caught:
        bind_sql(["SELECT ", ", ", ""], [Slot("ok"), Slot("x' OR 1=1 --")], "mysql")
    assert (caught.value.code, caught.value.slot, str(caught.value)) == (
        "OML066", 1, "the literal \"'x' OR 1=1 --'\" does not read back as the value")


def test_references_are_named_by_their_labels_or_a_placeholder() -> None:
    for labels, shown in ((None, "${...}"), (["${params.a}", "${params.b}"], "${params.b}")):
        with pytest.raises(BindRefused) as caught:
            bind_sql(["SELECT ", ", 1 --", ""], [Slot(1, "integer"), Slot(2, "integer")], "mysql", labels)
        first = shown if labels is None else "${params.a}"
        assert str(caught.value) == f"`--` at '{first}, 1 --{shown}' may start a comment on the server"


# --- what must bind, on the lexed path -------------------------------------------------------------
@pytest.mark.parametrize(("dialect", "sql", "value", "expected"), [
    ("mysql", "SELECT /**/ ?, ''", "x", "SELECT /**/ 'x', ''"),
    ("mysql", "SELECT 2 */*c*/ ?, ''", 3, "SELECT 2 */*c*/ 3, ''"),
    ("mysql", "SELECT /* a */ 1 /* b */, ?, ''", "x", "SELECT /* a */ 1 /* b */, 'x', ''"),
    ("mysql", "SELECT 1\n-- it's\n, ?", "x", "SELECT 1\n-- it's\n, 'x'"),
    ("mysql", "SELECT ?, '' --", "x", "SELECT 'x', '' --"),
    ("mysql", "SELECT 1 --\tit's\n, ?", "x", "SELECT 1 --\tit's\n, 'x'"),
    ("mysql", "SELECT 1 --\n, ?, ''", "x", "SELECT 1 --\n, 'x', ''"),
    ("mysql", "SELECT 1 --\r\n, ?, ''", "x", "SELECT 1 --\r\n, 'x', ''"),
    ("mysql", "SELECT 1 -- c\r, it's\n, ?", "x", "SELECT 1 -- c\r, it's\n, 'x'"),
    ("mysql", "SELECT $name, ?, ''", "x", "SELECT $name, 'x', ''"),
    ("mysql", "SELECT X'4A'\n'?'", "v", "SELECT X'4A'\n'v'"),
    ("postgres", "SELECT /* a /* b */ c */ 1, ?, ''", "x", "SELECT /* a /* b */ c */ 1, 'x', ''"),
    ("postgres", "SELECT /* /**/ */ ?, ''", "x", "SELECT /* /**/ */ 'x', ''"),
    ("postgres", "SELECT 1\r-- it's\r, ?", "x", "SELECT 1\r-- it's\r, 'x'"),
    ("postgres", "SELECT 1 -- a\r, ?, '' -- b\r", "x", "SELECT 1 -- a\r, 'x', '' -- b\r"),
    ("postgres", "SELECT 5 # 3, ?, ''", "x", "SELECT 5 # 3, 'x', ''"),
    ("postgres", "SELECT a$b, ?, ''", "x", "SELECT a$b, 'x', ''"),
    ("postgres", "'a' = ?", "x", "'a' = 'x'"),
    ("postgres", "? || 'a'", "x", "'x' || 'a'"),
    ("postgres", "SELECT E'a' '?'", "x", "SELECT E'a' 'x'"),
    ("postgres", "SELECT E'a' /* X */ '?'", "x", "SELECT E'a' /* X */ 'x'"),
    ("postgres", "SELECT 1 - ?, ''", -5, "SELECT 1 - (-5), ''"),
    ("duckdb", 'SELECT 1 AS"a", ?', "x", "SELECT 1 AS\"a\", 'x'"),
    ("duckdb", "? = 1", 5, "5 = 1"),
    ("duckdb", "SELECT 'OSIRISPARAM0Z ?'", "x", "SELECT 'OSIRISPARAM0Z x'"),
    ("duckdb", "SELECT 'X OSIRISPARAM', ?", "x", "SELECT 'X OSIRISPARAM', 'x'"),
    ("duckdb", "SELECT /* ' */ '?\u3000'", "x", "SELECT /* ' */ 'x\u3000'"),
])
def test_what_binds_after_lexing(dialect: str, sql: str, value: object, expected: str) -> None:
    assert bind(dialect, sql, value, kind="integer" if isinstance(value, int) else "string") == expected


# --- the guards hold even where sqlglot never errs --------------------------------------------------
def _tok(kind: str, sql: str, part: str, after: int = 0, comments: tuple[str, ...] = ()) -> Tok:
    start = sql.index(part, after)
    return Tok(kind, part, start, start + len(part), comments)


def test_guards_against_tokens_sqlglot_does_not_produce() -> None:
    with pytest.raises(NotReadable, match="overlap"):
        sql_lexing._check("abcd", [Tok("VAR", "abc", 0, 3, ()), Tok("VAR", "cd", 2, 4, ())], "duckdb")
    for kind, raw, dialect in (("VAR", "a#b", "mysql"), ("PARAMETER", "x$", "postgres"), ("VAR", "$a", "duckdb")):
        with pytest.raises(NotReadable):
            sql_lexing._check_code(raw, Tok(kind, raw, 0, len(raw), ()), None, dialect)
    sql_lexing._check_code("a#b", Tok("VAR", "a#b", 0, 3, ()), None, "postgres")
    sql_lexing._check_code("a$b", Tok("VAR", "a$b", 0, 3, ()), None, "postgres")
    slash, star = Tok("SLASH", "/", 0, 1, ()), Tok("STAR", "*", 1, 2, ())
    with pytest.raises(NotReadable, match="may start a comment"):
        sql_lexing._check_code("/*", star, slash, "postgres")
    for sql, dialect in (("/* open", "mysql"), ("/* open /* x */", "postgres")):
        with pytest.raises(NotReadable, match="is not closed"):
            sql_lexing._check_gap(sql, 0, len(sql), dialect)
    assert not sql_lexing._dollar_quoted("$a$ x $a$ y $a$") and sql_lexing._dollar_quoted("$a$ x $a$")
    assert sql_lexing._dollar_quoted("$$$$") and not sql_lexing._dollar_quoted("$$$")
    sql = "SELECT 5"
    with pytest.raises(Misplaced, match="it stands inside 'SELECT 5', not where a value goes"):
        sql_lexing.classify(sql, [_tok("SELECT", sql, "SELECT"), _tok("NUMBER", sql, "5")], [(7, 8)])


def test_the_final_tokens_must_be_the_sentinel_tokens_with_the_values() -> None:
    marked, final = "SELECT S0, 'a S1' -- c", "SELECT 'x', 'a y' -- c"
    tokens = [_tok("SELECT", marked, "SELECT"), _tok("VAR", marked, "S0"), _tok("COMMA", marked, ","),
              Tok("STRING", "a S1", 11, 17, ("c",))]
    places = [("code", 1), ("string", 3)]
    slots, literals = [Slot("x"), Slot("y")], ["'x'", "'y'"]

    def reads(got: list[Tok]) -> bool:
        return sql_binding._reads_as_written(final, got, tokens, places, ["S0", "S1"], slots, literals)

    good = [_tok("SELECT", final, "SELECT"), Tok("STRING", "x", 7, 10, ()), _tok("COMMA", final, ","),
            Tok("STRING", "a y", 12, 17, ("c",))]
    assert reads(good)
    assert not reads(good + [Tok("VAR", "z", 22, 23, ())])
    assert not reads(good[:-1] + [Tok("STRING", "a y", 12, 17, ("other",))])
    assert not reads(good[:-1]) and not reads(good[:1])
    assert not reads([good[0], Tok("STRING", "x", 7, 9, ()), *good[2:]])
    assert not reads(good[:3] + [Tok("STRING", "a z", 12, 17, ("c",))])
    assert not reads(good[:3] + [Tok("IDENTIFIER", "a y", 12, 17, ("c",))])


DUCKDB_PREFIXES = [
    "", "/* ' */ ", "/* \" */ ", "/* ' */ '' AS a, ", "$$'$$ AS a, ", "$t$'$t$ AS a, ", "$_t$'$_t$ AS a, ",
    "$t1$'$t1$ AS a, ", "$t_1$'$t_1$ AS a, ", "$é$'$é$ AS a, ", "$$$$ AS a, ", "E'\\'' AS a, '' AS b, ",
    "E'\\'' AS a, ", "1 AS \"'\", ", "1 AS \"x\"\"'\", ", "-- '\n", "-- '\r", "/* -- */ ", "/* -- ' */ '' AS a, ",
    "'a''b' AS a, ", "/* $$ */ ", "/* $a$ */ 1 AS a, ", "/* $$ ' */ 1 AS a, ", "'\u3000' AS a, ", "/* \u3000 */ ",
    "1 AS \"$$\", ", "1 AS a$$, ", "1 AS a, /* '' */ ", "$t$'$t$ AS a, /* ' */ ", "$\u3000$'$\u3000$ AS a, ",
    "1 AS X, ", "'X' AS a, ", "'a''' AS a, ", "'a''' AS a, /* ' */ ", "$$x$$ AS a, /* ' */ $$z$$ AS c, ",
    "1 AS a$b, /* ' */ ", "$$$$ AS a, /* ' */ ", "$a$$a$ AS a, /* ' */ ", "1 AS \"a\"\"b\", '' AS b, ",
    "/* \" */ 1 AS a, '' AS b, ", "-- ' \n 1 AS a, ", "-- x\n/* ' */ ",
]


@pytest.mark.parametrize("prefix", DUCKDB_PREFIXES)
def test_duckdb_rewrites_what_duckdb_rewrites(prefix: str) -> None:
    """The port of DuckDB's pre-lexer (sql_lexing.duckdb_rewrites) against the installed DuckDB itself:
    after `prefix`, does DuckDB turn the Unicode space inside a literal into an ASCII space?"""
    import duckdb

    sql = f"SELECT {prefix}'A\u3000B' AS v"
    got = duckdb.connect().execute(sql).fetchall()[0][-1]
    assert (got != "A\u3000B") == (sql.index("\u3000B") in duckdb_rewrites(sql))


# --- the pass (compiler/passes/bind_params.py) ------------------------------------------------------
def _diagnostics(steps: str, params: str = "", cli: dict[str, str] | None = None) -> tuple[list, dict]:
    text = f'oml_version: "0.1.0"\nname: p\n{params}steps:\n{steps}'
    result = compile_text(text, "p.yaml", CompileOptions(params=cli or {}, env={}, search_connections=False))
    cfgs = json.loads(result.artifacts.get("cfg.json", b"{}"))
    return [d for d in result.diagnostics if d.severity == "error"], cfgs


DUCK = "  - id: e\n    component: filesystem.csv_extractor\n    config: {path: a.csv}\n" \
       "  - id: t\n    component: duckdb.processor\n    needs: [e]\n    config:\n"


def test_refusals_carry_the_fields_pointer() -> None:
    for query, code in (("SELECT 1 /* ${params.a} */", "OML066"), ("SELECT 'x ${params.a}", "OML067"),
                        ("SELECT ${params.zz}", "OML051"), ("SELECT ${e.df}", "OML052")):
        errors, _ = _diagnostics(DUCK + f"      query: \"{query}\"\n", "params:\n  a: {type: integer, default: 1}\n")
        assert [(d.code, d.pointer) for d in errors] == [(code, "/steps/1/config/query")]


def test_unknown_parameters_are_named_with_a_suggestion() -> None:
    errors, _ = _diagnostics(DUCK + "      query: \"SELECT ${params.a.b}\"\n", "params:\n  alpha: 1\n")
    assert [(d.message, d.help) for d in errors] == [("unknown parameter 'a.b'", "declared: 'alpha'")]
    errors, _ = _diagnostics(DUCK + "      query: \"SELECT ${params.x}\"\n")
    assert [(d.message, d.help) for d in errors] == [("unknown parameter 'x'", "declare it under `params:`")]


def test_a_step_with_an_unbound_value_is_not_checked_further_and_a_bound_one_is() -> None:
    step = "  - id: e\n    component: filesystem.csv_extractor\n    config:\n      path: a.csv\n"
    errors, _ = _diagnostics(step + "      limit: ${params.n}\n", "params:\n  n: {type: integer}\n")
    assert [d.code for d in errors] == ["OML062"]  # no second error about `limit` being text
    errors, _ = _diagnostics(step + "      limit: ${params.n}\n      lmit: 3\n", "params:\n  n: 5\n")
    assert [d.code for d in errors] == ["OML042"]


def test_values_land_where_their_references_are() -> None:
    steps = ("  - id: e\n    component: filesystem.csv_extractor\n    config:\n"
             "      path: out/${params.flag}-${params.n}.csv\n      columns: [a, \"${params.col}\"]\n"
             "  - id: s\n    component: supabase.extractor\n    config:\n      connection: \"@supabase.x\"\n"
             "      table: t\n      filter: {status: \"eq.${params.col}\", n: \"${params.n}\"}\n")
    for flag in ("true", "false"):
        errors, cfgs = _diagnostics(steps, "params:\n  flag: false\n  n: 3\n  col: c\n", {"flag": flag})
        assert errors == []
        assert cfgs["e"]["path"] == f"out/{flag}-3.csv" and cfgs["e"]["columns"] == ["a", "c"]
        assert cfgs["s"]["filter"] == {"status": "eq.c", "n": 3}


def test_an_unknown_component_with_a_reference_is_reported_not_crashed() -> None:
    errors, _ = _diagnostics("  - id: x\n    component: nope.thing\n    config: {query: \"${params.a}\"}\n",
                             "params:\n  a: 1\n")
    assert [d.code for d in errors] == ["OML040"]  # unknown component


def test_duckdb_rewrites_edges() -> None:
    assert duckdb_rewrites("\u3000SELECT 1") == [0] and duckdb_rewrites("SELECT 1") == []
    assert duckdb_rewrites("SELECT '\u3000' , \"\u3000\", $$\u3000$$, $a$\u3000$a$ -- \u3000\n") == []
    assert duckdb_rewrites("SELECT $$ \u3000") == [] and duckdb_rewrites("SELECT ' \u3000") == []
    assert duckdb_rewrites("SELECT 1 AS a$b \u3000") == [16] and duckdb_rewrites("x$1$\u3000") == [4]


@pytest.mark.parametrize(("dialect", "sql", "message"), [
    ("mysql", "SELECT a, b, c, dd, 1 --?, e, ff, g, h",
     "`--` at ' c, dd, 1 --${...}, e, ff' may start a comment on the server"),
    ("mysql", "(SELECT 1 --?, e, f, g, h, i)", "`--` at '(SELECT 1 --${...}, e, f' may start a comment on the server"),
    ("duckdb", "SELECT a, b, c, dd, x'?', e, ff, g, h",
     "a string glued to `x` (\"b, c, dd, x'${...}', e,\") may be a prefixed string with other quoting rules"),
    ("duckdb", "x'?'", "a string glued to `x` (\"x'${...}'\") may be a prefixed string with other quoting rules"),
    ("postgres", "SELECT a, b, c, dd, /*/* */ ?, e, ff */ 1, g, h",
     "the server ends the comment at 'dd, /*/* */ ${...}, e, ff' elsewhere than the tokenizer does"),
])
def test_messages_show_the_sql_around_the_problem(dialect: str, sql: str, message: str) -> None:
    with pytest.raises(BindRefused) as caught:
        bind_sql(sql.split("?"), [Slot("x")], dialect)  # type: ignore[arg-type]
    assert (caught.value.code, str(caught.value)) == ("OML067", message)


def test_more_that_binds_after_lexing() -> None:
    assert bind("mysql", "SELECT 1 # c\r, it's\n, ?", "x") == "SELECT 1 # c\r, it's\n, 'x'"
    assert bind("postgres", "SELECT 1 /* a */ , /* b */ ?, ''", "x") == "SELECT 1 /* a */ , /* b */ 'x', ''"
    assert bind("duckdb", "SELECT 'OSIRISPARAMx0Z ?'", "v") == "SELECT 'OSIRISPARAMx0Z v'"
    assert bind("duckdb", "SELECT 'osirisparam0Z ?'", "v") == "SELECT 'osirisparam0Z v'"


def test_a_reference_inside_an_unexpected_token_names_itself() -> None:
    sql = "SELECT 1, 5"
    tokens = [_tok("SELECT", sql, "SELECT"), _tok("NUMBER", sql, "1"), _tok("COMMA", sql, ","),
              _tok("NUMBER", sql, "5")]
    with pytest.raises(Misplaced) as caught:
        sql_lexing.classify(sql, tokens, [(7, 8), (10, 11)])
    assert caught.value.slot == 0
    sql = "S0, 5"
    with pytest.raises(Misplaced) as caught:
        sql_lexing.classify(sql, [_tok("VAR", sql, "S0"), _tok("COMMA", sql, ","), _tok("NUMBER", sql, "5")],
                            [(0, 2), (4, 5)])
    assert caught.value.slot == 1


def test_duckdb_rewrites_every_space_and_only_quotes_open_strings() -> None:
    assert duckdb_rewrites("SELECT \u3000\u3000 1") == [7, 8]
    assert duckdb_rewrites("SELECT X, \u3000") == [10]


@pytest.mark.parametrize("component", ["duckdb.processor", "postgres.extractor", "mysql.extractor"])
def test_sql_with_only_escaped_references_is_kept_as_written(component: str) -> None:
    """`$${x}` is the text `${x}`: nothing to bind, so nothing is refused (a refusal used to
    point at a reference that does not exist: IndexError, found by the mutation property)."""
    errors, cfg = _compile(component, "\"SELECT '$${x}' AS a\"", "  n: {type: integer, default: 1}", {})
    assert errors == []
    assert json.loads(cfg)["query"] == "SELECT '${x}' AS a"
    errors, cfg = _compile(component, "\"SELECT $${x} AS a\"", "  n: {type: integer, default: 1}", {})
    assert errors == [] and json.loads(cfg)["query"] == "SELECT ${x} AS a"
