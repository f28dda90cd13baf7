"""`filesystem.csv_extractor`: stream one CSV file as Arrow record batches.

Memory stays bounded by `block_size`: pyarrow parses one block at a time and the runtime
pulls batches lazily. Column types are inferred from the first block unless `schema`
pins them; see `csv_reading` for the options and error messages.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

import pyarrow as pa

from osiris.drivers.common import display_path, metered, missing_file_error, resolve_config_path
from osiris.drivers.common.objectstore import is_store_uri, open_store, store_error
from osiris.drivers.files.csv_reading import _CODECS_BY_SUFFIX, CsvReadSpec, open_csv_reader, translate_read_error
from osiris.drivers.files.discovery import discover_files
from osiris.drivers.files.health import FileConnectionTools
from osiris.runtime.driver import (
    DiscoveryResult,
    DriverError,
    Partition,
    PartitionHints,
    ResolvedConnection,
    StepContext,
)
from osiris.runtime.incremental import mtime_ns, window_batches

__all__ = ["CsvExtractor"]


class CsvExtractor(FileConnectionTools):
    """Extractor and Discoverer for CSV files."""

    def extract(self, ctx: StepContext) -> pa.RecordBatchReader:
        spec = CsvReadSpec.from_config(ctx.config)
        shown = display_path(spec.path)
        if is_store_uri(spec.path):
            return _extract_store(ctx, spec, shown)
        path = resolve_config_path(ctx, spec.path)
        if path.is_dir():
            raise DriverError(
                f"{shown} is a directory; filesystem.csv_extractor reads one file",
                hint="name a file in `path` (discovery lists the CSV files of a directory)",
            )
        if not path.exists():  # a named pipe or /dev/stdin is fine: it is read as a stream
            raise missing_file_error(ctx.connection, spec.path, path)
        reader = open_csv_reader(path, spec, shown)
        _check_overrides(spec, reader.schema, shown)
        bound = getattr(ctx, "incremental", None)
        if bound is not None and bound.by_file:
            stat = path.stat()
            if not _changed(bound, spec.path, stat.st_size, stat.st_mtime_ns):
                reader.close()
                return pa.RecordBatchReader.from_batches(reader.schema, iter(()))
        rows = window_batches(_batches(reader, spec, path, shown), bound)
        batches = metered(ctx, rows, limit=spec.limit, on_close=reader.close)
        return pa.RecordBatchReader.from_batches(reader.schema, batches)

    def plan_partitions(self, ctx: StepContext, hints: PartitionHints) -> list[Partition]:
        """Always one partition: the extractor reads one file, and a CSV file cannot be cut at a
        row boundary without reading it (a quoted field may hold newlines)."""
        spec = CsvReadSpec.from_config(ctx.config)
        if is_store_uri(spec.path):
            open_store(ctx.connection, spec.path)  # refused here, at planning, like extract would
            return [Partition(index=0, count=1, spec={"mode": "whole"},
                              label="one partition: a single CSV object is read whole")]
        resolve_config_path(ctx, spec.path)  # a bad path fails here, at planning, like extract would
        return [Partition(index=0, count=1, spec={"mode": "whole"},
                          label="one partition: a single CSV file is read whole")]

    def discover(
        self,
        connection: ResolvedConnection | None,
        *,
        tables: list[str] | None = None,
        sample_rows: int = 0,
        path: str | None = None,
    ) -> DiscoveryResult:
        return discover_files("csv", connection, tables=tables, sample_rows=sample_rows, path=path)


def _extract_store(ctx: StepContext, spec: CsvReadSpec, shown: str) -> pa.RecordBatchReader:
    """One CSV object, streamed from the store block by block (never downloaded whole)."""
    location = open_store(ctx.connection, spec.path)
    codec = {"infer": None, "none": None}.get(spec.compression, spec.compression)
    if spec.compression == "infer":
        codec = _CODECS_BY_SUFFIX.get(PurePosixPath(location.path).suffix.lower())
    try:
        source = location.fs.open_input_stream(location.path, compression=codec)
    except FileNotFoundError:
        raise DriverError(f"file not found: {shown}", hint="check the bucket and the key") from None
    except (pa.ArrowException, OSError) as error:
        raise store_error(error, f"cannot read {shown}") from None
    reader = open_csv_reader(None, spec, shown, source)
    _check_overrides(spec, reader.schema, shown)
    bound = getattr(ctx, "incremental", None)
    if bound is not None and bound.by_file:
        info = location.fs.get_file_info(location.path)
        if not _changed(bound, spec.path, info.size, mtime_ns(info.mtime)):
            reader.close()
            return pa.RecordBatchReader.from_batches(reader.schema, iter(()))
    rows = window_batches(_batches(reader, spec, None, shown), bound)
    batches = metered(ctx, rows, limit=spec.limit, on_close=reader.close)
    return pa.RecordBatchReader.from_batches(reader.schema, batches)


def _changed(bound: Any, name: str, size: int, modified: int) -> bool:
    """`@modified`: whether the file is in the window; if so the run's state learns it."""
    if not bound.wants_file(name, size, modified):
        return False
    bound.seen(name, size, modified)
    return True


def _batches(reader, spec: CsvReadSpec, path, shown: str) -> Iterator[pa.RecordBatch]:  # noqa: ANN001
    """pyarrow's blocks, read errors translated."""
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except Exception as error:
            raise translate_read_error(error, path, spec, shown) from None
        yield batch


def _check_overrides(spec: CsvReadSpec, schema: pa.Schema, shown: str) -> None:
    """A `schema` entry for a column that is not read is a typo more often than not."""
    names = schema.names
    for column in spec.schema:
        if column not in names:
            close = difflib.get_close_matches(column, names, n=1)
            did_you_mean = f"did you mean {close[0]!r}? " if close else ""
            raise DriverError(
                f"schema: {column!r} is not among the columns read from {shown}",
                hint=f"{did_you_mean}columns read: {', '.join(names)}",
            )
