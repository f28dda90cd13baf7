"""DuckDB SQL may read only the step's inputs: the compile-time half of the DuckDB sandbox (OML082).

OML is untrusted, and DuckDB SQL can reach far beyond a step's inputs: table functions read
files and URLs (`read_text('osiris_connections.yaml')`), a string or a file-like name used as
a table is read as a file (`FROM 'x.csv'`, `FROM data.csv`), and statements copy, attach,
install, load or reconfigure (`COPY`, `ATTACH`, `LOAD`, `SET`). The runtime refuses all of it
anyway (drivers/common/duckdb_conn.py: external access off, configuration locked), because a
manifest from elsewhere never passed this check; this check makes the mistake a compile error
at the construct's line and column instead of a failed run.

`duckdb_access_problems(sql)` is the plain function (manifest verification calls it too). It
reads the SQL with sqlglot's DuckDB tokenizer, so only code counts: a name inside a string, a
comment or a quoted alias is not a call. sqlglot costs ~80 ms to import, so a cheap scan of
the raw text (`may_reach_outside`) goes first and the tokenizer runs only when it hits; the scan
over-approximates the tokenizer's findings (tests/security/test_duckdb_sql_check.py checks that
on generated SQL, and checks the tokenizer against DuckDB's own behaviour).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from osiris.compiler.sql_lexing import DUCKDB_SPACES
from osiris.oml.diagnostics import Diagnostics
from osiris.oml.ir import Pipeline, Step
from osiris.oml.pointer import join
from osiris.spec.models import ComponentSpec

if TYPE_CHECKING:
    from sqlglot.tokens import Token, Tokenizer

__all__ = ["HINT", "UNCHECKABLE", "AccessProblem", "check_duckdb_access", "duckdb_access_problems", "duckdb_sql_fields",
           "may_reach_outside"]

HINT = ("a DuckDB step reads only its inputs, by name (e.g. `FROM input_df`): read files with an "
        "extractor step (filesystem.csv_extractor, filesystem.parquet_extractor) and pass its output "
        "in `needs` or `inputs`; settings such as memory_limit and threads are step config keys")


UNCHECKABLE = "cannot be checked: a string, quoted name or comment in this SQL is not closed"
"""The reason given when the tokenizer cannot read SQL in which the cheap scan saw something."""


@dataclass(frozen=True, slots=True)
class AccessProblem:
    """One construct that reaches outside the inputs; `start`/`end` are offsets into the SQL."""

    start: int
    end: int
    construct: str
    """How the construct is written, e.g. `read_text(`, `COPY`, `'data.csv'`."""
    reason: str

    @property
    def message(self) -> str:
        return f"`{self.construct}` {self.reason}; DuckDB SQL may read only the step's inputs"


# --- what is refused -------------------------------------------------------------------------------
_FILE = "reads files or URLs"
_FUNCTIONS: dict[str, str] = {
    "glob": "lists files",
    "sniff_csv": _FILE,
    "getenv": "reads the environment (where secrets live)",
    "query": "runs SQL text this check cannot see",
    "query_table": "reads tables by a name given as text (a file name reads the file)",
    "json_execute_serialized_sql": "runs SQL text this check cannot see",
    "enable_profiling": "writes files and changes settings",
    "enable_logging": "writes files and changes settings",
    "which_secret": "reads secrets",
    "duckdb_secrets": "reads secrets",
    "load_aws_credentials": "reads credentials",
    "add_grammar_extension": "changes the SQL grammar",
    "remove_grammar_extension": "changes the SQL grammar",
    "python_map_function": "reaches DuckDB's internals",
}
"""Functions refused by name (any case, quoted or not: DuckDB matches names case-insensitively)."""
_PREFIXES: tuple[tuple[str, str], ...] = (
    ("read_", _FILE), ("parquet_", _FILE), ("iceberg_", _FILE), ("delta_", _FILE), ("st_read", _FILE),
    ("sqlite_", "opens database files"), ("postgres_", "connects to servers"), ("mysql_", "connects to servers"),
    ("odbc_", "connects to servers"), ("ducklake_", "opens databases"), ("http_", "reaches URLs"),
    ("lance_", _FILE), ("vortex_", _FILE),
)
_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("_scan", "reads files or DuckDB's internals"), ("_attach", "opens database files"),
    ("_external_resource", "reaches outside DuckDB"), ("_external_resource_type", "reaches outside DuckDB"),
)
_STATEMENTS: dict[str, str] = {
    "COPY": "reads or writes files",
    "ATTACH": "opens a database file",
    "DETACH": "changes the attached databases",
    "USE": "changes the attached databases",
    "INSTALL": "installs DuckDB extensions",
    "LOAD": "loads DuckDB extensions",
    "EXPORT": "writes files",
    "IMPORT": "reads files",
    "SET": "changes DuckDB's settings",
    "RESET": "changes DuckDB's settings",
    "PRAGMA": "changes DuckDB's settings",
    "CALL": "runs a DuckDB procedure",
    "PREPARE": "runs SQL text this check cannot see",
    "EXECUTE": "runs SQL text this check cannot see",
}
"""Statements refused by their first word (after any EXPLAIN [ANALYZE] or FORCE)."""
_STATEMENT_PREFIXES = frozenset({"EXPLAIN", "ANALYZE", "ANALYSE", "FORCE"})
_OBJECT_STATEMENTS = frozenset({"CREATE", "DROP", "UPDATE"})
_OBJECT_MODIFIERS = frozenset({"OR", "REPLACE", "PERSISTENT", "TEMPORARY", "TEMP"})
_OBJECTS = {"SECRET": "manages secrets", "EXTENSION": "manages DuckDB extensions",
            "EXTENSIONS": "updates DuckDB extensions"}
"""`CREATE [OR REPLACE] [PERSISTENT|TEMPORARY] SECRET`, `DROP ... SECRET`, `CREATE EXTENSION
REPOSITORY` and `UPDATE EXTENSIONS` are refused; other CREATE, DROP and UPDATE statements only
touch the in-memory database."""

_TABLE_KEYWORDS = frozenset({
    "FROM", "JOIN", "DESCRIBE", "SUMMARIZE", "SHOW", "PIVOT", "UNPIVOT", "PIVOT_WIDER",
    "PIVOT_LONGER", "TABLE", "UPDATE", "INTO", "USING", "LATERAL", "ONLY",
})
"""Words after which a table reference stands (a comma continues a FROM list)."""
_CLAUSE_ENDS = frozenset({
    "SELECT", "WHERE", "GROUP", "HAVING", "ORDER", "LIMIT", "OFFSET", "QUALIFY", "WINDOW", "UNION",
    "EXCEPT", "INTERSECT", "VALUES", "SET", "RETURNING", "SAMPLE", "TABLESAMPLE",
})
"""Words that end a FROM list, so a comma after them is not between tables."""
FILE_EXTENSIONS = frozenset({
    "csv", "tsv", "txt", "tbl", "dat", "parquet", "parq", "pq", "json", "jsonl", "ndjson", "geojson",
    "arrow", "ipc", "feather", "avro", "orc", "xlsx", "xls", "db", "duckdb", "ddb", "sqlite", "sqlite3",
    "shp", "gpkg", "fgb", "kml", "gz", "gzip", "zst", "zstd", "bz2", "xz", "lz4", "blob", "vortex", "lance",
})
"""Name parts that make DuckDB resolve a table name as a file (`FROM data.csv`, `FROM "x.json.gz"`)."""
_PATH_CHARACTERS = re.compile(r"[/\\:*?\[\]{}~%]")

# --- the cheap scan ---------------------------------------------------------------------------------
_WORD_RUNS = re.compile(r"[a-z0-9_]+")
"""ASCII runs of identifier characters: every DuckDB name or keyword contains its own spelling as
one such run (DuckDB names may add `$` or non-ASCII characters, which only split runs further)."""
_EXACT = frozenset({*_FUNCTIONS, *(w.lower() for w in (*_STATEMENTS, *_OBJECTS))})
_NAME_PREFIXES = tuple(p for p, _ in _PREFIXES)
_NAME_SUFFIXES = tuple(s for s, _ in _SUFFIXES)
_QUOTES = ("'", '"', "`", "$")
_TABLE_QUOTE_HITS = re.compile(r"(?:\b(?:" + "|".join(sorted(k.lower() for k in _TABLE_KEYWORDS))
                               + r")\b|,|\.)\s*[a-z]?&?['\"`$]")
"""A quote right after a table keyword, a comma or a dot (a string or quoted name as a table)."""


def _as_duckdb_reads(sql: str) -> str:
    """DuckDB's parser turns some Unicode spaces into spaces before it lexes (`read_text` + U+200B
    + `(` is a call), so the check does too, one character for one (offsets stay put): Python's
    regular expressions and sqlglot do not all see a space there."""
    return DUCKDB_SPACES.sub(" ", sql) if DUCKDB_SPACES.search(sql) else sql


def may_reach_outside(sql: str) -> bool:
    """False only if `duckdb_access_problems` would find nothing (no tokenizer needed).

    Any comment (it can stand between what the other rules expect side by side), a quote right
    after a table keyword, a comma or a dot, a refused name or statement word, or a file
    extension in SQL that has a dot sends the SQL to the tokenizer. A few microseconds: the
    compile benchmark's queries all take this path.
    """
    low = _as_duckdb_reads(sql).lower()
    if "--" in low or "/*" in low:
        return True
    if any(quote in low for quote in _QUOTES) and _TABLE_QUOTE_HITS.search(low):
        return True
    words = {word.lstrip("0123456789") for word in _WORD_RUNS.findall(low)}
    return bool(words & _EXACT or ("." in low and words & FILE_EXTENSIONS)
                or any(word.startswith(_NAME_PREFIXES) or word.endswith(_NAME_SUFFIXES) for word in words))


def duckdb_access_problems(sql: str, *, expression: bool = False) -> list[AccessProblem]:
    """Every construct in `sql` that reaches outside the step's inputs, in order of position.

    `expression`: `sql` is an expression the runtime wraps in a query (a Parquet `filter`, run as
    `SELECT ... WHERE (<filter>)`), so it is read in that place: a column named `load` or `set` at
    its start is not a statement, while `x); SET ...` still is.
    """
    if not may_reach_outside(sql):
        return []
    if not expression:
        return scan(sql)
    shift = len(_EXPRESSION_PREFIX)
    found = scan(_EXPRESSION_PREFIX + sql + ")")
    if found and found[0].reason == UNCHECKABLE:
        return scan(sql)[:1]  # reported on the expression itself
    return [replace(p, start=p.start - shift, end=p.end - shift) for p in found]


_EXPRESSION_PREFIX = "SELECT 1 WHERE ("


def duckdb_sql_fields(spec: ComponentSpec) -> dict[str, bool]:
    """The component's DuckDB SQL config keys (`x-sql: duckdb`) -> whether each is an expression
    (`x-sql-expression: true`), i.e. how to call `duckdb_access_problems` on its value."""
    return {key: bool(spec.properties[key].get("x-sql-expression"))
            for key, dialect in spec.sql_dialects().items() if dialect == "duckdb"}


# --- the tokenizer pass ------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _tokenizer() -> Tokenizer:
    from sqlglot.dialects.duckdb import DuckDB

    class _Tokenizer(DuckDB.Tokenizer):  # type: ignore[misc,name-defined]
        COMMANDS = set()  # noqa: RUF012 - sqlglot folds what follows EXPLAIN, CALL... into one string; keep it code

    return _Tokenizer()


def scan(sql: str) -> list[AccessProblem]:
    """`duckdb_access_problems` without the cheap scan in front (tests compare the two)."""
    from sqlglot.errors import TokenError

    try:
        tokens = _tokenizer().tokenize(_as_duckdb_reads(sql))
    except TokenError:
        first = sql.lstrip()[:40].split("\n")[0]
        return [AccessProblem(0, len(sql) - len(sql.lstrip()) + len(first), first, UNCHECKABLE)]
    problems: list[AccessProblem] = []
    _statements(sql, tokens, problems)
    _calls(sql, tokens, problems)
    _tables(sql, tokens, problems)
    return sorted(set(problems), key=lambda p: (p.start, p.end, p.construct))


_STRINGS = frozenset({"STRING", "HEREDOC_STRING", "BYTE_STRING", "NATIONAL_STRING", "RAW_STRING", "HEX_STRING",
                      "BIT_STRING", "UNICODE_STRING"})
"""sqlglot's token types for string literals of every kind ('...', $$...$$, E'...', N'...')."""
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*(?: [A-Za-z_]+)*")
"""A keyword or bare name (sqlglot spells some keywords as two words, e.g. `GROUP BY`)."""


