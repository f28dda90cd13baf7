"""Staged MySQL/MariaDB writes for distributed backends: stage each partition, publish all at once.

`stage_partition` loads one partition into its own InnoDB table next to the target,
``_osiris_stage_<token>_p<N>``, with the writer's fast path (LOAD DATA LOCAL INFILE or
multi-row INSERT) in a transaction; a retry drops and rebuilds it. The table has the columns the
target would get from `create_if_missing` plus an AUTO_INCREMENT ordinal numbering the rows in
load order. DDL commits implicitly in MySQL, so the table's comment, set only after the rows
are committed, marks the partition complete and records its row and byte counts.

`publish_staged` goes through the writer's own `ApplyMode`: append/upsert insert every staged
partition into the target in one transaction (partition by partition, rows by ordinal, so the
last row of a key wins an upsert); replace fills a copy of the target and swaps it in; a target
created by `create_if_missing` is `CREATE TABLE ... LIKE` the staging table without the
ordinal, so it is the table `write` creates. Any failure rolls back and drops what the publish
created: the target is as it was. The staging tables are dropped after the commit (a DROP
would commit the transaction early); `discard_staged` drops what a failed run left.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import pyarrow as pa
import pymysql

from osiris.drivers.mysql.connect import ConnParams, classify, connect, quote_ident, split_table
from osiris.drivers.mysql.ddl import staging_table_sql
from osiris.drivers.mysql.load import Loader, load_stream, raise_warnings, upsert_clause
from osiris.drivers.mysql.writer import ApplyMode, Options, check_target, load_method, table_info
from osiris.runtime.driver import DriverError, StepContext, WriteResult

__all__ = ["discard_staged", "publish_staged", "stage_name", "stage_partition"]

PREFIX = "_osiris_stage_"
ORDINAL = "_osiris_row"
"""The staging tables' row number; a stream may not have a column of this name."""
_TOKEN = re.compile(r"[a-z0-9]{12}")


def stage_name(token: str, partition: int) -> str:
    """The staging table of one partition (at most 40 characters, inside MySQL's 64)."""
    if not isinstance(token, str) or _TOKEN.fullmatch(token) is None:
        raise DriverError(f"staging token {token!r} is not 12 lower-case letters or digits",
                          hint="the backend makes the token; this is a bug in the caller")
    if isinstance(partition, bool) or not isinstance(partition, int) or not 0 <= partition < 10**6:
        raise DriverError(f"staging partition {partition!r} is not a number in 0..999999")
    return f"{PREFIX}{token}_p{partition}"


def _database(opts: Options, params: ConnParams) -> tuple[str | None, str]:
    """(database name for catalog queries, SQL prefix placing staging tables next to the target)."""
    schema, _ = split_table(opts.table)
    return schema or params.database, f"{quote_ident(schema)}." if schema else ""


def stage_partition(ctx: StepContext, opts: Options, params: ConnParams, data: pa.RecordBatchReader,
                    token: str, partition: int) -> WriteResult:
    """Replace partition `partition`'s staging table with the stream's rows; the target is not read."""
    name = stage_name(token, partition)
    schema = data.schema
    if ORDINAL in schema.names:
        raise DriverError(f"the stream has a column {ORDINAL!r}, which staged writes use themselves",
                          hint="rename it upstream")
    _, prefix = _database(opts, params)
    table_sql = prefix + quote_ident(name)
    keys = [k for k in opts.keys if k in schema.names] if opts.create else []
    conn = connect(params, local_infile=opts.method != "insert", autocommit=False)
    try:
        with conn.cursor() as cur:
            method = load_method(cur, opts.method)
            cur.execute(f"DROP TABLE IF EXISTS {table_sql}")
            cur.execute(staging_table_sql(table_sql, schema, keys, ORDINAL))
        conn.begin()
        rows, nbytes = load_stream(ctx, Loader(conn, table_sql, schema, method, [], ctx.temp_dir, opts.batch_size),
                                   data)
        conn.commit()
        with conn.cursor() as cur:  # the mark of a complete partition (DDL: after the rows are in)
            cur.execute(f"ALTER TABLE {table_sql} COMMENT = %s", (json.dumps({"rows": rows, "bytes": nbytes}),))
    except BaseException as error:
        _quietly(conn, f"DROP TABLE IF EXISTS {table_sql}")
        if isinstance(error, pymysql.MySQLError):
            raise classify(error, params, action=f"stage partition {partition} for {opts.table!r}") from None
        raise
    finally:
        conn.close()
    ctx.event("mysql.stage", table=name, partition=partition, rows=rows, method=method)
    return WriteResult(rows=rows, bytes=nbytes, target=name)


