"""Parameters inside SQL are bound as typed literals and cannot inject SQL."""

from __future__ import annotations

import pytest

from compiler.api import CompileOptions, compile_text
from compiler.sql_binding import UnsafeValue, context_after, sql_literal


@pytest.mark.parametrize(("value", "expected"), [
    (42, "42"), (-1.5, "(-1.5)"), (-7, "(-7)"), (True, "TRUE"), (None, "NULL"),
    ("O'Hara", "'O''Hara'"), ("x'; DROP TABLE t; --", "'x''; DROP TABLE t; --'"),
])
def test_literals_outside_quotes(value: object, expected: str) -> None:
    assert sql_literal(value, "code") == expected


def test_mysql_doubles_backslashes_so_a_quote_cannot_be_escaped() -> None:
    assert sql_literal("\\' OR 1=1 --", "code", "mysql") == "'\\\\'' OR 1=1 --'"
    assert sql_literal("a\\b", "string", "ansi") == "a\\b"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "nul\x00byte", [1], {"a": 1}])
def test_values_without_a_literal_form_are_rejected(value: object) -> None:
    with pytest.raises(UnsafeValue):
        sql_literal(value, "code")


@pytest.mark.parametrize(("sql", "context"), [
    ("SELECT ", "code"), ("WHERE a = '", "string"), ("WHERE a = 'it''s ", "string"),
    ('SELECT "', "identifier"), ("SELECT 1 -- ", "comment"), ("SELECT 1 -- c\n", "code"),
    ("/* ", "comment"), ("/* x */ ", "code"), ("SELECT `", "identifier"),
])
def test_lexical_context(sql: str, context: str) -> None:
    assert context_after(sql) == context


def _compile_query(query: str, params: str, cli: dict[str, str]) -> tuple[object, str]:
    text = f"""oml_version: "0.1.0"
name: p
params:
{params}
steps:
  - id: e
    component: filesystem.csv_extractor
    config: {{path: a.csv}}
  - id: t
    component: duckdb.processor
    needs: [e]
    config:
      query: "{query}"
"""
    result = compile_text(text, "p.yaml", CompileOptions(params=cli, env={}, search_connections=False))
    cfg = result.artifacts.get("cfg/t.json", b"").decode()
    return result, cfg


def test_injection_attempt_through_cli_param_stays_a_string() -> None:
    result, cfg = _compile_query("SELECT * FROM input_df WHERE name = ${params.name}",
                                 "  name: {type: string, default: x}", {"name": "x' OR '1'='1"})
    assert result.ok
    assert "name = 'x'' OR ''1''=''1'" in cfg


def test_integer_param_is_bound_unquoted_and_validated() -> None:
    result, cfg = _compile_query("SELECT * FROM input_df LIMIT ${params.n}",
                                 "  n: {type: integer, default: 5}", {"n": "7"})
    assert "LIMIT 7" in cfg
    bad, _ = _compile_query("SELECT * FROM input_df LIMIT ${params.n}",
                            "  n: {type: integer, default: 5}", {"n": "7; DROP TABLE x"})
    assert not bad.ok and any(d.code == "OML061" for d in bad.diagnostics)


def test_a_negative_number_after_a_minus_cannot_start_a_comment() -> None:
    result, cfg = _compile_query("SELECT * FROM input_df WHERE a = 1 -${params.n} AND tenant = 7",
                                 "  n: {type: integer, default: 1}", {"n": "-5"})
    assert result.ok
    assert "a = 1 -(-5) AND tenant = 7" in cfg and "--" not in cfg


def test_context_is_carried_across_several_references() -> None:
    result, cfg = _compile_query("SELECT '${params.a}' AS x, ${params.a} AS y FROM input_df",
                                 "  a: {type: string, default: \"it's\"}", {})
    assert result.ok
    assert "SELECT 'it''s' AS x, 'it''s' AS y" in cfg


def test_reference_inside_quotes_is_escaped_without_new_quotes() -> None:
    result, cfg = _compile_query("SELECT * FROM input_df WHERE name LIKE '%${params.p}%'",
                                 "  p: {type: string, default: x}", {"p": "a'b"})
    assert "LIKE '%a''b%'" in cfg


def test_reference_in_a_comment_is_rejected() -> None:
    result, _ = _compile_query("SELECT 1 -- ${params.p}", "  p: {type: string, default: x}", {})
    assert [d.code for d in result.diagnostics] == ["OML066"]
