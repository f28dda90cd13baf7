"""mysql.writer: an Arrow stream into a MySQL/MariaDB table, all or nothing.

- append / upsert: one InnoDB transaction, committed after the last batch; any failure
  (server error, an exception from the input stream, `Cancelled`) rolls it back. A table
  the writer created for this run is dropped again on failure.
- replace: the rows go into a staging table (`CREATE TABLE ... LIKE` the target, so keys
  and types stay), which `RENAME TABLE` swaps in atomically; the old table is dropped
  after. Readers see the old contents or the new, never a mix. (Foreign keys of other
  tables that point at the target follow the rename to the old table; replace such tables
  with a pipeline that deletes and appends instead.)
- upsert: `INSERT ... ON DUPLICATE KEY UPDATE` on `primary_key`, which must be the table's
  primary key or a unique index; with LOAD DATA the rows go through a temporary table.

`load_method: auto` uses LOAD DATA LOCAL INFILE when the server allows it (`local_infile`),
which measured faster than multi-row INSERT (see bench/mysql_paths.py), else INSERT.

It is also a `StagedWriter` for distributed backends (`staged.py`): partitions are staged in
tables of their own, then published through the same `ApplyMode` as a write.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa
import pymysql

from osiris.drivers.mysql.branches import (
    DECISION_TABLE,
    Branches,
    decision_table,
    ensure_decision_table,
    probe_xa,
    recover,
)
from osiris.drivers.mysql.connect import (
    ConnParams,
    classify,
    conn_params,
    connect,
    qualified,
    quote_ident,
    split_table,
)
from osiris.drivers.mysql.ddl import create_table_sql
from osiris.drivers.mysql.fanout import FanOut, parallel_hazard, routing_column
from osiris.drivers.mysql.load import Loader, check_columns, load_stream
from osiris.drivers.mysql.state import clear_state, ensure_table, load_state, save_state, state_table
from osiris.drivers.mysql.tools import MySQLConnectionTools
from osiris.runtime.driver import DriverError, StepContext, WriteResult

__all__ = ["ApplyMode", "MySQLWriter", "Options", "check_target", "load_method", "table_info"]

WRITE_MODES = ("append", "replace", "upsert")
LOAD_METHODS = ("auto", "insert", "load_data")
DEFAULT_LOAD_CONNECTIONS = 2
"""LOAD DATA statements at once (branches.py); the spec's default, used when the config has none."""
MAX_LOAD_CONNECTIONS = 8


