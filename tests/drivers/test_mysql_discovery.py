"""MySQL discovery, health check and error classification against the real MariaDB."""

from __future__ import annotations

import pymysql
import pytest

from osiris.drivers.mysql.connect import classify, conn_params, cx_url, mask
from osiris.drivers.mysql.extractor import MySQLExtractor
from osiris.drivers.mysql.writer import MySQLWriter
from osiris.runtime.driver import (
    Discoverer,
    DriverError,
    Extractor,
    HealthCheck,
    ResolvedConnection,
    TransientError,
    Writer,
)


def resolved(db: dict, **fields: object) -> ResolvedConnection:
    base = {k: db[k] for k in ("host", "port", "user", "password", "database")}
    return ResolvedConnection("mysql", "test", {**base, **fields}, frozenset({"password"}))


def admin(db: dict) -> pymysql.connections.Connection:
    return pymysql.connect(host=db["host"], port=db["port"], user=db["user"], password=db["password"],
                           database=db["database"], charset="utf8mb4", autocommit=True)


@pytest.fixture(scope="module")
def db(mysql_db: dict) -> dict:
    conn = admin(mysql_db)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE orders (id BIGINT UNSIGNED PRIMARY KEY, total DECIMAL(15,2) NOT NULL, "
                    "note VARCHAR(20), placed TIMESTAMP NULL)")
        cur.execute("INSERT INTO orders VALUES (1, 10.50, 'first 😀', '2024-01-01 10:00:00'), "
                    "(2, 3, NULL, NULL)")
        cur.execute("CREATE VIEW big_orders AS SELECT id, total FROM orders WHERE total > 5")
    conn.close()
    return mysql_db


def test_drivers_implement_the_protocols() -> None:
    for protocol in (Extractor, Discoverer, HealthCheck):
        assert isinstance(MySQLExtractor(), protocol)
    for protocol in (Writer, Discoverer, HealthCheck):
        assert isinstance(MySQLWriter(), protocol)


@pytest.mark.mysql
def test_discovery_lists_tables_columns_keys_counts_and_samples(db: dict) -> None:
    result = MySQLExtractor().discover(resolved(db), sample_rows=1)
    assert result.source == "@mysql.test"
    tables = {t.name: t for t in result.tables}
    assert set(tables) == {"orders", "big_orders"}
    orders = tables["orders"]
    assert orders.row_count == 2 and tables["big_orders"].row_count is None
    columns = {c.name: c for c in orders.columns}
    assert columns["id"].type == "bigint(20) unsigned" and columns["id"].arrow_type == "uint64"
    assert columns["id"].primary_key and not columns["id"].nullable
    assert columns["total"].type == "decimal(15,2)" and columns["total"].arrow_type == "decimal128(15, 2)"
    assert columns["placed"].arrow_type == "timestamp[us, tz=UTC]"
    assert len(orders.sample) == 1 and orders.sample[0]["note"] == "first 😀"
    only = MySQLWriter().discover(resolved(db), tables=["orders"])
    assert [t.name for t in only.tables] == ["orders"] and only.tables[0].sample == ()


@pytest.mark.mysql
def test_discovery_of_an_unknown_table_suggests_a_name(db: dict) -> None:
    with pytest.raises(DriverError, match="'order' is not in database") as info:
        MySQLExtractor().discover(resolved(db), tables=["order"])
    assert "orders" in (info.value.hint or "")


@pytest.mark.mysql
def test_health_check_reports_latency_and_version(db: dict) -> None:
    report = MySQLExtractor().health_check(resolved(db))
    assert report.ok and report.latency_ms is not None and "MariaDB" in report.details["server_version"]


@pytest.mark.mysql
def test_health_check_failure_is_a_masked_report(db: dict) -> None:
    secret = "s3cr#t/pass@word"
    report = MySQLWriter().health_check(resolved(db, port=1, password=secret), timeout_s=2)
    assert not report.ok and "2003" in report.message and secret not in report.message


@pytest.mark.mysql
def test_lock_wait_timeout_and_deadlock_are_transient(db: dict) -> None:
    holder, waiter = admin(db), admin(db)
    try:
        with holder.cursor() as cur:
            cur.execute("BEGIN")
            cur.execute("SELECT * FROM orders WHERE id = 1 FOR UPDATE")
        with waiter.cursor() as cur:
            cur.execute("SET SESSION innodb_lock_wait_timeout = 1")
            cur.execute("BEGIN")
            with pytest.raises(pymysql.MySQLError) as info:
                cur.execute("UPDATE orders SET total = 1 WHERE id = 1")
        error = classify(info.value, None, action="write")
        assert isinstance(error, TransientError) and "1205" in str(error)
    finally:
        holder.close()
        waiter.close()
    deadlock = classify(pymysql.err.OperationalError(1213, "Deadlock found"), None, action="write")
    assert isinstance(deadlock, TransientError)
    fk = classify(pymysql.err.IntegrityError(1452, "Cannot add or update a child row"), None, action="write")
    assert type(fk) is DriverError and "foreign key" in (fk.hint or "")


@pytest.mark.mysql
def test_secrets_never_reach_messages(db: dict) -> None:
    params = conn_params(resolved(db, password="p@ss:w/rd"))
    url = cx_url(params)
    assert "p%40ss%3Aw%2Frd" in url
    text = mask(f"failed at {url} with p@ss:w/rd", params)
    assert "p@ss" not in text and "p%40ss" not in text and "mysql://***" in text
    assert "p@ss" not in repr(params)


@pytest.mark.mysql
def test_step_config_overrides_only_the_fields_the_alias_allows(db: dict) -> None:
    overrides = {"host": db["host"], "database": "other"}
    base = resolved(db, host="elsewhere", database="x")
    allowing = ResolvedConnection("mysql", "test", base.fields, base.secret_fields,
                                  may_override=frozenset({"host", "database"}))
    params = conn_params(allowing, overrides)
    assert (params.host, params.database, params.port) == (db["host"], "other", db["port"])
    with pytest.raises(DriverError, match="`host`.*does not let a step override"):
        conn_params(base, overrides)  # no policy given: nothing may be overridden


@pytest.mark.mysql
def test_the_schema_fingerprint_changes_with_alter_table_not_with_insert(db: dict) -> None:
    tools, connection = MySQLExtractor(), resolved(db)
    before = tools.fingerprint(connection)
    assert before.startswith("sha256:") and tools.fingerprint(connection) == before
    conn = admin(db)
    with conn.cursor() as cur:
        cur.execute("INSERT INTO orders VALUES (3, 4, NULL, NULL)")
        assert tools.fingerprint(connection) == before  # data is not schema
        cur.execute("CREATE TABLE fp_probe (id INT)")
        created = tools.fingerprint(connection)
        cur.execute("ALTER TABLE fp_probe ADD COLUMN label CHAR(2)")
        altered = tools.fingerprint(connection)
        cur.execute("DROP TABLE fp_probe")
        cur.execute("DELETE FROM orders WHERE id = 3")
    conn.close()
    assert len({before, created, altered}) == 3 and tools.fingerprint(connection) == before
