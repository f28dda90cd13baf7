"""A DuckDB connection for running a step's SQL: bounded memory, spill, and nothing else.

The SQL comes from OML, which is untrusted (docs/security.md#duckdb-transforms-see-only-their-inputs),
so every connection Osiris opens to run it is a sandbox that the SQL cannot leave:

- `enable_external_access` is off: no file reads or writes (`read_csv`, `read_text`, `COPY`,
  `FROM 'x.csv'`), no URLs, no ATTACH of database files, no INSTALL/LOAD, no persistent
  secrets; Python replacement scans are off too, so only what the driver registers is visible.
- The one directory DuckDB may still touch is its spill directory, `temp_dir/duckdb` inside
  the step's private temp dir (DuckDB allows its `temp_directory` itself; `..` is refused).
- Extension auto-install and auto-load, community and unsigned extensions, and custom
  extension repositories are off: a run never reaches for the network.
- `lock_configuration` is set last, after memory_limit, threads, temp_directory and
  `TimeZone=UTC`: `SET`, `RESET`, `PRAGMA` and `CALL` of a setting all fail, so the SQL cannot
  turn any of this back on. `connect` checks the settings took effect before returning.

Inputs stay readable because they are registered Python-side (Arrow tables, readers and
datasets are scanned by pyarrow, not by DuckDB's file system). `memory_limit` caps DuckDB's
buffer pool; beyond it, sorts, joins and aggregates spill instead of failing.

Import this module only where DuckDB is used; `drivers.common` does not import it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from osiris.runtime.driver import DriverError

__all__ = ["MAX_THREADS", "closing_batches", "closing_reader", "connect", "duckdb_error", "memory_limit_setting",
           "quote_ident"]

_LIMIT = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*(KB|MB|GB|KiB|MiB|GiB|B)?\s*$", re.IGNORECASE)


def memory_limit_setting(configured: str | None, budget_bytes: int) -> str:
    """DuckDB's `memory_limit` text from the step config, else from the runtime's byte budget."""
    if configured:
        if not _LIMIT.match(str(configured)):
            raise DriverError(
                f"memory_limit {configured!r} is not a size", hint="write it like 512MB, 2GB or 1.5GiB"
            )
        return str(configured).replace(" ", "")
    mebibytes = max(16, int(budget_bytes) // (1024 * 1024))
    return f"{mebibytes}MiB"


def connect(temp_dir: Path, *, memory_limit: str, threads: Any = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB, sandboxed (see the module docstring), spilling to `temp_dir/duckdb`."""
    spill = Path(temp_dir) / "duckdb"
    spill.mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = {
        "memory_limit": memory_limit,
        "temp_directory": str(spill),
        **_CLOSED,
    }
    if threads is not None:
        if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= MAX_THREADS:
            # the spec says so; a manifest from elsewhere may not
            raise DriverError(f"threads {threads!r} is not a whole number from 1 to {MAX_THREADS}",
                              hint="leave `threads` out to use the machine's cores")
        config["threads"] = threads
    try:
        con = duckdb.connect(":memory:", config=config)
    except duckdb.Error as error:
        raise duckdb_error(error, "cannot start DuckDB") from None
    try:
        # Order matters: TimeZone belongs to icu (a SET, not config); external access can only be
        # switched off after temp_directory is set; the lock comes last.
        for statement in _LOCKDOWN:
            con.execute(statement)
        if con.execute(_CHECK).fetchall() != [(False, True)]:
            raise DriverError("DuckDB did not accept the sandbox settings", hint=_SANDBOX_HINT)
    except BaseException as error:
        con.close()
        if isinstance(error, duckdb.Error):
            raise duckdb_error(error, "cannot start DuckDB") from None
        raise
    return con


MAX_THREADS = 64
"""More threads than cores gains nothing, and 100,000 of them stall the process while DuckDB
creates them (spec/components/duckdb.processor.yaml has the same maximum)."""

