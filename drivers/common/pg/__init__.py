"""PostgreSQL logic shared by the postgres and supabase drivers (ADBC reads, COPY writes).

Drivers must not import each other, so everything both need lives here: connection
parameters, error classification, type repair, DDL, streaming extract, transactional write,
discovery and health checks.
"""

from osiris.drivers.common.pg.connect import PgParams, params_from, split_table
from osiris.drivers.common.pg.discovery import discover, health_check
from osiris.drivers.common.pg.extract import select_sql, stream_query
from osiris.drivers.common.pg.write import WriteOptions, write_options, write_stream

__all__ = [
    "PgParams",
    "WriteOptions",
    "discover",
    "health_check",
    "params_from",
    "select_sql",
    "split_table",
    "stream_query",
    "write_options",
    "write_stream",
]
