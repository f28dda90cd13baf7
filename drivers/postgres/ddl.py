"""CREATE TABLE statements derived from an Arrow schema.

ADBC's own `create` mode turns decimal128(15,2) into an unconstrained ``numeric`` and uint64
into ``bigint``; tables we create must keep precision, so we write the DDL ourselves
(see `types.pg_type`) and then COPY with mode="append".
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from osiris.drivers.postgres.connect import qualified, quote_ident
from osiris.drivers.postgres.types import pg_type
from osiris.runtime.driver import DriverError

__all__ = ["column_definitions", "create_table_sql"]


def column_definitions(schema: pa.Schema) -> list[str]:
    return [f"{quote_ident(f.name)} {pg_type(f)}{'' if f.nullable else ' NOT NULL'}" for f in schema]


def create_table_sql(schema_name: str, table: str, schema: pa.Schema, primary_key: Sequence[str] = ()) -> str:
    """DDL for a table holding `schema` (already normalised for COPY)."""
    if not len(schema):
        raise DriverError(f"cannot create {schema_name}.{table}: the stream has no columns")
    missing = [key for key in primary_key if key not in schema.names]
    if missing:
        raise DriverError(
            f"primary_key column(s) {missing} are not in the stream (columns: {schema.names})",
            hint="name key columns exactly as the upstream step outputs them",
        )
    parts = column_definitions(schema)
    if primary_key:
        parts.append(f"PRIMARY KEY ({', '.join(quote_ident(k) for k in primary_key)})")
    return f"CREATE TABLE {qualified(schema_name, table)} ({', '.join(parts)})"
