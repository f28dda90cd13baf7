"""A local stand-in for PostgREST, backed by the real PostgreSQL, for the supabase REST tests.

No real PostgREST can run here (see /work/shared/RIGS.md), so this stdlib HTTP server speaks
the subset the `supabase` client uses: ``GET /rest/v1/<table>`` with ``select`` (columns,
``alias:col``, ``col::type``), ``eq/neq/gt/gte/lt/lte/like/ilike/is/in`` filters and their
``not.`` forms, ``order``, ``limit``/``offset`` and ``Range``, ``Prefer: count=exact`` ->
``Content-Range``; ``POST`` insert and upsert (``Prefer: resolution=merge-duplicates``,
``on_conflict``, ``columns``), ``PATCH``, ``DELETE``; the OpenAPI root ``GET /rest/v1/``
(definitions with ``format`` = ``format_type(type, NULL)`` as PostgREST reports it); errors
shaped ``{"code","message","details","hint"}`` with PostgREST's HTTP statuses.

Each request runs in its own transaction, like PostgREST. Identifiers go through
``psycopg.sql.Identifier`` and values are bound parameters, so the stand-in is not injectable.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import psycopg
from psycopg import sql

__all__ = ["PostgrestStandIn", "running"]

OPS = {
    "eq": "=",
    "neq": "<>",
    "gt": ">",
    "gte": ">=",
    "lt": "<",
    "lte": "<=",
    "like": "LIKE",
    "ilike": "ILIKE",
}
IS_VALUES = {"null": "NULL", "true": "TRUE", "false": "FALSE", "unknown": "UNKNOWN"}
CASTS = {"text", "integer", "int", "bigint", "numeric", "float8", "json", "jsonb", "boolean", "date", "uuid"}
RESERVED = {"select", "order", "limit", "offset", "on_conflict", "columns"}
STATUS = {"23505": 409, "23503": 409, "42P01": 404, "42501": 403, "40001": 409, "40P01": 409, "57014": 504}
SWAGGER = {
    "character varying": "string",
    "character": "string",
    "text": "string",
    "boolean": "boolean",
    "smallint": "integer",
    "integer": "integer",
    "bigint": "integer",
    "numeric": "number",
    "real": "number",
    "double precision": "number",
}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: Any = None, hint: Any = None) -> None:
        super().__init__(message)
        self.status, self.body = status, {"code": code, "message": message, "details": details, "hint": hint}


@dataclass
class PostgrestStandIn:
    """Server state: where to connect, which schemas are exposed, the key it accepts, a request log."""

    dsn: str
    schemas: tuple[str, ...] = ("public",)
    api_key: str | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.dsn)


@contextmanager
def running(state: PostgrestStandIn) -> Iterator[PostgrestStandIn]:
    """Serve `state` on 127.0.0.1 at a free port until the block ends; `state.url` is the project URL."""
    handler = type("Handler", (_Handler,), {"state": state})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="postgrest-stand-in", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: PostgrestStandIn

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""  # the client sends `{}` even with DELETE
        parts = urlsplit(self.path)
        query = parse_qsl(parts.query, keep_blank_values=True)
        self.state.requests.append(
            {
                "method": method,
                "path": parts.path,
                "query": query,
                "prefer": self.headers.get("Prefer"),
                "range": self.headers.get("Range"),
            }
        )
        try:
            self._check_key()
            if not parts.path.startswith("/rest/v1/"):
                raise ApiError(404, "PGRST125", f"Invalid path specified in request URL: {parts.path}")
            table = unquote(parts.path[len("/rest/v1/") :])
            profile = "Accept-Profile" if method == "GET" else "Content-Profile"
            schema = self.headers.get(profile) or self.state.schemas[0]
            if schema not in self.state.schemas:
                raise ApiError(
                    406,
                    "PGRST106",
                    "The schema must be one of the following: " + ", ".join(self.state.schemas),
                )
            if not table:
                self._reply(200, _openapi(self.state, schema))
                return
            with self.state.connect() as conn:
                _ensure_table(conn, schema, table)
                status, payload, headers = _HANDLERS[method](conn, schema, table, query, self.headers, body)
            self._reply(status, payload, headers)
        except ApiError as error:
            self._reply(error.status, error.body)
        except psycopg.Error as error:
            diag = error.diag
            state = diag.sqlstate or "XX000"
            self._reply(
                STATUS.get(state, 400),
                {
                    "code": state,
                    "message": diag.message_primary or str(error),
                    "details": diag.message_detail,
                    "hint": diag.message_hint,
                },
            )

    def _check_key(self) -> None:
        key = self.headers.get("apikey")
        if not key:
            raise ApiError(401, "PGRST301", "No API key found in request", hint="No `apikey` request header")
        if self.state.api_key is not None and key != self.state.api_key:
            raise ApiError(
                401,
                "PGRST301",
                "Invalid API key",
                hint="Double check your Supabase `anon` or `service_role` API key.",
            )

    def _reply(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = (
            b""
            if payload is None
            else (payload if isinstance(payload, bytes) else json.dumps(payload).encode())
        )
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def _ensure_table(conn: psycopg.Connection, schema: str, table: str) -> None:
    found = conn.execute(
        "SELECT to_regclass(%s) IS NOT NULL", [sql.Identifier(schema, table).as_string(conn)]
    ).fetchone()[0]
    if not found:
        raise ApiError(404, "PGRST205", f"Could not find the table '{schema}.{table}' in the schema cache")


def _columns(conn: psycopg.Connection, schema: str, table: str) -> list[tuple[str, str, bool, bool]]:
    """(name, format_type without typmod, not null, primary key) in ordinal order."""
    return conn.execute(
        "SELECT a.attname, format_type(a.atttypid, NULL), a.attnotnull, "
        "coalesce(a.attnum = ANY(i.indkey), false) FROM pg_attribute a "
        "LEFT JOIN pg_index i ON i.indrelid = a.attrelid AND i.indisprimary "
        "WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        [sql.Identifier(schema, table).as_string(conn)],
    ).fetchall()


def _openapi(state: PostgrestStandIn, schema: str) -> dict[str, Any]:
    with state.connect() as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE n.nspname = %s AND c.relkind IN ('r', 'v', 'm', 'p') ORDER BY 1",
                [schema],
            )
        ]
        definitions = {}
        for table in tables:
            props, required = {}, []
            for name, type_, not_null, pk in _columns(conn, schema, table):
                prop: dict[str, Any] = {"format": type_}
                swagger = (
                    "array"
                    if type_.endswith("[]")
                    else SWAGGER.get(type_, None if "json" in type_ else "string")
                )
                if swagger:
                    prop["type"] = swagger
                if pk:
                    prop["description"] = "Note:\nThis is a Primary Key.<pk/>"
                props[name] = prop
                if not_null:
                    required.append(name)
            definitions[table] = {"type": "object", "properties": props, "required": required}
    return {
        "swagger": "2.0",
        "basePath": "/",
        "info": {"title": "PostgREST API (stand-in)"},
        "paths": {"/": {}, **{f"/{t}": {} for t in tables}},
        "definitions": definitions,
    }


def _split_top(text: str) -> list[str]:
    """Split on commas outside double quotes and parentheses."""
    parts, current, depth, quoted = [], [], 0, False
    for char in text:
        if char == '"':
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        elif not quoted and depth == 0 and char == ",":
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return [p for p in parts if p != ""]


def _name(text: str) -> str:
    """A column name as the client sends it: plain, or double-quoted with \\" escapes."""
    text = text.strip()
    if len(text) >= 2 and text.startswith('"') and text.endswith('"'):
        return text[1:-1].replace('\\"', '"')
    return text


