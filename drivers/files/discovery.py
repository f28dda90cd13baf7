"""Discovery for files: each CSV or Parquet file under a path is a table.

Parquet answers from its footer (schema and row count without reading data). CSV has no
footer: the delimiter and encoding are sniffed from the first 64 KiB, types come from
pyarrow's inference over the first block, and rows are counted by a streaming pass that
converts only the first column. Samples are read only when `sample_rows > 0`.
`FilesDiscoverer` is the `filesystem` family's discoverer (the `osiris.discovery` entry point):
CSV and Parquet files alike, told apart by the runtime's one suffix table (`file_kind`).
"""

from __future__ import annotations

import csv
import difflib
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.parquet as pq

from osiris.drivers.common import display_path
from osiris.drivers.common.objectstore import is_store_uri
from osiris.drivers.common.paths import confine_found, resolve_with_connection
from osiris.drivers.files.csv_reading import CsvReadSpec, open_csv_reader, open_input, translate_read_error
from osiris.runtime.discovery import file_kind
from osiris.runtime.driver import ColumnInfo, DiscoveryResult, DriverError, ResolvedConnection, TableInfo

__all__ = ["FilesDiscoverer", "discover_files", "list_files"]

Kind = Literal["csv", "parquet"]
_SNIFF_BYTES = 64 * 1024