_CLOSED: dict[str, Any] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "allow_unsigned_extensions": False,
    "allow_extension_repositories": "forbidden",
    "allow_persistent_secrets": False,
    "python_enable_replacements": False,
}
"""Connection-time settings: no extension may be fetched or loaded, no secret persisted, and no
Python variable is scanned by name (only registered inputs are tables)."""

_LOCKDOWN = (
    "SET TimeZone = 'UTC'",  # timestamptz output and casts are the same on every machine
    "SET enable_external_access = false",
    "SET lock_configuration = true",
)
_CHECK = "SELECT current_setting('enable_external_access'), current_setting('lock_configuration')"

_SANDBOX_HINT = (
    "a DuckDB step reads only its inputs: no files, URLs, databases, extensions or settings "
    "(docs/runtime.md#what-duckdb-sql-can-do); read files with an extractor step and pass its output in"
)


def duckdb_error(error: BaseException, prefix: str, hint: str | None = None) -> DriverError:
    """DuckDB's own message (it is precise and names the culprit), with a hint for memory errors
    and for what the sandbox refuses."""
    message = str(error).strip()
    if "Out of Memory" in message or "out of memory" in message:
        hint = hint or "raise `memory_limit`, reduce the data (filter early) or lower `threads`"
    elif _REFUSED.search(message):
        hint = _SANDBOX_HINT if hint is None else f"{hint}; {_SANDBOX_HINT}"
    return DriverError(f"{prefix}: {message}", hint=hint)


_REFUSED = re.compile(
    r"Permission Error|disabled (?:by|through) configuration|the configuration has been locked|"
    r"Scalar Function with name getenv does not exist"
)
"""What DuckDB says when the sandbox stops the SQL."""


def quote_ident(name: str) -> str:
    """A DuckDB identifier, always double-quoted (embedded quotes doubled)."""
    return '"' + str(name).replace('"', '""') + '"'


def closing_batches(
    reader: pa.RecordBatchReader,
    con: duckdb.DuckDBPyConnection,
    *,
    prefix: str,
    schema: pa.Schema | None = None,
) -> Iterator[pa.RecordBatch]:
    """DuckDB's batches; the reader and the connection close when the generator finishes or is closed.

    Errors raised while DuckDB computes (they surface mid-stream) become `DriverError`s.
    `schema` casts every batch (used to restore the caller's exact Arrow types).
    """
    try:
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except (duckdb.Error, pa.ArrowException, OSError) as error:
                # DuckDB's Arrow stream reports a failure while computing (a cast that fails on a
                # later row, memory) through the C stream interface, which pyarrow raises as
                # ArrowIOError, an OSError and not an ArrowException.
                raise duckdb_error(error, prefix) from None
            yield batch if schema is None else _cast(batch, schema, prefix)
    finally:
        reader.close()
        con.close()


def closing_reader(
    reader: pa.RecordBatchReader,
    con: duckdb.DuckDBPyConnection,
    *,
    prefix: str,
    schema: pa.Schema | None = None,
) -> pa.RecordBatchReader:
    """Wrap DuckDB's streaming reader so the connection closes when the stream ends or is dropped.

    "Dropped" means the last reference to the returned reader goes away: pyarrow's `close()`
    on a reader built from Python batches is a no-op on the Python side, while dropping it
    finalises the generator of `closing_batches`, whose `finally` closes DuckDB.
    """
    out_schema = schema if schema is not None else reader.schema
    return pa.RecordBatchReader.from_batches(out_schema, closing_batches(reader, con, prefix=prefix, schema=schema))


def _cast(batch: pa.RecordBatch, schema: pa.Schema, prefix: str) -> pa.RecordBatch:
    if batch.schema.equals(schema):
        return batch
    try:
        columns = [batch.column(i).cast(field.type) for i, field in enumerate(schema)]
    except pa.ArrowException as error:
        raise DriverError(f"{prefix}: cannot restore the column types: {error}") from None
    return pa.RecordBatch.from_arrays(columns, schema=schema)
