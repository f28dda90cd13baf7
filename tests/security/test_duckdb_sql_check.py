"""DuckDB SQL that reaches outside the step's inputs is a compile error (OML082) at the construct.

The compile-time half of the DuckDB sandbox (compiler/checks/duckdb_access.py): every class of
construct is reported at its exact line and column in every YAML scalar style; the same names
inside strings, comments and quoted aliases are not; the cheap scan in front of the tokenizer
never hides a finding; the check agrees with DuckDB itself on generated SQL full of quotes and
comments (whenever DuckDB tries to touch a file, a setting or the environment, the check has
reported it); and every DuckDB table function that takes a path is refused.
"""

from __future__ import annotations

import json
import subprocess
import sys
import unicodedata
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osiris.compiler.api import CompileOptions, compile_text
from osiris.compiler.checks.duckdb_access import (
    UNCHECKABLE,
    _refused_function,
    duckdb_access_problems,
    may_reach_outside,
    scan,
)
from osiris.drivers.common.duckdb_conn import connect
from tests.security.sqlgen import NASTY

REPO = Path(__file__).resolve().parents[2]
OPTIONS = CompileOptions(search_connections=False, env={})

# (SQL, the construct as written in it): one per class the check refuses.
CONSTRUCTS = [
    ("SELECT * FROM read_text('osiris_connections.yaml')", "read_text"),
    ("SELECT * FROM READ_CSV_AUTO('/etc/hostname')", "READ_CSV_AUTO"),
    ("SELECT * FROM main.read_parquet('x.parquet')", "read_parquet"),
    ('SELECT * FROM "read_json"(\'x.json\')', '"read_json"'),
    ("SELECT * FROM parquet_metadata('x.parquet')", "parquet_metadata"),
    ("SELECT * FROM glob('*')", "glob"),
    ("SELECT * FROM sniff_csv('x.csv')", "sniff_csv"),
    ("SELECT * FROM iceberg_scan('s3://b/t')", "iceberg_scan"),
    ("SELECT getenv('HOME') AS h", "getenv"),
    ("SELECT * FROM query('SELECT 1')", "query"),
    ("SELECT * FROM input_df, 'secrets.csv'", "'secrets.csv'"),
    ("FROM 'data.parquet'", "'data.parquet'"),
    ("SELECT * FROM input_df JOIN data.csv USING (id)", "data.csv"),
    ('SELECT * FROM "x.json.gz"', '"x.json.gz"'),
    ("DESCRIBE 'x.csv'", "'x.csv'"),
    ("COPY (SELECT 1) TO 'out.csv'", "COPY"),
    ("EXPLAIN ANALYZE COPY input_df TO 'out.csv'", "COPY"),
    ("ATTACH 'other.duckdb' AS o", "ATTACH"),
    ("DETACH o", "DETACH"),
    ("USE memory", "USE"),
    ("INSTALL httpfs", "INSTALL"),
    ("FORCE INSTALL httpfs", "INSTALL"),
    ("LOAD httpfs", "LOAD"),
    ("EXPORT DATABASE 'dump'", "EXPORT"),
    ("IMPORT DATABASE 'dump'", "IMPORT"),
    ("SET enable_external_access = true", "SET"),
    ("RESET lock_configuration", "RESET"),
    ("PRAGMA enable_profiling", "PRAGMA"),
    ("CALL pragma_version()", "CALL"),
    ("PREPARE p AS SELECT 1", "PREPARE"),
    ("CREATE OR REPLACE PERSISTENT SECRET s (TYPE s3)", "CREATE OR REPLACE PERSISTENT SECRET"),
    ("UPDATE EXTENSIONS", "UPDATE EXTENSIONS"),
]

BENIGN = [
    "SELECT 'read_text(''x'')' AS note, 'COPY' AS c FROM input_df",
    "SELECT a -- read_csv('x.csv'); COPY t TO 'y'\nFROM input_df",
    "SELECT a /* outer /* nested read_text('x') */ still a comment: SET x = 1 */ FROM input_df",
    'SELECT "read_text", "getenv" AS "glob" FROM input_df',
    "SELECT $$ FROM 'x.csv' $$ AS s, $t$read_blob('y')$t$ AS u FROM input_df",
    "SELECT * FROM \"extract-orders\" o JOIN df_customers c USING (customer_id)",
    "SELECT a, 'x' FROM input_df WHERE b IN ('p', 'q') ORDER BY a, 'z'",
    "FROM input_df SELECT a, 'literal'",
    "SELECT x.csv, load, copy FROM input_df AS x",
    "UPDATE t SET secret = 1",
    "CREATE TABLE secret AS SELECT * FROM main.orders; SELECT * FROM secret",
    "WITH read_rows AS (SELECT 1 AS n) SELECT * FROM read_rows",
    "SELECT * FROM input_df USING SAMPLE 10",
    "SELECT * FROM input_df, LATERAL (SELECT 'x.csv' AS f)",
]

