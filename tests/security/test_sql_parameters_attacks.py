"""The issue's attacks, performed for real: a parameter value placed after SQL the old quote
tracker misread (MySQL `\\'`, `#` and `/*! */`; PostgreSQL `E'\\''`, `$$`, `$tag$`; DuckDB dollar
quotes) tried to read another table, the current user or a local file. Each pipeline is
compiled with the real compiler and component spec and run through the real driver on the real
server: it is refused at compile time (OML066/OML067), or the value arrives as exactly itself.
"""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pyarrow as pa
import pymysql
import pytest

from osiris.drivers.duckdb_sql.processor import DuckDBProcessor
from osiris.drivers.mysql.extractor import MySQLExtractor
from osiris.drivers.postgres.extractor import PostgresExtractor
from osiris.runtime.driver import ResolvedConnection
from osiris.runtime.testing import RecordingContext, ipc_input
from tests.security.sqlparams import REFUSALS, compile_sql

SECRET = "s3cr3t-token-4f1c"
UNION = "x' OR true UNION SELECT token FROM secrets -- "
"""What the old binder let through as code: rows of another table."""


@pytest.fixture(scope="module")
def maria(mysql_db: dict) -> ResolvedConnection:
    conn = pymysql.connect(**{k: mysql_db[k] for k in ("host", "port", "user", "password", "database")},
                           autocommit=True)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE users (id INT PRIMARY KEY, name VARCHAR(100)) CHARACTER SET utf8mb4")
        cur.execute("INSERT INTO users VALUES (1, 'ada'), (2, 'it''s')")
        cur.execute("CREATE TABLE secrets (token VARCHAR(100))")
        cur.execute("INSERT INTO secrets VALUES (%s)", (SECRET,))
    conn.close()
    fields = {k: mysql_db[k] for k in ("host", "port", "user", "password", "database")}
    return ResolvedConnection("mysql", "db", fields, frozenset({"password"}))


@pytest.fixture(scope="module")
def pg(postgres_db: dict) -> ResolvedConnection:
    with psycopg.connect(postgres_db["dsn"], autocommit=True) as conn:
        conn.execute("CREATE TABLE users (id int PRIMARY KEY, name text)")
        conn.execute("INSERT INTO users VALUES (1, 'ada'), (2, 'it''s')")
        conn.execute("CREATE TABLE secrets (token text)")
        conn.execute("INSERT INTO secrets VALUES (%s)", (SECRET,))
        # The driver must pin standard_conforming_strings itself: the database says off.
        conn.execute(f'ALTER DATABASE "{postgres_db["database"]}" SET standard_conforming_strings = off')
    return ResolvedConnection("postgres", "db", {"dsn": postgres_db["dsn"]}, frozenset({"dsn"}))


def _rows(table: pa.Table) -> list[dict[str, Any]]:
    return table.to_pylist()


def _run(dialect: str, sql: str, connection: ResolvedConnection | None, tmp_path, **extra: Any) -> list[dict]:
    if dialect == "duckdb":
        users = pa.table({"id": [1, 2], "name": ["ada", "it's"]})
        inputs = {"users": ipc_input("users", users, tmp_path)}
        ctx = RecordingContext(config={"query": sql}, work_dir=tmp_path, mode="transform",
                               component="duckdb.processor")
        return _rows(DuckDBProcessor().transform(ctx, inputs).read_all())
    config = {"query": sql, **extra}
    ctx = RecordingContext(config=config, connection=connection, component=f"{dialect}.extractor")
    extractor = MySQLExtractor() if dialect == "mysql" else PostgresExtractor()
    return _rows(extractor.extract(ctx).read_all())


def _attack(dialect: str, query: str, value: str, connection, tmp_path, **extra: Any) -> list[dict] | None:
    """Compile with `--param who=<value>`; None when refused, else the rows the driver returned."""
    compiled = compile_sql(dialect, query, {"who": value})
    if compiled.codes:  # DuckDB's own access check (OML082) may refuse the same SQL as well
        assert compiled.refused and set(compiled.codes) <= REFUSALS | {"OML082"}, compiled
        return None
    assert compiled.sql is not None
    rows = _run(dialect, compiled.sql, connection, tmp_path, **extra)
    assert SECRET not in json.dumps(rows, default=str), f"{dialect} leaked a secret: {compiled.sql!r} -> {rows}"
    return rows


