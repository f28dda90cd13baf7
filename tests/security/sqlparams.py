"""Shared by the SQL-parameter security tests: compile a query through the real compiler and
component specs, and run the compiled SQL on the real servers with the drivers' session setup."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from osiris.compiler.api import CompileOptions, compile_text

COMPONENTS = {"mysql": "mysql.extractor", "postgres": "postgres.extractor", "duckdb": "duckdb.processor"}
"""The component whose `query` field each dialect's tests compile (its spec chooses the dialect)."""
REFUSALS = {"OML066", "OML067"}


def yaml_str(text: str) -> str:
    """`text` as a YAML double-quoted scalar that loads back exactly (line breaks included)."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif code < 0x20 or 0x7F <= code <= 0x9F or ch in "\u2028\u2029\ufeff" or 0xD800 <= code <= 0xDFFF \
                or code in (0xFFFE, 0xFFFF):
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out) + '"'


@dataclass(frozen=True)
class Compiled:
    codes: list[str]
    """Error codes; empty when the pipeline compiled."""
    sql: str | None
    messages: list[str]

    @property
    def refused(self) -> bool:
        return bool(set(self.codes) & REFUSALS)


def pipeline(dialect: str, query: str, params: dict[str, str], *, field: str = "query") -> str:
    """A one-step pipeline whose SQL field holds `query` (DuckDB steps read an upstream CSV)."""
    decls = "".join(f"  {name}: {{type: {kind}}}\n" for name, kind in params.items())
    head = f'oml_version: "0.1.0"\nname: sqlparams\nparams:\n{decls}steps:\n'
    if dialect == "duckdb" and field == "query":
        return head + ("  - id: src\n    component: filesystem.csv_extractor\n    config: {path: in.csv}\n"
                       "  - id: q\n    component: duckdb.processor\n    needs: [src]\n"
                       f"    config:\n      query: {yaml_str(query)}\n")
    if field == "filter":
        return head + ("  - id: q\n    component: filesystem.parquet_extractor\n"
                       f"    config:\n      path: in.parquet\n      filter: {yaml_str(query)}\n")
    return head + (f"  - id: q\n    component: {COMPONENTS[dialect]}\n    config:\n"
                   f'      connection: "@{dialect}.db"\n      query: {yaml_str(query)}\n')


def compile_sql(dialect: str, query: str, values: dict[str, str], kinds: dict[str, str] | None = None,
                *, field: str = "query") -> Compiled:
    """Compile `query` with `--param name=value` for each value; the bound SQL, or the error codes."""
    kinds = kinds or dict.fromkeys(values, "string")
    result = compile_text(pipeline(dialect, query, kinds, field=field), "p.yaml",
                          CompileOptions(params=values, env={}, search_connections=False))
    errors = [d for d in result.diagnostics if d.severity == "error"]
    if errors:
        return Compiled([d.code for d in errors], None, [d.message for d in errors])
    cfg = json.loads(result.artifacts["cfg.json"])["q"]
    return Compiled([], cfg[field], [])


class ServerError(Exception):
    """The server refused the SQL."""


class Server:
    """One real server with the session settings its driver uses; `rows(sql)` runs a query."""

    dialect: str
    placeholder = "%s"

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def insert(self, table: str, rows: Sequence[tuple[Any, ...]]) -> None:
        marks = ", ".join([self.placeholder] * len(rows[0])) if self.placeholder != "$" else \
            ", ".join(f"${i + 1}" for i in range(len(rows[0])))
        for row in rows:
            self.rows(f"INSERT INTO {table} VALUES ({marks})", row)

    def rows_where_equal(self, table: str, column: str, value: Any) -> list[tuple[Any, ...]]:
        """The server's own parameter binding, to compare a compiled filter with."""
        mark = "$1" if self.placeholder == "$" else self.placeholder
        return self.rows(f"SELECT id FROM {table} WHERE {column} = {mark}", (value,))


class MariaDB(Server):
    dialect = "mysql"

    def __init__(self, db: dict) -> None:
        import pymysql

        from osiris.drivers.mysql.connect import SESSION_SETUP

        self._errors = (pymysql.err.MySQLError,)
        self._conn = pymysql.connect(host=db["host"], port=db["port"], user=db["user"], password=db["password"],
                                     database=db["database"], charset="utf8mb4", autocommit=True)
        with self._conn.cursor() as cur:
            cur.execute("SET SESSION sql_mode = 'ANSI_QUOTES,NO_BACKSLASH_ESCAPES,STRICT_TRANS_TABLES'")
            for statement in SESSION_SETUP:  # the driver's setup must undo the hostile modes above
                cur.execute(statement)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            with self._conn.cursor() as cur:
                cur.execute(sql, params or None)
                return list(cur.fetchall())
        except self._errors as error:
            raise ServerError(str(error)) from None

    def close(self) -> None:
        self._conn.close()


class PostgreSQL(Server):
    """Through the driver's ADBC connection: its session setup must pin standard_conforming_strings,
    since the scratch database defaults it to off."""

    dialect = "postgres"
    placeholder = "$"

    def __init__(self, db: dict) -> None:
        import psycopg

        from osiris.drivers.postgres.connect import open_connection, params_from
        from osiris.runtime.driver import ResolvedConnection

        with psycopg.connect(db["dsn"], autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{db["database"]}" SET standard_conforming_strings = off')
        connection = ResolvedConnection("postgres", "db", {"dsn": db["dsn"]}, frozenset({"dsn"}))
        self._conn = open_connection(params_from(connection), autocommit=True)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cursor = self._conn.cursor()
        try:
            # ADBC wraps the query in `COPY (...)`; the driver ends it with a newline (pg/extract.py)
            cursor.execute(sql + "\n", tuple(params) if params else None)
            return [tuple(row) for row in cursor.fetchall()] if cursor.description else []
        except Exception as error:  # noqa: BLE001 - ADBC raises its own dbapi errors
            raise ServerError(str(error)) from None
        finally:
            cursor.close()

    def close(self) -> None:
        self._conn.close()


class DuckDB(Server):
    dialect = "duckdb"
    placeholder = "?"

    def __init__(self) -> None:
        import duckdb

        self._errors = (duckdb.Error,)
        self._conn = duckdb.connect(":memory:")

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return list(self._conn.execute(sql, list(params) if params else None).fetchall())
        except self._errors as error:
            raise ServerError(str(error)) from None

    def close(self) -> None:
        self._conn.close()


@contextmanager
def servers(mysql_db: dict, postgres_db: dict) -> Iterator[dict[str, Server]]:
    opened: dict[str, Server] = {"mysql": MariaDB(mysql_db), "postgres": PostgreSQL(postgres_db), "duckdb": DuckDB()}
    try:
        yield opened
    finally:
        for server in opened.values():
            server.close()  # type: ignore[attr-defined]


def same(value: Any, got: Any, kind: str) -> bool:
    """Whether a server's result is the bound value (MySQL returns booleans as 1/0, decimals as Decimal)."""
    if kind == "boolean":
        return got in (value, int(value))
    if kind in ("integer", "number"):
        return not isinstance(got, (str, bytes)) and got is not None and float(got) == float(value)
    if isinstance(got, bytes):
        got = got.decode("utf-8")
    return got == value


def first_column_values(rows: Sequence[tuple[Any, ...]]) -> list[Any]:
    return [row[0] for row in rows]