STYLES = {
    "block": "      query: |\n        {sql}\n",
    "plain": "      query: {sql}\n",
    "double": "      query: \"{escaped}\"\n",
    "single": "      query: '{single}'\n",
    "folded": "      query: >\n        SELECT 1 AS a;\n        {sql}\n",
}


def _pipeline(query_line: str) -> str:
    return ('oml_version: "0.1.0"\nname: case\nsteps:\n'
            "  - id: extract\n    component: filesystem.csv_extractor\n    config: {path: data/in.csv}\n"
            "  - id: t\n    component: duckdb.processor\n    needs: [extract]\n    config:\n" + query_line)


def _oml082(text: str) -> list[tuple[int, int, str]]:
    result = compile_text(text, "p.yaml", OPTIONS, connections=None)
    return [(d.span.line, d.span.column, d.message) for d in result.diagnostics if d.code == "OML082"]


def _expected(text: str, construct: str, key: str = "query:") -> tuple[int, int]:
    """Where `construct` (or, if YAML escaped its quotes, its bare name) is written in `text`."""
    start = text.index(key) + len(key)
    for needle in (construct, construct.strip("'\"")):
        at = text.find(needle, start)
        if at >= 0:
            line = text.count("\n", 0, at) + 1
            return line, at - (text.rfind("\n", 0, at) + 1) + 1
    raise AssertionError(f"{construct!r} not in the OML text")


@pytest.mark.parametrize("style", sorted(STYLES))
@pytest.mark.parametrize(("sql", "construct"), CONSTRUCTS, ids=[c for _, c in CONSTRUCTS])
def test_each_construct_is_oml082_at_its_line_and_column(sql: str, construct: str, style: str) -> None:
    if style == "plain" and (sql.startswith(("'", '"')) or ": " in sql or " #" in sql):
        pytest.skip("not a plain YAML scalar")
    line = STYLES[style].format(sql=sql, escaped=sql.replace("\\", "\\\\").replace('"', '\\"'),
                                single=sql.replace("'", "''"))
    text = _pipeline(line)
    found = _oml082(text)
    assert len(found) == 1, found
    assert found[0][:2] == _expected(text, construct), (text, found)
    assert f"`{construct}" in found[0][2] or construct.strip("'\"") in found[0][2]


@pytest.mark.parametrize("sql", BENIGN)
def test_names_in_strings_comments_and_aliases_are_not_constructs(sql: str) -> None:
    assert duckdb_access_problems(sql) == []
    assert _oml082(_pipeline("      query: |\n        " + sql.replace("\n", "\n        ") + "\n")) == []


def test_parquet_filter_is_checked_too() -> None:
    text = ('oml_version: "0.1.0"\nname: case\nsteps:\n  - id: p\n    component: filesystem.parquet_extractor\n'
            "    config:\n      path: data/in.parquet\n"
            "      filter: \"amount > 0 AND EXISTS (SELECT 1 FROM read_text('/proc/self/environ'))\"\n")
    assert [(line, column) for line, column, _ in _oml082(text)] == [_expected(text, "read_text", "filter:")]


def _filter(expression: str) -> str:
    return ('oml_version: "0.1.0"\nname: case\nsteps:\n  - id: p\n    component: filesystem.parquet_extractor\n'
            f"    config:\n      path: data/in.parquet\n      filter: {json.dumps(expression)}\n")


@pytest.mark.parametrize("expression", ["load > 0.5", "set = 1 AND copy IS NULL", "use LIKE 'a%'",
                                        "call_count > 3 OR execute"])
def test_a_filter_is_read_where_it_runs_so_columns_may_be_named_like_statements(expression: str) -> None:
    """The driver runs a filter as `SELECT ... WHERE (<filter>)`: a column named `load` at its
    start is not a LOAD statement."""
    assert _oml082(_filter(expression)) == []
    assert duckdb_access_problems(expression, expression=True) == []


def test_a_filter_that_closes_its_expression_is_still_checked() -> None:
    expression = "true); SET threads = 1; SELECT 1 WHERE (true"
    text = _filter(expression)
    assert [(line, column) for line, column, _ in _oml082(text)] == [_expected(text, "SET", "filter:")]
    (problem,) = duckdb_access_problems(expression, expression=True)
    assert expression[problem.start:problem.end] == "SET"