def _select_list(select: str) -> sql.Composable:
    if select in ("", "*"):
        return sql.SQL("*")
    items = []
    for item in _split_top(select):
        if "(" in item:
            raise ApiError(400, "PGRST100", f"embedded resources are not supported by the stand-in: {item}")
        alias, _, rest = item.rpartition(":") if re.search(r"[^:]:[^:]", item) else ("", "", item)
        column, _, cast = rest.partition("::")
        expr: sql.Composable = sql.Identifier(_name(column))
        if cast:
            if cast not in CASTS:
                raise ApiError(400, "PGRST100", f"cast to {cast!r} is not supported by the stand-in")
            expr = sql.SQL("{}::{}").format(expr, sql.SQL(cast))
        items.append(sql.SQL("{} AS {}").format(expr, sql.Identifier(_name(alias or column))))
    return sql.SQL(", ").join(items)


def _in_values(text: str) -> list[str]:
    if not (text.startswith("(") and text.endswith(")")):
        raise ApiError(400, "PGRST100", f'"failed to parse filter (in.{text})"')
    return [v[1:-1].replace('\\"', '"') if v.startswith('"') else v for v in _split_top(text[1:-1])]


def _where(query: list[tuple[str, str]], alias: str | None = None) -> tuple[sql.Composable, list[Any]]:
    clauses, params = [], []
    for column, raw in query:
        if column in RESERVED:
            continue
        if column == "or":  # a logic tree: (a.gt."x",a.is.null)
            if not (raw.startswith("(") and raw.endswith(")")):
                raise ApiError(400, "PGRST100", f'"failed to parse logic tree ({raw})"')
            parts = []
            for item in _split_top(raw[1:-1]):
                quoted = item.startswith('"')
                name, _, condition = item[1:].partition('".') if quoted else item.partition(".")
                op, _, value = condition.partition(".")
                if value.startswith('"') and value.endswith('"'):
                    value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
                parts.append(_clause(name.replace('\\"', '"'), f"{op}.{value}", alias, params))
            clauses.append(sql.SQL("({})").format(sql.SQL(" OR ").join(parts)))
            continue
        clauses.append(_clause(column, raw, alias, params))
    if not clauses:
        return sql.SQL(""), params
    return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(clauses), params


