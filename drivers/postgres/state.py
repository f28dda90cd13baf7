"""Incremental state in PostgreSQL: rows of `_osiris_state`, in the target table's schema.

`save_state` runs inside the writer's transaction, after the rows are loaded, so the state
and the data commit together or not at all. Each row is replaced only if it still holds the
state this run started from: a concurrent run of the same pipeline that committed first makes
this one fail (and roll back) instead of loading the same window twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from osiris.drivers.postgres.connect import PgParams, close_quietly, literal, open_connection, qualified
from osiris.drivers.postgres.errors import classify
from osiris.runtime.driver import DriverError, StepContext
from osiris.runtime.incremental import STATE_TABLE, StateRecord

__all__ = ["TableStateKeeper", "clear_state", "load_state", "save_state"]


def _table(schema: str) -> str:
    return qualified(schema, STATE_TABLE)


def _create_sql(schema: str) -> str:
    return (
        f"CREATE TABLE IF NOT EXISTS {_table(schema)} (pipeline text NOT NULL, step text NOT NULL, "
        "state text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (pipeline, step))"
    )


def save_state(cursor: Any, schema: str, records: Sequence[StateRecord]) -> None:
    """Write `records` in the caller's transaction; fails if another run moved a state meanwhile."""
    if not records:
        return
    cursor.execute(_create_sql(schema))
    for record in records:
        key = f"pipeline = {literal(record.pipeline)} AND step = {literal(record.step)}"
        if record.previous is None:
            sql = (
                f"INSERT INTO {_table(schema)} (pipeline, step, state) VALUES "
                f"({literal(record.pipeline)}, {literal(record.step)}, {literal(record.state)}) "
                "ON CONFLICT (pipeline, step) DO NOTHING RETURNING 1"
            )
        else:
            sql = (
                f"UPDATE {_table(schema)} SET state = {literal(record.state)}, updated_at = now() "
                f"WHERE {key} AND state = {literal(record.previous)} RETURNING 1"
            )
        cursor.execute(sql)
        if cursor.fetchone() is None:
            raise DriverError(
                f"the incremental state of step {record.step} changed while this run loaded it "
                "(another run of the pipeline committed first)",
                hint="nothing of this run was kept; run again to load from the new state",
            )


def _read(params: PgParams, schema: str, sql: str, action: str) -> list[tuple[Any, ...]]:
    conn = open_connection(params, autocommit=True)
    cursor = conn.cursor()
    try:
        cursor.execute(f"SELECT to_regclass({literal(_table(schema))}) IS NOT NULL")
        if not cursor.fetchone()[0]:
            return []
        cursor.execute(sql)
        return list(cursor.fetchall())
    except DriverError:
        raise
    except Exception as error:  # noqa: BLE001
        raise classify(error, action=action, label=params.label, secrets=params.secrets) from None
    finally:
        close_quietly(cursor, conn)


def load_state(params: PgParams, schema: str, pipeline: str, step: str | None = None) -> dict[str, str]:
    """Step id -> stored state (JSON) of `pipeline` (one step, or all)."""
    where = f"pipeline = {literal(pipeline)}" + (f" AND step = {literal(step)}" if step is not None else "")
    rows = _read(params, schema, f"SELECT step, state FROM {_table(schema)} WHERE {where} ORDER BY step",
                 "reading the incremental state")
    return {str(s): str(v) for s, v in rows}


def clear_state(params: PgParams, schema: str, pipeline: str, steps: Iterable[str]) -> int:
    """Delete the state rows of `steps`; returns how many there were."""
    names = list(steps)
    if not names:
        return 0
    where = f"pipeline = {literal(pipeline)} AND step IN ({', '.join(literal(s) for s in names)})"
    rows = _read(params, schema, f"DELETE FROM {_table(schema)} WHERE {where} RETURNING 1",
                 "resetting the incremental state")
    return len(rows)


class TableStateKeeper:
    """StateKeeper for writers into PostgreSQL: `_osiris_state` in the schema of the target
    table that `_state_place(ctx)` names (postgres.writer, and supabase.writer on its dsn)."""

    def _state_place(self, ctx: StepContext) -> tuple[PgParams, str]:
        raise NotImplementedError

    def read_state(self, ctx: StepContext, pipeline: str, step: str) -> str | None:
        params, schema = self._state_place(ctx)
        return load_state(params, schema, pipeline, step).get(step)

    def list_state(self, ctx: StepContext, pipeline: str) -> dict[str, str]:
        params, schema = self._state_place(ctx)
        return load_state(params, schema, pipeline)

    def reset_state(self, ctx: StepContext, pipeline: str, steps: Iterable[str]) -> int:
        params, schema = self._state_place(ctx)
        return clear_state(params, schema, pipeline, steps)

