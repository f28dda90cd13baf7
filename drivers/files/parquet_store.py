"""`filesystem.parquet_writer` and `filesystem.parquet_extractor` on object stores (s3://, gs://, az://).

Writing: a path ending in `/`, or a step with `partition_by` or a rotation limit, writes a
dataset: `part-00000.parquet`, `part-00001.parquet` ... under the prefix (hive directories
`col=value/` first when `partition_by` is set; the partition columns live in the path, not
in the files). A file is closed and the next one opened once it holds `max_rows_per_file`
rows (exactly: batches are cut at the boundary) or `max_bytes_per_file` bytes (checked after
each row group). Part names depend only on the data and the order it arrives in, so a rerun
over the same input writes the same names. Any other path writes one object. Everything is
written under a temporary prefix and published at the end (drivers/common/objectstore.py).
Row groups are laid out by the local writer's `_RowGroups`, so memory stays at one pending
row group per open file.

Reading: a prefix, an object, or a glob (`s3://lake/orders/*/part-*.parquet`) is listed once,
opened as a pyarrow dataset with hive partitioning (partition values become columns), and
scanned batch by batch with at most one file and one batch read ahead; a `filter` is SQL
evaluated by DuckDB over that dataset, which pushes column selection and row-group
statistics into the Parquet reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pyarrow as pa
import pyarrow.compute as pc

from osiris.compiler.path_policy import writes_dataset
from osiris.drivers.common.file_state import commit_state, pending_state, state_objects
from osiris.drivers.common.objectstore import StoreLocation, open_store, store_error
from osiris.drivers.common.store_publish import INTENT, StagedPrefix
from osiris.drivers.files.store_listing import list_committed
from osiris.runtime.driver import DriverError, StepContext, WriteResult, iter_batches

__all__ = ["open_store_dataset", "write_parts", "write_store"]

PART = "part-{:05d}.parquet"
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"


def write_store(ctx: StepContext, data: pa.RecordBatchReader, raw_path: str, make_groups: Any,
                flush_bytes: int, row_group_size: int) -> WriteResult:
    """Write `data` to an object store: one object, or a dataset published by its intent."""
    staged = StagedPrefix(open_store(ctx.connection, raw_path), single=not writes_dataset(ctx.config, raw_path),
                          overwrite=bool(ctx.config.get("overwrite", True)))
    return write_parts(ctx, data, staged, raw_path, make_groups, flush_bytes, row_group_size)


def write_parts(ctx: StepContext, data: pa.RecordBatchReader, staged: Any, raw_path: str, make_groups: Any,
                flush_bytes: int, row_group_size: int) -> WriteResult:
    """Write `data` through `staged` (a StagedPrefix, or a LocalStagedDir for a local dataset);
    `make_groups(where, schema)` opens the row-group layer over an output stream (the local
    writer's, so both lay out files alike). The step's incremental state is committed with the
    data: inside a store dataset's publish intent, else right after the publish
    (drivers/common/file_state.py)."""
    config = ctx.config
    partition_by = [str(c) for c in config.get("partition_by") or ()]
    for column in partition_by:
        if column not in data.schema.names:
            raise DriverError(f"partition_by: {column!r} is not a column of the input",
                              hint="columns: " + ", ".join(data.schema.names))
    max_rows = int(config.get("max_rows_per_file") or 0) or None
    max_bytes = int(config.get("max_bytes_per_file") or 0) or None
    file_schema = pa.schema([f for f in data.schema if f.name not in partition_by], metadata=data.schema.metadata)
    group_rows = min(row_group_size, max_rows) if max_rows else row_group_size
    files: dict[str, _PartFiles] = {}
    rows = 0
    with staged.session():
        try:
            for batch in iter_batches(data):
                ctx.check_cancelled()
                for directory, piece in _split(batch, partition_by):
                    writer = files.get(directory)
                    if writer is None:
                        writer = files[directory] = _PartFiles(staged, directory, file_schema, make_groups,
                                                              group_rows, flush_bytes, max_rows, max_bytes)
                    writer.add(piece.select(file_schema.names) if partition_by else piece)
                rows += batch.num_rows
                ctx.progress(rows, sum(w.bytes for w in files.values()))
            if not files and not partition_by:  # an empty stream still writes a file with the schema
                files[""] = _PartFiles(staged, "", file_schema, make_groups, group_rows, flush_bytes, None, None)
                files[""].open()
            for writer in files.values():
                writer.close()
        except BaseException:
            for writer in files.values():
                writer.close(quietly=True)
            raise
        records = pending_state(ctx, raw_path)
        if staged.carries_state:
            staged.states = state_objects(ctx, raw_path, records)
    if not staged.carries_state:
        commit_state(ctx, raw_path, records)
    size = sum(w.bytes for w in files.values())
    ctx.progress(rows, size)
    return WriteResult(rows=rows, bytes=size, target=raw_path)


def _split(batch: pa.RecordBatch, columns: list[str]) -> Iterator[tuple[str, pa.RecordBatch]]:
    """(hive directory, rows) per distinct partition value in `batch`, in first-seen order."""
    if not columns:
        yield "", batch
        return
    table = pa.Table.from_batches([batch])
    keys = table.select(columns).group_by(columns, use_threads=False).aggregate([]).to_pylist()
    for key in keys:
        mask = None
        for column in columns:
            value = key[column]
            test = pc.is_null(table[column]) if value is None else pc.equal(table[column], value)
            mask = test if mask is None else pc.and_(mask, test)
        chosen = table.filter(mask)
        directory = "/".join(f"{quote(c, safe='')}={_hive_value(key[c])}" for c in columns)
        for piece in chosen.to_batches():
            if piece.num_rows:
                yield directory, piece


def _hive_value(value: Any) -> str:
    return NULL_PARTITION if value is None else quote(str(value), safe="")


class _PartFiles:
    """The part files of one directory: rotated by rows (exactly) or bytes (per row group)."""

    def __init__(self, staged: StagedPrefix, directory: str, schema: pa.Schema, make_groups: Any,
                 group_rows: int, flush_bytes: int, max_rows: int | None, max_bytes: int | None) -> None:
        self.staged, self.directory, self.schema, self.make_groups = staged, directory, schema, make_groups
        self.group_rows, self.flush_bytes, self.max_rows, self.max_bytes = group_rows, flush_bytes, max_rows, max_bytes
        self.index = 0
        self.stream: Any = None
        self.groups: Any = None
        self.rows_in_file = 0
        self.bytes = 0
        """Bytes of the files closed so far plus the open one's."""
        self._closed_bytes = 0

    def open(self) -> None:
        name = PART.format(self.index) if not self.staged.single else "data"
        name = f"{self.directory}/{name}" if self.directory else name
        self.stream = self.staged.fs.open_output_stream(self.staged.path(name))
        self.groups = self.make_groups(self.stream, self.schema, self.group_rows, self.flush_bytes)
        self.rows_in_file = 0

    def add(self, batch: pa.RecordBatch) -> None:
        while batch.num_rows:
            if self.stream is None:
                self.open()
            room = batch.num_rows if self.max_rows is None else self.max_rows - self.rows_in_file
            piece, batch = batch.slice(0, room), batch.slice(room)
            self.groups.add(piece)
            self.rows_in_file += piece.num_rows
            self.bytes = self._closed_bytes + self.stream.tell()
            if (self.max_rows is not None and self.rows_in_file >= self.max_rows) or (
                    self.max_bytes is not None and self.stream.tell() >= self.max_bytes):
                self._finish()

    def _finish(self) -> None:
        self.groups.flush()
        self.groups.close()
        written = self.stream.tell()
        self.stream.close()
        self._closed_bytes += written
        self.bytes = self._closed_bytes
        self.stream = self.groups = None
        self.index += 1

    def close(self, quietly: bool = False) -> None:
        if self.stream is None:
            return
        if not quietly:
            self._finish()
            return
        self.groups.close(quietly=True)
        try:
            self.stream.close()
        except Exception:  # noqa: BLE001, S110 - the step's own error is the one to report
            pass
        self.stream = None


# -- reading ----------------------------------------------------------------------------------


def open_store_dataset(ctx: StepContext, raw_path: str,
                       keep: Any = None) -> tuple[Any, list[str], StoreLocation]:
    """(pyarrow dataset, its files as URIs, location) for a prefix, an object or a glob;
    `keep(name, size, mtime)` narrows the objects (an incremental `@modified` window)."""
    import pyarrow.dataset as ds

    location = open_store(ctx.connection, raw_path)
    try:
        found, base, through_intent = list_committed(location.fs, location.path)
    except (pa.ArrowException, OSError) as error:
        raise store_error(error, f"cannot list {location.shown}") from None
    if found and keep is not None:
        if through_intent:  # the copies into place would look modified to the next run
            raise DriverError(f"a publish into {location.shown} is unfinished ({INTENT} is there), so which "
                              "objects changed cannot be told yet", hint="run its writer again to finish it, then read")
        found = [o for o in found if keep(location.uri(o.name), o.size, o.mtime)]
        if not found:  # nothing changed since the last run: the caller reads no rows
            return None, [], location
    files = [o.real for o in found]
    if not files:
        raise DriverError(f"{location.shown} holds no Parquet files", hint="check the bucket, the prefix and the glob")
    try:
        dataset = ds.dataset(files, filesystem=location.fs, format="parquet",
                             partitioning=ds.HivePartitioning.discover(infer_dictionary=False), partition_base_dir=base)
    except (pa.ArrowException, OSError) as error:
        raise store_error(error, f"cannot read {location.shown}") from None
    return dataset, [location.uri(o.name) for o in found], location


def scan_batches(dataset: Any, schema: pa.Schema, batch_size: int) -> Iterator[pa.RecordBatch]:
    """The dataset's rows in `schema`'s columns, one file and one batch read ahead at most."""
    scanner = dataset.scanner(columns=schema.names, batch_size=batch_size, batch_readahead=1,
                              fragment_readahead=1, use_threads=True)
    for batch in scanner.to_batches():
        if batch.num_rows:
            yield batch if batch.schema.equals(schema) else batch.cast(schema)