def _clause(column: str, raw: str, alias: str | None, params: list[Any]) -> sql.Composable:
    """One `column=op.value` filter as SQL; its values are appended to `params`."""
    negate = raw.startswith("not.")
    op, _, value = (raw[4:] if negate else raw).partition(".")
    column = _name(column)
    target = sql.Identifier(alias, column) if alias else sql.Identifier(column)
    if op in OPS:
        if op in ("like", "ilike"):
            value = value.replace("*", "%")
        clause = sql.SQL("{} {} %s").format(target, sql.SQL(OPS[op]))
        params.append(value)
    elif op == "is" and value.lower() in IS_VALUES:
        clause = sql.SQL("{} IS {}").format(target, sql.SQL(IS_VALUES[value.lower()]))
    elif op == "in":
        values = _in_values(value)
        clause = sql.SQL("{} IN ({})").format(target, sql.SQL(", ").join(sql.SQL("%s") for _ in values))
        params.extend(values)
    else:
        raise ApiError(400, "PGRST100", f'"failed to parse filter ({raw})"')
    return sql.SQL("NOT ({})").format(clause) if negate else clause


def _order(text: str | None) -> sql.Composable:
    if not text:
        return sql.SQL("")
    terms = []
    for term in text.split(","):
        column, *mods = term.split(".")
        words = [sql.Identifier(_name(column))]
        for mod in mods:
            if mod not in ("asc", "desc", "nullsfirst", "nullslast"):
                raise ApiError(400, "PGRST100", f'"failed to parse order ({text})"')
            words.append(
                sql.SQL({"nullsfirst": "NULLS FIRST", "nullslast": "NULLS LAST"}.get(mod, mod.upper()))
            )
        terms.append(sql.SQL(" ").join(words))
    return sql.SQL(" ORDER BY ") + sql.SQL(", ").join(terms)


def _window(query: dict[str, str], range_header: str | None) -> tuple[int, int | None]:
    offset = int(query.get("offset") or 0)
    limit = int(query["limit"]) if query.get("limit") else None
    if range_header and (match := re.fullmatch(r"(\d+)-(\d*)", range_header.strip())):
        offset = int(match.group(1))
        if match.group(2):
            limit = int(match.group(2)) - offset + 1
    return offset, limit


def _prefer(headers: Any) -> dict[str, str]:
    items = [p.strip() for h in headers.get_all("Prefer") or [] for p in h.split(",")]
    return dict(p.split("=", 1) for p in items if "=" in p)


