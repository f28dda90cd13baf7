"""Open a CSV file as a bounded-memory Arrow stream, shared by the extractor and discovery.

pyarrow's streaming reader parses one `block_size` block at a time, decompresses and
transcodes on the fly (non-UTF-8 input goes through a streaming transcoder), and infers
column types from the first block; `schema` overrides pin them. Its errors name neither a
line nor a column, so on failure we rescan the file with the stdlib `csv` module to find
the offending line: a cost paid only when something is wrong.
"""

from __future__ import annotations

import codecs
import csv
import errno
import io
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

from osiris.drivers.common import error_code, parse_schema_overrides
from osiris.runtime.driver import DriverError

__all__ = ["CsvReadSpec", "open_csv_reader", "open_input", "translate_read_error"]

COMPRESSIONS = ("infer", "none", "gzip", "bz2", "zstd", "lz4")
DEFAULT_BLOCK_SIZE = 1024 * 1024
"""pyarrow keeps about 40 blocks in flight, so 1 MiB blocks hold ~40 MB where 4 MiB held ~160 MB."""


@dataclass(frozen=True)
class CsvReadSpec:
    """The reading options of a `filesystem.csv_extractor` config, validated."""

    path: str
    delimiter: str = ","
    quotechar: str = '"'
    header: bool = True
    column_names: tuple[str, ...] | None = None
    encoding: str = "utf-8"
    compression: str = "infer"
    skip_rows: int = 0
    columns: tuple[str, ...] | None = None
    schema: Mapping[str, pa.DataType] = field(default_factory=dict)
    null_values: tuple[str, ...] | None = None
    limit: int | None = None
    block_size: int = DEFAULT_BLOCK_SIZE

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> CsvReadSpec:
        path = config.get("path")
        if not isinstance(path, str) or not path:
            raise DriverError("`path` is required", hint="set `path` to the CSV file to read")
        header = config.get("header", True)
        if isinstance(header, int) and not isinstance(header, bool):
            # The original Osiris accepted a header row index; 0 means "first row".
            skip, header = int(header), True
        else:
            skip = 0
        spec = cls(
            path=path,
            delimiter=one_char(config, "delimiter", ","),
            quotechar=one_char(config, "quotechar", '"'),
            header=bool(header),
            column_names=_names(config.get("column_names")),
            encoding=normalise_encoding(config.get("encoding") or "utf-8"),
            compression=str(config.get("compression") or "infer"),
            skip_rows=int(config.get("skip_rows") or 0) + skip,
            columns=_names(config.get("columns")),
            schema=parse_schema_overrides(config.get("schema")),
            null_values=_names(config.get("null_values")),
            limit=int(config["limit"]) if config.get("limit") is not None else None,
            block_size=int(config.get("block_size") or DEFAULT_BLOCK_SIZE),
        )
        if spec.compression not in COMPRESSIONS:
            raise DriverError(
                f"unknown compression {spec.compression!r}", hint="use one of: " + ", ".join(COMPRESSIONS)
            )
        return spec


def normalise_encoding(name: str) -> str:
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise DriverError(
            f"unknown encoding {name!r}",
            hint="use a Python codec name such as utf-8, latin-1, cp1250, utf-16",
        ) from None


_CODECS_BY_SUFFIX = {".gz": "gzip", ".bz2": "bz2", ".zst": "zstd", ".lz4": "lz4"}


def open_input(path: Path, compression: str) -> pa.NativeFile:
    """The file's bytes, decompressed (by extension when `compression` is `infer`)."""
    codec = {"infer": "detect", "none": None}.get(compression, compression)
    if path.is_file():
        return pa.input_stream(str(path), compression=codec)
    # A named pipe or a device cannot seek, which pyarrow's file reader does: read it as a
    # plain stream, inferring the codec from the name as `detect` would.
    if codec == "detect":
        codec = _CODECS_BY_SUFFIX.get(path.suffix.lower())
    return pa.input_stream(open(path, "rb"), compression=codec)  # noqa: SIM115 - closed by pyarrow


