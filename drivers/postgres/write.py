"""All-or-nothing PostgreSQL writes: one transaction, rows streamed through COPY (adbc_ingest).

Plan, per step:
* create_if_missing: CREATE TABLE from the Arrow schema (`ddl.py`) inside the transaction.
* append: COPY straight into the target when every column's binary encoding fits the target
  column; otherwise COPY into a temporary staging table and ``INSERT ... SELECT`` with casts
  (PostgreSQL converts text -> jsonb/uuid/numeric, bigint -> integer with range checks, ...).
* replace: ``TRUNCATE`` the target, then load as for append, in the same transaction. On any
  failure the transaction rolls back and the old rows are untouched; unlike a staging-table
  rename swap, the table keeps its OID, grants, indexes, triggers and dependent views. The cost:
  TRUNCATE holds an ACCESS EXCLUSIVE lock, so concurrent readers wait until the commit. A table
  that other tables reference by foreign key cannot be truncated; it is emptied with DELETE
  instead (slower, and the foreign keys decide whether that is allowed).
* upsert: COPY into staging, then ``INSERT ... SELECT DISTINCT ON (key) ... ON CONFLICT (key)
  DO UPDATE``; when a key repeats inside the stream the last row wins.

`staged.py` reuses the pieces (`transaction`, `prepare_target`, `empty_target`, `load_staging`,
`merge_sql`) for the distributed backends' staged writes.

The incoming stream is consumed lazily (never materialised). Cancellation or an upstream
error raised while COPY pulls batches aborts the COPY, the transaction is rolled back and the
original exception is re-raised.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import adbc_driver_manager.dbapi as adbc_errors
import pyarrow as pa

from osiris.drivers.postgres.catalog import TargetColumn, is_referenced, table_columns
from osiris.drivers.postgres.connect import (
    PgParams,
    close_quietly,
    open_connection,
    qualified,
    quote_ident,
    split_table,
)
from osiris.drivers.postgres.ddl import column_definitions, create_table_sql
from osiris.drivers.postgres.errors import classify
from osiris.drivers.postgres.state import save_state
from osiris.drivers.postgres.types import copy_compatible, normalize_batch, normalize_schema
from osiris.runtime.driver import DriverError, StepContext, WriteResult

__all__ = [
    "Feed",
    "WriteOptions",
    "check_mode",
    "empty_target",
    "feed_stream",
    "load_staging",
    "merge_sql",
    "prepare_target",
    "transaction",
    "write_options",
    "write_stream",
]

MODES = ("append", "replace", "upsert")


@dataclass(frozen=True)
class WriteOptions:
    table: str
    schema: str
    mode: str = "append"
    primary_key: tuple[str, ...] = ()
    create_if_missing: bool = False
    batch_rows: int = 65536


@dataclass
class Feed:
    """Counts what COPY pulled and keeps the exception an upstream batch raised."""

    rows: int = 0
    nbytes: int = 0
    error: BaseException | None = None


def write_options(config: Mapping[str, Any], default_schema: str, batch_rows: int) -> WriteOptions:
    """Read the writer keys shared by postgres.writer and supabase.writer's Postgres path."""
    schema, table = split_table(str(config["table"]), default_schema)
    key = config.get("primary_key") or ()
    return WriteOptions(
        table=table,
        schema=schema,
        mode=str(config.get("write_mode") or "append"),
        primary_key=(key,) if isinstance(key, str) else tuple(key),
        create_if_missing=bool(config.get("create_if_missing")),
        batch_rows=int(config.get("batch_size") or batch_rows),
    )


def check_mode(opts: WriteOptions) -> None:
    """Refuse a write mode the writer does not know, or an upsert without a key."""
    if opts.mode not in MODES:
        raise DriverError(f"unknown write_mode {opts.mode!r}", hint=f"use one of {', '.join(MODES)}")
    if opts.mode == "upsert" and not opts.primary_key:
        raise DriverError("`write_mode: upsert` needs `primary_key`")


