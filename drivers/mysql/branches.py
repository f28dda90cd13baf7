"""LOAD DATA on several connections at once, committed all or nothing.

One LOAD DATA statement keeps one server thread busy: parsing the rows and inserting them into
InnoDB is the whole cost of a load, and a second connection doubles what the server can do
(docs/performance.md: 3M rows in 11.3 s on two connections against 17.4 s on one, with the
`mariadb` client itself). Rows are dealt out by batch to the writer's own connection (branch 0)
and to `load_connections - 1` more, each running its own LOAD DATA.

InnoDB transactions belong to one connection, so the extra ones are XA branches, and the commit
is a two-phase commit whose decision is recorded in the target's database:

1. every extra branch: `XA END`, `XA PREPARE` (durable, invisible, kept by the server even if
   our connection is lost);
2. branch 0, the writer's ordinary transaction, inserts the load's id into `_osiris_loads` and
   COMMITs: this is the commit point, atomic with branch 0's rows;
3. every extra branch: `XA COMMIT`; then the decision row is deleted.

A failure before 2 rolls every branch back. A writer that dies between 2 and 3 leaves prepared
branches behind whose decision row says "commit"; one that dies before 2 leaves prepared
branches without one. The next parallel write to that database finishes either (`recover`),
skipping branches whose writer still holds its load's named lock (GET_LOCK, released by the
server when the writer's connection ends). Readers may see branch 0's rows a moment
(the XA COMMITs) before the others'; `load_connections: 1` loads on one connection, in one
ordinary transaction, as before. A server that refuses XA or the decision table (privileges,
Galera) gets one connection too, and an event says why.
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import pyarrow as pa
import pymysql

from osiris.drivers.common.arrow_types import kernel
from osiris.drivers.mysql.connect import ConnParams, connect, quote_ident, split_table
from osiris.drivers.mysql.load import Loader
from osiris.runtime.driver import DriverError

__all__ = ["DECISION_TABLE", "Branches", "FanOut", "decision_table", "ensure_decision_table", "load_id",
           "probe_xa", "recover", "routing_column"]

DECISION_TABLE = "_osiris_loads"
_PREFIX = "osiris-load"


def decision_table(params: ConnParams, table: str) -> str:
    """`_osiris_loads` in the database of `table` (else the connection's)."""
    database = split_table(table)[0] or params.database
    if not database:
        raise DriverError("cannot tell which database records parallel loads",
                          hint="give the connection a `database`, or write `table: database.table`")
    return f"{quote_ident(database)}.{quote_ident(DECISION_TABLE)}"


def load_id(writer: int, table_sql: str, unique: str) -> str:
    """The XA gtrid of one parallel load, `osiris-load:<writer's connection id>:<tag>:<unique>`,
    also the name of the lock its writer holds (GET_LOCK: at most 64 characters, ~49 here).
    The tag names the decision table, so recovery from another database leaves it alone."""
    tag = hashlib.sha256(table_sql.encode()).hexdigest()[:8]
    return f"{_PREFIX}:{writer}:{tag}:{unique}"


def _xid(gtrid: str, branch: int) -> str:
    return f"'{gtrid}', '{branch}'"  # both made here of [a-z0-9-]: nothing to escape


@contextmanager
def _autocommit(conn: pymysql.connections.Connection) -> Iterator[pymysql.cursors.Cursor]:
    """A cursor outside any local transaction: XA COMMIT/ROLLBACK of another connection's
    branch is refused (XAER_OUTSIDE) in a session with autocommit off."""
    conn.commit()
    conn.autocommit(True)
    try:
        with conn.cursor() as cur:
            yield cur
    finally:
        conn.autocommit(False)


def probe_xa(conn: pymysql.connections.Connection) -> None:
    """Raise the server's error if it has no XA transactions (Galera, some proxies)."""
    xid = f"'{_PREFIX}-probe:{uuid.uuid4().hex[:16]}'"
    with _autocommit(conn) as cur:
        cur.execute(f"XA START {xid}")
        cur.execute(f"XA END {xid}")
        cur.execute(f"XA ROLLBACK {xid}")


def recover(conn: pymysql.connections.Connection, table_sql: str) -> list[tuple[str, str]]:
    """Finish the prepared branches of parallel loads whose writer is gone: commit those whose
    decision row exists, roll back the others. Returns (xid, "commit" | "rollback") for each."""
    with _autocommit(conn) as cur:
        return _recover(cur, table_sql)


def _recover(cur: pymysql.cursors.Cursor, table_sql: str) -> list[tuple[str, str]]:
    cur.execute("XA RECOVER")
    found = []
    for _format, gtrid_length, bqual_length, data in cur.fetchall():
        data = data.decode() if isinstance(data, bytes) else str(data)
        gtrid, bqual = data[:int(gtrid_length)], data[int(gtrid_length):int(gtrid_length) + int(bqual_length)]
        parts = gtrid.split(":")
        if len(parts) != 4 or not parts[1].isdigit() or not bqual.isdigit() \
                or gtrid != load_id(int(parts[1]), table_sql, parts[3]):
            continue  # not a parallel load recorded in this database's table
        found.append((gtrid, bqual, int(parts[1])))
    prepared = sorted({gtrid for gtrid, _, _ in found})
    cur.execute(  # decisions whose branches were all committed, kept by a writer lost just before deleting them
        f"DELETE FROM {table_sql} WHERE decided_at < NOW(6) - INTERVAL 1 DAY"
        + (f" AND load_id NOT IN ({', '.join(['%s'] * len(prepared))})" if prepared else ""), prepared)
    if not found:
        return []
    alive = set()
    for gtrid in prepared:  # a writer holds its load's named lock until its connection ends
        cur.execute("SELECT IS_FREE_LOCK(%s)", (gtrid,))
        if cur.fetchone()[0] != 1:
            alive.add(gtrid)
    done = []
    for gtrid, bqual, _ in found:
        if gtrid in alive:
            continue  # its writer may still commit or roll back
        cur.execute(f"SELECT 1 FROM {table_sql} WHERE load_id = %s", (gtrid,))
        action = "commit" if cur.fetchone() else "rollback"
        cur.execute(f"XA {action.upper()} {_xid(gtrid, int(bqual))}")
        done.append((f"{gtrid}/{bqual}", action))
    for gtrid in sorted(set(prepared) - alive):
        cur.execute(f"DELETE FROM {table_sql} WHERE load_id = %s", (gtrid,))
    return done


def routing_column(schema: pa.Schema, unique_keys: Sequence[set[str]]) -> str | None | bool:
    """How rows are dealt out so that two rows with the same key meet on one connection: an
    integer column of the table's only unique key (rows go by its value), None when the table
    has no unique key (any batch anywhere), False when no such column exists (one connection).

    Rows with one key on two connections would not fail as a repeated key: the second would
    wait for the first's lock, held until our commit, which waits for the second."""
    if not unique_keys:
        return None
    if len(unique_keys) > 1:
        return False
    for name in sorted(unique_keys[0]):
        index = schema.get_field_index(name)
        if index >= 0 and pa.types.is_integer(schema.field(index).type):
            return name
    return False


class FanOut:
    """Several loaders behind one: a batch goes to the next loader (round robin), or, with a
    routing column, each row to loader `value % count` (so equal keys share a connection)."""

    def __init__(self, loaders: Sequence[Loader], route: str | None = None) -> None:
        self.loaders = list(loaders)
        self.route = route
        self._next = itertools.cycle(self.loaders)

    def add(self, batch: pa.RecordBatch) -> None:
        if self.route is None:
            next(self._next).add(batch)
            return
        for index, part in enumerate(_split(batch, self.route, len(self.loaders))):
            if part.num_rows:
                self.loaders[index].add(part)

    def finish(self) -> None:
        """End every stream; raises the first failure after all have stopped."""
        errors: list[BaseException] = []
        for loader in self.loaders:
            try:
                loader.finish()
            except BaseException as error:  # noqa: BLE001 - the first is re-raised below
                errors.append(error)
        if errors:
            raise errors[0]

    def close(self) -> None:
        for loader in self.loaders:
            loader.close()


def _split(batch: pa.RecordBatch, column: str, count: int) -> list[pa.RecordBatch]:
    """`batch`'s rows by |`column` mod `count`| (Arrow has no modulo kernel: key - key / count *
    count); a null key goes to the first (the server refuses it there)."""
    keys = batch.column(column)
    if keys.null_count:
        keys = kernel("coalesce", keys, pa.scalar(0, keys.type))
    divisor = pa.scalar(count, keys.type)
    spread = kernel("abs", kernel("subtract", keys, kernel("multiply", kernel("divide", keys, divisor), divisor)))
    return [kernel("filter", batch, kernel("equal", spread, pa.scalar(i, keys.type))) for i in range(count)]


class Branches:
    """The extra connections of one parallel load and its two-phase commit (module docstring)."""

    def __init__(self, params: ConnParams, count: int, table_sql: str) -> None:
        self.params, self.count, self.table_sql = params, count, table_sql
        self.conns: list[pymysql.connections.Connection] = []
        self.gtrid = ""
        self.prepared = 0
        self.decided = False

    def start(self, main: pymysql.connections.Connection) -> list[pymysql.connections.Connection]:
        """Open the extra connections, each in an XA branch of this load; returns them."""
        with main.cursor() as cur:
            cur.execute("SELECT CONNECTION_ID()")
            self.gtrid = load_id(int(cur.fetchone()[0]), self.table_sql, uuid.uuid4().hex[:16])
            cur.execute("SELECT GET_LOCK(%s, 0)", (self.gtrid,))  # held while we live: recovery skips us
        for branch in range(1, self.count):
            try:
                conn = connect(self.params, local_infile=True, autocommit=False)
            except DriverError:
                break  # e.g. the server's max_connections: load on the connections there are
            try:
                with conn.cursor() as cur:
                    cur.execute(f"XA START {_xid(self.gtrid, branch)}")
            except pymysql.MySQLError:
                _quietly(conn.close)
                break
            self.conns.append(conn)
        return list(self.conns)

    def prepare(self, main_cur: pymysql.cursors.Cursor) -> None:
        """Phase 1: prepare every extra branch, then record the decision in branch 0's transaction
        (it commits with the caller's COMMIT, the commit point)."""
        for branch, conn in enumerate(self.conns, start=1):
            with conn.cursor() as cur:
                cur.execute(f"XA END {_xid(self.gtrid, branch)}")
                cur.execute(f"XA PREPARE {_xid(self.gtrid, branch)}")
            self.prepared = branch
        main_cur.execute(f"INSERT INTO {self.table_sql} (load_id) VALUES (%s)", (self.gtrid,))
        self.decided = True

    def commit(self, main: pymysql.connections.Connection) -> None:
        """Phase 2, after branch 0 committed: commit every extra branch, then drop the decision.

        A branch whose own connection fails is committed through branch 0's (a prepared branch
        belongs to no connection once its own is gone); if that fails too, its decision row stays
        and the next parallel write commits it."""
        pending = []
        for branch, conn in enumerate(self.conns, start=1):
            try:
                with conn.cursor() as cur:
                    cur.execute(f"XA COMMIT {_xid(self.gtrid, branch)}")
            except pymysql.MySQLError:
                pending.append(branch)
        with _autocommit(main) as cur:
            for branch in pending:
                _quietly(self.conns[branch - 1].close)
                cur.execute(f"XA COMMIT {_xid(self.gtrid, branch)}")
            cur.execute(f"DELETE FROM {self.table_sql} WHERE load_id = %s", (self.gtrid,))

    def rollback(self, main: pymysql.connections.Connection) -> bool:
        """Before the commit point: undo every extra branch. A branch not yet prepared is rolled
        back by the server when its connection closes; a prepared one is rolled back through its
        connection, else through branch 0's. False if a prepared branch is left (recovery's job)."""
        clean = True
        for branch, conn in enumerate(self.conns, start=1):
            xid = _xid(self.gtrid, branch)
            if branch > self.prepared:
                _sql_quietly(conn, f"XA END {xid}")
                _sql_quietly(conn, f"XA ROLLBACK {xid}")
            elif not _sql_quietly(conn, f"XA ROLLBACK {xid}"):
                _quietly(conn.close)
                clean = _quietly(lambda xid=xid: _rollback_through(main, xid)) and clean
        self.close()
        return clean

    def close(self) -> None:
        for conn in self.conns:
            _quietly(conn.close)


def _rollback_through(main: pymysql.connections.Connection, xid: str) -> None:
    with _autocommit(main) as cur:
        cur.execute(f"XA ROLLBACK {xid}")


def _sql_quietly(conn: pymysql.connections.Connection, sql: str) -> bool:
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
        return True
    except Exception:  # noqa: BLE001 - a lost connection has rolled back (or kept a prepared branch)
        return False


def _quietly(action: Callable[[], object]) -> bool:
    try:
        action()
        return True
    except Exception:  # noqa: BLE001 - a lost connection has rolled back (or kept a prepared branch)
        return False


def ensure_decision_table(cur: pymysql.cursors.Cursor, table_sql: str) -> None:
    cur.execute(
        f"CREATE TABLE IF NOT EXISTS {table_sql} (load_id VARCHAR(64) NOT NULL PRIMARY KEY, "
        "decided_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB"
    )
