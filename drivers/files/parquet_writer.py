"""`filesystem.parquet_writer`: write an Arrow stream to one Parquet file, atomically.

Row groups hold exactly the same number of rows (the last may hold fewer) whatever the
incoming batch sizes, so the file layout depends on the data, not on how upstream happened to
batch it. That number is `row_group_size`, lowered for wide rows so one pending group stays
within a byte budget (a quarter of the step's memory budget, at most 32 MiB) and memory stays
small and flat whatever the row count: the row width is estimated once, from the values of
the first rows (not from buffer sizes, which depend on batching).

Dictionary encoding is chosen per column from the first rows: a column whose sample is mostly
distinct values (ids, timestamps, measures) is written plain, because Parquet would build a
dictionary for each row group only to abandon it at its 1 MiB page limit; that wasted work
was the largest part of the encode (measured in docs/performance.md, hot spot 3).

Determinism: the same stream gives the same bytes. The footer holds no timestamp; its only
environment-dependent field is `created_by` ("parquet-cpp-arrow version X"), which pyarrow
does not let us set, so bytes change only when pyarrow's version does.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from osiris.compiler.path_policy import writes_dataset
from osiris.drivers.common import atomic_path, display_path, resolve_config_path
from osiris.drivers.common.arrow_types import few_distinct, value_bytes
from osiris.drivers.common.atomic import writing_back
from osiris.drivers.common.file_state import FileStateKeeper, check_unchanged, commit_state, pending_state
from osiris.drivers.common.objectstore import is_store_uri
from osiris.drivers.files.health import FileConnectionTools
from osiris.runtime.driver import DriverError, StepContext, WriteResult, iter_batches

__all__ = ["ParquetWriter"]

CODECS = ("none", "snappy", "gzip", "zstd", "lz4", "brotli")
MiB = 1024 * 1024
MIN_FLUSH_BYTES, MAX_FLUSH_BYTES = 8 * MiB, 32 * MiB
DICTIONARY_SAMPLE_ROWS = 65536
WIDTH_SAMPLE_ROWS = 65536
MIN_GROUP_ROWS = 1024
UNKNOWN_WIDTH = 32
"""Bytes per row assumed for a column whose width the estimate cannot read off its values."""
PROGRESS_STAT_BYTES = 16 * MiB
"""Input bytes between file-size checks for progress when no row group was written meanwhile."""
DICTIONARY_MAX_DISTINCT = 0.5
"""Keep dictionary encoding for a column whose sample has at most this share of distinct values."""


class ParquetWriter(FileStateKeeper, FileConnectionTools):
    """Writer (and incremental StateKeeper) for Parquet files."""

    def write(self, ctx: StepContext, data: pa.RecordBatchReader) -> WriteResult:
        config = ctx.config
        raw_path = _path(config)
        shown = display_path(raw_path)
        compression = str(config.get("compression") or "zstd").lower()
        if compression not in CODECS:
            raise DriverError(f"unknown compression {compression!r}", hint="use one of: " + ", ".join(CODECS))
        level = config.get("compression_level")
        row_group_size = int(config.get("row_group_size") or 1024 * 1024)
        flush_bytes = min(MAX_FLUSH_BYTES, max(MIN_FLUSH_BYTES, int(ctx.memory_limit_bytes) // 4))

        def groups_over(stream, schema, group_rows, budget):  # noqa: ANN001, ANN202
            return _RowGroups(_Options(stream, schema, compression, level, shown), group_rows, budget)

        if is_store_uri(raw_path):
            from osiris.drivers.files.parquet_store import write_store

            check_unchanged(ctx, raw_path)
            return write_store(ctx, data, raw_path, groups_over, flush_bytes, row_group_size)
        target = resolve_config_path(ctx, raw_path)
        if writes_dataset(config, raw_path):  # a directory of parts: partition_by, rotation, a path ending in /
            from osiris.drivers.common.local_dataset import LocalStagedDir
            from osiris.drivers.files.parquet_store import write_parts

            staged = LocalStagedDir(target, shown=shown, overwrite=bool(config.get("overwrite", True)),
                                    create_dirs=bool(config.get("create_dirs", True)))
            return write_parts(ctx, data, staged, raw_path, groups_over, flush_bytes, row_group_size)
        rows = 0
        with atomic_path(
            target,
            shown=shown,
            overwrite=bool(config.get("overwrite", True)),
            create_dirs=bool(config.get("create_dirs", True)),
        ) as temp:
            options = _Options(str(temp), data.schema, compression, level, shown)
            groups = _RowGroups(options, row_group_size, flush_bytes)
            size = unmeasured = 0
            measured_at = groups.written
            try:
                for batch in iter_batches(data):
                    ctx.check_cancelled()
                    groups.add(batch)
                    rows += batch.num_rows
                    unmeasured += batch.nbytes
                    # the file grows at row-group writes: stat it then (or every few MiB of input)
                    if groups.written != measured_at or unmeasured >= PROGRESS_STAT_BYTES:
                        measured_at, unmeasured = groups.written, 0
                        size = temp.stat().st_size
                    ctx.progress(rows, size)
                with writing_back(temp):  # the row groups written so far reach the disk meanwhile
                    groups.flush()
            except BaseException:
                groups.close(quietly=True)
                raise
            groups.close()
            pending = pending_state(ctx, raw_path)
        commit_state(ctx, raw_path, pending)
        size = target.stat().st_size
        ctx.progress(rows, size)
        return WriteResult(rows=rows, bytes=size, target=raw_path)


class _Options:
    """How to open the file; the writer opens lazily, once the first rows choose the encodings."""

    def __init__(self, path: Any, schema: pa.Schema, compression: str, level: Any, shown: str) -> None:
        self.path, self.schema, self.compression, self.level, self.shown = path, schema, compression, level, shown

    def open(self, sample: pa.Table | None) -> pq.ParquetWriter:
        try:
            return pq.ParquetWriter(
                self.path,
                self.schema,
                compression=self.compression.upper() if self.compression != "none" else "NONE",
                compression_level=int(self.level) if self.level is not None else None,
                use_dictionary=_dictionary_columns(sample) if sample is not None else True,
                write_statistics=True,
                store_schema=True,
            )
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid) as error:
            raise DriverError(
                f"cannot write {self.shown}: {str(error).splitlines()[0]}",
                hint="check `compression_level` for the codec, and that every column type fits Parquet",
            ) from None


def _dictionary_columns(sample: pa.Table) -> list[str] | bool:
    """Columns worth a dictionary: those whose sample repeats values (all of them for nested schemas)."""
    if any(pa.types.is_nested(f.type) or isinstance(f.type, pa.ExtensionType) for f in sample.schema):
        return True  # leaf paths of nested columns differ from their names; keep pyarrow's default
    keep = []
    for field, column in zip(sample.schema, sample.columns, strict=True):
        valid = len(column) - column.null_count
        if valid == 0 or few_distinct(column, int(valid * DICTIONARY_MAX_DISTINCT)) is not False:
            keep.append(field.name)  # repeating, or a type counted by no one (booleans, dictionaries)
    return keep


class _RowGroups:
    """Buffers batches and writes row groups of exactly `group_rows` rows (the last may be smaller)."""

    def __init__(self, options: _Options, size: int, flush_bytes: int) -> None:
        self.options, self.size, self.flush_bytes = options, size, flush_bytes
        self.group_rows: int | None = None
        self.writer: pq.ParquetWriter | None = None
        self.pending: list[pa.RecordBatch] = []
        self.rows = 0
        self.written = 0
        """Row-group writes so far (the file grows only then)."""

    def add(self, batch: pa.RecordBatch) -> None:
        self.pending.append(batch)
        self.rows += batch.num_rows
        if self.group_rows is None and self.rows >= min(self.size, WIDTH_SAMPLE_ROWS):
            self.group_rows = self._choose_group_rows()
        if self.group_rows is not None and self.rows >= self.group_rows:
            self._write_groups(keep_remainder=True)

    def flush(self) -> None:
        """Write what is pending (end of stream)."""
        if not self.rows:
            return
        if self.group_rows is None:
            self.group_rows = self._choose_group_rows()
        self._write_groups(keep_remainder=False)

    def _choose_group_rows(self) -> int:
        """Rows per group: `size`, or fewer when that many rows would exceed the byte budget."""
        sample = pa.Table.from_batches(self.pending, schema=self.options.schema).slice(0, WIDTH_SAMPLE_ROWS)
        width = max(1.0, _bytes_per_row(sample))
        return min(self.size, max(MIN_GROUP_ROWS, int(self.flush_bytes / width)))

    def _write_groups(self, keep_remainder: bool) -> None:
        assert self.group_rows is not None
        table = pa.Table.from_batches(self.pending, schema=self.options.schema)
        cut = (self.rows // self.group_rows) * self.group_rows if keep_remainder else self.rows
        self._write(table.slice(0, cut))
        rest = table.slice(cut)
        self.pending = rest.to_batches() if rest.num_rows else []
        self.rows = rest.num_rows

    def close(self, quietly: bool = False) -> None:
        """Close the file (an empty stream still gets a file with the schema)."""
        if quietly:
            if self.writer is not None:
                with contextlib.suppress(Exception):
                    self.writer.close()
            return
        if self.writer is None:
            self.writer = self.options.open(None)
        self.writer.close()

    def _write(self, table: pa.Table) -> None:
        if self.writer is None:
            self.writer = self.options.open(table.slice(0, DICTIONARY_SAMPLE_ROWS))
        try:
            self.writer.write_table(table, row_group_size=self.group_rows)
            self.written += 1
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid) as error:
            raise DriverError(
                f"cannot write {self.options.shown}: {str(error).splitlines()[0]}",
                hint="cast the column to a type Parquet supports in a duckdb.processor step",
            ) from None


def _bytes_per_row(sample: pa.Table) -> float:
    """Average row width read off the values (lengths of strings, widths of fixed types)."""
    if not sample.num_rows:
        return float(UNKNOWN_WIDTH)
    total = 0.0
    for column in sample.columns:
        type_ = column.type.storage_type if isinstance(column.type, pa.ExtensionType) else column.type
        if (
            pa.types.is_string(type_)
            or pa.types.is_binary(type_)
            or pa.types.is_large_string(type_)
            or pa.types.is_large_binary(type_)
        ):
            chunks = [c.storage if isinstance(c, pa.ExtensionArray) else c for c in column.chunks]
            total += sum(len(value_bytes(chunk)) for chunk in chunks) + 4 * sample.num_rows
            continue
        try:
            total += type_.bit_width / 8 * sample.num_rows
        except ValueError:
            total += UNKNOWN_WIDTH * sample.num_rows
    return total / sample.num_rows


def _path(config: Mapping[str, Any]) -> str:
    path = config.get("path")
    if not isinstance(path, str) or not path:
        raise DriverError("`path` is required", hint="set `path` to the Parquet file to write")
    return path