def open_csv_reader(path: Path | None, spec: CsvReadSpec, shown: str,
                    source: pa.NativeFile | None = None) -> pacsv.CSVStreamingReader:
    """Open the streaming reader (it parses the first block now, so header errors surface here).
    `source`: an already open input (an object-store stream, `path` None), decompressed."""
    names = list(spec.column_names) if spec.column_names else None
    read_options = pacsv.ReadOptions(
        block_size=spec.block_size,
        skip_rows=spec.skip_rows + (1 if spec.header and names else 0),
        column_names=names,
        autogenerate_column_names=not spec.header and not names,
        encoding="utf8" if spec.encoding == "utf-8" else spec.encoding,
    )
    parse_options = pacsv.ParseOptions(
        delimiter=spec.delimiter, quote_char=spec.quotechar, newlines_in_values=True
    )
    convert_options = pacsv.ConvertOptions(
        column_types=dict(spec.schema),
        include_columns=list(spec.columns) if spec.columns else None,
        strings_can_be_null=True,
        quoted_strings_can_be_null=False,
        **({"null_values": list(spec.null_values)} if spec.null_values is not None else {}),
    )
    stream = None
    try:
        stream = source if path is None else open_input(path, spec.compression)
        reader = pacsv.open_csv(
            stream, read_options=read_options, parse_options=parse_options, convert_options=convert_options
        )
    except Exception as error:
        if stream is not None:
            stream.close()
        raise translate_read_error(error, path, spec, shown) from None
    # pyarrow infers `binary` for text that is not valid in the declared encoding.
    undecodable = [f.name for f in reader.schema if pa.types.is_binary(f.type) and f.name not in spec.schema]
    if undecodable:
        reader.close()
        raise DriverError(
            f"{shown} is not valid {spec.encoding} text (column {undecodable[0]!r})",
            hint="set `encoding` to the file's encoding, e.g. latin-1, cp1252 or utf-16 "
            f"(or declare `schema: {{{undecodable[0]}: binary}}` to read raw bytes)",
        )
    return reader


def translate_read_error(error: BaseException, path: Path | None, spec: CsvReadSpec, shown: str) -> BaseException:
    """A DriverError saying what is wrong and where; other exceptions pass through unchanged.
    With `path` None (an object-store object) the file is not rescanned for the line."""
    if isinstance(error, DriverError):
        return error
    if path is None and isinstance(error, pa.ArrowException | OSError):
        return DriverError(f"cannot read {shown}: {str(error).splitlines()[0] if str(error) else error!r}")
    if isinstance(error, UnicodeError) or "invalid UTF8" in str(error) or "codec can't decode" in str(error):
        return DriverError(
            f"{shown} is not valid {spec.encoding} text",
            hint="set `encoding` to the file's encoding, e.g. latin-1, cp1252 or utf-16",
        )
    if not isinstance(error, pa.ArrowException | OSError):
        return error
    text = str(error)
    if text.startswith("Empty CSV file"):
        return DriverError(f"{shown} is empty", hint="a CSV with `header: true` needs at least a header row")
    if match := re.search(r"Expected (\d+) columns, got (\d+)", text):
        expected, got = int(match.group(1)), int(match.group(2))
        line = _find_line(path, spec, lambda row: bool(row) and len(row) != expected)
        where = f" at line {line}" if line else ""
        return DriverError(
            f"CSV parse error in {shown}{where}: expected {expected} columns, got {got}",
            hint=f"check the `delimiter` ({spec.delimiter!r}) and `quotechar` ({spec.quotechar!r}), "
            "or fix the row in the file",
        )
    if match := re.search(
        r"In CSV column #(\d+): CSV conversion error to (.+?): invalid value '(.*)'$", text
    ):
        return _conversion_error(path, spec, shown, int(match.group(1)), match.group(2), match.group(3))
    if match := re.search(r"Column '(.+?)' in include_columns does not exist", text):
        return DriverError(
            f"columns: {match.group(1)!r} is not a column of {shown}",
            hint="list only columns in the file's header (names are case-sensitive)",
        )
    code = error_code(error) if isinstance(error, OSError) else None
    if code == errno.ENOENT:
        return DriverError(f"file not found: {shown}")
    if code in (errno.EACCES, errno.EPERM):
        return DriverError(
            f"permission denied reading {shown}", hint="check that the file is readable by the user running osiris"
        )
    if code is not None:  # the OS message alone: pyarrow's text names the absolute path
        return DriverError(f"cannot read {shown}: {os.strerror(code)}")
    detail = text.split("\n")[0]
    return DriverError(f"cannot read {shown}: {detail}")


