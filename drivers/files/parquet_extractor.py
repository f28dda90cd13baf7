"""`filesystem.parquet_extractor`: stream a Parquet file or directory as Arrow record batches.

Without a `filter` each file is read on its own with `pyarrow.parquet.ParquetFile.iter_batches`
(requested columns only, no pre-buffering), so memory stays at about one batch plus one column
chunk whatever the file size and however slow the consumer is: the dataset scanner decodes
ahead without bound when its consumer is slower (docs/performance.md, hot spot 2). A
directory is still opened as a dataset first, for the schema (hive partition columns
included) and the file list; a single file without a filter never imports `pyarrow.dataset`
(~90 ms of every run's start-up). A `filter` is SQL, so DuckDB evaluates it over that dataset (pushing it down to row
groups through their statistics); its output is cast back to the file's exact Arrow types, so
a filter never changes a column's type. An object-store dataset is read the same way when a
distributed backend splits it into row-group runs (`plan_partitions`), and through the dataset
scanner (one file and one batch read ahead) when it is read whole.
"""

from __future__ import annotations

import contextlib
import difflib
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from osiris.drivers.common import display_path, metered, missing_file_error, resolve_config_path
from osiris.drivers.common.objectstore import is_store_uri
from osiris.drivers.common.paths import config_roots, confine_found
from osiris.drivers.files.discovery import discover_files
from osiris.drivers.files.health import FileConnectionTools
from osiris.drivers.files.partitions import FileSlice, plan_row_groups, relative_name, select_slices, whole
from osiris.runtime.driver import (
    DiscoveryResult,
    DriverError,
    Partition,
    PartitionHints,
    ResolvedConnection,
    StepContext,
)
from osiris.runtime.incremental import mtime_ns, value_in_window, window_batches

if TYPE_CHECKING:
    import pyarrow.dataset as ds

__all__ = ["ParquetExtractor"]


@dataclass(frozen=True)
class _Read:
    """What a step reads: its files (hive values alongside), their names in specs, and the schema."""

    shown: str
    schema: pa.Schema
    files: list[tuple[str, dict[str, Any]]]
    names: list[str]
    where: Any
    dataset: Any
    store: bool = False
    """An object-store read: `names` are its objects' URIs, `files` where their bytes are."""
    filesystem: Any = None
    """The object store's pyarrow file system (None for local files)."""

    @classmethod
    def open(cls, ctx: StepContext) -> _Read:
        config = ctx.config
        raw_path = config.get("path")
        if not isinstance(raw_path, str) or not raw_path:
            raise DriverError("`path` is required", hint="set `path` to a Parquet file or directory")
        shown = display_path(raw_path)
        if is_store_uri(raw_path):
            from osiris.drivers.files.parquet_store import open_store_dataset

            dataset, uris, location = open_store_dataset(ctx, raw_path)
            columns = _columns(config.get("columns"), dataset.schema, shown)
            schema = pa.schema([dataset.schema.field(name) for name in columns], metadata=dataset.schema.metadata)
            return cls(shown, schema, _fragments(dataset), uris, config.get("filter"), dataset, store=True,
                       filesystem=location.fs)
        path = resolve_config_path(ctx, raw_path)
        if not path.exists():
            raise missing_file_error(ctx.connection, raw_path, path)
        where = config.get("filter")
        dataset = _open_dataset(path, shown) if where or path.is_dir() else None
        if dataset is not None and path.is_dir():  # a link inside the directory must not lead out
            roots = config_roots(ctx.connection, ctx.work_dir, getattr(ctx, "path_roots", ()))[0]
            for file in dataset.files:
                confine_found(file, f"{shown.rstrip('/')}/{os.path.relpath(file, path)}", roots,
                              getattr(ctx, "protected_files", ()))
        full = dataset.schema if dataset is not None else _file_schema(path, shown)
        columns = _columns(config.get("columns"), full, shown)
        schema = pa.schema([full.field(name) for name in columns], metadata=full.metadata)
        files = _fragments(dataset) if dataset is not None and path.is_dir() else [(str(path), {})]
        names = [relative_name(file, str(path), path.is_dir()) for file, _ in files]
        return cls(shown, schema, files, names, where, dataset)


    def changed_files(self, ctx: StepContext, bound: Any) -> _Read:
        """`@modified`: only the files in the window (each one reported to the run's state)."""
        if self.store:
            from osiris.drivers.files.parquet_store import open_store_dataset

            dataset, uris, _ = open_store_dataset(ctx, str(ctx.config["path"]), keep=_keeper(bound))
            if dataset is None:  # nothing changed: no rows, the same columns
                import pyarrow.dataset as ds

                empty = ds.dataset(pa.Table.from_batches([], schema=self.schema))
                return replace(self, files=[], names=[], dataset=empty)
            return replace(self, files=_fragments(dataset), names=uris, dataset=dataset)
        kept = []
        for (file, keys), name in zip(self.files, self.names, strict=True):
            stat = os.stat(file)
            if bound.wants_file(name, stat.st_size, stat.st_mtime_ns):
                bound.seen(name, stat.st_size, stat.st_mtime_ns)
                kept.append(((file, keys), name))
        dataset = self.dataset
        if dataset is not None:  # a `filter` runs over the changed files only, with the whole dataset's schema
            import pyarrow.dataset as ds

            chosen = {os.path.realpath(file) for (file, _), _ in kept}
            dataset = ds.FileSystemDataset([f for f in dataset.get_fragments() if os.path.realpath(f.path) in chosen],
                                           dataset.schema, dataset.format, dataset.filesystem)
        return replace(self, files=[f for f, _ in kept], names=[n for _, n in kept], dataset=dataset)


