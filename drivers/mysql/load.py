"""Moving batches into a table: multi-row INSERT or LOAD DATA LOCAL INFILE.

Both run inside the caller's transaction and never commit. Rendering (Arrow compute, in this
thread) overlaps with the server's work: statements go to a one-slot queue that a worker
thread executes on the connection, which nothing else touches until `finish`.

LOAD DATA LOCAL turns duplicate keys and conversion errors into warnings (the server cannot
stop the client mid-file), so every load checks its warnings and fails on the first one:
the writer stays as strict as a plain INSERT. The server may ask only for the file of the
statement running (`drivers.mysql.infile.expect_file`); any other request aborts the load.
"""

from __future__ import annotations

import queue
import threading
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import pyarrow as pa
import pymysql

from osiris.drivers.common import os_error
from osiris.drivers.mysql.connect import quote_ident
from osiris.drivers.mysql.infile import expect_file
from osiris.drivers.mysql.render import csv_bytes, insert_values, is_binary, storage_type
from osiris.runtime.driver import DriverError, StepContext, iter_batches

__all__ = ["Loader", "check_columns", "load_stream", "raise_warnings"]

MAX_STATEMENT_BYTES = 4 << 20
_STOP = object()


def _string_literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def upsert_clause(columns: Sequence[str], keys: Sequence[str]) -> str:
    updates = [c for c in columns if c not in keys] or list(keys[:1])
    pairs = (f"{quote_ident(c)} = VALUES({quote_ident(c)})" for c in updates)
    return " ON DUPLICATE KEY UPDATE " + ", ".join(pairs)


class _Worker(threading.Thread):
    """Executes queued callables on the connection, in order; keeps the first failure."""

    def __init__(self) -> None:
        super().__init__(name="osiris-mysql-load", daemon=True)
        self.jobs: queue.Queue[object] = queue.Queue(maxsize=2)
        self.error: BaseException | None = None

    def run(self) -> None:
        while True:
            job = self.jobs.get()
            if job is _STOP:
                return
            if self.error is None:
                try:
                    job()  # type: ignore[operator]
                except BaseException as error:  # noqa: BLE001 - re-raised in the caller's thread
                    self.error = error

    def submit(self, job: Callable[[], None]) -> None:
        self.raise_error()
        self.jobs.put(job)

    def raise_error(self) -> None:
        if self.error is not None:
            raise self.error

    def stop(self) -> None:
        self.jobs.put(_STOP)
        self.join()


class Loader:
    """Loads batches into `target` with `method` ("insert" or "load_data")."""

    def __init__(self, conn: pymysql.connections.Connection, target: str, schema: pa.Schema,
                 method: str, upsert_keys: Sequence[str], temp_dir: Path, batch_size: int) -> None:
        self.conn, self.target, self.schema, self.method = conn, target, schema, method
        self.keys = list(upsert_keys)
        self.batch_size = batch_size
        self.columns = list(schema.names)
        self.column_sql = ", ".join(quote_ident(c) for c in self.columns)
        self.file = temp_dir / f"mysql-load-{uuid.uuid4().hex}.csv"
        self.pending: list[bytes] = []
        self.pending_rows = 0
        self.stage: str | None = None
        self.worker = _Worker()
        self.worker.start()
        self._files = 0
        if method == "load_data" and self.keys:
            self.stage = quote_ident(f"_osiris_upsert_{uuid.uuid4().hex[:12]}")
            self._run(f"CREATE TEMPORARY TABLE {self.stage} ENGINE=InnoDB "
                      f"SELECT {self.column_sql} FROM {target} LIMIT 0")

    def _run(self, sql: str) -> None:
        with self.conn.cursor() as cur:
            cur.execute(sql)

    def add(self, batch: pa.RecordBatch) -> None:
        for start in range(0, batch.num_rows, self.batch_size):
            chunk = batch.slice(start, self.batch_size)
            if self.method == "insert":
                self._insert(chunk)
            else:
                self.pending.append(csv_bytes(chunk))
                self.pending_rows += chunk.num_rows
                if self.pending_rows >= self.batch_size:
                    self._flush_file()

    def _insert(self, chunk: pa.RecordBatch) -> None:
        prefix = f"INSERT INTO {self.target} ({self.column_sql}) VALUES "
        suffix = upsert_clause(self.columns, self.keys) if self.keys else ""
        parts: list[str] = []
        size = 0
        for row in insert_values(chunk):
            if parts and size + len(row) > MAX_STATEMENT_BYTES:
                self.worker.submit(_statement(self.conn, prefix + ",".join(parts) + suffix))
                parts, size = [], 0
            parts.append(row)
            size += len(row) + 1
        if parts:
            self.worker.submit(_statement(self.conn, prefix + ",".join(parts) + suffix))

    def _flush_file(self) -> None:
        if not self.pending:
            return
        self._files += 1
        path = self.file.with_suffix(f".{self._files}.csv")  # one per chunk; its load job deletes it
        try:
            path.write_bytes(b"".join(self.pending))
        except OSError as error:  # e.g. disk full; `close` removes the partial file
            raise os_error(error, "the LOAD DATA temp file") from None
        self.pending, self.pending_rows = [], 0
        self.worker.submit(_load_data(self.conn, path, self.stage or self.target, self.schema))

    def finish(self) -> None:
        """Flush what is buffered and wait for the worker; raises its first failure."""
        try:
            if self.method == "load_data":
                self._flush_file()
                if self.stage:
                    self.worker.submit(_statement(
                        self.conn, f"INSERT INTO {self.target} ({self.column_sql}) SELECT {self.column_sql} "
                        f"FROM {self.stage}" + upsert_clause(self.columns, self.keys)))
                    self.worker.submit(_statement(self.conn, f"DROP TEMPORARY TABLE {self.stage}"))
        finally:
            self.close()
        self.worker.raise_error()

    def close(self) -> None:
        """Stop the worker and remove temp files (safe to call twice)."""
        if self.worker.is_alive():
            self.worker.stop()
        for path in self.file.parent.glob(self.file.stem + ".*"):
            path.unlink(missing_ok=True)