def _conversion_error(
    path: Path, spec: CsvReadSpec, shown: str, index: int, arrow_type: str, value: str
) -> DriverError:
    """`index` is the field's position in the file (pyarrow counts before selecting `columns`)."""
    names = _file_names(path, spec)
    column = names[index] if index < len(names) else f"f{index}"
    line = _find_line(path, spec, lambda row: len(row) > index and row[index] == value, data_only=True)
    where = f" at line {line}" if line else ""
    hint = (
        f"the value does not fit the type declared in `schema` for {column!r}"
        if column in spec.schema
        else "column types are inferred from the first block of the file; declare this column's type in "
        f"`schema`, e.g. `schema: {{{column}: string}}`"
    )
    problem = f"column {column!r} value {value!r} is not a valid {arrow_type}"
    return DriverError(f"CSV conversion error in {shown}{where}: {problem}", hint=hint)


def _file_names(path: Path, spec: CsvReadSpec) -> list[str]:
    """The names of all the file's fields, as pyarrow names them."""
    if spec.column_names:
        return list(spec.column_names)
    rows = _rows(path, spec)
    try:
        first = next((row for _, row in rows if row), [])
    except (csv.Error, UnicodeError, OSError, pa.ArrowException):
        first = []
    finally:
        rows.close()
    return first if spec.header else [f"f{i}" for i in range(len(first))]


def _find_line(
    path: Path, spec: CsvReadSpec, bad: Callable[[list[str]], bool], *, data_only: bool = False
) -> int | None:
    """The first physical line (1-based) whose row matches `bad`, or None if none does."""
    rows = _rows(path, spec)
    try:
        skip_header = spec.header
        for line, row in rows:
            if skip_header and row:
                skip_header = False
                if data_only:
                    continue
            if bad(row):
                return line
    except (csv.Error, UnicodeError, OSError, pa.ArrowException):
        return None
    finally:
        rows.close()
    return None


def _rows(path: Path, spec: CsvReadSpec):  # noqa: ANN202 - a generator of (line, row)
    stream = open_input(path, spec.compression)
    text = io.TextIOWrapper(stream, encoding=spec.encoding, newline="", errors="replace")
    try:
        reader = csv.reader(text, delimiter=spec.delimiter, quotechar=spec.quotechar, strict=False)
        start = 0
        for row in reader:
            if start < spec.skip_rows:
                start += 1
                continue
            yield reader.line_num, row
    finally:
        text.close()


def one_char(config: Mapping[str, Any], key: str, default: str) -> str:
    value = config.get(key, default)
    value = default if value is None else value
    if value == "\\t":
        value = "\t"
    if not isinstance(value, str) or len(value) != 1:
        raise DriverError(f"`{key}` must be one character, got {value!r}", hint='e.g. ",", ";", "|" or "\\t"')
    return value


def _names(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str) or not all(isinstance(item, str) for item in value):
        raise DriverError(f"expected a list of strings, got {value!r}")
    return tuple(value)
