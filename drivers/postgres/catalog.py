"""Catalog look-ups shared by the writer and discovery: a table's columns and primary key.

Queries go through the same ADBC cursor as the data; names are passed as escaped literals
(`to_regclass('"schema"."table"')`), so odd table names cannot change the SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from osiris.drivers.postgres.connect import literal, qualified

__all__ = ["TargetColumn", "columns_of", "is_referenced", "primary_key", "table_columns", "table_exists"]


@dataclass(frozen=True)
class TargetColumn:
    name: str
    typname: str
    """pg_type.typname, e.g. ``int4``, ``_text``, ``numeric``."""
    declared: str
    """format_type with typmod, e.g. ``numeric(15,2)``, ``character varying(10)``."""
    base: str
    """format_type without typmod, used for casts so typmod checks still raise errors."""
    not_null: bool


def _regclass(schema: str, table: str) -> str:
    return f"to_regclass({literal(qualified(schema, table))})"


def table_exists(cursor: Any, schema: str, table: str) -> bool:
    cursor.execute(f"SELECT {_regclass(schema, table)} IS NOT NULL")
    return bool(cursor.fetchone()[0])


def table_columns(cursor: Any, schema: str, table: str) -> list[TargetColumn] | None:
    """Columns in ordinal order, or None when the table (or view) does not exist."""
    if not table_exists(cursor, schema, table):
        return None
    return columns_of(cursor, schema, table)


def columns_of(cursor: Any, schema: str, table: str) -> list[TargetColumn]:
    """Columns of an existing relation in ordinal order (none when it does not exist)."""
    cursor.execute(
        "SELECT a.attname, t.typname, format_type(a.atttypid, a.atttypmod), "
        "format_type(a.atttypid, NULL), a.attnotnull "
        "FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
        f"WHERE a.attrelid = {_regclass(schema, table)} AND a.attnum > 0 AND NOT a.attisdropped "
        "ORDER BY a.attnum"
    )
    return [TargetColumn(*row) for row in cursor.fetchall()]


def primary_key(cursor: Any, schema: str, table: str) -> list[str]:
    cursor.execute(
        "SELECT a.attname FROM pg_index i "
        "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey::int2[]) "
        f"WHERE i.indrelid = {_regclass(schema, table)} AND i.indisprimary "
        "ORDER BY array_position(i.indkey::int2[], a.attnum)"
    )
    return [row[0] for row in cursor.fetchall()]


def is_referenced(cursor: Any, schema: str, table: str) -> bool:
    """True when another table's foreign key points at this one (TRUNCATE would be refused)."""
    cursor.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_constraint "
        f"WHERE contype = 'f' AND confrelid = {_regclass(schema, table)} AND conrelid <> confrelid)"
    )
    return bool(cursor.fetchone()[0])
