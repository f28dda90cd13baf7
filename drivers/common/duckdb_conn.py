"""A DuckDB connection configured for a pipeline step: bounded memory, spill, no surprises.

- `memory_limit` caps DuckDB's buffer pool; beyond it, sorts, joins and aggregates spill to
  `temp_directory` (inside the step's private temp dir) instead of failing.
- `TimeZone=UTC` makes `timestamptz` output and casts the same on every machine.
- Extension auto-install is off: a run never reaches for the network behind the user's back.

Import this module only where DuckDB is used; `drivers.common` does not import it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from runtime.driver import DriverError

__all__ = ["closing_batches", "closing_reader", "connect", "duckdb_error", "memory_limit_setting", "quote_ident"]

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


def connect(temp_dir: Path, *, memory_limit: str, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that spills to `temp_dir/duckdb` once `memory_limit` is reached."""
    spill = Path(temp_dir) / "duckdb"
    spill.mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = {
        "memory_limit": memory_limit,
        "temp_directory": str(spill),
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
    }
    if threads:
        config["threads"] = int(threads)
    try:
        con = duckdb.connect(":memory:", config=config)
        con.execute("SET TimeZone = 'UTC'")  # a SET, not config: the setting belongs to icu
        return con
    except duckdb.Error as error:
        raise duckdb_error(error, "cannot start DuckDB") from None


def duckdb_error(error: BaseException, prefix: str, hint: str | None = None) -> DriverError:
    """DuckDB's own message (it is precise and names the culprit), with a hint for memory errors."""
    message = str(error).strip()
    if "Out of Memory" in message or "out of memory" in message:
        hint = hint or "raise `memory_limit`, reduce the data (filter early) or lower `threads`"
    return DriverError(f"{prefix}: {message}", hint=hint)


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
            except (duckdb.Error, pa.ArrowException) as error:
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
