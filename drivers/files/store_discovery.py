"""Discovery under an object-store URI (`osiris discover s3://bucket/prefix`): each CSV or
Parquet object is a table, as each file is under a local directory (drivers/files/discovery.py).

Parquet answers from its footer (a ranged read: schema and row count, no data). A CSV object
is read only as far as its first block (columns and types); its row count is left unknown
rather than downloading the whole object. Hidden names (`.osiris-state/`, `_SUCCESS`) and our
own temporary prefixes are skipped, and an unfinished publish is read through, as readers do.
"""

from __future__ import annotations

import difflib
import hashlib
import posixpath

import pyarrow as pa
import pyarrow.parquet as pq

from osiris.drivers.common.objectstore import StoreLocation, open_store, store_error
from osiris.drivers.files.csv_reading import CsvReadSpec, open_csv_reader
from osiris.drivers.files.store_listing import StoreObject, list_committed
from osiris.runtime.discovery import file_kind
from osiris.runtime.driver import ColumnInfo, DiscoveryResult, DriverError, ResolvedConnection, TableInfo

__all__ = ["discover_store", "store_fingerprint"]

_SNIFF_BYTES = 64 * 1024


def _objects(location: StoreLocation) -> list[tuple[str, StoreObject]]:
    """(table name, object) for every CSV or Parquet object at the location, sorted by name: what
    a reader would read (through an unfinished publish, drivers/files/store_listing.py)."""
    try:
        found, _, _ = list_committed(location.fs, location.path)
    except (pa.ArrowException, OSError) as error:
        raise store_error(error, f"cannot list {location.shown}") from None
    base = location.path
    named = [(posixpath.basename(item.name) if item.name == base else item.name[len(base):].lstrip("/"), item)
             for item in found if file_kind(item.name)]
    return sorted(named, key=lambda pair: pair[0])


def store_fingerprint(connection: ResolvedConnection | None, uri: str) -> str:
    """(name, size, mtime) of every data object: one listing, no reads."""
    stats = [(name, item.size, str(item.mtime)) for name, item in _objects(open_store(connection, uri))]
    return "sha256:" + hashlib.sha256(repr(stats).encode()).hexdigest()


def discover_store(connection: ResolvedConnection | None, uri: str, *, tables: list[str] | None = None,
                   sample_rows: int = 0) -> DiscoveryResult:
    location = open_store(connection, uri)
    objects = _objects(location)
    if not objects:
        raise DriverError(f"no CSV or Parquet object under {uri}", hint="check the bucket and the prefix")
    if tables:
        by_name = dict(objects)
        missing = [t for t in tables if t not in by_name]
        if missing:
            close = difflib.get_close_matches(missing[0], list(by_name), n=1)
            raise DriverError(f"no object {missing[0]!r} under {uri}",
                              hint=f"did you mean {close[0]!r}?" if close else f"objects: {', '.join(by_name)}")
        objects = [(t, by_name[t]) for t in tables]
    described = tuple(_describe(location, name, item, sample_rows) for name, item in objects)
    return DiscoveryResult(tables=described, source=uri)


def _columns(schema: pa.Schema) -> tuple[ColumnInfo, ...]:
    return tuple(ColumnInfo(name=f.name, type=str(f.type), arrow_type=str(f.type), nullable=f.nullable)
                 for f in schema)


def _describe(location: StoreLocation, name: str, item: StoreObject, sample_rows: int) -> TableInfo:
    shown = location.uri(item.name)
    try:
        if file_kind(item.name) == "parquet":
            with pq.ParquetFile(location.fs.open_input_file(item.real)) as parquet:
                sample: tuple = ()
                if sample_rows > 0 and parquet.metadata.num_rows:
                    batch = next(parquet.iter_batches(batch_size=sample_rows))
                    sample = tuple(batch.slice(0, sample_rows).to_pylist())
                return TableInfo(name=name, columns=_columns(parquet.schema_arrow),
                                 row_count=parquet.metadata.num_rows, sample=sample)
        compression = "gzip" if item.name.endswith(".gz") else None
        stream = location.fs.open_input_stream(item.real, compression=compression)
        reader = open_csv_reader(None, CsvReadSpec(path=shown, block_size=1024 * 1024), shown, stream)
        try:
            rows: list[dict] = []
            if sample_rows > 0:
                try:
                    rows = reader.read_next_batch().slice(0, sample_rows).to_pylist()
                except StopIteration:
                    rows = []
            return TableInfo(name=name, columns=_columns(reader.schema), row_count=None, sample=tuple(rows))
        finally:
            reader.close()
    except DriverError:
        raise
    except (pa.ArrowException, OSError) as error:
        raise store_error(error, f"cannot read {shown}") from None
