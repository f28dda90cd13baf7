"""Discovery: tables and views of the connection's database, their columns, keys and sizes.

Declared types come from information_schema (`decimal(15,2)`, `bigint(20) unsigned`); Arrow
types from the same result metadata the extractor uses, so discovery shows exactly what a
read will produce. Row counts are exact (COUNT(*)) for tables InnoDB estimates below
EXACT_COUNT_BELOW rows, and the server's estimate above that; views get none.
"""

from __future__ import annotations

import difflib
import hashlib

import pymysql

from osiris.drivers.mysql.connect import ConnParams, classify, conn_params, connect, quote_ident
from osiris.drivers.mysql.stream import rows_to_batch
from osiris.drivers.mysql.types import column_from_field, schema_of
from osiris.runtime.driver import ColumnInfo, DiscoveryResult, DriverError, ResolvedConnection, TableInfo

__all__ = ["discover", "fingerprint"]

EXACT_COUNT_BELOW = 100_000
_FINGERPRINT_SQL = (
    "SELECT COUNT(*), COALESCE(SUM(CRC32(CONCAT_WS('|', TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, "
    "COLUMN_KEY, ORDINAL_POSITION))), 0) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()"
)


def fingerprint(connection: ResolvedConnection | None) -> str:
    """One row over information_schema.COLUMNS (a count and a CRC32 sum over table, column, type,
    nullability, key and position): it changes with ALTER/CREATE/DROP TABLE, not with INSERT."""
    if connection is None:
        raise DriverError("MySQL discovery needs a connection", hint="pass a `@mysql.<alias>` connection")
    params = conn_params(connection)
    conn = connect(params)
    try:
        with conn.cursor() as cur:
            cur.execute(_FINGERPRINT_SQL)
            count, crc = cur.fetchone()
    except pymysql.MySQLError as error:
        raise classify(error, params, action="fingerprint the schema") from None
    finally:
        conn.close()
    return "sha256:" + hashlib.sha256(f"{params.database}|{count}|{crc}".encode()).hexdigest()


def discover(
    connection: ResolvedConnection | None, *, tables: list[str] | None = None, sample_rows: int = 0
) -> DiscoveryResult:
    if connection is None:
        raise DriverError("MySQL discovery needs a connection", hint="pass a `@mysql.<alias>` connection")
    params = conn_params(connection)
    if not params.database:
        raise DriverError("the MySQL connection has no `database` to discover",
                          hint="set `database` in the connection alias")
    conn = connect(params)
    try:
        with conn.cursor() as cur:
            return DiscoveryResult(tables=_tables(cur, params, tables, sample_rows), source=connection.ref)
    except pymysql.MySQLError as error:
        raise classify(error, params, action="discover the database") from None
    finally:
        conn.close()


def _tables(cur: pymysql.cursors.Cursor, params: ConnParams, wanted: list[str] | None,
            sample_rows: int) -> tuple[TableInfo, ...]:
    cur.execute("SELECT TABLE_NAME, TABLE_TYPE, TABLE_ROWS FROM information_schema.TABLES "
                "WHERE TABLE_SCHEMA = %s ORDER BY TABLE_NAME", (params.database,))
    found = {name: (kind, rows) for name, kind, rows in cur.fetchall()}
    if wanted:
        missing = [name for name in wanted if name not in found]
        if missing:
            close = difflib.get_close_matches(missing[0], list(found), n=1)
            raise DriverError(f"table {missing[0]!r} is not in database {params.database!r}",
                              hint=f"did you mean {close[0]!r}?" if close else "discover without a filter")
    names = wanted or sorted(found)
    cur.execute("SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_KEY "
                "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s "
                "ORDER BY TABLE_NAME, ORDINAL_POSITION", (params.database,))
    declared: dict[str, list[tuple]] = {}
    for table, *rest in cur.fetchall():
        declared.setdefault(table, []).append(tuple(rest))
    return tuple(_table(cur, name, found[name], declared.get(name, []), sample_rows) for name in names)


def _table(cur: pymysql.cursors.Cursor, name: str, info: tuple, declared: list[tuple],
           sample_rows: int) -> TableInfo:
    kind, estimate = info
    cur.execute(f"SELECT * FROM {quote_ident(name)} LIMIT 0")
    result_columns = [column_from_field(f) for f in (cur._result.fields if cur._result else [])]  # noqa: SLF001
    cur.fetchall()
    arrow = {c.name: str(c.arrow) for c in result_columns}
    columns = tuple(
        ColumnInfo(name=column, type=str(column_type), arrow_type=arrow.get(column),
                   nullable=nullable == "YES", primary_key=key == "PRI")
        for column, column_type, nullable, key in declared
    )
    row_count: int | None = None
    if kind == "BASE TABLE":
        row_count = int(estimate) if estimate is not None else None
        if row_count is None or row_count < EXACT_COUNT_BELOW:
            cur.execute(f"SELECT COUNT(*) FROM {quote_ident(name)}")
            row_count = int(cur.fetchone()[0])
    sample: tuple = ()
    if sample_rows > 0:
        sample = _sample(cur, name, result_columns, sample_rows)
    return TableInfo(name=name, columns=columns, row_count=row_count, sample=sample)


def _sample(cur: pymysql.cursors.Cursor, name: str, columns: list, rows: int) -> tuple:
    """Read a few rows with the extractor's own conversions (raw values -> Arrow -> Python)."""
    decoders = cur.connection.decoders
    cur.connection.decoders = {}
    try:
        cur.execute(f"SELECT * FROM {quote_ident(name)} LIMIT {int(rows)}")
        batch = rows_to_batch(columns, schema_of(columns), list(cur.fetchall()))
    finally:
        cur.connection.decoders = decoders
    return tuple(batch.to_pylist())