def test_parameter_values_are_checked_where_they_land() -> None:
    """A parameter bound into the SQL is checked as bound (what runs): an identifier parameter
    naming a file, or a string parameter used as a table, is reported at its `${params.x}`."""
    text = ('oml_version: "0.1.0"\nname: case\nparams:\n'
            '  tbl: {type: identifier, default: "secrets.csv"}\n'
            '  long: {type: string, default: "a value long enough to shift every offset after it"}\n'
            "steps:\n  - id: extract\n    component: filesystem.csv_extractor\n    config: {path: data/in.csv}\n"
            "  - id: t\n    component: duckdb.processor\n    needs: [extract]\n    config:\n"
            "      query: |\n        SELECT * FROM ${params.tbl} WHERE a = ${params.long}\n"
            "          UNION ALL SELECT * FROM read_text('x')\n")
    found = [(line, column) for line, column, _ in _oml082(text)]
    assert found == [_expected(text, "${params.tbl}"), _expected(text, "read_text")]


# --- the cheap scan -----------------------------------------------------------------------------------
WORDS = ["SELECT", "FROM", "JOIN", "WHERE", "DESCRIBE", "UPDATE", "USING", "TABLE", "EXPLAIN", "ANALYZE",
         "CREATE", "OR", "REPLACE", "PERSISTENT", "DROP", "AS", "ON", "read_text", "READ_CSV", "parquet_scan",
         "glob", "getenv", "query", "http_get", "x_scan", "sqlite_attach", "COPY", "SET", "LOAD", "USE", "CALL",
         "PRAGMA", "SECRET", "EXTENSIONS", "main", "input_df", "t", "data", "csv", "json", "gz", "x"]
SYMBOLS = ["(", ")", ",", ";", ".", " ", "\n", "'a.csv'", "'x'", '"b.parquet"', '"q"', "$$s$$", "-- c\n",
           "/* c */", "/* a /* b */ */", "`c`", "E'z'", "*", "=", "1"]
GAPS = ["", " ", "\n", "\t", "/* c */", "/**/", "-- c\n", "/* a /* b */ */", "\u200b", "\xa0", "\ufeff", "\x0c"]
KEYWORDS = ["FROM", "JOIN", "DESCRIBE", "SUMMARIZE", "SHOW", "PIVOT", "UNPIVOT", "TABLE", "UPDATE", "INTO",
            "USING", "LATERAL", "ONLY", "FROM t,", "SELECT 1;", "", "EXPLAIN", "EXPLAIN ANALYZE", "CREATE OR REPLACE",
            "DROP", "FORCE", "x ."]
TARGETS = ["'a.csv'", '"b.parquet"', "data.csv", "main.csv", "main . csv", 'main."x"', "read_text(", '"READ_CSV"(',
           "getenv (", "$$x$$", "E'x'", "COPY", "SET", "LOAD", "SECRET", "PERSISTENT SECRET", "EXTENSIONS",
           "glob(", "x_scan(", "`c.csv`", "json", 'main."/x"', '"a"."b.csv"']
sql_texts = st.one_of(
    st.lists(st.sampled_from(WORDS + SYMBOLS + NASTY), max_size=14).map(
        lambda parts: " ".join(parts) if len(parts) % 2 else "".join(parts)),
    st.tuples(st.sampled_from(["", "SELECT * ", "SELECT 1 AS a "]), st.sampled_from(KEYWORDS),
              st.lists(st.sampled_from(GAPS), max_size=3).map("".join), st.sampled_from(TARGETS),
              st.sampled_from(["", " x", ")", " 'y'"])).map("".join),
)
"""Random soup, and a table keyword / statement start, any gap, then a construct."""


@settings(max_examples=1500, deadline=None, derandomize=True, database=None)
@given(sql_texts)
def test_the_cheap_scan_never_hides_a_finding(sql: str) -> None:
    """(SQL the tokenizer cannot read is only reported when the scan saw something to check.)"""
    if [p for p in scan(sql) if p.reason != UNCHECKABLE]:
        assert may_reach_outside(sql), sql


def test_the_cheap_scan_lets_ordinary_queries_skip_the_tokenizer() -> None:
    """The compile benchmark's queries (and queries like them) never import sqlglot."""
    code = (
        "import sys; sys.path.insert(0, 'bench'); from compile import pipeline; "
        "from osiris.compiler.api import CompileOptions, compile_text; "
        "r = compile_text(pipeline(100), 'p.yaml', CompileOptions(search_connections=False, env={})); "
        "print(r.ok, 'sqlglot' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"], out.stdout + out.stderr
    for sql in ("SELECT country, sum(amount) AS total FROM input_df WHERE amount >= 100 GROUP BY country",
                "SELECT o.order_id, c.name FROM o JOIN c ON o.customer_id = c.id ORDER BY o.order_id"):
        assert not may_reach_outside(sql)


