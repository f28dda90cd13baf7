"""Moving batches into a table: multi-row INSERT or LOAD DATA LOCAL INFILE.

Both run inside the caller's transaction and never commit. Rendering (Arrow compute, in this
thread) overlaps with the server's work: statements go to a worker thread that executes them
on the connection, which nothing else touches until `finish`.

LOAD DATA is ONE statement per write, fed while it runs: its "file" is a name made up for the
statement, whose bytes the worker sends from a bounded queue of rendered chunks (no temp file;
`drivers.mysql.infile.expect_stream`). The server parses continuously, as it does for the
`mariadb` client's LOAD DATA of a ready file; a statement per chunk left it idle between
statements and wrote and re-read every byte on disk (docs/performance.md).

LOAD DATA LOCAL turns duplicate keys and conversion errors into warnings (the server cannot
stop the client mid-file), so every load checks its warnings and fails on the first one:
the writer stays as strict as a plain INSERT. The server may ask only for the stream of the
statement running; any other request aborts the load.
"""

from __future__ import annotations

import queue
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pyarrow as pa
import pymysql

from osiris.drivers.mysql.connect import quote_ident
from osiris.drivers.mysql.infile import expect_stream
from osiris.drivers.mysql.render import LOAD_FORMAT, insert_values, is_binary, load_bytes, storage_type
from osiris.runtime.driver import DriverError, StepContext, iter_batches

__all__ = ["Loader", "check_columns", "load_stream", "raise_warnings"]

MAX_STATEMENT_BYTES = 4 << 20
MAX_LOAD_PACKET = 1 << 20
"""LOAD DATA packets: at most this (and the server's max_allowed_packet); one Python call each."""
QUEUED_CHUNKS = 4
"""Rendered chunks waiting for the LOAD DATA statement: bounds memory to a few batch_size chunks."""
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


class _Chunks:
    """Rendered chunks from the caller's thread to the LOAD DATA statement that sends them.

    `put` never blocks for good: once the statement has ended (it failed), chunks are dropped
    and the caller learns why from the worker."""

    def __init__(self) -> None:
        self.queue: queue.Queue[object] = queue.Queue(maxsize=QUEUED_CHUNKS)
        self.ended = threading.Event()

    def put(self, chunk: object) -> None:
        while not self.ended.is_set():
            try:
                self.queue.put(chunk, timeout=0.1)
                return
            except queue.Full:
                continue

    def __iter__(self) -> Iterator[bytes]:
        while (chunk := self.queue.get()) is not _STOP:
            yield chunk  # type: ignore[misc]


class Loader:
    """Loads batches into `target` with `method` ("insert" or "load_data")."""

    def __init__(self, conn: pymysql.connections.Connection, target: str, schema: pa.Schema,
                 method: str, upsert_keys: Sequence[str], temp_dir: Path, batch_size: int) -> None:
        self.conn, self.target, self.schema, self.method = conn, target, schema, method
        self.keys = list(upsert_keys)
        self.batch_size = batch_size
        self.columns = list(schema.names)
        self.column_sql = ", ".join(quote_ident(c) for c in self.columns)
        self.stream_name = str(temp_dir / f"osiris-load-{uuid.uuid4().hex}.tsv")  # a name only: no file
        self.chunks: _Chunks | None = None
        self.stage: str | None = None
        self.packet = MAX_LOAD_PACKET
        self.worker = _Worker()
        self.worker.start()
        if method == "load_data":
            with conn.cursor() as cur:
                cur.execute("SELECT @@max_allowed_packet")
                self.packet = min(MAX_LOAD_PACKET, int(cur.fetchone()[0]))
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
                rendered = load_bytes(chunk)
                if self.chunks is None:  # the statement starts with the first rows
                    self.worker.raise_error()
                    self.chunks = _Chunks()
                    self.worker.submit(_load_data(self.conn, self.stream_name, self.chunks, self.packet,
                                                  self.stage or self.target, self.schema))
                self.chunks.put(rendered)

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

    def _end_stream(self) -> None:
        if self.chunks is not None:
            self.chunks.put(_STOP)  # the statement ends with the data sent so far
            self.chunks = None

    def finish(self) -> None:
        """End the LOAD DATA stream and wait for the worker; raises its first failure."""
        try:
            if self.method == "load_data":
                self._end_stream()
                if self.stage:
                    self.worker.submit(_statement(
                        self.conn, f"INSERT INTO {self.target} ({self.column_sql}) SELECT {self.column_sql} "
                        f"FROM {self.stage}" + upsert_clause(self.columns, self.keys)))
                    self.worker.submit(_statement(self.conn, f"DROP TEMPORARY TABLE {self.stage}"))
        finally:
            self.close()
        self.worker.raise_error()

    def close(self) -> None:
        """End the stream (a failed write: the caller rolls back what it loaded) and stop the
        worker (safe to call twice)."""
        self._end_stream()
        if self.worker.is_alive():
            self.worker.stop()


def _statement(conn: pymysql.connections.Connection, sql: str) -> Callable[[], None]:
    def run() -> None:
        with conn.cursor() as cur:
            cur.execute(sql)
    return run


def _load_data(conn: pymysql.connections.Connection, name: str, chunks: _Chunks, packet: int, table: str,
               schema: pa.Schema) -> Callable[[], None]:
    targets, sets = [], []
    for index, field in enumerate(schema):
        if is_binary(storage_type(field.type)):
            targets.append(f"@v{index}")
            sets.append(f"{quote_ident(field.name)} = UNHEX(@v{index})")
        else:
            targets.append(quote_ident(field.name))
    sql = (f"LOAD DATA LOCAL INFILE {_string_literal(name)} INTO TABLE {table} {LOAD_FORMAT} "
           f"({', '.join(targets)})" + (f" SET {', '.join(sets)}" if sets else ""))

    def run() -> None:
        with conn.cursor() as cur:
            try:
                with expect_stream(conn, name, chunks, packet):
                    cur.execute(sql)
            finally:
                chunks.ended.set()  # a failed statement takes no more chunks
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
