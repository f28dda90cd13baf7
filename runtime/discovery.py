"""The discovery protocol: what a driver tells about a connection (or a path) without running a step.

A family's discoverer is found by family name through the driver registry (the `osiris.discovery`
entry-point group, runtime/registry.py), so the runtime, the chat and the CLIs never import a
driver. It answers three questions: the schema (tables, columns, declared and Arrow types, keys,
row counts), a few sample rows when asked, and a cheap *fingerprint* that changes when the
schema does, which lets runtime/discovery_cache.py trust an entry within its TTL.

The file suffix table lives here too: the files driver, the path policy's walk and the chat's
prompting all ask one `file_kind` which files are data files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from osiris.runtime.driver import ResolvedConnection

__all__ = [
    "COMPRESSED_SUFFIXES",
    "FILE_SUFFIXES",
    "ColumnInfo",
    "Discoverer",
    "DiscoveryResult",
    "TableInfo",
    "file_kind",
    "result_from_json",
    "result_to_json",
]

FILE_SUFFIXES: dict[str, tuple[str, ...]] = {
    "csv": (".csv", ".tsv"),
    "parquet": (".parquet", ".pq"),
}
"""File format -> its file name suffixes (the `filesystem.<format>_extractor` reads them)."""

COMPRESSED_SUFFIXES: dict[str, tuple[str, ...]] = {
    "csv": (".gz", ".bz2", ".zst", ".zstd", ".lz4"),
    "parquet": (),
}
"""Compression suffixes a format may carry after its own (`orders.tsv.gz` is a CSV file)."""


def file_kind(name: str) -> str | None:
    """The format of a file name ("csv" for `a.TSV.gz`, "parquet" for `b.pq`), or None."""
    lowered = name.lower()
    for kind, suffixes in FILE_SUFFIXES.items():
        stem = lowered
        for compressed in COMPRESSED_SUFFIXES.get(kind, ()):
            if stem.endswith(compressed):
                stem = stem.removesuffix(compressed)
                break
        if stem.endswith(suffixes):
            return kind
    return None


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    type: str
    """The source system's declared type, e.g. ``decimal(15,2)`` or ``timestamp with time zone``."""
    arrow_type: str | None = None
    nullable: bool = True
    primary_key: bool = False


@dataclass(frozen=True)
class TableInfo:
    name: str
    columns: tuple[ColumnInfo, ...]
    row_count: int | None = None
    schema: str | None = None
    sample: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class DiscoveryResult:
    tables: tuple[TableInfo, ...]
    source: str = ""
    """The connection reference or path that was discovered (never a secret)."""


@runtime_checkable
class Discoverer(Protocol):
    """One per connection family, registered in the `osiris.discovery` entry-point group."""

    def discover(
        self,
        connection: ResolvedConnection | None,
        *,
        tables: list[str] | None = None,
        sample_rows: int = 0,
        path: str | None = None,
    ) -> DiscoveryResult:
        """List tables, columns, types, keys and row counts; sample rows only when asked."""

    def fingerprint(self, connection: ResolvedConnection | None, *, path: str | None = None) -> str | None:
        """A cheap value (one query, a stat) that changes when the schema does; None when there
        is no cheap probe (the cache's TTL alone decides). Raises when the probe fails."""


def result_to_json(result: DiscoveryResult) -> dict[str, Any]:
    return asdict(result)


def result_from_json(data: Mapping[str, Any]) -> DiscoveryResult:
    """The inverse of `result_to_json` (KeyError/TypeError on a damaged entry: callers decide)."""
    tables = tuple(
        TableInfo(
            name=t["name"],
            columns=tuple(ColumnInfo(**c) for c in t["columns"]),
            row_count=t.get("row_count"),
            schema=t.get("schema"),
            sample=tuple(t.get("sample") or ()),
        )
        for t in data.get("tables", ())
    )
    return DiscoveryResult(tables=tables, source=data.get("source", ""))
