"""`filesystem.parquet_writer`: write an Arrow stream to one Parquet file, atomically.

Row groups are cut at exactly `row_group_size` rows whatever the incoming batch sizes, so the
file layout depends on the data, not on how upstream happened to batch it; a byte budget
(a quarter of the step's memory budget) flushes earlier for wide rows so memory stays bounded.

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

from drivers.common import atomic_path, display_path, resolve_config_path
from runtime.driver import DriverError, StepContext, WriteResult, iter_batches

__all__ = ["ParquetWriter"]

CODECS = ("none", "snappy", "gzip", "zstd", "lz4", "brotli")
MIN_FLUSH_BYTES = 16 * 1024 * 1024


class ParquetWriter:
    """Writer for Parquet files."""

    def write(self, ctx: StepContext, data: pa.RecordBatchReader) -> WriteResult:
        config = ctx.config
        raw_path = _path(config)
        shown = display_path(raw_path)
        compression = str(config.get("compression") or "zstd").lower()
        if compression not in CODECS:
            raise DriverError(f"unknown compression {compression!r}", hint="use one of: " + ", ".join(CODECS))
        level = config.get("compression_level")
        row_group_size = int(config.get("row_group_size") or 1024 * 1024)
        flush_bytes = max(MIN_FLUSH_BYTES, int(ctx.memory_limit_bytes) // 4)
        target = resolve_config_path(ctx, raw_path)
        rows = 0
        with atomic_path(
            target,
            shown=shown,
            overwrite=bool(config.get("overwrite", True)),
            create_dirs=bool(config.get("create_dirs", True)),
        ) as temp:
            writer = _open(str(temp), data.schema, compression, level, shown)
            groups = _RowGroups(writer, row_group_size, flush_bytes, shown)
            try:
                for batch in iter_batches(data):
                    ctx.check_cancelled()
                    groups.add(batch)
                    rows += batch.num_rows
                    ctx.progress(rows, temp.stat().st_size)
                groups.flush()
            except BaseException:
                with contextlib.suppress(Exception):
                    writer.close()
                raise
            writer.close()
        size = target.stat().st_size
        ctx.progress(rows, size)
        return WriteResult(rows=rows, bytes=size, target=raw_path)


class _RowGroups:
    """Buffers batches and writes row groups of exactly `size` rows (the last may be smaller)."""

    def __init__(self, writer: pq.ParquetWriter, size: int, flush_bytes: int, shown: str) -> None:
        self.writer, self.size, self.flush_bytes, self.shown = writer, size, flush_bytes, shown
        self.pending: list[pa.RecordBatch] = []
        self.rows = 0
        self.nbytes = 0

    def add(self, batch: pa.RecordBatch) -> None:
        self.pending.append(batch)
        self.rows += batch.num_rows
        self.nbytes += batch.nbytes
        if self.rows >= self.size or self.nbytes >= self.flush_bytes:
            self.flush(keep_remainder=self.nbytes < self.flush_bytes)

    def flush(self, keep_remainder: bool = False) -> None:
        if not self.rows:
            return
        table = pa.Table.from_batches(self.pending)
        cut = (self.rows // self.size) * self.size if keep_remainder else self.rows
        self._write(table.slice(0, cut))
        rest = table.slice(cut)
        self.pending = rest.to_batches() if rest.num_rows else []
        self.rows = rest.num_rows
        self.nbytes = sum(batch.nbytes for batch in self.pending)

    def _write(self, table: pa.Table) -> None:
        try:
            self.writer.write_table(table, row_group_size=self.size)
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid) as error:
            raise DriverError(
                f"cannot write {self.shown}: {str(error).splitlines()[0]}",
                hint="cast the column to a type Parquet supports in a duckdb.processor step",
            ) from None


def _open(path: str, schema: pa.Schema, compression: str, level: Any, shown: str) -> pq.ParquetWriter:
    try:
        return pq.ParquetWriter(
            path,
            schema,
            compression=compression.upper() if compression != "none" else "NONE",
            compression_level=int(level) if level is not None else None,
            write_statistics=True,
            store_schema=True,
        )
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid) as error:
        raise DriverError(
            f"cannot write {shown}: {str(error).splitlines()[0]}",
            hint="check `compression_level` for the codec, and that every column type fits Parquet",
        ) from None


def _path(config: Mapping[str, Any]) -> str:
    path = config.get("path")
    if not isinstance(path, str) or not path:
        raise DriverError("`path` is required", hint="set `path` to the Parquet file to write")
    return path