def _get(conn, schema, table, query, headers, body):
    params_map = dict(query)
    where, params = _where(query)
    source = sql.SQL("FROM {}{}").format(sql.Identifier(schema, table), where)
    offset, limit = _window(params_map, headers.get("Range"))
    select = sql.SQL("SELECT {} {}{}").format(
        _select_list(params_map.get("select", "*")), source, _order(params_map.get("order"))
    )
    if limit is not None:
        select += sql.SQL(" LIMIT {}").format(sql.Literal(limit))
    select += sql.SQL(" OFFSET {}").format(sql.Literal(offset))
    rows = conn.execute(
        sql.SQL("SELECT coalesce(json_agg(pgrst_source), '[]')::text FROM ({}) pgrst_source").format(select),
        params,
    ).fetchone()[0]
    returned = len(json.loads(rows))
    total = "*"
    if _prefer(headers).get("count") in ("exact", "planned", "estimated"):  # all exact here
        total = str(conn.execute(sql.SQL("SELECT count(*) {}").format(source), params).fetchone()[0])
    span = f"{offset}-{offset + returned - 1}" if returned else "*"
    return 200, rows.encode(), {"Content-Range": f"{span}/{total}"}


def _rows_cte(conn, schema, table, body) -> tuple[list[str], sql.Composable, list[Any]]:
    payload = json.loads(body or b"[]")
    payload = payload if isinstance(payload, list) else [payload]
    names = list(dict.fromkeys(k for row in payload for k in row))
    cols = sql.SQL(", ").join(sql.Identifier(n) for n in names)
    source = sql.SQL("SELECT {} FROM json_populate_recordset(NULL::{}, %s::json)").format(
        cols, sql.Identifier(schema, table)
    )
    return names, source, [json.dumps(payload)]


def _returning(conn, statement, params, headers, status_with_rows: int, status_minimal: int, returning="*"):
    prefer = _prefer(headers)
    cursor = conn.execute(
        sql.SQL(
            "WITH pgrst_changed AS ({} RETURNING {}) "
            "SELECT coalesce(json_agg(pgrst_changed), '[]')::text, count(*) FROM pgrst_changed"
        ).format(statement, sql.SQL(returning)),
        params,
    )
    rows, count = cursor.fetchone()
    extra = {"Content-Range": f"*/{count}"} if prefer.get("count") else {}
    if prefer.get("return") == "representation":
        return status_with_rows, rows.encode(), extra
    return status_minimal, None, extra


def _post(conn, schema, table, query, headers, body):
    names, source, params = _rows_cte(conn, schema, table, body)
    if not names:
        return 201, None, {}
    target = sql.Identifier(schema, table)
    statement = sql.SQL("INSERT INTO {} ({}) {}").format(
        target, sql.SQL(", ").join(sql.Identifier(n) for n in names), source
    )
    resolution = _prefer(headers).get("resolution")
    if resolution:
        qmap = dict(query)
        keys = (
            [_name(k) for k in _split_top(qmap["on_conflict"])]
            if qmap.get("on_conflict")
            else [r[0] for r in _columns(conn, schema, table) if r[3]]
        )
        conflict = sql.SQL(", ").join(sql.Identifier(k) for k in keys)
        updates = [sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(n)) for n in names if n not in keys]
        if resolution == "merge-duplicates" and updates:
            statement += sql.SQL(" ON CONFLICT ({}) DO UPDATE SET {}").format(
                conflict, sql.SQL(", ").join(updates)
            )
        else:
            statement += sql.SQL(" ON CONFLICT ({}) DO NOTHING").format(conflict)
    return _returning(conn, statement, params, headers, 201, 201)


def _patch(conn, schema, table, query, headers, body):
    payload = json.loads(body or b"{}")
    where, params = _where(query, alias="t")
    names = list(payload)
    sets = sql.SQL(", ").join(sql.SQL("{0} = r.{0}").format(sql.Identifier(n)) for n in names)
    statement = sql.SQL("UPDATE {} AS t SET {} FROM json_populate_record(NULL::{}, %s::json) AS r{}").format(
        sql.Identifier(schema, table), sets, sql.Identifier(schema, table), where
    )
    return _returning(conn, statement, [json.dumps(payload), *params], headers, 200, 204, returning="t.*")


def _delete(conn, schema, table, query, headers, body):
    where, params = _where(query)
    statement = sql.SQL("DELETE FROM {}{}").format(sql.Identifier(schema, table), where)
    return _returning(conn, statement, params, headers, 200, 204)


_HANDLERS = {"GET": _get, "POST": _post, "PATCH": _patch, "DELETE": _delete}
