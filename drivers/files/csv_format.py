"""Turn record batches into CSV bytes (UTF-8), one batch at a time.

pyarrow's writer does the work when the quote character is `"` (the only one it supports).
Its `minimal` style quotes every string value and no other value, which is what keeps an
empty string (`""`) apart from NULL (an empty field) on the way back in. For another quote
character a small Python formatter applies the same rules to pyarrow's own text casts, so
both paths print values identically.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from osiris.drivers.common.arrow_types import hex_array
from osiris.drivers.files.csv_reading import one_char
from osiris.runtime.driver import DriverError

__all__ = ["CsvFormat", "CsvFormatter"]

QUOTING = {"minimal": "needed", "all": "all_valid", "none": "none"}
_VIEWS = {pa.string_view(): pa.string(), pa.binary_view(): pa.binary()}


@dataclass(frozen=True)
class CsvFormat:
    """The formatting options of a `filesystem.csv_writer` config, validated."""

    delimiter: str = ","
    quotechar: str = '"'
    quoting: str = "minimal"
    header: bool = True
    newline: str = "\n"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> CsvFormat:
        quoting = str(config.get("quoting") or "minimal")
        if quoting not in QUOTING:
            raise DriverError(f"unknown quoting {quoting!r}", hint="use minimal, all or none")
        newline = str(config.get("newline") or "lf").lower()
        if newline not in ("lf", "crlf"):
            raise DriverError(f"unknown newline {newline!r}", hint="use lf or crlf")
        return cls(
            delimiter=one_char(config, "delimiter", ","),
            quotechar=one_char(config, "quotechar", '"'),
            quoting=quoting,
            header=bool(config.get("header", True)),
            newline="\r\n" if newline == "crlf" else "\n",
        )


class CsvFormatter:
    """Formats the batches of one schema; rejects column types CSV cannot hold up front."""

    def __init__(self, fmt: CsvFormat, schema: pa.Schema) -> None:
        for field in schema:
            if pa.types.is_nested(field.type) or pa.types.is_interval(field.type):
                raise DriverError(
                    f"column {field.name!r} has type {field.type}, which CSV cannot hold",
                    hint="convert it to text first (e.g. to_json(col) in a duckdb.processor step) "
                    "or write Parquet",
                )
        self.fmt = fmt
        self.schema = schema
        self._special = {fmt.delimiter, fmt.quotechar, "\r", "\n"}
        self._options = pacsv.WriteOptions(
            include_header=False,
            delimiter=fmt.delimiter,
            quoting_style=QUOTING[fmt.quoting],
            eol=fmt.newline,
            batch_size=4096,
        )

    def header(self) -> bytes:
        """The header row; names are quoted only when they must be (or always with `all`)."""
        cells = [self._cell(name, is_text=False, column=name) for name in self.schema.names]
        return (self.fmt.delimiter.join(cells) + self.fmt.newline).encode("utf-8")

    def rows(self, batch: pa.RecordBatch) -> bytes:
        batch = _prepare(batch)
        if self.fmt.quotechar == '"':
            sink = pa.BufferOutputStream()
            try:
                pacsv.write_csv(batch, sink, write_options=self._options)
            except pa.ArrowInvalid as error:
                raise self._error(error) from None
            return sink.getvalue().to_pybytes()
        return self._python_rows(batch)

    def _python_rows(self, batch: pa.RecordBatch) -> bytes:
        columns = []
        for field, array in zip(batch.schema, batch.columns, strict=True):
            is_text = pa.types.is_string(field.type) or pa.types.is_large_string(field.type)
            is_text = is_text or pa.types.is_binary(field.type) or pa.types.is_large_binary(field.type)
            if pa.types.is_dictionary(field.type):
                is_text = True
                array = array.dictionary_decode()
            text = array if is_text else pc.cast(array, pa.string())
            columns.append([self._value(value, is_text, field.name) for value in text.to_pylist()])
        lines = (self.fmt.delimiter.join(cells) + self.fmt.newline for cells in zip(*columns, strict=True))
        return "".join(lines).encode("utf-8")

    def _value(self, value: Any, is_text: bool, column: str) -> str:
        if value is None:
            return ""
        if isinstance(value, bytes):
            value = value.decode("utf-8", errors="replace")
        return self._cell(value, is_text=is_text, column=column)

    def _cell(self, text: str, *, is_text: bool, column: str) -> str:
        quote = self.fmt.quotechar
        needs = any(char in text for char in self._special)
        if self.fmt.quoting == "none":
            if needs:
                raise self._error(None, column)
            return text
        if self.fmt.quoting == "all" or is_text or needs:
            return quote + text.replace(quote, quote + quote) + quote
        return text

    def _error(self, error: Exception | None, column: str | None = None) -> DriverError:
        where = f" in column {column!r}" if column else ""
        return DriverError(
            f"quoting is none but a value{where} contains the delimiter, a quote or a line break",
            hint="use `quoting: minimal`" + (f" ({str(error).splitlines()[0]})" if error else ""),
        )


def _prepare(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Columns pyarrow's CSV writer cannot take, or prints slowly, turned into equivalent text.

    - string_view/binary_view: the writer predates them; plain strings print the same.
    - timestamps with a time zone: pyarrow formats them through the time-zone database,
      about 20x slower than naive ones (300k rows/s), so they are printed as their UTC wall
      time plus `Z` (`2024-01-01 12:00:00.000000Z`), the same instant pyarrow would print.
      Being text now, they are quoted under `minimal` quoting; readers parse them the same.
    """
    if not any(field.type in _VIEWS or _zoned(field.type) or _extension(field.type) for field in batch.schema):
        return batch
    arrays = []
    for column in batch.columns:
        if _extension(column.type):
            column = _extension_text(column)
        if column.type in _VIEWS:
            column = column.cast(_VIEWS[column.type])
        elif _zoned(column.type):
            naive = column.cast(pa.timestamp(column.type.unit))  # same UTC instants, zone dropped
            column = pc.binary_join_element_wise(naive.cast(pa.string()), "Z", "")
        arrays.append(column)
    return pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


def _extension(arrow_type: pa.DataType) -> bool:
    return isinstance(arrow_type, pa.BaseExtensionType)


def _extension_text(column: pa.Array) -> pa.Array:
    """arrow.uuid as canonical 8-4-4-4-12 text, other extensions (arrow.json, ...) as storage."""
    if column.type.extension_name == "arrow.uuid":
        text = hex_array(column)
        parts = [pc.utf8_slice_codeunits(text, a, b) for a, b in ((0, 8), (8, 12), (12, 16), (16, 20), (20, 32))]
        return pc.binary_join_element_wise(*parts, "-")
    return column.storage


def _zoned(arrow_type: pa.DataType) -> bool:
    return pa.types.is_timestamp(arrow_type) and arrow_type.tz is not None