def publish_staged(ctx: StepContext, opts: Options, params: ConnParams, token: str, partitions: int) -> WriteResult:
    """Apply the write mode to the target with staging tables 0..partitions-1 (see the module)."""
    if isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 1:
        raise DriverError(f"publish needs at least one staged partition, got {partitions!r}")
    names = [stage_name(token, p) for p in range(partitions)]
    database, prefix = _database(opts, params)
    stages = [prefix + quote_ident(n) for n in names]
    conn = connect(params, autocommit=False)
    try:
        try:
            with conn.cursor() as cur:
                notes = [_note(cur, database, name, index) for index, name in enumerate(names)]
                columns = _one_shape(cur, database, names, opts.table)
                target_columns, unique_keys = table_info(cur, params, opts.table)
        except pymysql.MySQLError as error:
            raise classify(error, params, action=f"inspect the staged partitions of {opts.table!r}") from None
        check_target(opts, columns, target_columns, unique_keys)
        ctx.event("mysql.publish.start", table=opts.table, mode=opts.mode, partitions=partitions,
                  exists=bool(target_columns))
        rows, nbytes = sum(n["rows"] for n in notes), sum(n["bytes"] for n in notes)

        def create(table_sql: str) -> None:
            keys = [k for k in opts.keys if k in columns]
            change = [f"DROP COLUMN {quote_ident(ORDINAL)}"]
            if keys:
                change.append(f"ADD PRIMARY KEY ({', '.join(quote_ident(k) for k in keys)})")
            with conn.cursor() as cur:
                cur.execute(f"CREATE TABLE {table_sql} LIKE {stages[0]}")
                cur.execute(f"ALTER TABLE {table_sql} {', '.join(change)}, COMMENT = ''")

        def fill(table_sql: str) -> WriteResult:
            column_sql = ", ".join(quote_ident(c) for c in columns)
            upsert = upsert_clause(columns, opts.keys) if opts.mode == "upsert" else ""
            with conn.cursor() as cur:
                for stage in stages:
                    ctx.check_cancelled()
                    cur.execute(f"INSERT INTO {table_sql} ({column_sql}) SELECT {column_sql} FROM {stage} "
                                f"ORDER BY {quote_ident(ORDINAL)}{upsert}")
                    raise_warnings(cur)
            ctx.check_cancelled()
            return WriteResult(rows=rows, bytes=nbytes, target=opts.table)

        result = ApplyMode(ctx, conn, params, opts, create, fill).run(bool(target_columns))
        try:
            with conn.cursor() as cur:
                cur.execute(f"DROP TABLE IF EXISTS {', '.join(stages)}")
        except pymysql.MySQLError as error:  # published already; discard or the next sweep drops them
            ctx.event("mysql.publish.cleanup_failed", tables=names, error=str(classify(
                error, params, action="drop the staging tables")))
        return result
    finally:
        conn.close()


def discard_staged(opts: Options, params: ConnParams, token: str, partitions: int) -> None:
    """Drop the token's staging tables that exist (those of 0..partitions-1 and any other
    partition the catalog shows); quiet when there are none."""
    if isinstance(partitions, bool) or not isinstance(partitions, int):
        raise DriverError(f"the number of staged partitions must be a whole number, got {partitions!r}")
    names = {stage_name(token, p) for p in range(max(partitions, 0))}
    database, prefix = _database(opts, params)
    start = f"{PREFIX}{token}_p"
    conn = connect(params)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
                        "AND LEFT(TABLE_NAME, %s) = %s", (database, len(start), start))
            names.update(row[0] for row in cur.fetchall())
            cur.execute(f"DROP TABLE IF EXISTS {', '.join(prefix + quote_ident(n) for n in sorted(names))}")
    except pymysql.MySQLError as error:
        raise classify(error, params, action=f"drop the staging tables of {token}") from None
    finally:
        conn.close()


def _note(cur: pymysql.cursors.Cursor, database: str | None, name: str, partition: int) -> dict[str, int]:
    """The mark a complete staged partition carries (rows, bytes); anything else fails the publish."""
    cur.execute("SELECT TABLE_COMMENT FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
                (database, name))
    found = cur.fetchone()
    if found is None:
        raise DriverError(f"partition {partition} has no staging table ({name}); nothing was published",
                          hint="the partition's task did not finish, or the table was dropped; run the step again")
    try:
        note = json.loads(found[0])
        return {"rows": int(note["rows"]), "bytes": int(note["bytes"])}
    except (TypeError, ValueError, KeyError):
        raise DriverError(f"partition {partition} was not staged completely ({name}); nothing was published",
                          hint="its task stopped half-way; run the step again") from None


def _one_shape(cur: pymysql.cursors.Cursor, database: str | None, names: Sequence[str], table: str) -> list[str]:
    """The staged columns (the ordinal aside), the same in every partition."""
    shapes: list[list[tuple[Any, ...]]] = []
    for name in names:
        cur.execute("SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE FROM information_schema.COLUMNS "
                    "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION", (database, name))
        shapes.append([tuple(row) for row in cur.fetchall() if row[0] != ORDINAL])
    for index, shape in enumerate(shapes[1:], start=1):
        if shape != shapes[0]:
            raise DriverError(f"partition {index} for {table!r} was staged with different columns than "
                              f"partition 0 ({[c[0] for c in shape]} vs {[c[0] for c in shapes[0]]}); "
                              "nothing was published")
    return [c[0] for c in shapes[0]]


def _quietly(conn: pymysql.connections.Connection, sql: str) -> None:
    """Roll back and run `sql`; best effort (the connection may be gone, which rolled back anyway)."""
    try:
        conn.rollback()
        with conn.cursor() as cur:
            cur.execute(sql)
    except Exception:  # noqa: BLE001, S110 - nothing more to do on a broken link
        pass