def _keeper(bound: Any) -> Any:
    """For an object-store listing: keep the objects in the window, reporting each one."""

    def keep(name: str, size: int, modified: Any) -> bool:
        stamp = mtime_ns(modified)
        if not bound.wants_file(name, size, stamp):
            return False
        bound.seen(name, size, stamp)
        return True

    return keep


class ParquetExtractor(FileConnectionTools):
    """Extractor and Discoverer for Parquet files and directories of them."""

    def extract(self, ctx: StepContext) -> pa.RecordBatchReader:
        read = _Read.open(ctx)
        config, schema, shown = ctx.config, read.schema, read.shown
        batch_size = int(config.get("batch_size") or ctx.batch_rows or 65536)
        limit = int(config["limit"]) if config.get("limit") is not None else None
        partition = getattr(ctx, "partition", None)
        bound = getattr(ctx, "incremental", None)
        if bound is not None and bound.by_file:
            read = read.changed_files(ctx, bound)
        if read.where and (partition is None or partition.spec.get("mode") == "whole"):
            assert read.dataset is not None
            batches = _filtered(ctx, read.dataset, schema, str(read.where), batch_size, limit, shown)
        elif partition is not None and partition.spec.get("mode") != "whole":
            slices = select_slices(read.files, read.names, partition.spec)
            batches = _file_batches(slices, schema, batch_size, read.filesystem)
        elif read.store:
            from osiris.drivers.files.parquet_store import scan_batches

            batches = scan_batches(read.dataset, schema, batch_size)
        else:
            files = [(f, keys) for f, keys in read.files if _may_hold_window(keys, bound, schema)]
            batches = _file_batches([(f, keys, None) for f, keys in files], schema, batch_size)
        rows = window_batches(_translated(batches, schema, shown), bound)
        return pa.RecordBatchReader.from_batches(
            schema, metered(ctx, rows, limit=limit, on_close=batches.close)
        )

    def plan_partitions(self, ctx: StepContext, hints: PartitionHints) -> list[Partition]:
        """Runs of row groups (whole files when there are enough); one partition with a filter or limit."""
        read = _Read.open(ctx)
        if read.where or ctx.config.get("limit") is not None:
            return whole("`filter` or `limit` is set (DuckDB reads the whole dataset)")
        try:
            return plan_row_groups([(name, f) for name, (f, _) in zip(read.names, read.files, strict=True)],
                                   hints.count, read.filesystem)
        except (pa.ArrowException, OSError) as error:
            raise _unreadable(error, read.shown) from None

    def discover(
        self,
        connection: ResolvedConnection | None,
        *,
        tables: list[str] | None = None,
        sample_rows: int = 0,
        path: str | None = None,
    ) -> DiscoveryResult:
        return discover_files("parquet", connection, tables=tables, sample_rows=sample_rows, path=path)


def _may_hold_window(keys: Mapping[str, Any], bound: Any, schema: pa.Schema) -> bool:
    """False for a hive partition whose cursor value lies before the incremental window, so
    its files are not even opened."""
    if bound is None or bound.column not in keys or bound.column not in schema.names:
        return True
    return value_in_window(keys[bound.column], bound, schema.field(bound.column).type)


def _unreadable(error: Exception, shown: str) -> DriverError:
    detail = str(error).splitlines()[0]
    if "magic bytes" in detail or "Parquet file size is 0" in detail:
        detail = "not a Parquet file"
    return DriverError(f"cannot read {shown}: {detail}", hint="is it a Parquet file?")


def _file_schema(path, shown: str) -> pa.Schema:  # noqa: ANN001
    """A single file's Arrow schema (what a dataset over that one file reports)."""
    try:
        return pq.read_schema(str(path))
    except (pa.ArrowException, OSError) as error:
        raise _unreadable(error, shown) from None


def _open_dataset(path, shown: str) -> ds.Dataset:  # noqa: ANN001
    import pyarrow.dataset as ds

    try:
        if path.is_dir():
            dataset = ds.dataset(str(path), format="parquet", partitioning="hive")
            if not dataset.files:
                raise DriverError(f"{shown} holds no Parquet files", hint="check the directory")
            return dataset
        return ds.dataset(str(path), format="parquet")
    except (pa.ArrowException, OSError) as error:
        raise _unreadable(error, shown) from None