MYSQL_PREFIXES = [
    "SELECT 'it\\'s' AS a, {ref} AS v",
    "SELECT \"it\\\"s\" AS a, {ref} AS v",
    "SELECT 'a\\\\' AS a, {ref} AS v",
    "SELECT 1 AS a # it's a comment\n, {ref} AS v",
    "SELECT 1 AS a -- it's a comment\n, {ref} AS v",
    "SELECT 1 AS a /* it's */, {ref} AS v",
    "SELECT `it's` AS a, {ref} AS v FROM (SELECT 1 AS `it's`) AS t",
]


@pytest.mark.mysql
@pytest.mark.parametrize("fetch_mode", ["auto", "stream"])
@pytest.mark.parametrize("query", MYSQL_PREFIXES)
@pytest.mark.parametrize("value", [UNION, "name OR true UNION SELECT CURRENT_USER()",
                                   "\\' OR 1=1 UNION SELECT CURRENT_USER() -- ", "\\", "'; -- \n#", "é😀"])
def test_mariadb_gets_the_value_after_backslash_quotes_and_comments(maria, tmp_path, fetch_mode, query, value):
    rows = _attack("mysql", query.format(ref="${params.who}"), value, maria, tmp_path, fetch_mode=fetch_mode)
    assert rows is not None and [r["v"] for r in rows] == [value]


@pytest.mark.mysql
@pytest.mark.parametrize("query", [
    "SELECT name FROM users WHERE name = 'it\\'s' OR name = {ref}",
    "SELECT name FROM users # it's\nWHERE name = {ref}",
    "SELECT name FROM users WHERE name = '{ref}'",
    "SELECT name FROM users WHERE name LIKE '%{ref}%' AND id > 1 -- it's",
])
def test_mariadb_filters_never_read_another_table(maria, tmp_path, query):
    for value in (UNION, "x\\' OR true UNION SELECT token FROM secrets -- ", "\\"):
        rows = _attack("mysql", query.format(ref="${params.who}"), value, maria, tmp_path)
        assert rows is not None and all(r["name"] in ("it's",) for r in rows)


@pytest.mark.mysql
@pytest.mark.parametrize("query", [
    "SELECT name FROM users /*! WHERE 1 */ WHERE name = {ref}",
    "SELECT name FROM users /*M! WHERE 1 */ WHERE name = {ref}",
    "SELECT /*+ MAX_EXECUTION_TIME(1) */ name FROM users WHERE name = {ref}",
    "SELECT name FROM users WHERE id = 1 --{ref}",
    "SELECT name FROM users WHERE name = \"{ref}\"",
    "SELECT name FROM users # {ref}\n",
])
def test_mariadb_constructs_the_binder_cannot_vouch_for_are_refused(maria, tmp_path, query):
    assert _attack("mysql", query.format(ref="${params.who}"), UNION, maria, tmp_path) is None


PG_PREFIXES = [
    "SELECT E'it\\'s' AS a, {ref} AS v",
    "SELECT $$it's$$ AS a, {ref} AS v",
    "SELECT $t$ $$ it's $t$ AS a, {ref} AS v",
    "SELECT 'a\\' AS a, {ref} AS v",
    "SELECT 1 AS a /* it's /* nested */ it's */, {ref} AS v",
    "SELECT U&'it''s' AS a, {ref} AS v",
    "SELECT '{ref}' AS v",
]


@pytest.mark.postgres
@pytest.mark.parametrize("query", PG_PREFIXES)
@pytest.mark.parametrize("value", [UNION, "x\\' OR true UNION SELECT token FROM secrets -- ", "\\", "a\\'b",
                                   "$$ || (SELECT token FROM secrets) || $$", "é😀"])
def test_postgres_gets_the_value_after_e_strings_dollar_quotes_and_comments(pg, tmp_path, query, value):
    rows = _attack("postgres", query.format(ref="${params.who}"), value, pg, tmp_path)
    assert rows is not None and [r["v"] for r in rows] == [value]


