"""The PostgreSQL driver: ADBC reads, COPY writes, discovery and health checks.

The supabase driver reuses this package (a Supabase database with a `dsn` is PostgreSQL): it is
the one import between drivers that the import contract allows (pyproject.toml).
"""

from osiris.drivers.postgres.connect import PgParams, params_from, split_table
from osiris.drivers.postgres.discovery import discover, fingerprint, health_check
from osiris.drivers.postgres.extract import select_sql, stream_query
from osiris.drivers.postgres.write import WriteOptions, write_options, write_stream

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
