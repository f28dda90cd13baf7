"""Config strings a driver puts into SQL text (table, schema, columns, partition_on, filters,
the query it wraps) are quoted as identifiers or literals, never pasted as SQL: hostile names
read or write exactly the object they name, and nothing else runs.

Run against the real MariaDB and PostgreSQL through the real drivers.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pymysql
import pytest

from osiris.drivers.files.parquet_extractor import ParquetExtractor
from osiris.drivers.mysql.extractor import MySQLExtractor
from osiris.drivers.mysql.writer import MySQLWriter
from osiris.drivers.postgres.extractor import PostgresExtractor
from osiris.drivers.postgres.writer import PostgresWriter
from osiris.drivers.supabase.extractor import SupabaseExtractor
from osiris.runtime.driver import DriverError, ResolvedConnection
from osiris.runtime.testing import RecordingContext

MYSQL_TABLE = "we`ird # t -- x"
MYSQL_COLUMN = "c`o'l\"; DROP TABLE canary; --"
PG_SCHEMA = 'sch"ema'
PG_TABLE = "we\"ird'; DROP TABLE canary; --"
PG_COLUMN = "c\"o'l /* x"


def _mysql(db: dict) -> pymysql.connections.Connection:
    return pymysql.connect(**{k: db[k] for k in ("host", "port", "user", "password", "database")}, autocommit=True)


def _q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


@pytest.fixture(scope="module")
def maria(mysql_db: dict) -> ResolvedConnection:
    conn = _mysql(mysql_db)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE canary (id INT)")
        cur.execute(f"CREATE TABLE {_q(MYSQL_TABLE)} (id INT PRIMARY KEY, {_q(MYSQL_COLUMN)} VARCHAR(20))")
        cur.execute(f"INSERT INTO {_q(MYSQL_TABLE)} VALUES (1, 'one'), (2, 'two'), (3, 'three')")
    conn.close()
    return ResolvedConnection("mysql", "db", {k: mysql_db[k] for k in ("host", "port", "user", "password", "database")},
                              frozenset({"password"}))


@pytest.fixture(scope="module")
def pg(postgres_db: dict) -> ResolvedConnection:
    with psycopg.connect(postgres_db["dsn"], autocommit=True) as conn:
        conn.execute("CREATE TABLE canary (id int)")
        conn.execute(psycopg.sql.SQL("CREATE SCHEMA {}").format(psycopg.sql.Identifier(PG_SCHEMA)))
        conn.execute(psycopg.sql.SQL("CREATE TABLE {}.{} (id int PRIMARY KEY, {} text)").format(
            psycopg.sql.Identifier(PG_SCHEMA), psycopg.sql.Identifier(PG_TABLE), psycopg.sql.Identifier(PG_COLUMN)))
        conn.execute(psycopg.sql.SQL("INSERT INTO {}.{} VALUES (1, 'one'), (2, 'two')").format(
            psycopg.sql.Identifier(PG_SCHEMA), psycopg.sql.Identifier(PG_TABLE)))
    return ResolvedConnection("postgres", "db", {"dsn": postgres_db["dsn"]}, frozenset({"dsn"}),
                              may_override=frozenset({"schema"}))


def _mysql_read(connection: ResolvedConnection, **config: Any) -> list[dict]:
    ctx = RecordingContext(config=config, connection=connection, component="mysql.extractor")
    return MySQLExtractor().extract(ctx).read_all().to_pylist()


def _pg_read(connection: ResolvedConnection, **config: Any) -> list[dict]:
    ctx = RecordingContext(config=config, connection=connection, component="postgres.extractor")
    return PostgresExtractor().extract(ctx).read_all().to_pylist()


def _canary_mysql(db: dict) -> bool:
    conn = _mysql(db)
    with conn.cursor() as cur:
        cur.execute("SHOW TABLES LIKE 'canary'")
        found = bool(cur.fetchall())
    conn.close()
    return found


@pytest.mark.mysql
@pytest.mark.parametrize("fetch_mode", ["auto", "bulk", "stream"])
def test_mysql_table_and_column_names_are_identifiers(maria, mysql_db, fetch_mode):
    rows = _mysql_read(maria, table=_q(MYSQL_TABLE), columns=["id", MYSQL_COLUMN], fetch_mode=fetch_mode)
    assert sorted(r["id"] for r in rows) == [1, 2, 3] and {r[MYSQL_COLUMN] for r in rows} == {"one", "two", "three"}
    assert _canary_mysql(mysql_db)


@pytest.mark.mysql
@pytest.mark.parametrize("name", [MYSQL_TABLE, "a.b.c", "`unclosed", "a.`b"])
def test_a_mysql_table_name_with_a_stray_backtick_is_refused_not_guessed(maria, name):
    with pytest.raises(DriverError, match="cannot read the table name"):
        _mysql_read(maria, table=name)


@pytest.mark.mysql
def test_mysql_partition_on_is_a_column_name_not_sql(maria, mysql_db):
    with pytest.raises(DriverError, match="not a column"):
        _mysql_read(maria, table=_q(MYSQL_TABLE), partition_on="id` , (SELECT 1) AS `x", fetch_mode="bulk")
    query = f"SELECT id, {_q(MYSQL_COLUMN)} AS v FROM {_q(MYSQL_TABLE)}"
    with pytest.raises(DriverError):
        _mysql_read(maria, query=query, partition_on="id) OR (1", fetch_mode="bulk")
    assert _canary_mysql(mysql_db)


@pytest.mark.mysql
@pytest.mark.parametrize("fetch_mode", ["auto", "bulk", "stream"])
@pytest.mark.parametrize("tail", [" -- it's the end", " # it's the end", "\n-- it's the end"])
def test_mysql_query_ending_in_a_comment_is_wrapped_safely(maria, fetch_mode, tail):
    query = f"SELECT id FROM {_q(MYSQL_TABLE)} WHERE id < 3{tail}"
    extra = {"partition_on": "id"} if fetch_mode == "bulk" else {}
    rows = _mysql_read(maria, query=query, fetch_mode=fetch_mode, limit=5, **extra)
    assert sorted(r["id"] for r in rows) == [1, 2]


@pytest.mark.postgres
def test_postgres_schema_table_and_columns_are_identifiers(pg, postgres_db):
    rows = _pg_read(pg, schema=PG_SCHEMA, table=PG_TABLE, columns=["id", PG_COLUMN], limit=5)
    assert rows == [{"id": 1, PG_COLUMN: "one"}, {"id": 2, PG_COLUMN: "two"}]
    with psycopg.connect(postgres_db["dsn"]) as conn:
        assert conn.execute("SELECT to_regclass('canary') IS NOT NULL").fetchone() == (True,)


@pytest.mark.postgres
@pytest.mark.parametrize("limit", [None, 5])
def test_postgres_query_ending_in_a_comment_is_wrapped_safely(pg, limit):
    query = 'SELECT id FROM "sch""ema"."we""ird\'; DROP TABLE canary; --" WHERE id < 3 -- it\'s the end'
    config: dict[str, Any] = {"query": query, **({"limit": limit} if limit else {})}
    assert sorted(r["id"] for r in _pg_read(pg, **config)) == [1, 2]


@pytest.mark.postgres
def test_supabase_filters_and_order_on_the_postgres_path_are_quoted(postgres_db, pg):
    connection = ResolvedConnection("supabase", "db", {"dsn": postgres_db["dsn"], "url": "http://127.0.0.1:9"},
                                    frozenset({"dsn"}), may_override=frozenset({"schema"}))
    config = {"schema": PG_SCHEMA, "table": PG_TABLE, "filter": {PG_COLUMN: "eq.x' OR '1'='1"}}
    ctx = RecordingContext(config=config, connection=connection, component="supabase.extractor")
    assert SupabaseExtractor().extract(ctx).read_all().num_rows == 0
    config = {"schema": PG_SCHEMA, "table": PG_TABLE, "filter": {PG_COLUMN: "in.(one,\"two\")"}, "order": "id.desc"}
    ctx = RecordingContext(config=config, connection=connection, component="supabase.extractor")
    assert SupabaseExtractor().extract(ctx).read_all().column("id").to_pylist() == [2, 1]


@pytest.mark.mysql
def test_mysql_writer_creates_exactly_the_named_table(maria, mysql_db):
    name = "new`t'; DROP TABLE canary; -- x"
    data = pa.table({"id": [1, 2], "we`ird \"col\" # --": ["a", "b'c"]})
    ctx = RecordingContext(config={"table": _q(name), "create_if_missing": True}, connection=maria,
                           component="mysql.writer", mode="write")
    MySQLWriter().write(ctx, pa.RecordBatchReader.from_batches(data.schema, data.to_batches()))
    conn = _mysql(mysql_db)
    with conn.cursor() as cur:
        cur.execute(f"SELECT * FROM {_q(name)} ORDER BY id")
        assert cur.fetchall() == ((1, "a"), (2, "b'c"))
    conn.close()
    assert _canary_mysql(mysql_db)


@pytest.mark.postgres
def test_postgres_writer_creates_exactly_the_named_table(pg, postgres_db):
    name = "new\"t'; DROP TABLE canary; -- x"
    data = pa.table({"id": [1, 2], "we\"ird 'col' /* --": ["a", "b'c"]})
    ctx = RecordingContext(config={"table": name, "schema": PG_SCHEMA, "create_if_missing": True}, connection=pg,
                           component="postgres.writer", mode="write")
    PostgresWriter().write(ctx, pa.RecordBatchReader.from_batches(data.schema, data.to_batches()))
    with psycopg.connect(postgres_db["dsn"]) as conn:
        rows = conn.execute(psycopg.sql.SQL("SELECT * FROM {}.{} ORDER BY id").format(
            psycopg.sql.Identifier(PG_SCHEMA), psycopg.sql.Identifier(name))).fetchall()
        assert rows == [(1, "a"), (2, "b'c")]
        assert conn.execute("SELECT to_regclass('canary') IS NOT NULL").fetchone() == (True,)


def test_a_parquet_filter_ending_in_a_comment_is_wrapped_safely(tmp_path):
    pq.write_table(pa.table({"id": [1, 2, 3]}), tmp_path / "in.parquet")
    ctx = RecordingContext(config={"path": "in.parquet", "filter": "id < 3 -- it's the end", "limit": 5},
                           work_dir=tmp_path, component="filesystem.parquet_extractor")
    assert ParquetExtractor().extract(ctx).read_all().column("id").to_pylist() == [1, 2]