@contextmanager
def transaction(params: PgParams, action: str, feed: Feed | None = None) -> Iterator[Any]:
    """One transaction on a fresh connection, yielding its cursor: committed when the block
    ends, rolled back on any failure. A failure of the incoming stream (kept in `feed`) is
    re-raised as it was; client errors become DriverError/TransientError naming `action`."""
    conn = open_connection(params, autocommit=False)
    cursor = conn.cursor()
    try:
        yield cursor
        conn.commit()
    except BaseException as error:
        _rollback(conn)
        close_quietly(cursor, conn)
        if feed is not None and feed.error is not None:
            raise feed.error from None
        if isinstance(error, (adbc_errors.Error, OSError)):
            raise classify(error, action=action, label=params.label, secrets=params.secrets) from None
        raise
    close_quietly(cursor, conn)


def prepare_target(cursor: Any, opts: WriteOptions, wire: pa.Schema) -> tuple[dict[str, TargetColumn], bool]:
    """Check the target against the stream (creating it when missing and allowed), inside the
    caller's transaction; returns its columns by name and whether it was created."""
    target = f"{opts.schema}.{opts.table}"
    columns = table_columns(cursor, opts.schema, opts.table)
    created = columns is None
    if created:
        if not opts.create_if_missing:
            raise DriverError(
                f"table {target} does not exist", hint="create it first or set `create_if_missing: true`"
            )
        cursor.execute(create_table_sql(opts.schema, opts.table, wire, opts.primary_key))
        columns = table_columns(cursor, opts.schema, opts.table) or []
    by_name = _match_columns(wire, columns or [], target)
    _check_key(opts, wire)
    return by_name, created


def empty_target(cursor: Any, opts: WriteOptions) -> None:
    """`replace`: empty the target inside the transaction (DELETE when a foreign key refers to it)."""
    verb = "DELETE FROM" if is_referenced(cursor, opts.schema, opts.table) else "TRUNCATE"
    cursor.execute(f"{verb} {qualified(opts.schema, opts.table)}")


def write_stream(
    params: PgParams, ctx: StepContext, data: pa.RecordBatchReader, opts: WriteOptions
) -> WriteResult:
    check_mode(opts)
    wire = normalize_schema(data.schema)
    feed = Feed()
    target = f"{opts.schema}.{opts.table}"
    with transaction(params, f"writing {target}", feed) as cursor:
        by_name, created = prepare_target(cursor, opts, wire)
        direct = opts.mode != "upsert" and all(copy_compatible(f, by_name[f.name].typname) for f in wire)
        ctx.event(
            "postgres_write_plan",
            target=target,
            mode=opts.mode,
            created=created,
            path="copy" if direct else "staging",
        )
        if opts.mode == "replace" and not created:
            empty_target(cursor, opts)
        stream = feed_stream(data, wire, ctx, feed, opts.batch_rows)
        if direct:
            cursor.adbc_ingest(opts.table, stream, mode="append", db_schema_name=opts.schema)
        else:
            stage = f"osiris_stage_{uuid.uuid4().hex[:12]}"
            load_staging(cursor, wire, stream, stage)
            cursor.execute(merge_sql(opts, wire, by_name, f"pg_temp.{quote_ident(stage)}", ("s.ctid",)))
        commit = getattr(ctx, "state_commit", None)
        if commit is not None:
            save_state(cursor, opts.schema, commit.records())
        ctx.check_cancelled()
    return WriteResult(rows=feed.rows, bytes=feed.nbytes, target=target)


def feed_stream(
    data: pa.RecordBatchReader, wire: pa.Schema, ctx: StepContext, feed: Feed, batch_rows: int
) -> pa.RecordBatchReader:
    """The incoming stream normalised to `wire`, counted into `feed` as COPY pulls it."""
    return pa.RecordBatchReader.from_batches(wire, _feed(data, wire, ctx, feed, batch_rows))


def _rollback(conn: object) -> None:
    try:
        conn.rollback()  # type: ignore[attr-defined]
    except Exception:  # noqa: BLE001, S110 - a broken link has nothing left to roll back
        pass