class Options:
    """The writer's keys from the step config, checked."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.table = str(config.get("table") or "")
        if not self.table:
            raise DriverError("the MySQL writer needs `table`")
        self.mode = config.get("write_mode") or "append"
        if self.mode not in WRITE_MODES:
            raise DriverError(f"`write_mode` must be one of {', '.join(WRITE_MODES)}, got {self.mode!r}")
        keys = config.get("primary_key") or []
        self.keys: list[str] = [keys] if isinstance(keys, str) else list(keys)
        if self.mode == "upsert" and not self.keys:
            raise DriverError("`write_mode: upsert` needs `primary_key`", hint="name the key column(s)")
        self.create = bool(config.get("create_if_missing", False))
        self.batch_size = int(config.get("batch_size") or 10000)
        self.method = config.get("load_method") or "auto"
        if self.method not in LOAD_METHODS:
            raise DriverError(f"`load_method` must be one of {', '.join(LOAD_METHODS)}, got {self.method!r}")
        connections = config.get("load_connections")
        connections = DEFAULT_LOAD_CONNECTIONS if connections is None else connections
        if isinstance(connections, bool) or not isinstance(connections, int) \
                or not 1 <= connections <= MAX_LOAD_CONNECTIONS:
            raise DriverError(f"`load_connections` must be a whole number from 1 to {MAX_LOAD_CONNECTIONS}, "
                              f"got {connections!r}")
        self.connections = connections


def table_info(
    cur: pymysql.cursors.Cursor, params: ConnParams, table: str
) -> tuple[list[str], list[set[str]]]:
    """(columns, unique key column sets) of an existing table; ([], []) when it does not exist."""
    schema, name = split_table(table)
    db = schema or params.database
    cur.execute("SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s "
                "AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION", (db, name))
    columns = [row[0] for row in cur.fetchall()]
    cur.execute("SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = %s "
                "AND TABLE_NAME = %s AND NON_UNIQUE = 0", (db, name))
    keys: dict[str, set[str]] = {}
    for index, column in cur.fetchall():
        keys.setdefault(index, set()).add(column)
    return columns, list(keys.values())


def load_method(cur: pymysql.cursors.Cursor, wanted: str) -> str:
    """The load method to use: `auto` is LOAD DATA when the server allows LOCAL INFILE."""
    cur.execute("SELECT @@GLOBAL.local_infile")
    allowed = bool(int(cur.fetchone()[0]))
    if wanted == "load_data" and not allowed:
        raise DriverError("`load_method: load_data` needs local_infile enabled on the server",
                          hint="SET GLOBAL local_infile = 1 (as an admin), or use `load_method: insert`")
    if wanted == "auto":
        return "load_data" if allowed else "insert"
    return wanted


def check_target(opts: Options, names: Sequence[str], columns: Sequence[str], unique_keys: Sequence[set[str]]) -> None:
    """Refuse a write the target cannot take: missing (without create_if_missing), columns it
    lacks, an upsert key that is not its primary key or a unique index."""
    if not columns and not opts.create:
        raise DriverError(f"table {opts.table!r} does not exist",
                          hint="create it, or set `create_if_missing: true` to create it from the input")
    if columns:
        check_columns(names, columns, opts.table)
        if opts.mode == "upsert" and set(opts.keys) not in unique_keys:
            raise DriverError(f"upsert on {', '.join(opts.keys)} needs a primary key or unique index on "
                              f"exactly those columns in {opts.table!r}",
                              hint="add the index, or set `primary_key` to the table's key")
    missing_keys = [k for k in opts.keys if k not in names]
    if opts.mode == "upsert" and missing_keys:
        raise DriverError(f"`primary_key` column {missing_keys[0]!r} is not in the input")


class MySQLWriter(MySQLConnectionTools):
    """Writer + StagedWriter + StateKeeper + Discoverer + HealthCheck for MySQL and MariaDB."""

    def write(self, ctx: StepContext, data: pa.RecordBatchReader) -> WriteResult:
        opts = Options(ctx.config)
        params = conn_params(ctx.connection, ctx.config)
        # LOCAL INFILE lets the server ask for client files: enable it only when it may be used
        conn = connect(params, local_infile=opts.method != "insert", autocommit=False)
        try:
            return _write(ctx, conn, params, opts, data)
        finally:
            if conn.open:  # settling a parallel load may have closed it
                conn.close()

    def stage(self, ctx: StepContext, data: pa.RecordBatchReader, token: str, partition: int) -> WriteResult:
        from osiris.drivers.mysql.staged import stage_partition  # staged.py builds on this module

        return stage_partition(ctx, Options(ctx.config), conn_params(ctx.connection, ctx.config), data, token,
                               partition)

    def publish(self, ctx: StepContext, token: str, partitions: int) -> WriteResult:
        from osiris.drivers.mysql.staged import publish_staged

        return publish_staged(ctx, Options(ctx.config), conn_params(ctx.connection, ctx.config), token, partitions)

    def discard(self, ctx: StepContext, token: str, partitions: int) -> None:
        from osiris.drivers.mysql.staged import discard_staged

        discard_staged(Options(ctx.config), conn_params(ctx.connection, ctx.config), token, partitions)

    # -- StateKeeper: `_osiris_state` in the target's database (state.py) ------------------------
    def read_state(self, ctx: StepContext, pipeline: str, step: str) -> str | None:
        params = conn_params(ctx.connection, ctx.config)
        return load_state(params, state_table(params, Options(ctx.config).table), pipeline, step).get(step)

    def list_state(self, ctx: StepContext, pipeline: str) -> dict[str, str]:
        params = conn_params(ctx.connection, ctx.config)
        return load_state(params, state_table(params, Options(ctx.config).table), pipeline)

    def reset_state(self, ctx: StepContext, pipeline: str, steps: Iterable[str]) -> int:
        params = conn_params(ctx.connection, ctx.config)
        return clear_state(params, state_table(params, Options(ctx.config).table), pipeline, steps)


def _write(ctx: StepContext, conn: pymysql.connections.Connection, params: ConnParams, opts: Options,
           data: pa.RecordBatchReader) -> WriteResult:
    """One write: inspect the target, then load the stream into it under the write mode."""
    schema = data.schema
    try:
        with conn.cursor() as cur:
            columns, unique_keys = table_info(cur, params, opts.table)
            method = load_method(cur, opts.method)
    except pymysql.MySQLError as error:
        raise classify(error, params, action=f"inspect table {opts.table!r}") from None
    check_target(opts, schema.names, columns, unique_keys)
    created_keys = [{k for k in opts.keys if k in schema.names}] if opts.keys else []
    route = routing_column(schema, unique_keys if columns else created_keys)
    branches = _parallel(ctx, conn, params, opts, method, schema, route)
    if branches is None:
        _finish_lost_loads(ctx, conn, params, opts)
    ctx.event("mysql.write.start", table=opts.table, mode=opts.mode, method=method, exists=bool(columns),
              connections=branches.count if branches is not None else 1)
    commit = getattr(ctx, "state_commit", None)
    state_sql = state_table(params, opts.table) if commit is not None else ""
    if commit is not None:
        try:
            with conn.cursor() as cur:
                ensure_table(cur, state_sql)  # DDL commits implicitly: before the transaction
        except pymysql.MySQLError as error:
            raise classify(error, params, action="create the incremental state table") from None

    def create(table_sql: str) -> None:
        with conn.cursor() as cur:
            cur.execute(create_table_sql(table_sql, schema, [k for k in opts.keys if k in schema.names]))

    def fill(table_sql: str) -> WriteResult:
        keys = opts.keys if opts.mode == "upsert" else []
        conns = [conn, *branches.start(conn)] if branches is not None else [conn]
        if branches is not None and len(conns) < branches.count:
            ctx.event("mysql.write.fewer_connections", table=opts.table, asked=branches.count, opened=len(conns),
                      reason="the server refused a connection (e.g. max_connections)")
        loaders: list[Loader] = []
        try:
            for each in conns:
                loaders.append(Loader(each, table_sql, schema, method, keys, ctx.temp_dir, opts.batch_size))
        except BaseException:
            FanOut(loaders).close()
            raise
        rows, nbytes = load_stream(ctx, loaders[0] if len(loaders) == 1 else FanOut(loaders, route or None), data)
        with conn.cursor() as cur:
            if commit is not None:
                save_state(cur, state_sql, commit.records())
            if branches is not None:
                branches.prepare(cur)
        return WriteResult(rows=rows, bytes=nbytes, target=opts.table)

    return ApplyMode(ctx, conn, params, opts, create, fill, branches).run(bool(columns))


def _parallel(ctx: StepContext, conn: pymysql.connections.Connection, params: ConnParams, opts: Options,
              method: str, schema: pa.Schema, route: str | None | bool) -> Branches | None:
    """The extra LOAD DATA connections of this write (branches.py), or None for one connection:
    asked for, no way to keep equal keys on one connection, or the server refuses XA or the
    decision table (an event says why)."""
    if method != "load_data" or opts.connections < 2 or opts.mode == "upsert":
        return None  # upsert's rows meet in a temporary table, which belongs to one connection
    if route is False:
        ctx.event("mysql.write.one_connection", table=opts.table,
                  reason="the table has several unique keys, or its key has no integer column to deal rows by")
        return None
    key = route if isinstance(route, str) else None
    table_sql = decision_table(params, opts.table)
    database, name = split_table(opts.table)
    try:
        with conn.cursor() as cur:
            hazard = parallel_hazard(cur, database or params.database or "", name, schema, key)
        if hazard is not None:
            ctx.event("mysql.write.one_connection", table=opts.table,
                      reason=f"{hazard}: rows on two connections could wait for each other's locks")
            return None
        probe_xa(conn)
        with conn.cursor() as cur:
            ensure_decision_table(cur, table_sql)  # DDL commits implicitly: before the transaction
        finished = recover(conn, table_sql)
    except pymysql.MySQLError as error:
        ctx.event("mysql.write.one_connection", table=opts.table, reason=str(classify(
            error, params, action="prepare a parallel load (XA and the `_osiris_loads` table)")))
        return None
    except _UNEXPECTED_ANSWER:
        ctx.event("mysql.write.one_connection", table=opts.table,
                  reason="the server's answers to the parallel-load checks were not understood")
        return None
    for xid, action in finished:
        ctx.event("mysql.write.recovered", xid=xid, action=action)
    return Branches(params, opts.connections, table_sql)


_UNEXPECTED_ANSWER = (LookupError, TypeError, ValueError)
"""What a server (or a stand-in) whose answers have another shape raises in the checks: the
write goes on as before, on one connection."""


def _finish_lost_loads(ctx: StepContext, conn: pymysql.connections.Connection, params: ConnParams,
                       opts: Options) -> None:
    """A one-connection write also finishes parallel loads a lost writer left prepared in this
    database (branches.recover): their locks would otherwise hold up its rows or its RENAME.
    Only where `_osiris_loads` exists; a user who may not run XA RECOVER skips it."""
    database = split_table(opts.table)[0] or params.database
    if not database:
        return
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s",
                        (database, DECISION_TABLE))
            if cur.fetchone() is None:
                return
        finished = recover(conn, decision_table(params, opts.table))
    except (pymysql.MySQLError, *_UNEXPECTED_ANSWER):
        return
    for xid, action in finished:
        ctx.event("mysql.write.recovered", xid=xid, action=action)


class ApplyMode:
    """Rows into the target under the write mode, all or nothing: `fill(table_sql)` loads them
    into a table (inside a transaction this class opens), `create(table_sql)` makes a table for
    a missing target. append/upsert fill the target in one transaction; replace fills a copy
    and swaps it in. On failure: rollback, and whatever this write created is dropped.

    With parallel `branches` (branches.py) the COMMIT is the load's commit point: after it
    nothing undoes the load, and a COMMIT whose reply was lost is settled by its decision row."""

    def __init__(self, ctx: StepContext, conn: pymysql.connections.Connection, params: ConnParams,
                 opts: Options, create: Callable[[str], None], fill: Callable[[str], WriteResult],
                 branches: Branches | None = None) -> None:
        self.ctx, self.conn, self.params, self.opts = ctx, conn, params, opts
        self.create, self.fill, self.branches = create, fill, branches
        self.target = qualified(opts.table)
        self._given = conn

    def _sql(self, sql: str) -> None:
        if not self.conn.open:  # settling a parallel load closed it
            self.conn = connect(self.params, autocommit=False)
        with self.conn.cursor() as cur:
            cur.execute(sql)

    def run(self, exists: bool) -> WriteResult:
        try:
            if self.opts.mode == "replace":
                return self._replace(exists)
            return self._transactional(exists)
        finally:
            if self.conn is not self._given:
                self.conn.close()

    def _transactional(self, exists: bool) -> WriteResult:
        created = False
        try:
            if not exists:
                self.create(self.target)  # DDL commits implicitly: do it before the transaction
                created = True
            self.conn.begin()
            result = self.fill(self.target)
            self._commit()
        except BaseException as error:
            self._undo(f"DROP TABLE IF EXISTS {self.target}" if created else None)
            raise self._failure(error) from None
        self._commit_branches(f"the load into {self.opts.table!r} is committed, but part of its rows "
                              "may not be visible yet")
        return result

    def _replace(self, exists: bool) -> WriteResult:
        schema_name, name = split_table(self.opts.table)
        tag = uuid.uuid4().hex[:8]
        stage_name, old_name = f"{name[:40]}__osiris_new_{tag}", f"{name[:40]}__osiris_old_{tag}"
        prefix = f"{quote_ident(schema_name)}." if schema_name else ""
        stage, old = prefix + quote_ident(stage_name), prefix + quote_ident(old_name)
        try:
            if exists:
                self._sql(f"CREATE TABLE {stage} LIKE {self.target}")
            else:
                self.create(stage)
            self.conn.begin()
            result = self.fill(stage)
            self._commit()
        except BaseException as error:
            self._undo(f"DROP TABLE IF EXISTS {stage}")
            raise self._failure(error) from None
        # a branch left prepared holds the stage (DROP would wait for it): it stays, named
        self._commit_branches(f"the new contents of {self.opts.table!r} are committed in {stage_name!r} but "
                              "were not swapped in (the table is unchanged); drop it once the load is finished")
        try:
            if exists:
                self._sql(f"RENAME TABLE {self.target} TO {old}, {stage} TO {self.target}")
            else:
                self._sql(f"RENAME TABLE {stage} TO {self.target}")
        except BaseException as error:
            self._undo(f"DROP TABLE IF EXISTS {stage}")
            raise self._failure(error) from None
        if exists:
            try:
                self._sql(f"DROP TABLE {old}")
            except pymysql.MySQLError as error:
                self.ctx.event("mysql.write.cleanup_failed", table=old_name, error=str(classify(
                    error, self.params, action="drop the replaced table")))
        return result

    def _commit(self) -> None:
        """COMMIT the write's transaction. For a parallel load whose COMMIT reply was lost, its
        decision row says whether it happened (Branches.settle)."""
        try:
            self.conn.commit()
        except BaseException:
            if self.branches is None or not self.branches.decided or self.branches.settle(self.conn) != "commit":
                raise
            self.ctx.event("mysql.write.commit_confirmed", table=self.opts.table,
                           reason="the COMMIT's reply was lost; the load's decision row shows it happened")

    def _commit_branches(self, unfinished: str) -> None:
        """Phase 2 of a parallel load, after its commit point: nothing undoes the load any more."""
        branches, self.branches = self.branches, None
        if branches is None:
            return
        try:
            branches.commit(self.conn)  # settles it on failure
        except (DriverError, pymysql.MySQLError) as error:
            raise DriverError(
                f"{unfinished}: {error}",
                hint="the next parallel write to this database finishes the load (or an admin: XA RECOVER, "
                     "then XA COMMIT)",
            ) from None
        finally:
            branches.close()

    def _undo(self, drop_sql: str | None) -> None:
        """Roll back, and drop what this run created; best effort (the connection may be gone).
        A parallel load's branch left prepared holds the table: then no DROP (it would wait)."""
        try:
            self.conn.rollback()
        except Exception:  # noqa: BLE001 - a lost connection has rolled back by itself
            pass
        clean = self.branches.rollback(self.conn) if self.branches is not None else True
        try:
            if drop_sql and clean:
                self._sql(drop_sql)
        except Exception:  # noqa: BLE001 - best effort, as above
            pass

    def _failure(self, error: BaseException) -> BaseException:
        if isinstance(error, pymysql.MySQLError):
            return classify(error, self.params, action=f"write to {self.opts.table!r}")
        return error
