"""The SQL binder per dialect: where a reference may stand, the literal it becomes, and what is
refused (OML066: this reference; OML067: SQL whose reading the binder cannot vouch for)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from compiler import sql_binding
from compiler.api import CompileOptions, compile_text
from compiler.sql_binding import BindRefused, Slot, bind_sql
from compiler.sql_lexing import duckdb_rewrites
from compiler.sql_literals import UnsafeValue, code_literal, decode_literal, escape_in_string, same_value
from spec.registry import default_registry


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
        from compiler.sql_binding import Slot, bind_sql
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
        spec.model_copy(update={"config_schema": schema}).sql_dialects()


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
    return errors, result.artifacts.get("cfg/t.json", b"").decode()


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
