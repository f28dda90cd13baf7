"""Discovery and health checks for PostgreSQL connections.

Arrow types come from describing ``SELECT * FROM t`` through ADBC and applying the
extractor's own type repair, so discovery shows exactly what an extract would yield. Row
counts are exact below `EXACT_COUNT_BELOW` estimated rows and the planner's pg_class estimate
above (a count(*) over a big table is a full scan).
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

import pyarrow as pa

from osiris.drivers.postgres.catalog import columns_of, primary_key
from osiris.drivers.postgres.connect import (
    PgParams,
    close_quietly,
    literal,
    open_connection,
    qualified,
    split_table,
)
from osiris.drivers.postgres.errors import classify
from osiris.drivers.postgres.extract import describe, select_list
from osiris.drivers.postgres.types import read_schema, restore_batch
from osiris.runtime.driver import ColumnInfo, DiscoveryResult, DriverError, HealthReport, TableInfo

__all__ = ["discover", "fingerprint", "health_check"]

EXACT_COUNT_BELOW = 100_000
_RELKINDS = "'r', 'p', 'v', 'm', 'f'"
_USER_SCHEMAS = "table_schema NOT IN ('pg_catalog', 'information_schema')"
_FINGERPRINT_SQL = (
    "SELECT count(*), COALESCE(sum(hashtext(concat_ws('|', table_schema, table_name, column_name, data_type, "
    "is_nullable, ordinal_position))::bigint), 0), (SELECT COALESCE(sum(hashtext(concat_ws('|', table_name, "
    f"column_name, constraint_name))::bigint), 0) FROM information_schema.key_column_usage WHERE {_USER_SCHEMAS}) "
    f"FROM information_schema.columns WHERE {_USER_SCHEMAS}"
)


def discover(
    params: PgParams, *, tables: list[str] | None = None, sample_rows: int = 0, source: str = ""
) -> DiscoveryResult:
    conn = open_connection(params, autocommit=True)
    cursor = conn.cursor()
    try:
        found = []
        for schema, name, kind, estimate in _relations(cursor, params.schema, tables):
            found.append(_table(cursor, params, schema, name, kind, estimate, sample_rows))
        return DiscoveryResult(tables=tuple(found), source=source)
    except DriverError:
        raise
    except Exception as error:  # noqa: BLE001
        raise classify(error, action="discovery", label=params.label, secrets=params.secrets) from None
    finally:
        close_quietly(cursor, conn)


def fingerprint(params: PgParams) -> str:
    """One row over information_schema.columns and key_column_usage: it changes with ALTER,
    CREATE or DROP TABLE and with keys, not with INSERT."""
    conn = open_connection(params, autocommit=True)
    cursor = conn.cursor()
    try:
        cursor.execute(_FINGERPRINT_SQL)
        row = cursor.fetchone()
    except Exception as error:  # noqa: BLE001
        raise classify(error, action="schema fingerprint", label=params.label, secrets=params.secrets) from None
    finally:
        close_quietly(cursor, conn)
    return "sha256:" + hashlib.sha256("|".join(str(v) for v in row).encode()).hexdigest()


def _relations(cursor: Any, schema: str, tables: list[str] | None) -> list[tuple[str, str, str, float]]:
    query = (
        "SELECT n.nspname, c.relname, c.relkind::text, c.reltuples FROM pg_class c "
        f"JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind IN ({_RELKINDS}) "
    )
    if not tables:
        cursor.execute(query + f"AND n.nspname = {literal(schema)} ORDER BY c.relname")
        return [tuple(row) for row in cursor.fetchall()]
    rows = []
    for requested in tables:
        nsp, name = split_table(requested, schema)
        cursor.execute(query + f"AND n.nspname = {literal(nsp)} AND c.relname = {literal(name)}")
        row = cursor.fetchone()
        if row is None:
            raise DriverError(
                f"table {nsp}.{name} does not exist", hint="run discovery without `tables` to list them"
            )
        rows.append(tuple(row))
    return rows


def _table(
    cursor: Any, params: PgParams, schema: str, name: str, kind: str, estimate: float, sample_rows: int
) -> TableInfo:
    target = qualified(schema, name)
    declared = columns_of(cursor, schema, name)
    keys = set(primary_key(cursor, schema, name))
    described = describe(cursor, f"SELECT * FROM {target}", params)
    read = read_schema(described)
    arrow = {f.name: str(f.type) for f in read}
    columns = tuple(
        ColumnInfo(
            name=c.name,
            type=c.declared,
            arrow_type=arrow.get(c.name),
            nullable=not c.not_null,
            primary_key=c.name in keys,
        )
        for c in declared
    )
    return TableInfo(
        name=name,
        schema=schema,
        columns=columns,
        row_count=_row_count(cursor, target, kind, estimate),
        sample=_sample(cursor, target, sample_rows, described, read) if sample_rows else (),
    )


def _row_count(cursor: Any, target: str, kind: str, estimate: float) -> int | None:
    if kind not in ("r", "p", "m"):
        return None
    if estimate >= EXACT_COUNT_BELOW:
        return int(estimate)
    cursor.execute(f"SELECT count(*) FROM {target}")
    return int(cursor.fetchone()[0])


def _sample(
    cursor: Any, target: str, rows: int, described: pa.Schema, schema: pa.Schema
) -> tuple[dict[str, Any], ...]:
    """Up to `rows` rows; `schema` is `read_schema(described)`, the types an extract yields."""
    cursor.execute(f"SELECT {select_list(described)} FROM {target} LIMIT {int(rows)}")
    table = cursor.fetch_arrow_table()
    batches = [restore_batch(b, schema) for b in table.to_batches() if b.num_rows]
    return tuple(pa.Table.from_batches(batches, schema).to_pylist()) if batches else ()


def health_check(params: PgParams, timeout_s: float = 5.0) -> HealthReport:
    """Connect, ask the server its version, and report the round trip."""
    started = time.perf_counter()
    try:
        conn = open_connection(params.with_timeout(timeout_s), autocommit=True)
    except DriverError as error:
        return HealthReport(ok=False, message=str(error), details={"hint": error.hint or ""})
    cursor = conn.cursor()
    try:
        cursor.execute("SELECT current_setting('server_version'), current_database(), current_user")
        version, database, user = cursor.fetchone()
    except Exception as error:  # noqa: BLE001
        failure = classify(error, action="health check", label=params.label, secrets=params.secrets)
        return HealthReport(ok=False, message=str(failure))
    finally:
        close_quietly(cursor, conn)
    latency = (time.perf_counter() - started) * 1000
    return HealthReport(
        ok=True,
        message=f"PostgreSQL {version} answers at {params.label}",
        latency_ms=round(latency, 1),
        details={"server_version": version, "database": database, "user": user},
    )
