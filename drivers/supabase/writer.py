"""supabase.writer: write through Postgres (`dsn`, all-or-nothing) or through the REST API in batches."""

from __future__ import annotations

import uuid
from typing import Any

import pyarrow as pa

from osiris.drivers.postgres import write_options, write_stream
from osiris.drivers.postgres.state import TableStateKeeper
from osiris.drivers.supabase.rest import RestSession, spool, spooled
from osiris.drivers.supabase.restypes import to_json_rows
from osiris.drivers.supabase.settings import has_dsn, pg_params, rest_settings
from osiris.drivers.supabase.tools import SupabaseConnectionTools
from osiris.runtime.driver import (
    Cancelled,
    DriverError,
    StepContext,
    TransientError,
    WriteResult,
)

__all__ = ["SupabaseWriter"]

NEEDS_DSN = "add the project's database URL as `dsn` to the connection; that path runs in one transaction"


class SupabaseWriter(TableStateKeeper, SupabaseConnectionTools):
    """Writer + Discoverer + HealthCheck for the `supabase` family."""

    def write(self, ctx: StepContext, data: pa.RecordBatchReader) -> WriteResult:
        if has_dsn(ctx.connection):
            params = pg_params(ctx.connection, ctx.config)
            return write_stream(params, ctx, data, write_options(ctx.config, params.schema, ctx.batch_rows))
        if getattr(ctx, "state_commit", None) is not None:
            raise _state_needs_dsn()
        return _rest_write(ctx, data)

    # -- StateKeeper: `_osiris_state` beside the target table, through `dsn` only ----------------
    # The state row must commit in the data's transaction (postgres write_stream does it); over
    # REST every request commits on its own, so an incremental load there could skip rows.
    def _state_place(self, ctx: StepContext) -> tuple[Any, str]:  # TableStateKeeper's place
        if not has_dsn(ctx.connection):
            raise _state_needs_dsn()
        params = pg_params(ctx.connection, ctx.config)
        return params, write_options(dict(ctx.config), params.schema, ctx.batch_rows).schema


def _state_needs_dsn() -> DriverError:
    return DriverError("an incremental load into supabase.writer needs the Postgres path: its state row commits "
                       "in the same transaction as the rows, and over REST each batch commits on its own",
                       hint=NEEDS_DSN)


def _rest_write(ctx: StepContext, data: pa.RecordBatchReader) -> WriteResult:
    settings = rest_settings(ctx.connection, ctx.config)
    opts = write_options(ctx.config, settings.schema, 500)
    target = f"{settings.schema}.{opts.table}"
    if opts.mode == "replace":
        raise DriverError(
            f"`write_mode: replace` of {target} needs the Postgres path: over REST the delete and the "
            "inserts would be separate transactions, and a failure would leave the table half-filled",
            hint=NEEDS_DSN,
        )
    if opts.mode == "upsert" and not opts.primary_key:
        raise DriverError("`write_mode: upsert` needs `primary_key`")
    with RestSession(settings) as session:
        definition = session.definition(opts.table)
        if definition is None:
            if opts.create_if_missing:
                raise DriverError(
                    f"table {target} does not exist and `create_if_missing` needs `dsn`", hint=NEEDS_DSN
                )
            raise DriverError(
                f"table {target} is not in the API schema", hint="check the table name and `schema`"
            )
        columns = list((definition.get("properties") or {}).keys())
        extra = [name for name in data.schema.names if name not in columns]
        missing_keys = [key for key in opts.primary_key if key not in data.schema.names]
        if extra:
            raise DriverError(
                f"column(s) {extra} of the stream are not in {target}", hint=f"the table has {columns}"
            )
        if opts.mode == "upsert" and missing_keys:
            raise DriverError(f"primary_key column(s) {missing_keys} are not in the stream")
        spool_path = ctx.temp_dir / f"supabase-{ctx.step_id}-{uuid.uuid4().hex[:8]}.arrow"
        spool(data, spool_path, ctx.check_cancelled)
        sent = _send(ctx, session, spooled(spool_path), opts, target)
    return WriteResult(rows=sent, target=target)


def _send(ctx: StepContext, session: RestSession, batches: Any, opts: Any, target: str) -> int:
    upsert_on = opts.primary_key if opts.mode == "upsert" else ()
    sent = nbytes = 0
    with batches as stream:
        for batch in stream:
            for start in range(0, batch.num_rows, opts.batch_rows):
                piece = batch.slice(start, opts.batch_rows)
                rows = to_json_rows(piece)
                if upsert_on:
                    rows = list({tuple(row[k] for k in upsert_on): row for row in rows}.values())
                try:
                    ctx.check_cancelled()
                    session.send(opts.table, rows, upsert_on=upsert_on)
                except Cancelled:
                    if sent:
                        ctx.event("supabase_partial_write", target=target, rows_committed=sent)
                    raise
                except DriverError as error:
                    raise _partial(error, sent, opts.mode, target, ctx) from None
                sent += piece.num_rows
                nbytes += piece.nbytes
                ctx.progress(sent, nbytes)
    return sent


def _partial(error: DriverError, sent: int, mode: str, target: str, ctx: StepContext) -> DriverError:
    """Say how many rows earlier requests committed; a retried append would duplicate them."""
    if not sent:
        return error
    ctx.event("supabase_partial_write", target=target, rows_committed=sent)
    message = (
        f"{error} - {sent} row(s) sent by earlier requests stay in {target} (REST writes are not atomic)"
    )
    retryable = isinstance(error, TransientError) and mode == "upsert"
    return (TransientError if retryable else DriverError)(message, hint=error.hint or NEEDS_DSN)
