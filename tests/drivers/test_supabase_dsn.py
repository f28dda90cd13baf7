"""supabase.* with `dsn`: the Postgres path (shared ADBC code), with PostgREST-style filter/order."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import psycopg
import pyarrow as pa
import pytest

from osiris.drivers.supabase.extractor import SupabaseExtractor, postgres_sql
from osiris.drivers.supabase.writer import SupabaseWriter
from osiris.runtime.driver import DriverError, ResolvedConnection
from osiris.runtime.testing import RecordingContext


@pytest.fixture(scope="module")
def db(postgres_db: dict) -> Iterator[psycopg.Connection]:
    with psycopg.connect(postgres_db["dsn"], autocommit=True) as conn:
        conn.execute("CREATE TABLE orders (id int8 PRIMARY KEY, status text, total numeric(12,2), note text)")
        conn.execute(
            "INSERT INTO orders SELECT g, CASE WHEN g % 3 = 0 THEN 'cancelled' ELSE 'completed' END, "
            "g * 10.5, "
            "CASE WHEN g % 5 = 0 THEN NULL ELSE 'it''s ' || g END FROM generate_series(1, 25) g"
        )
        yield conn


@pytest.fixture
def connection(postgres_db: dict, db: psycopg.Connection) -> ResolvedConnection:
    fields = {"dsn": postgres_db["dsn"], "url": "http://127.0.0.1:1", "service_role_key": "k"}
    return ResolvedConnection("supabase", "db", fields, frozenset({"dsn", "service_role_key"}))


def extract(connection: ResolvedConnection, **config: object) -> pa.Table:
    return SupabaseExtractor().extract(RecordingContext(config=config, connection=connection)).read_all()


@pytest.mark.postgres
def test_filters_order_limit_offset_become_sql(connection) -> None:
    table = extract(
        connection,
        table="orders",
        select="id,total",
        filter={"status": "eq.completed", "id": "lt.12"},
        order="total.desc",
        limit=3,
        offset=1,
    )
    assert table.to_pylist() == [{"id": i, "total": Decimal(i * 105) / 10} for i in (10, 8, 7)]
    assert table.schema.field("total").type == pa.decimal128(12, 2)  # the Postgres path keeps precision


@pytest.mark.postgres
def test_filter_values_are_literals_not_sql(connection) -> None:
    assert extract(connection, table="orders", filter={"note": "eq.it's 4"}).column("id").to_pylist() == [4]
    assert extract(connection, table="orders", filter={"note": "eq.x' OR '1'='1"}).num_rows == 0
    ids = extract(
        connection,
        table="orders",
        select="id",
        filter={"id": 'in.(1,"2",3)', "note": "not.is.null"},
        order="id.desc",
    )
    assert ids.column("id").to_pylist() == [3, 2, 1]
    sql = postgres_sql({"table": "orders", "filter": {"note": "like.*it's*"}}, "public")
    assert sql == 'SELECT * FROM "public"."orders" WHERE "note" LIKE \'%it\'\'s%\''


@pytest.mark.postgres
def test_query_and_unsupported_select(connection) -> None:
    assert extract(connection, query="SELECT count(*) AS n FROM orders").to_pylist() == [{"n": 25}]
    with pytest.raises(DriverError, match="plain column names"):
        extract(connection, table="orders", select="id,customer(name)")


@pytest.mark.postgres
def test_writer_uses_one_transaction_with_replace_and_create(connection, db) -> None:
    data = pa.table(
        {"id": pa.array([1, 2], pa.int64()), "amount": pa.array([Decimal("1.10"), None], pa.decimal128(9, 2))}
    )
    writer = SupabaseWriter()
    ctx = RecordingContext(
        config={"table": "stats", "write_mode": "replace", "primary_key": ["id"], "create_if_missing": True},
        connection=connection,
        mode="write",
    )
    assert writer.write(ctx, data.to_reader()).rows == 2
    ctx = RecordingContext(
        config={"table": "stats", "write_mode": "replace"}, connection=connection, mode="write"
    )
    writer.write(ctx, data.slice(1).to_reader())
    assert db.execute("SELECT id, amount FROM stats").fetchall() == [(2, None)]
    assert db.execute(
        "SELECT numeric_precision, numeric_scale FROM information_schema.columns "
        "WHERE table_name = 'stats' AND column_name = 'amount'"
    ).fetchone() == (9, 2)


@pytest.mark.postgres
def test_discovery_and_health_use_the_database(connection) -> None:
    (orders,) = SupabaseWriter().discover(connection, tables=["orders"]).tables
    assert orders.row_count == 25 and orders.columns[2].arrow_type == "decimal128(12, 2)"
    report = SupabaseExtractor().health_check(connection)
    assert report.ok and "PostgreSQL" in report.message
