"""Discovery and health checks of postgres.extractor / postgres.writer against the real server."""

from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest

import osiris.drivers.postgres.discovery as pg_discovery
from osiris.drivers.postgres.extractor import PostgresExtractor
from osiris.drivers.postgres.writer import PostgresWriter
from osiris.runtime.driver import Discoverer, DriverError, Extractor, HealthCheck, ResolvedConnection, Writer


@pytest.fixture(scope="module")
def connection(postgres_db: dict) -> ResolvedConnection:
    with psycopg.connect(postgres_db["dsn"], autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE orders (id int8 PRIMARY KEY, amount numeric(15,2) NOT NULL, ip inet, note text)"
        )
        conn.execute(
            "INSERT INTO orders SELECT g, g * 1.5, '10.0.0.1', 'n' || g FROM generate_series(1, 250) g"
        )
        conn.execute("CREATE TABLE pairs (a int4, b text, v jsonb, PRIMARY KEY (b, a))")
        conn.execute("CREATE VIEW big_orders AS SELECT * FROM orders WHERE amount > 100")
        conn.execute("CREATE SCHEMA other")
        conn.execute("CREATE TABLE other.hidden (x int)")
        conn.execute("ANALYZE orders")
    return ResolvedConnection("postgres", "main", {"dsn": postgres_db["dsn"]}, frozenset({"dsn"}))


def test_classes_implement_the_protocols() -> None:
    extractor, writer = PostgresExtractor(), PostgresWriter()
    assert all(isinstance(extractor, p) for p in (Extractor, Discoverer, HealthCheck))
    assert all(isinstance(writer, p) for p in (Writer, Discoverer, HealthCheck))


@pytest.mark.postgres
def test_discover_lists_tables_columns_types_keys_counts(connection: ResolvedConnection) -> None:
    result = PostgresExtractor().discover(connection)
    assert result.source == "@postgres.main"
    by_name = {t.name: t for t in result.tables}
    assert sorted(by_name) == ["big_orders", "orders", "pairs"]
    orders = by_name["orders"]
    assert orders.schema == "public" and orders.row_count == 250 and orders.sample == ()
    assert [(c.name, c.type, c.arrow_type, c.nullable, c.primary_key) for c in orders.columns] == [
        ("id", "bigint", "int64", False, True),
        ("amount", "numeric(15,2)", "decimal128(15, 2)", False, False),
        ("ip", "inet", "string", True, False),
        ("note", "text", "string", True, False),
    ]
    assert [c.name for c in by_name["pairs"].columns if c.primary_key] == ["a", "b"]
    assert by_name["pairs"].columns[2].arrow_type == "extension<arrow.json>"
    assert by_name["big_orders"].row_count is None


@pytest.mark.postgres
def test_discover_named_tables_with_samples(connection: ResolvedConnection) -> None:
    result = PostgresWriter().discover(connection, tables=["orders", "other.hidden"], sample_rows=2)
    orders, hidden = result.tables
    assert orders.sample == (
        {"id": 1, "amount": Decimal("1.50"), "ip": "10.0.0.1", "note": "n1"},
        {"id": 2, "amount": Decimal("3.00"), "ip": "10.0.0.1", "note": "n2"},
    )
    assert (hidden.schema, hidden.name, hidden.row_count, hidden.sample) == ("other", "hidden", 0, ())
    with pytest.raises(DriverError, match="public.missing does not exist"):
        PostgresWriter().discover(connection, tables=["missing"])


@pytest.mark.postgres
def test_big_tables_report_the_planner_estimate(connection: ResolvedConnection, monkeypatch) -> None:
    monkeypatch.setattr(pg_discovery, "EXACT_COUNT_BELOW", 10)
    (orders,) = PostgresExtractor().discover(connection, tables=["orders"]).tables
    assert orders.row_count == 250  # ANALYZE saw every row of this small table


@pytest.mark.postgres
def test_health_check_reports_version_and_failures(postgres_db: dict) -> None:
    good = ResolvedConnection(
        "postgres",
        "h",
        {
            "host": "127.0.0.1",
            "port": 5432,
            "database": postgres_db["database"],
            "user": "postgres",
            "password": "pw-x-123",
        },
        frozenset({"password"}),
    )
    report = PostgresExtractor().health_check(good, timeout_s=3)
    assert report.ok and report.details["server_version"].split(".")[0].isdigit()
    assert report.latency_ms is not None and "pw-x-123" not in report.message
    bad = ResolvedConnection("postgres", "h", {**good.fields, "port": 1}, frozenset({"password"}))
    report = PostgresWriter().health_check(bad, timeout_s=1)
    assert not report.ok and "connect failed" in report.message and "pw-x-123" not in report.message


@pytest.mark.postgres
def test_the_schema_fingerprint_changes_with_alter_table_not_with_insert(
    connection: ResolvedConnection, postgres_db: dict
) -> None:
    tools = PostgresExtractor()
    before = tools.fingerprint(connection)
    assert before.startswith("sha256:") and tools.fingerprint(connection) == before
    with psycopg.connect(postgres_db["dsn"], autocommit=True) as conn:
        conn.execute("INSERT INTO pairs VALUES (1, 'x', NULL)")
        assert tools.fingerprint(connection) == before  # data is not schema
        conn.execute("ALTER TABLE pairs ADD COLUMN w int")
        altered = tools.fingerprint(connection)
        conn.execute("ALTER TABLE pairs DROP COLUMN w")
        conn.execute("DELETE FROM pairs")
    assert altered != before and tools.fingerprint(connection) == before