def _feed(
    data: pa.RecordBatchReader, wire: pa.Schema, ctx: StepContext, feed: Feed, batch_rows: int
) -> Iterator[pa.RecordBatch]:
    try:
        for batch in data:
            ctx.check_cancelled()
            if not batch.num_rows:
                continue
            batch = normalize_batch(batch, wire)
            for start in range(0, batch.num_rows, max(batch_rows, 1)):
                piece = batch.slice(start, batch_rows)
                feed.rows += piece.num_rows
                feed.nbytes += piece.nbytes
                ctx.progress(feed.rows, feed.nbytes)
                yield piece
    except BaseException as error:
        feed.error = error
        raise


def _match_columns(wire: pa.Schema, columns: Sequence[TargetColumn], target: str) -> dict[str, TargetColumn]:
    by_name = {c.name: c for c in columns}
    extra = [name for name in wire.names if name not in by_name]
    if extra:
        lowered = {c.lower(): c for c in by_name}
        near = {n: lowered[n.lower()] for n in extra if n.lower() in lowered}
        hint = (
            f"names are case-sensitive: {', '.join(f'{a!r} vs {b!r}' for a, b in near.items())}"
            if near
            else f"the table has columns {list(by_name)}; rename or drop the extra ones upstream"
        )
        raise DriverError(f"column(s) {extra} of the stream are not in {target}", hint=hint)
    if len(set(wire.names)) != len(wire.names):
        raise DriverError(f"the stream has duplicate column names: {wire.names}")
    return by_name


def _check_key(opts: WriteOptions, wire: pa.Schema) -> None:
    missing = [k for k in opts.primary_key if k not in wire.names]
    if missing and (opts.mode == "upsert" or opts.create_if_missing):
        raise DriverError(f"primary_key column(s) {missing} are not in the stream (columns: {wire.names})")


def load_staging(cursor: Any, wire: pa.Schema, stream: pa.RecordBatchReader, name: str,
                 schema: str | None = None) -> None:
    """Create staging table `name` for `wire` and COPY `stream` into it: a temporary table
    dropped at commit when `schema` is None, else an unlogged table in `schema` that outlives
    the transaction (staged writes)."""
    definitions = ", ".join(column_definitions(pa.schema([f.remove_metadata() for f in wire])))
    if schema is None:
        cursor.execute(f"CREATE TEMP TABLE {quote_ident(name)} ({definitions}) ON COMMIT DROP")
        cursor.adbc_ingest(name, stream, mode="append", temporary=True)
    else:
        cursor.execute(f"CREATE UNLOGGED TABLE {qualified(schema, name)} ({definitions})")
        cursor.adbc_ingest(name, stream, mode="append", db_schema_name=schema)


def merge_sql(
    opts: WriteOptions, wire: pa.Schema, by_name: dict[str, TargetColumn], source: str, order: Sequence[str]
) -> str:
    """INSERT ... SELECT from `source` (a relation holding the stream's columns, read as `s`)
    into the target under the write mode, casting where COPY's encoding does not fit. For
    upsert, `order` (expressions over `s`) ranks the rows so the last one of a key wins."""
    names = ", ".join(quote_ident(n) for n in wire.names)
    exprs = []
    for f in wire:
        column = by_name[f.name]
        expr = f"s.{quote_ident(f.name)}"
        exprs.append(expr if copy_compatible(f, column.typname) else f"{expr}::{column.base}")
    frm = f"FROM {source} AS s"
    insert = f"INSERT INTO {qualified(opts.schema, opts.table)} ({names}) "
    if opts.mode != "upsert":
        return f"{insert}SELECT {', '.join(exprs)} {frm}"
    keys = ", ".join(f"s.{quote_ident(k)}" for k in opts.primary_key)
    last = ", ".join(f"{o} DESC" for o in order)
    select = f"SELECT DISTINCT ON ({keys}) {', '.join(exprs)} {frm} ORDER BY {keys}, {last}"
    updates = [
        f"{quote_ident(n)} = EXCLUDED.{quote_ident(n)}" for n in wire.names if n not in opts.primary_key
    ]
    action = f"DO UPDATE SET {', '.join(updates)}" if updates else "DO NOTHING"
    conflict = ", ".join(quote_ident(k) for k in opts.primary_key)
    return f"{insert}{select} ON CONFLICT ({conflict}) {action}"
