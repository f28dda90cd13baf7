"""LOAD DATA on several connections at once, committed all or nothing.

One LOAD DATA statement keeps one server thread busy: parsing the rows and inserting them into
InnoDB is the whole cost of a load, and a second connection doubles what the server can do
(docs/performance.md: 3M rows in 11.3 s on two connections against 17.4 s on one, with the
`mariadb` client itself). Rows are dealt out to the writer's own connection (branch 0) and to
`load_connections - 1` more, each running its own LOAD DATA.

InnoDB transactions belong to one connection, so the extra ones are XA branches, and the commit
is a two-phase commit whose decision is recorded in the target's database:

1. every extra branch: `XA END`, `XA PREPARE` (durable, invisible, kept by the server even if
   our connection is lost);
2. branch 0, the writer's ordinary transaction, inserts the load's id into `_osiris_loads` and
   COMMITs: this is the commit point, atomic with branch 0's rows;
3. every extra branch: `XA COMMIT`; then the decision row is deleted.

A failure before 2 rolls every branch back. When the outcome of 2 is unknown (the COMMIT's
reply lost) or 3 fails, `settle` ends our sessions and, once the server has let go of them,
does what the decision row says. A writer that dies between the phases leaves prepared
branches behind; the next parallel write to that database finishes them the same way
(`recover`), skipping those whose sessions still hold their named locks (GET_LOCK, released
by the server when a session ends, after it has dealt with its transaction).

Every session of a load must be free to finish without the others: a lock one branch waits
for and another holds until our commit would stall the load (fanout.py says which rows go
where, and which tables load on one connection). Readers may
see branch 0's rows a moment (the XA COMMITs) before the others'; `load_connections: 1` loads
on one connection, in one ordinary transaction, as before.
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import pymysql

from osiris.drivers.mysql.connect import ConnParams, connect, quote_ident, split_table
from osiris.runtime.driver import DriverError

__all__ = ["DECISION_TABLE", "Branches", "decision_table", "ensure_decision_table", "load_id", "probe_xa",
           "recover"]

DECISION_TABLE = "_osiris_loads"
_PREFIX = "osiris-load"
_LOAD_ID = re.compile(r"osiris-load:([0-9]{1,20}):([0-9a-f]{8}):([0-9a-f]{16})")
_BRANCH = re.compile(r"[1-9][0-9]?")
_XAER_NOTA = 1397
"""Unknown XID: the branch was already committed or rolled back."""
SETTLE_WAIT_S = 30.0
"""How long `settle` waits for the server to end our sessions before leaving it to recovery."""


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
    return f"'{gtrid}', '{branch}'"  # both match _LOAD_ID / _BRANCH ([a-z0-9:-]): nothing to escape


def _lock(gtrid: str, branch: int) -> str:
    """The named lock branch `branch`'s session holds (the writer's own holds `gtrid`)."""
    return f"{gtrid}/{branch}"


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


def _ours(row: Sequence[object], table_sql: str) -> tuple[str, int] | None:
    """(gtrid, branch) of an `XA RECOVER` row that is a parallel load recorded in `table_sql`;
    None for anything else (other applications' XA, binary ids, another database's loads)."""
    try:
        format_id, gtrid_length, bqual_length, data = row
        raw = data if isinstance(data, bytes) else str(data).encode("utf-8", "replace")
        cut = int(gtrid_length)  # type: ignore[call-overload]
        gtrid = raw[:cut].decode("ascii")
        bqual = raw[cut:cut + int(bqual_length)].decode("ascii")  # type: ignore[call-overload]
        if int(format_id) != 1:  # type: ignore[call-overload]
            return None
    except (UnicodeDecodeError, ValueError, TypeError):
        return None
    match = _LOAD_ID.fullmatch(gtrid)
    if match is None or not _BRANCH.fullmatch(bqual) or gtrid != load_id(int(match[1]), table_sql, match[3]):
        return None
    return gtrid, int(bqual)


def _lock_free(cur: pymysql.cursors.Cursor, name: str, wait_s: float = 0.0) -> bool:
    """Whether no session holds the named lock, waiting up to `wait_s` for it to be let go."""
    deadline = time.monotonic() + wait_s
    while True:
        cur.execute("SELECT IS_FREE_LOCK(%s)", (name,))
        if cur.fetchone()[0] == 1:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


def _recover(cur: pymysql.cursors.Cursor, table_sql: str) -> list[tuple[str, str]]:
    cur.execute("XA RECOVER")
    found = [x for x in (_ours(row, table_sql) for row in cur.fetchall()) if x is not None]
    prepared = sorted({gtrid for gtrid, _ in found})
    cur.execute(  # decisions whose branches were all committed, kept by a writer lost just before deleting them
        f"DELETE FROM {table_sql} WHERE decided_at < NOW(6) - INTERVAL 1 DAY"
        + (f" AND load_id NOT IN ({', '.join(['%s'] * len(prepared))})" if prepared else ""), prepared)
    gone = [gtrid for gtrid in prepared  # every session of the load has ended
            if _lock_free(cur, gtrid) and all(_lock_free(cur, _lock(g, b)) for g, b in found if g == gtrid)]
    done = []
    for gtrid in gone:
        action = _decision(cur, table_sql, gtrid)
        for branch in sorted(b for g, b in found if g == gtrid):
            _finish(cur, action, gtrid, branch)
            done.append((f"{gtrid}/{branch}", action))
        cur.execute(f"DELETE FROM {table_sql} WHERE load_id = %s", (gtrid,))
    return done


def _decision(cur: pymysql.cursors.Cursor, table_sql: str, gtrid: str) -> str:
    cur.execute(f"SELECT 1 FROM {table_sql} WHERE load_id = %s", (gtrid,))
    return "commit" if cur.fetchone() else "rollback"


def _finish(cur: pymysql.cursors.Cursor, action: str, gtrid: str, branch: int) -> None:
    """XA COMMIT or ROLLBACK of one prepared branch; one already finished (XAER_NOTA) is fine."""
    try:
        cur.execute(f"XA {action.upper()} {_xid(gtrid, branch)}")
    except pymysql.MySQLError as error:
        if error.args[0] != _XAER_NOTA:
            raise


class Branches:
    """The extra connections of one parallel load and its two-phase commit (module docstring)."""

    def __init__(self, params: ConnParams, count: int, table_sql: str) -> None:
        self.params, self.count, self.table_sql = params, count, table_sql
        self.conns: list[pymysql.connections.Connection] = []
        self.gtrid = ""
        self.prepared = 0
        self.decided = False
        """The decision row is in branch 0's transaction: from its COMMIT on, never roll back blindly."""
        self.settled: str | None = None
        self.unsettled = False
        """A settle was tried and failed: its outcome is recovery's."""

    def start(self, main: pymysql.connections.Connection) -> list[pymysql.connections.Connection]:
        """Open the extra connections, each in an XA branch of this load; returns them."""
        with main.cursor() as cur:
            cur.execute("SELECT CONNECTION_ID()")
            self.gtrid = load_id(int(cur.fetchone()[0]), self.table_sql, uuid.uuid4().hex[:16])
            _hold(cur, self.gtrid)
        for branch in range(1, self.count):
            try:
                conn = connect(self.params, local_infile=True, autocommit=False)
            except DriverError:
                break  # e.g. the server's max_connections: load on the connections there are
            try:
                with conn.cursor() as cur:
                    _hold(cur, _lock(self.gtrid, branch))
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
        """Phase 2, after branch 0 committed: commit every extra branch on its own connection,
        then delete the decision. Any failure: `settle` (which closes `main`)."""
        try:
            for branch, conn in enumerate(self.conns, start=1):
                with conn.cursor() as cur:
                    _finish(cur, "commit", self.gtrid, branch)
            with main.cursor() as cur:
                cur.execute(f"DELETE FROM {self.table_sql} WHERE load_id = %s", (self.gtrid,))
            main.commit()
            self.settled = "commit"
        except pymysql.MySQLError:
            self.settle(main)

    def settle(self, main: pymysql.connections.Connection) -> str:
        """Finish the load as its decision row says, from a fresh connection, once the server has
        ended every session of it (their named locks free): the way to a certain outcome when
        branch 0's COMMIT reply was lost or phase 2 failed. Closes `main`. Returns "commit" or
        "rollback"; raises DriverError if the server would not let go of our sessions in time
        (the next parallel write finishes the load then)."""
        if self.settled is not None:
            return self.settled
        if self.unsettled:
            raise DriverError(f"the outcome of the parallel load {self.gtrid} is left to the next parallel write "
                              "to this database")
        self.unsettled = True  # until it succeeds: never settle twice (each try may wait SETTLE_WAIT_S)
        self.close()
        _quietly(main.close)
        fresh = connect(self.params, autocommit=True)
        try:
            with fresh.cursor() as cur:
                names = [self.gtrid] + [_lock(self.gtrid, b) for b in range(1, len(self.conns) + 1)]
                deadline = time.monotonic() + SETTLE_WAIT_S
                if not all(_lock_free(cur, name, max(0.0, deadline - time.monotonic())) for name in names):
                    raise DriverError(
                        f"the server still holds a session of the parallel load {self.gtrid} after "
                        f"{SETTLE_WAIT_S:.0f} s; its outcome is left to the next parallel write to this database",
                        hint="an admin can finish it: XA RECOVER, then XA COMMIT if `_osiris_loads` lists it, "
                             "else XA ROLLBACK")
                action = _decision(cur, self.table_sql, self.gtrid)
                for branch in range(1, len(self.conns) + 1):
                    _finish(cur, action, self.gtrid, branch)
                cur.execute(f"DELETE FROM {self.table_sql} WHERE load_id = %s", (self.gtrid,))
        finally:
            _quietly(fresh.close)
        self.settled, self.unsettled = action, False
        return action

    def rollback(self, main: pymysql.connections.Connection) -> bool:
        """Before the commit point: undo every extra branch. A branch not yet prepared is rolled
        back by the server when its connection closes; a prepared one through its connection,
        else the whole load is settled. False if a branch may be left prepared (it holds the
        table: a DROP would wait for it)."""
        if self.settled is not None or self.unsettled:
            return self.settled == "rollback"
        for branch, conn in enumerate(self.conns, start=1):
            xid = _xid(self.gtrid, branch)
            if branch > self.prepared:
                _sql_quietly(conn, f"XA END {xid}")
                _sql_quietly(conn, f"XA ROLLBACK {xid}")
            elif not _sql_quietly(conn, f"XA ROLLBACK {xid}"):
                try:
                    return self.settle(main) == "rollback"
                except (DriverError, pymysql.MySQLError):
                    return False
        self.close()
        self.settled = "rollback"
        return True

    def close(self) -> None:
        for conn in self.conns:
            _quietly(conn.close)


def _hold(cur: pymysql.cursors.Cursor, name: str) -> None:
    cur.execute("SELECT GET_LOCK(%s, 0)", (name,))
    if cur.fetchone()[0] != 1:  # names are unique per load: only a broken server refuses
        raise pymysql.err.OperationalError(0, f"could not take the named lock {name}")


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