def _kind(token: Token) -> str:
    """'string', 'quoted' (a "quoted" name), 'word' (a keyword or bare name), or 'other'."""
    name = token.token_type.name
    if name in _STRINGS:
        return "string"
    if name == "IDENTIFIER":
        return "quoted"
    if name == "NUMBER":
        return "other"
    return "word" if _WORD.fullmatch(token.text) else "other"


def _raw(sql: str, token: Token) -> str:
    return sql[token.start:token.end + 1]


def _statements(sql: str, tokens: list[Token], out: list[AccessProblem]) -> None:
    at_start = True
    for i, token in enumerate(tokens):
        if token.token_type.name == "SEMICOLON":
            at_start = True
            continue
        if not at_start:
            continue
        word = _word(token)
        if word in _STATEMENT_PREFIXES:
            continue
        at_start = False
        if word in _STATEMENTS:
            out.append(AccessProblem(token.start, token.end + 1, _raw(sql, token), _STATEMENTS[word]))
        elif word in _OBJECT_STATEMENTS:
            j = i + 1
            while j < len(tokens) and _word(tokens[j]) in _OBJECT_MODIFIERS:
                j += 1
            target = _word(tokens[j]) if j < len(tokens) else ""
            if target in _OBJECTS:
                end = tokens[j].end + 1
                out.append(AccessProblem(token.start, end, sql[token.start:end], _OBJECTS[target]))