def _fragments(dataset: ds.Dataset) -> list[tuple[str, dict[str, Any]]]:
    """(file path, hive partition values) for each file of a dataset."""
    import pyarrow.dataset as ds

    return [(fragment.path, ds.get_partition_keys(fragment.partition_expression))
            for fragment in dataset.get_fragments()]


def _file_batches(files: Sequence[FileSlice], schema: pa.Schema, batch_size: int,
                  filesystem: Any = None) -> Iterator[pa.RecordBatch]:
    """Each file (only its chosen row groups, if any) in turn, its requested columns in `batch_size`
    batches, conformed to `schema`; `filesystem` for an object store's files."""
    for file_path, keys, row_groups in files:
        with contextlib.ExitStack() as stack:
            source = stack.enter_context(filesystem.open_input_file(file_path)) if filesystem else file_path
            file = stack.enter_context(pq.ParquetFile(source, pre_buffer=False))
            present = set(file.schema_arrow.names)
            wanted = [name for name in schema.names if name in present]
            groups = range(file.num_row_groups) if row_groups is None else row_groups
            if not wanted:  # only partition columns asked for: rows come from the footer
                for index in groups:
                    yield _conform(pa.RecordBatch.from_pydict({}), file.metadata.row_group(index).num_rows,
                                   schema, keys)
                continue
            if not groups:
                continue
            chosen = None if row_groups is None else list(groups)
            for batch in file.iter_batches(batch_size=batch_size, columns=wanted, row_groups=chosen):
                yield _conform(batch, batch.num_rows, schema, keys)


def _conform(batch: pa.RecordBatch, rows: int, schema: pa.Schema, keys: Mapping[str, Any]) -> pa.RecordBatch:
    """`batch` in `schema`'s order and types: partition values filled in, missing columns null."""
    if batch.schema.equals(schema):
        return batch
    names = batch.schema.names
    arrays = []
    for field in schema:
        if field.name in names:
            array = batch.column(names.index(field.name))
            arrays.append(array if array.type == field.type else array.cast(field.type))
        elif keys.get(field.name) is not None:
            arrays.append(pa.repeat(pa.scalar(keys[field.name], field.type), rows))
        else:
            arrays.append(pa.nulls(rows, field.type))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _columns(selected, schema: pa.Schema, shown: str) -> list[str]:  # noqa: ANN001
    if not selected:
        return list(schema.names)
    for name in selected:
        if name not in schema.names:
            close = difflib.get_close_matches(name, schema.names, n=1)
            did_you_mean = f"did you mean {close[0]!r}? " if close else ""
            raise DriverError(
                f"columns: {name!r} is not a column of {shown}",
                hint=f"{did_you_mean}columns: {', '.join(schema.names)}",
            )
    return list(selected)


def _filtered(
    ctx: StepContext,
    dataset: ds.Dataset,
    schema: pa.Schema,
    where: str,
    batch_size: int,
    limit: int | None,
    shown: str,
) -> Iterator[pa.RecordBatch]:
    """Evaluate the SQL `filter` with DuckDB over the dataset (row-group push-down)."""
    import duckdb

    from osiris.drivers.common.duckdb_conn import (
        closing_batches,
        connect,
        duckdb_error,
        memory_limit_setting,
        quote_ident,
    )

    con = connect(ctx.temp_dir, memory_limit=memory_limit_setting(None, ctx.memory_limit_bytes))
    try:
        con.register("parquet_source", dataset)
        projection = ", ".join(quote_ident(name) for name in schema.names)
        query = f"SELECT {projection} FROM parquet_source WHERE ({where}\n)"  # \n ends a trailing `--` comment
        if limit is not None:
            query += f" LIMIT {int(limit)}"
        if len(duckdb.extract_statements(query)) != 1:  # `x); COPY ...; SELECT (1` is not an expression
            raise DriverError(f"filter on {shown} is not one SQL expression",
                              hint="the filter is a SQL boolean expression over the columns, e.g. amount > 100")
        reader = con.sql(query).to_arrow_reader(batch_size)
    except duckdb.Error as error:
        con.close()
        raise duckdb_error(
            error, f"filter on {shown}", hint="the filter is a SQL boolean expression"
        ) from None
    except BaseException:
        con.close()
        raise
    return closing_batches(reader, con, prefix=f"filter on {shown}", schema=schema)


def _translated(batches: Iterator[pa.RecordBatch], schema: pa.Schema, shown: str) -> Iterator[pa.RecordBatch]:
    """`batches` in exactly `schema`, read errors translated."""
    while True:
        try:
            batch = next(batches)
        except StopIteration:
            return
        except (pa.ArrowException, OSError) as error:
            raise DriverError(f"cannot read {shown}: {str(error).splitlines()[0]}") from None
        if not batch.schema.equals(schema):
            batch = pa.RecordBatch.from_arrays(batch.columns, schema=schema)
        yield batch
