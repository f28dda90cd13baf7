"""Staged PostgreSQL writes for distributed backends: stage each partition, publish all at once.

Each partition's rows go into their own unlogged table next to the target,
``_osiris_stage_<token>_p<N>``, in a transaction of their own (`stage_partition`); a retried
partition drops and rebuilds its table, so only its last complete attempt counts. The table's
comment records the stream's Arrow schema and the row and byte counts; it is written in the
same transaction as the rows, so a staging table exists only when its partition finished.

`publish_staged` then applies the write mode to the target in ONE transaction with the same
code as `write_stream` (`prepare_target`, `empty_target`, `merge_sql`), reading the staging
tables as one relation in (partition, row) order, and drops them before the commit: on any
failure nothing changes, the target included. `discard_staged` drops what a failed run left.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from osiris.drivers.postgres.connect import PgParams, literal, qualified, quote_ident
from osiris.drivers.postgres.types import normalize_schema
from osiris.drivers.postgres.write import (
    Feed,
    WriteOptions,
    check_mode,
    empty_target,
    feed_stream,
    load_staging,
    merge_sql,
    prepare_target,
    transaction,
)
from osiris.runtime.driver import DriverError, StepContext, WriteResult

__all__ = ["discard_staged", "publish_staged", "stage_name", "stage_partition"]

PREFIX = "_osiris_stage_"
_TOKEN = re.compile(r"[a-z0-9]{12}")
_PART, _ROW = "_osiris_part", "_osiris_row"
"""Columns the publish query adds to rank rows; a stream may not use these names."""


def stage_name(token: str, partition: int) -> str:
    """The staging table of one partition (at most 40 characters, inside PostgreSQL's 63)."""
    if not isinstance(token, str) or _TOKEN.fullmatch(token) is None:
        raise DriverError(f"staging token {token!r} is not 12 lower-case letters or digits",
                          hint="the backend makes the token; this is a bug in the caller")
    if isinstance(partition, bool) or not isinstance(partition, int) or not 0 <= partition < 10**6:
        raise DriverError(f"staging partition {partition!r} is not a number in 0..999999")
    return f"{PREFIX}{token}_p{partition}"


def stage_partition(params: PgParams, ctx: StepContext, data: pa.RecordBatchReader, opts: WriteOptions,
                    token: str, partition: int) -> WriteResult:
    """Replace partition `partition`'s staging table with the stream's rows, in one transaction."""
    name = stage_name(token, partition)
    wire = normalize_schema(data.schema)
    reserved = sorted({_PART, _ROW} & set(wire.names))
    if reserved:
        raise DriverError(f"the stream has column(s) {reserved}, which staged writes use themselves",
                          hint="rename them upstream")
    feed = Feed()
    with transaction(params, f"staging partition {partition} for {opts.schema}.{opts.table}", feed) as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {qualified(opts.schema, name)}")
        load_staging(cursor, wire, feed_stream(data, wire, ctx, feed, opts.batch_rows), name, opts.schema)
        ctx.check_cancelled()
        note = {"rows": feed.rows, "bytes": feed.nbytes,
                "schema": base64.b64encode(wire.serialize().to_pybytes()).decode("ascii")}
        cursor.execute(f"COMMENT ON TABLE {qualified(opts.schema, name)} IS {literal(json.dumps(note))}")
    ctx.event("postgres_stage", table=f"{opts.schema}.{name}", partition=partition, rows=feed.rows)
    return WriteResult(rows=feed.rows, bytes=feed.nbytes, target=f"{opts.schema}.{name}")


def publish_staged(params: PgParams, ctx: StepContext, opts: WriteOptions, token: str,
                   partitions: int) -> WriteResult:
    """Apply the write mode to the target with staging tables 0..partitions-1, then drop them,
    all in one transaction; returns the rows staged (what `write` of the whole stream reports)."""
    check_mode(opts)
    if isinstance(partitions, bool) or not isinstance(partitions, int) or partitions < 1:
        raise DriverError(f"publish needs at least one staged partition, got {partitions!r}")
    names = [stage_name(token, p) for p in range(partitions)]
    target = f"{opts.schema}.{opts.table}"
    with transaction(params, f"publishing {partitions} staged partition(s) into {target}") as cursor:
        notes = [_note(cursor, opts.schema, name, index) for index, name in enumerate(names)]
        wire = _one_schema(notes, target)
        by_name, created = prepare_target(cursor, opts, wire)
        ctx.event("postgres_publish_plan", target=target, mode=opts.mode, created=created, partitions=partitions)
        if opts.mode == "replace" and not created:
            empty_target(cursor, opts)
        source = _union(opts.schema, names, wire.names)
        cursor.execute(merge_sql(opts, wire, by_name, source, (f"s.{_PART}", f"s.{_ROW}")))
        cursor.execute(f"DROP TABLE {', '.join(qualified(opts.schema, n) for n in names)}")
        ctx.check_cancelled()
    return WriteResult(rows=sum(int(n["rows"]) for n in notes), bytes=sum(int(n["bytes"]) for n in notes),
                       target=target)


def discard_staged(params: PgParams, schema: str, token: str, partitions: int) -> None:
    """Drop the token's staging tables that exist (those of 0..partitions-1 and any other
    partition the catalog shows); quiet when there are none."""
    if isinstance(partitions, bool) or not isinstance(partitions, int):
        raise DriverError(f"the number of staged partitions must be a whole number, got {partitions!r}")
    names = {stage_name(token, p) for p in range(max(partitions, 0))}
    prefix = f"{PREFIX}{token}_p"
    with transaction(params, f"dropping the staging tables of {token}") as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            f"WHERE n.nspname = {literal(schema)} AND c.relkind = 'r' "
            f"AND left(c.relname, {len(prefix)}) = {literal(prefix)}"
        )
        names.update(row[0] for row in cursor.fetchall())
        if names:
            cursor.execute(f"DROP TABLE IF EXISTS {', '.join(qualified(schema, n) for n in sorted(names))}")


