"""Discovery through the drivers' discoverers against the real MariaDB and PostgreSQL, files,
and the shared cache.

The cache tests wrap the family's discoverer to count calls: a second discovery of an unchanged
schema must not call it; ALTER TABLE must. (The fingerprint still runs one query, through the
discoverer's `fingerprint`, not through `discover`.)
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from osiris.runtime.discovery_service import DiscoveryService
from osiris.runtime.driver import DriverError
from osiris.runtime.registry import default_registry
from tests.llm.conftest import DEMO_DATA


class CountingFactory:
    """The registry's discoverer for a family, but every `discover` is counted."""

    def __init__(self) -> None:
        self.discover_calls = 0

    def __call__(self, family: str) -> Any:
        discoverer = default_registry().discoverer(family)
        factory = self

        class Counted:
            def discover(self, *args: Any, **kwargs: Any) -> Any:
                factory.discover_calls += 1
                return discoverer.discover(*args, **kwargs)

            def fingerprint(self, *args: Any, **kwargs: Any) -> Any:
                return discoverer.fingerprint(*args, **kwargs)

        return Counted()


def _service(tmp_path: Path, connections_yaml: str, **kwargs: Any) -> DiscoveryService:
    from osiris.runtime.connections import load_connections_file

    (tmp_path / "osiris_connections.yaml").write_text(connections_yaml)
    return DiscoveryService(
        load_connections_file(None, tmp_path), cwd=tmp_path, env={}, cache_dir=tmp_path / "cache", **kwargs
    )


@pytest.fixture(scope="module")
def mysql_shop(mysql_db: dict) -> dict:
    import pymysql

    conn = pymysql.connect(**mysql_db, autocommit=True)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(40) NOT NULL, country CHAR(2))")
        cur.execute("CREATE TABLE orders (order_id BIGINT PRIMARY KEY, customer_id INT, total DECIMAL(12,2))")
        cur.execute("INSERT INTO customers VALUES (1, 'Ada', 'CZ'), (2, 'Bo', 'DE'), (3, 'Cy', NULL)")
        cur.execute("INSERT INTO orders VALUES (10, 1, 5.50), (11, 2, 7.25)")
    conn.close()
    return mysql_db


def _mysql_yaml(db: dict) -> str:
    return (
        "version: 1\nconnections:\n  mysql:\n    shop: {host: 127.0.0.1, port: 3306, "
        f'database: {db["database"]}, user: root, password: ""}}\n'
    )


@pytest.mark.mysql
def test_mysql_tables_columns_keys_counts_and_samples_only_when_allowed(
    tmp_path: Path, mysql_shop: dict
) -> None:
    service = _service(tmp_path, _mysql_yaml(mysql_shop))
    result = service.discover("@mysql.shop")
    assert result.source == "@mysql.shop"
    tables = {t.name: t for t in result.tables}
    assert set(tables) == {"customers", "orders"}
    customers = tables["customers"]
    assert customers.row_count == 3 and tables["orders"].row_count == 2
    assert [(c.name, c.type, c.primary_key, c.nullable) for c in customers.columns] == [
        ("id", "int(11)", True, False),
        ("name", "varchar(40)", False, False),
        ("country", "char(2)", False, True),
    ]
    assert customers.sample == ()  # no samples unless asked
    sampled = {t.name: t for t in service.discover("@mysql.shop", sample_rows=2).tables}
    assert len(sampled["customers"].sample) == 2 and sampled["customers"].sample[0]["name"] == "Ada"
    assert (
        len(service.discover("@mysql.shop", sample_rows=500).tables[0].sample) == 3
    )  # capped at 10 and table size


@pytest.mark.mysql
def test_mysql_cache_hit_and_invalidation_by_alter_table(tmp_path: Path, mysql_shop: dict) -> None:
    import pymysql

    counting = CountingFactory()
    service = _service(tmp_path, _mysql_yaml(mysql_shop), discoverer_for=counting)
    first = service.discover("@mysql.shop", tables=["orders"])
    again = service.discover("@mysql.shop", tables=["orders"])
    assert counting.discover_calls == 1 and again == first
    # a new process (a new service) reads the same entry from disk
    fresh = _service(tmp_path, _mysql_yaml(mysql_shop), discoverer_for=counting)
    assert fresh.discover("@mysql.shop", tables=["orders"]) == first and counting.discover_calls == 1
    conn = pymysql.connect(**mysql_shop, autocommit=True)
    with conn.cursor() as cur:
        cur.execute("ALTER TABLE orders ADD COLUMN currency CHAR(3)")
    conn.close()
    changed = service.discover("@mysql.shop", tables=["orders"])
    assert counting.discover_calls == 2
    assert [c.name for c in changed.tables[0].columns] == ["order_id", "customer_id", "total", "currency"]