@pytest.mark.postgres
@pytest.mark.parametrize("query", [
    "SELECT name FROM users WHERE name = E'it\\'s' OR name = {ref}",
    "SELECT name FROM users WHERE name = $$it's$$ OR name = {ref}",
    "SELECT name FROM users WHERE name = $q$it's$q$ OR name = {ref}",
    "SELECT name FROM users WHERE name = 'it''s' AND name <> '{ref}'",
])
def test_postgres_filters_never_read_another_table(pg, tmp_path, query):
    for value in (UNION, "x\\' OR true UNION SELECT token FROM secrets -- "):
        rows = _attack("postgres", query.format(ref="${params.who}"), value, pg, tmp_path)
        assert rows is not None and all(r["name"] == "it's" for r in rows)


@pytest.mark.postgres
@pytest.mark.parametrize("query", [
    "SELECT name FROM users WHERE name = E'{ref}'",
    "SELECT name FROM users WHERE name = $${ref}$$",
    "SELECT name FROM users WHERE name = $t$ {ref} $t$",
    "SELECT name FROM users WHERE name = 'it\\'s' OR name = {ref}",
    "SELECT name FROM users WHERE name = E'x'\n'{ref}'",
    "SELECT name FROM users /*/* */ WHERE name = {ref} */",
    "SELECT name FROM users WHERE name = U&'{ref}'",
])
def test_postgres_constructs_the_binder_cannot_vouch_for_are_refused(pg, tmp_path, query):
    assert _attack("postgres", query.format(ref="${params.who}"), UNION, pg, tmp_path) is None


@pytest.mark.parametrize("query", [
    "SELECT $$it's$$ AS a, {ref} AS v FROM users LIMIT 1",
    "SELECT $f$/etc/hostname$f$ AS a, {ref} AS v FROM users LIMIT 1",
    "SELECT E'it\\'s' AS a, {ref} AS v FROM users LIMIT 1",
    "SELECT 1 AS a /* it's /* nested */ it's */, {ref} AS v FROM users LIMIT 1",
])
@pytest.mark.parametrize("value", ["x' UNION SELECT read_text('/etc/hostname'), 1 --",
                                   "$$) || read_text('/etc/hostname') || ($$", "\\", "é😀"])
def test_duckdb_gets_the_value_after_dollar_quotes(tmp_path, query, value):
    rows = _attack("duckdb", query.format(ref="${params.who}"), value, None, tmp_path)
    assert rows is not None and [r["v"] for r in rows] == [value]


@pytest.mark.parametrize("query", [
    "SELECT read_text($${ref}$$) AS v",
    "SELECT name FROM users WHERE name = $q$ {ref} $q$",
    "SELECT name FROM users WHERE name = x'{ref}'",
])
def test_duckdb_constructs_the_binder_cannot_vouch_for_are_refused(tmp_path, query):
    assert _attack("duckdb", query.format(ref="${params.who}"), "/etc/hostname", None, tmp_path) is None


@pytest.mark.mysql
@pytest.mark.parametrize("hostile", ["ANSI_QUOTES", "NO_BACKSLASH_ESCAPES", "ANSI,NO_BACKSLASH_ESCAPES", "ORACLE",
                                     "POSTGRESQL", "MSSQL", "DB2", "MAXDB", "ANSI_QUOTES,STRICT_ALL_TABLES"])
def test_mariadb_sessions_lex_as_the_compiler_assumed(mysql_db, monkeypatch, hostile):
    """Whatever sql_mode the server starts a session with, the driver's session reads `"..."` as a
    string and `\\'` as an escaped quote, as compiler/sql_lexing.py did."""
    from osiris.drivers.mysql import connect as mysql_connect

    real = pymysql.connections.Connection.__init__

    def hostile_session(self, *args: Any, **kwargs: Any) -> None:
        real(self, *args, **kwargs, init_command=f"SET SESSION sql_mode = '{hostile}'")

    monkeypatch.setattr(pymysql.connections.Connection, "__init__", hostile_session)
    params = mysql_connect.conn_params(ResolvedConnection("mysql", "db", {
        k: mysql_db[k] for k in ("host", "port", "user", "password", "database")}, frozenset({"password"})))
    conn = mysql_connect.connect(params)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT \"a\\\"b\", 'c\\'d', @@SESSION.sql_mode")
            double, single, mode = cur.fetchone()
    finally:
        conn.close()
    assert (double, single) == ('a"b', "c'd"), mode
    assert "ANSI_QUOTES" not in mode and "NO_BACKSLASH_ESCAPES" not in mode