# --- agreement with DuckDB --------------------------------------------------------------------------
MARK = "/nonexistent-osiris-duckdb-marker"
ATTACKS = [
    f" , (SELECT count(*) FROM read_text('{MARK}/a')) ",
    f" FROM read_text('{MARK}/b') ",
    f" FROM '{MARK}/c.csv' ",
    f"\n; COPY (SELECT 1) TO '{MARK}/d.csv';\n",
    "\n; SET threads = 1;\n",
    f"\n; EXPLAIN ANALYZE COPY (SELECT 1) TO '{MARK}/i.csv';\n",
    " , getenv('HOME') ",
    f"\n; SELECT * FROM \"{MARK}/e.csv\";\n",
]
junk = st.lists(st.sampled_from(NASTY + ["a", "1", "x", "AS", "'s'", "\"i\"", "$$d$$", "\u200b", "\ufeff"]),
                max_size=6).map("".join)
REACHED = ("Permission Error", "configuration has been locked", "getenv does not exist")


@pytest.fixture(scope="module")
def sandboxed(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    con = connect(tmp_path_factory.mktemp("duckdb"), memory_limit="64MiB")
    yield con
    con.close()


@settings(max_examples=400, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(before=junk, attack=st.sampled_from(ATTACKS), after=junk)
def test_whatever_duckdb_runs_outside_the_inputs_the_check_reported(sandboxed, before: str, attack: str,
                                                                    after: str) -> None:
    """Generated SQL full of quotes and comments, then an attack: if DuckDB's own lexer read the
    attack as code (it tried the file, the setting or the environment), the check found it."""
    sql = "SELECT 1 AS a " + before + attack + after
    try:
        sandboxed.execute(sql)
        sandboxed.fetchall() if sandboxed.description else None
        return
    except duckdb.Error as error:
        message = str(error)
    if any(sign in message for sign in REACHED):
        assert duckdb_access_problems(sql), (sql, message)


def test_the_agreement_test_sees_attacks_as_code_when_nothing_hides_them(sandboxed) -> None:
    """The property above is not vacuous: with no junk, DuckDB reaches for every attack."""
    for attack in ATTACKS:
        with pytest.raises(duckdb.Error) as caught:
            sandboxed.execute("SELECT 1 AS a " + attack)
        assert any(sign in str(caught.value) for sign in REACHED), (attack, caught.value)


SEPARATED = [
    "SELECT * FROM read_text{c}('" + MARK + "/f')",
    "SELECT * FROM{c}'" + MARK + "/g.csv'",
    "SELECT 1;{c}COPY (SELECT 1) TO '" + MARK + "/h.csv'",
    "SELECT 1;{c}SET{c}threads = 1",
    "SELECT getenv{c}('HOME')",
]
ODD_CHARACTERS = [chr(c) for c in range(1, 0x110000)
                  if unicodedata.category(chr(c)) in ("Zs", "Zl", "Zp", "Cf", "Cc") and not 0xD800 <= c <= 0xDFFF]


def test_every_character_duckdb_reads_as_space_separates_for_the_check_too(sandboxed) -> None:
    """DuckDB turns some Unicode spaces (U+00A0, U+200B, U+FEFF...) into spaces before it lexes;
    for every control, format or space character, if DuckDB reads the attack as code, so does
    the check."""
    reached = []
    for c in ODD_CHARACTERS:
        for template in SEPARATED:
            sql = template.replace("{c}", c)
            try:
                sandboxed.execute(sql)
                continue
            except duckdb.Error as error:
                if not any(sign in str(error) for sign in REACHED):
                    continue
            reached.append(c)
            assert duckdb_access_problems(sql), (hex(ord(c)), sql)
    assert {"\u00a0", "\u200b", "\ufeff", "\u3000"} <= set(reached)


# --- coverage of DuckDB's own catalog ---------------------------------------------------------------
PATH_PARAMETERS = {"path", "paths", "file", "files", "pattern", "url", "uri", "save_location", "storage_path",
                   "filename_pattern", "directory"}
JSON_PATHS = {"json_each", "json_tree"}
"""Their `path` is a JSON path inside a value, not a file."""


def test_every_duckdb_table_function_that_takes_a_path_is_refused() -> None:
    """New DuckDB releases add readers; this fails until the check knows each of them."""
    rows = duckdb.connect().sql(
        "SELECT DISTINCT function_name, parameters FROM duckdb_functions() "
        "WHERE function_type IN ('table', 'table_macro')").fetchall()
    takes_path = sorted({name for name, parameters in rows
                         if PATH_PARAMETERS & {str(p).lower() for p in parameters or []}} - JSON_PATHS)
    assert "read_text" in takes_path and "glob" in takes_path
    missing = [name for name in takes_path if not _refused_function(name.lower())]
    assert not missing, missing
    for name in takes_path:
        assert duckdb_access_problems(f"SELECT * FROM {name}('x')"), name