@pytest.mark.mysql
def test_ttl_expiry_forces_a_new_discovery(tmp_path: Path, mysql_shop: dict) -> None:
    now = [1000.0]
    counting = CountingFactory()
    service = _service(
        tmp_path, _mysql_yaml(mysql_shop), discoverer_for=counting, ttl_s=60, clock=lambda: now[0]
    )
    service.discover("@mysql.shop")
    now[0] += 59
    service.discover("@mysql.shop")
    assert counting.discover_calls == 1
    now[0] += 2
    service.discover("@mysql.shop")
    assert counting.discover_calls == 2


@pytest.fixture(scope="module")
def pg_shop(postgres_db: dict) -> dict:
    import psycopg

    with psycopg.connect(postgres_db["dsn"], autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE products (sku text PRIMARY KEY, price numeric(10,2) NOT NULL, launched date)"
        )
        conn.execute("INSERT INTO products VALUES ('A-1', 9.99, '2024-01-02'), ('B-2', 19.50, NULL)")
        conn.execute("CREATE VIEW cheap AS SELECT sku FROM products WHERE price < 10")
    return postgres_db


def _pg_yaml(db: dict) -> str:
    return (
        "version: 1\nconnections:\n  postgres:\n    wh: {host: 127.0.0.1, port: 5432, "
        f"database: {db['database']}, user: postgres}}\n"
    )


@pytest.mark.postgres
def test_postgres_discovery_and_cache(tmp_path: Path, pg_shop: dict) -> None:
    import psycopg

    counting = CountingFactory()
    service = _service(tmp_path, _pg_yaml(pg_shop), discoverer_for=counting)
    tables = {t.name: t for t in service.discover("@postgres.wh").tables}
    assert set(tables) == {"products", "cheap"}
    products = tables["products"]
    assert products.row_count == 2 and products.sample == ()
    assert [(c.name, c.type, c.primary_key, c.nullable) for c in products.columns] == [
        ("sku", "text", True, False),
        ("price", "numeric(10,2)", False, False),
        ("launched", "date", False, True),
    ]
    service.discover("@postgres.wh")
    assert counting.discover_calls == 1
    with psycopg.connect(pg_shop["dsn"], autocommit=True) as conn:
        conn.execute("ALTER TABLE products ADD COLUMN weight real")
    tables = {t.name: t for t in service.discover("@postgres.wh").tables}
    assert counting.discover_calls == 2 and tables["products"].columns[-1].name == "weight"
    sampled = {t.name: t for t in service.discover("@postgres.wh", tables=["products"], sample_rows=1).tables}
    assert len(sampled["products"].sample) == 1


def test_files_discovery_and_invalidation_by_rewrite(tmp_path: Path) -> None:
    shutil.copytree(DEMO_DATA, tmp_path / "data")
    counting = CountingFactory()
    service = DiscoveryService(
        None, cwd=tmp_path, env={}, cache_dir=tmp_path / "cache", discoverer_for=counting
    )
    names = {t.name: t for t in service.discover("data").tables}
    assert set(names) == {
        "data/orders.csv",
        "data/customers.csv",
        "data/customers.parquet",
        "data/products.parquet",
    }
    assert names["data/orders.csv"].row_count == 2500
    assert counting.discover_calls == 1  # one discoverer for the filesystem family, CSV and Parquet alike
    service.discover("data")
    assert counting.discover_calls == 1
    (tmp_path / "data" / "customers.csv").write_text("id,name\n1,Ada\n")
    names = {t.name: t for t in service.discover("data").tables}
    assert counting.discover_calls == 2 and names["data/customers.csv"].row_count == 1


@pytest.mark.mysql
def test_unknown_alias_and_missing_path_are_driver_errors(tmp_path: Path, mysql_shop: dict) -> None:
    service = _service(tmp_path, _mysql_yaml(mysql_shop))
    with pytest.raises(DriverError, match="not defined"):
        service.discover("@mysql.nope")
    with pytest.raises(DriverError, match="path not found"):
        service.discover("nowhere/")


def test_a_family_without_a_discoverer_is_a_clear_error_and_overrides_plug_in() -> None:
    from osiris.runtime.registry import DriverRegistry

    with pytest.raises(DriverError, match="no installed driver can discover ftp connections") as caught:
        DriverRegistry().discoverer("ftp")
    assert "osiris.discovery" in (caught.value.hint or "")
    fake = object()
    assert DriverRegistry(discoverers={"ftp": fake}).discoverer("ftp") is fake