def _word(token: Token) -> str:
    """The upper-case keyword or bare name `token` spells ('' for strings, quoted names, symbols)."""
    return token.text.upper() if _kind(token) == "word" else ""


def _calls(sql: str, tokens: list[Token], out: list[AccessProblem]) -> None:
    for token, after in zip(tokens, tokens[1:], strict=False):
        if after.token_type.name != "L_PAREN" or _kind(token) not in ("word", "quoted"):
            continue
        reason = _refused_function(token.text.lower())
        if reason:
            out.append(AccessProblem(token.start, token.end + 1, _raw(sql, token) + "(", reason))


def _refused_function(name: str) -> str | None:
    if name in _FUNCTIONS:
        return _FUNCTIONS[name]
    for prefix, reason in _PREFIXES:
        if name.startswith(prefix):
            return reason
    for suffix, reason in _SUFFIXES:
        if name.endswith(suffix):
            return reason
    return None


def _tables(sql: str, tokens: list[Token], out: list[AccessProblem]) -> None:
    """Strings and file-like names where a table reference stands."""
    depth = 0
    from_lists: set[int] = set()  # paren depths whose FROM list is open (a comma adds a table)
    expect = False
    for i, token in enumerate(tokens):
        kind = _kind(token)
        name = token.token_type.name
        if expect:
            expect = False
            if kind == "string":
                out.append(AccessProblem(token.start, token.end + 1, _raw(sql, token),
                                         "is read as a file when used as a table"))
            elif kind == "quoted" or kind == "word" and _word(token) not in _TABLE_KEYWORDS | _CLAUSE_ENDS:
                _check_table_name(sql, tokens, i, out)
        if name == "L_PAREN":
            depth += 1
        elif name == "R_PAREN":
            from_lists.discard(depth)
            depth = max(0, depth - 1)
        elif name == "SEMICOLON":
            from_lists.clear()
            depth = 0
        elif name == "COMMA" and depth in from_lists:
            expect = True
        elif kind == "word":
            word = token.text.upper().split(" ")[0]
            if word in _TABLE_KEYWORDS:
                expect = True
                if word in ("FROM", "JOIN", "USING"):
                    from_lists.add(depth)
            elif word in _CLAUSE_ENDS:
                from_lists.discard(depth)