def _statement(conn: pymysql.connections.Connection, sql: str) -> Callable[[], None]:
    def run() -> None:
        with conn.cursor() as cur:
            cur.execute(sql)
    return run


def _load_data(conn: pymysql.connections.Connection, path: Path, table: str,
               schema: pa.Schema) -> Callable[[], None]:
    targets, sets = [], []
    for index, field in enumerate(schema):
        if is_binary(storage_type(field.type)):
            targets.append(f"@v{index}")
            sets.append(f"{quote_ident(field.name)} = UNHEX(@v{index})")
        else:
            targets.append(quote_ident(field.name))
    sql = (f"LOAD DATA LOCAL INFILE {_string_literal(str(path))} INTO TABLE {table} CHARACTER SET utf8mb4 "
           "FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' ESCAPED BY '' LINES TERMINATED BY '\\n' "
           f"({', '.join(targets)})" + (f" SET {', '.join(sets)}" if sets else ""))

    def run() -> None:
        with conn.cursor() as cur:
            try:
                with expect_file(conn, path):
                    cur.execute(sql)
            finally:
                path.unlink(missing_ok=True)
            raise_warnings(cur)
    return run


def raise_warnings(cur: pymysql.cursors.Cursor) -> None:
    """Fail on the first warning (not note) of the statement just run: a lenient server (LOAD
    DATA always, INSERT without a strict sql_mode) reports bad values only as warnings."""
    if cur._result is not None and cur._result.warning_count:  # noqa: SLF001
        cur.execute("SHOW WARNINGS")
        for level, code, message in cur.fetchall():
            if level != "Note":
                raise pymysql.err.IntegrityError(code, message) if code == 1062 \
                    else pymysql.err.DataError(code, message)


def load_stream(ctx: StepContext, loader: Loader, data: pa.RecordBatchReader) -> tuple[int, int]:
    """Feed the stream to `loader` (inside the caller's transaction); returns (rows, bytes).
    The loader is finished on success and closed either way."""
    rows = nbytes = 0
    try:
        for batch in iter_batches(data):
            ctx.check_cancelled()
            loader.add(batch)
            rows += batch.num_rows
            nbytes += batch.nbytes
            ctx.progress(rows, nbytes)
        ctx.check_cancelled()
        loader.finish()
    finally:
        loader.close()
    return rows, nbytes


def check_columns(columns: Sequence[str], target_columns: Sequence[str], table: str) -> None:
    """Every input column must exist in the target table."""
    unknown = [c for c in columns if c not in target_columns]
    if unknown:
        raise DriverError(
            f"the input has column(s) {', '.join(unknown)} that table {table!r} does not have",
            hint=f"the table's columns are: {', '.join(target_columns)}; rename or drop them upstream",
        )
