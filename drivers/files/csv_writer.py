"""`filesystem.csv_writer`: write an Arrow stream to a CSV file, atomically and deterministically.

Each batch is formatted on its own (`csv_format`), transcoded when the encoding is not UTF-8,
optionally compressed (gzip headers carry no timestamp, so bytes repeat), and appended to a
temp file beside the target that is renamed into place only when the stream has ended.
Memory holds one batch's text at a time.
"""

from __future__ import annotations

import codecs
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa

from osiris.drivers.common import atomic_path, display_path, resolve_config_path
from osiris.drivers.common.file_state import FileStateKeeper, commit_state, pending_state
from osiris.drivers.common.objectstore import is_store_uri, open_store
from osiris.drivers.common.store_publish import StagedPrefix
from osiris.drivers.files.csv_format import CsvFormat, CsvFormatter
from osiris.drivers.files.csv_reading import normalise_encoding
from osiris.drivers.files.health import FileConnectionTools
from osiris.runtime.driver import DriverError, StepContext, WriteResult, iter_batches

__all__ = ["CsvWriter"]

COMPRESSIONS = {"none": None, "gzip": "gzip", "zstd": "zstd"}


class CsvWriter(FileStateKeeper, FileConnectionTools):
    """Writer (and incremental StateKeeper) for CSV files."""

    def write(self, ctx: StepContext, data: pa.RecordBatchReader) -> WriteResult:
        config = ctx.config
        raw_path = _path(config)
        shown = display_path(raw_path)
        formatter = CsvFormatter(CsvFormat.from_config(config), data.schema)
        encoding_name = str(config.get("encoding") or "utf-8")
        encoding = normalise_encoding(encoding_name)
        compression = str(config.get("compression") or "none")
        if compression not in COMPRESSIONS:
            raise DriverError(f"unknown compression {compression!r}", hint="use none, gzip or zstd")
        if is_store_uri(raw_path):
            staged = StagedPrefix(open_store(ctx.connection, raw_path), single=True,
                                  overwrite=bool(config.get("overwrite", True)))
            size = 0
            with staged.session():
                raw = staged.fs.open_output_stream(staged.path("data"), compression=None)
                with _Sink(raw, encoding, encoding_name, COMPRESSIONS[compression]) as sink:
                    rows = _write_rows(sink, formatter, data, ctx)
                    size = sink.bytes_written()
                pending = pending_state(ctx, raw_path)
            commit_state(ctx, raw_path, pending)
            ctx.progress(rows, size)
            return WriteResult(rows=rows, bytes=size, target=raw_path)
        target = resolve_config_path(ctx, raw_path)
        with atomic_path(
            target,
            shown=shown,
            overwrite=bool(config.get("overwrite", True)),
            create_dirs=bool(config.get("create_dirs", True)),
        ) as temp:
            with _Sink(temp, encoding, encoding_name, COMPRESSIONS[compression]) as sink:
                rows = _write_rows(sink, formatter, data, ctx)
            pending = pending_state(ctx, raw_path)
        commit_state(ctx, raw_path, pending)
        size = target.stat().st_size
        ctx.progress(rows, size)
        return WriteResult(rows=rows, bytes=size, target=raw_path)


class _Sink:
    """UTF-8 bytes in; encoded, compressed bytes out to a file."""

    def __init__(self, path: Path | pa.NativeFile, encoding: str, shown_encoding: str, codec: str | None) -> None:
        self._raw = path if isinstance(path, pa.NativeFile) else pa.OSFile(str(path), mode="wb")
        self._out = pa.CompressedOutputStream(self._raw, codec) if codec else self._raw
        self._encoding = shown_encoding
        self._encoder = None if encoding == "utf-8" else codecs.getincrementalencoder(encoding)("strict")

    def write(self, data: bytes) -> None:
        if self._encoder is not None:
            text = data.decode("utf-8")
            try:
                data = self._encoder.encode(text)
            except UnicodeEncodeError as error:
                char = error.object[error.start]
                raise DriverError(
                    f"cannot write {char!r} (U+{ord(char):04X}) in the {self._encoding} encoding",
                    hint="use `encoding: utf-8`, or replace such characters upstream",
                ) from None
        self._out.write(data)

    def bytes_written(self) -> int:
        return self._raw.tell()

    def __enter__(self) -> _Sink:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._encoder is not None and exc[0] is None:
            self._out.write(self._encoder.encode("", final=True))
        self._out.close()
        if not self._raw.closed:
            self._raw.close()


def _write_rows(sink: _Sink, formatter: Any, data: Any, ctx: Any) -> int:  # noqa: ANN401 - driver types
    """The header, then every batch as CSV text, reporting progress; the rows written."""
    if formatter.fmt.header:
        sink.write(formatter.header())
    rows = 0
    for batch in iter_batches(data):
        ctx.check_cancelled()
        sink.write(formatter.rows(batch))
        rows += batch.num_rows
        ctx.progress(rows, sink.bytes_written())
    return rows


def _path(config: Mapping[str, Any]) -> str:
    path = config.get("path")
    if not isinstance(path, str) or not path:
        raise DriverError("`path` is required", hint="set `path` to the CSV file to write")
    return path