class FilesDiscoverer:
    """Every CSV and Parquet file at a path (a file, or a directory searched recursively)."""

    def discover(
        self,
        connection: ResolvedConnection | None,
        *,
        tables: list[str] | None = None,
        sample_rows: int = 0,
        path: str | None = None,
    ) -> DiscoveryResult:
        if path is not None and is_store_uri(path):
            from osiris.drivers.files.store_discovery import discover_store

            return discover_store(connection, path, tables=tables, sample_rows=sample_rows)
        root = _root(connection, path)
        if root.is_file():
            kind = file_kind(root.name)
            if kind is None:
                raise DriverError(f"cannot discover {display_path(str(path))}: not a CSV or Parquet file")
            kinds: tuple[Kind, ...] = (kind,)  # type: ignore[assignment]
        else:
            kinds = ("csv", "parquet")
        found: list[TableInfo] = []
        source = ""
        for kind in kinds:
            # a name of no known kind goes to the CSV pass, which says no such file (and suggests one)
            wanted = [t for t in tables if (file_kind(Path(t).name) or "csv") == kind] if tables else None
            if wanted == [] and tables:
                continue
            result = discover_files(kind, connection, tables=wanted, sample_rows=sample_rows, path=path)
            found.extend(result.tables)
            source = result.source
        return DiscoveryResult(tables=tuple(sorted(found, key=lambda t: t.name)), source=source)

    def fingerprint(self, connection: ResolvedConnection | None, *, path: str | None = None) -> str:
        """(name, size, mtime_ns) of every data file at the path: a stat, no reads."""
        if path is not None and is_store_uri(path):
            from osiris.drivers.files.store_discovery import store_fingerprint

            return store_fingerprint(connection, path)
        root = _root(connection, path)
        if root.is_file():
            files = [root]
        else:
            files = sorted(p for p in root.rglob("*") if p.is_file() and file_kind(p.name) is not None)
        stats = [(p.relative_to(root.parent).as_posix(), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
        return "sha256:" + hashlib.sha256(repr(stats).encode()).hexdigest()


def _root(connection: ResolvedConnection | None, path: str | None) -> Path:
    if path is None and (connection is None or not connection.get("base_dir")):
        raise DriverError("discovery needs a path", hint="give a file or directory to discover")
    return resolve_with_connection(connection, path or ".", lambda text: Path.cwd() / text)




def discover_files(
    kind: Kind,
    connection: ResolvedConnection | None,
    *,
    tables: list[str] | None = None,
    sample_rows: int = 0,
    path: str | None = None,
) -> DiscoveryResult:
    """Describe every `kind` file at `path` (a file or a directory, searched recursively)."""
    if path is None:
        if connection is None or not connection.get("base_dir"):
            raise DriverError("discovery needs a path", hint="give a file or directory to discover")
        path = "."
    shown = display_path(path)
    root = resolve_with_connection(connection, path, lambda text: Path.cwd() / text)
    # Whoever names `path` applies the path policy to it (runtime/discovery_service.py); here
    # a symbolic link inside the directory must not lead out of it.
    files = list_files(kind, root, shown, (str(root),) if root.is_dir() else ())
    if tables is not None:
        files = _select(files, tables, shown)
    described = tuple(_describe(kind, name, file, sample_rows) for name, file in files)
    return DiscoveryResult(tables=described, source=shown)


def list_files(kind: Kind, root: Path, shown: str, roots: tuple[str, ...] = ()) -> list[tuple[str, Path]]:
    """(table name, file) pairs sorted by name; a single file is named by its base name.

    With `roots`, a file under a directory that is a symbolic link leading out of them is
    refused (DriverError), as the path itself would be."""
    if root.is_file():
        return [(root.name, root)]
    if not root.is_dir():
        raise DriverError(f"file not found: {shown}", hint="give an existing file or directory")
    found = [
        (file.relative_to(root).as_posix(), file)
        for file in root.rglob("*")
        if file.is_file() and _matches(kind, file) and not _hidden(file.relative_to(root))
    ]
    for name, file in found if roots else ():
        confine_found(file, f"{shown.rstrip('/')}/{name}", roots)
    return sorted(found)


def _matches(kind: Kind, file: Path) -> bool:
    return file_kind(file.name) == kind


def _hidden(relative: Path) -> bool:
    return any(part.startswith((".", "_")) for part in relative.parts)


def _select(files: list[tuple[str, Path]], tables: list[str], shown: str) -> list[tuple[str, Path]]:
    by_name = dict(files)
    missing = [name for name in tables if name not in by_name]
    if missing:
        close = difflib.get_close_matches(missing[0], list(by_name), n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"files found: {', '.join(by_name) or 'none'}"
        raise DriverError(f"no file {missing[0]!r} under {shown}", hint=hint)
    return [(name, by_name[name]) for name in tables]


def _describe(kind: Kind, name: str, file: Path, sample_rows: int) -> TableInfo:
    if kind == "parquet":
        return _describe_parquet(name, file, sample_rows)
    return _describe_csv(name, file, sample_rows)


def _columns(schema: pa.Schema) -> tuple[ColumnInfo, ...]:
    return tuple(
        ColumnInfo(name=f.name, type=str(f.type), arrow_type=str(f.type), nullable=f.nullable) for f in schema
    )


def _describe_parquet(name: str, file: Path, sample_rows: int) -> TableInfo:
    try:
        with pq.ParquetFile(str(file)) as parquet:
            schema = parquet.schema_arrow
            sample: tuple = ()
            if sample_rows > 0 and parquet.metadata.num_rows:
                batch = next(parquet.iter_batches(batch_size=sample_rows))
                sample = tuple(batch.slice(0, sample_rows).to_pylist())
            return TableInfo(
                name=name, columns=_columns(schema), row_count=parquet.metadata.num_rows, sample=sample
            )
    except (pa.ArrowException, OSError) as error:
        raise DriverError(f"cannot read {name} as Parquet: {str(error).splitlines()[0]}") from None


def _describe_csv(name: str, file: Path, sample_rows: int) -> TableInfo:
    spec = sniff_csv(file, name)
    if spec is None:
        return TableInfo(name=name, columns=(), row_count=0)
    reader = open_csv_reader(file, spec, name)
    try:
        schema = reader.schema
        sample: list[dict] = []
        if sample_rows > 0:
            for batch in _read(reader, file, spec, name):
                sample.extend(batch.slice(0, sample_rows - len(sample)).to_pylist())
                if len(sample) >= sample_rows:
                    break
    finally:
        reader.close()
    return TableInfo(
        name=name,
        columns=_columns(schema),
        row_count=_count_csv_rows(file, spec, schema, name),
        sample=tuple(sample),
    )


def sniff_csv(file: Path, name: str) -> CsvReadSpec | None:
    """Reading options for a file nobody configured: delimiter and encoding from its first bytes.

    None for an empty file (a table without columns or rows).
    """
    try:
        with open_input(file, "infer") as stream:
            head = stream.read(_SNIFF_BYTES)
    except OSError as error:  # unreadable, or a corrupt compressed file
        raise translate_read_error(error, file, CsvReadSpec(path=name), name) from None
    if not head.strip():
        return None
    try:
        text, encoding = head.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as error:
        if error.start >= len(head) - 4:  # a multi-byte character cut by the sample's end
            text, encoding = head[: error.start].decode("utf-8"), "utf-8"
        else:
            text, encoding = head.decode("latin-1"), "latin-1"
    lines = text.splitlines()[:50]
    try:
        delimiter = csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t|").delimiter
    except csv.Error:
        delimiter = "\t" if name.lower().removesuffix(".gz").endswith(".tsv") else ","
    return CsvReadSpec(path=name, delimiter=delimiter, encoding=encoding, block_size=1024 * 1024)


def _count_csv_rows(file: Path, spec: CsvReadSpec, schema: pa.Schema, name: str) -> int:
    """Count rows with a full streaming pass that converts only the first column (as text)."""
    if not schema.names:
        return 0
    first = schema.names[0]
    counting = CsvReadSpec(
        path=spec.path,
        delimiter=spec.delimiter,
        encoding=spec.encoding,
        columns=(first,),
        schema={first: pa.string()},
        block_size=4 * 1024 * 1024,
    )
    reader = open_csv_reader(file, counting, name)
    try:
        return sum(batch.num_rows for batch in _read(reader, file, counting, name))
    finally:
        reader.close()


def _read(reader, file: Path, spec: CsvReadSpec, name: str) -> Iterator[pa.RecordBatch]:  # noqa: ANN001
    while True:
        try:
            yield reader.read_next_batch()
        except StopIteration:
            return
        except Exception as error:
            raise translate_read_error(error, file, spec, name) from None