def _note(cursor: Any, schema: str, name: str, partition: int) -> dict[str, Any]:
    """The staging table's record (schema, rows, bytes); a missing table fails the publish."""
    relation = literal(qualified(schema, name))
    cursor.execute(f"SELECT to_regclass({relation}) IS NOT NULL, obj_description(to_regclass({relation}), 'pg_class')")
    exists, comment = cursor.fetchone()
    if not exists:
        raise DriverError(f"partition {partition} has no staging table ({schema}.{name}); nothing was published",
                          hint="the partition's task did not finish, or the table was dropped; run the step again")
    try:
        note = json.loads(comment)
        note["schema"] = pa.ipc.read_schema(pa.py_buffer(base64.b64decode(note["schema"])))
        int(note["rows"]), int(note["bytes"])
    except (TypeError, ValueError, KeyError, pa.ArrowException):
        raise DriverError(f"the staging table {schema}.{name} of partition {partition} is not one Osiris "
                          "staged completely; nothing was published", hint="run the step again") from None
    return note


def _one_schema(notes: Sequence[dict[str, Any]], target: str) -> pa.Schema:
    first = notes[0]["schema"]
    for index, note in enumerate(notes[1:], start=1):
        if _shape(note["schema"]) != _shape(first):
            raise DriverError(f"partition {index} for {target} was staged with a different schema than "
                              f"partition 0 ({note['schema'].names} vs {first.names}); nothing was published")
    return first


def _shape(schema: pa.Schema) -> list[tuple[Any, ...]]:
    """What decides the columns' SQL types (schema-level metadata, say pandas', may differ)."""
    return [(f.name, f.type, f.nullable, dict(f.metadata or {})) for f in schema]


def _union(schema: str, names: Sequence[str], columns: Sequence[str]) -> str:
    """All staging tables as one relation, with their partition and physical row position
    (COPY appends in stream order) so an upsert can keep the last row of a key."""
    cols = ", ".join(quote_ident(c) for c in columns)
    parts = [f"SELECT {index} AS {_PART}, ctid AS {_ROW}, {cols} FROM {qualified(schema, name)}"
             for index, name in enumerate(names)]
    return "(" + " UNION ALL ".join(parts) + ")"
