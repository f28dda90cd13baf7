"""The PostgreSQL driver: native binary-COPY and ADBC reads, COPY writes, discovery and health checks.

The supabase driver reuses this package (a Supabase database with a `dsn` is PostgreSQL): it is
the one import between drivers that the import contract allows (pyproject.toml).

The names below load their module on first use (PEP 562), so a step that only reads does not
import the writer's ADBC path, and one that only writes does not import the reader's.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from osiris.drivers.postgres.connect import PgParams, params_from, split_table
    from osiris.drivers.postgres.discovery import discover, fingerprint, health_check
    from osiris.drivers.postgres.extract import select_sql, stream_query
    from osiris.drivers.postgres.write import WriteOptions, write_options, write_stream

_HOMES = {
    "PgParams": "connect", "params_from": "connect", "split_table": "connect",
    "discover": "discovery", "fingerprint": "discovery", "health_check": "discovery",
    "select_sql": "extract", "stream_query": "extract",
    "WriteOptions": "write", "write_options": "write", "write_stream": "write",
}

__all__ = [
    "PgParams",
    "WriteOptions",
    "discover",
    "fingerprint",
    "health_check",
    "params_from",
    "select_sql",
    "split_table",
    "stream_query",
    "write_options",
    "write_stream",
]


def __getattr__(name: str) -> Any:  # noqa: ANN401
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