def _check_table_name(sql: str, tokens: list[Token], i: int, out: list[AccessProblem]) -> None:
    """`tokens[i]` starts a (possibly dotted) table name; flag it if DuckDB could read it as a file."""
    parts = [tokens[i]]
    j = i + 1
    while j + 1 < len(tokens) and tokens[j].token_type.name == "DOT" and _kind(tokens[j + 1]) in ("word", "quoted"):
        parts.append(tokens[j + 1])
        j += 2
    if j < len(tokens) and tokens[j].token_type.name == "L_PAREN":
        return  # a table function: _calls judges it
    segments = ".".join(part.text for part in parts).split(".")
    path_like = any(_kind(part) == "quoted" and _PATH_CHARACTERS.search(part.text) for part in parts)
    if path_like or any(segment.lower() in FILE_EXTENSIONS for segment in segments[1:]):
        start, end = parts[0].start, parts[-1].end + 1
        out.append(AccessProblem(start, end, sql[start:end], "is read as a file when used as a table"))


# --- the compile pass: problems as OML082 at the construct's line and column -----------------------
def check_duckdb_access(step: Step, spec: ComponentSpec, config: dict[str, Any], pipeline: Pipeline,
                        d: Diagnostics) -> bool:
    """OML082 for each construct in the step's DuckDB SQL fields (`x-sql: duckdb`); True when none."""
    ok = True
    for key, expression in duckdb_sql_fields(spec).items():
        sql = config.get(key)
        original = next((old for old, new in spec.renamed.items() if new == key and old in step.config), key)
        pointer = join(step.pointer, "config", original)
        if not isinstance(sql, str) or pointer in step.unbound:  # a parameter problem was reported
            continue
        problems = duckdb_access_problems(sql, expression=expression)
        if not problems:
            continue
        ok = False
        from osiris.compiler.checks.sql_spans import bound_sql_span  # only when there is something to point at

        expr = next((e for e in step.exprs if e.path == (original,)), None)
        for problem in problems:
            at = bound_sql_span(pipeline, pointer, expr, sql, problem.start, problem.end)
            d.add("OML082", at, problem.message, help=HINT, pointer=pointer)
    return ok
