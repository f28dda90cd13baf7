"""Every column type survives MySQL -> Parquet -> PostgreSQL -> CSV, through `osiris run`.

Three pipelines, each run as a user runs it, chained by their outputs: a MariaDB table with
every type the drivers map (NULLs, unicode, extreme values) is extracted to Parquet, the
Parquet file is loaded into a PostgreSQL table the writer creates, and that table is
extracted to CSV. Values are compared exactly at every hop, and the PostgreSQL table keeps
the declared precision.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.runtime.conftest import REPO

pytestmark = [pytest.mark.mysql, pytest.mark.postgres, pytest.mark.slow]

MYSQL_DDL = """
CREATE TABLE everything (
  id INT PRIMARY KEY,
  amount DECIMAL(15,2),
  wide DECIMAL(38,10),
  big BIGINT,
  ubig BIGINT UNSIGNED,
  small SMALLINT,
  flag TINYINT(1),
  ratio DOUBLE,
  day DATE,
  at DATETIME(6),
  stamp TIMESTAMP(6) NULL,
  clock TIME(6),
  label VARCHAR(50),
  body TEXT,
  doc JSON,
  kind ENUM('a','b'),
  tags SET('x','y')
) CHARACTER SET utf8mb4
"""
ROWS = [
    (1, "1234567890123.45", "1234567890123456789012345678.0123456789", -9223372036854775808,
     18446744073709551615, -32768, 1, 1.5, "2024-02-29", "2024-02-29 23:59:59.999999",
     "2024-02-29 12:00:00.000001", "23:59:59.999999", "žluťoučký kůň 🐎", "line1\nline2, \"quoted\"",
     '{"a": [1, 2]}', "a", "x,y"),
    (2, "-0.01", "0.0000000001", 9223372036854775807, 0, 32767, 0, -0.0, "1000-01-01",
     "1000-01-01 00:00:00.000000", "1970-01-01 00:00:01.000000", "00:00:00.000000", "", "", "[]",
     "b", ""),
    (3, None, None, None, None, None, None, None, None, None, None, None, None, None, None, None, None),
]
CONNECTIONS = """version: 1
connections:
  mysql:
    src: {{host: 127.0.0.1, port: 3306, database: {mysql}, user: root, password: "${{MYSQL_PW:-}}"}}
  postgres:
    dst: {{dsn: "{dsn}"}}
"""


BACKENDS = {"local": [], "ray": ["--backend", "ray", "--partitions", "2", "--ray-cpus", "2"]}
"""The same hops on the local backend and on Ray (the MySQL table splits by its primary key there)."""


def _run(pipeline: str, work: Path, backend: str = "local") -> dict:
    (work / "p.yaml").write_text(pipeline, encoding="utf-8")
    argv = [sys.executable, "-m", "osiris.cli.osiris", "run", "p.yaml", "--json", "--quiet", *BACKENDS[backend]]
    done = subprocess.run(argv, cwd=work,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def source(mysql_db: dict) -> dict:
    import pymysql

    conn = pymysql.connect(**mysql_db, autocommit=True)
    with conn.cursor() as cur:
        cur.execute("SET time_zone = '+00:00'")
        cur.execute(MYSQL_DDL)
        cur.executemany(f"INSERT INTO everything VALUES ({', '.join(['%s'] * 17)})", ROWS)
    conn.close()
    return mysql_db


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_types_survive_mysql_parquet_postgres_csv(source: dict, postgres_db: dict, tmp_path: Path,
                                                  backend: str) -> None:
    import psycopg

    with psycopg.connect(postgres_db["dsn"], autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS everything")
    (tmp_path / "osiris_connections.yaml").write_text(
        CONNECTIONS.format(mysql=source["database"], dsn=postgres_db["dsn"]), encoding="utf-8")
    head = 'oml_version: "0.1.0"\nname: hop\nsteps:\n'
    _run(head + """  - id: src
    component: mysql.extractor
    config: {connection: "@mysql.src", table: everything}
  - id: out
    component: filesystem.parquet_writer
    needs: [src]
    config: {path: hop/everything.parquet}
""", tmp_path, backend)
    table = pq.read_table(tmp_path / "hop" / "everything.parquet").sort_by("id")
    schema = table.schema
    assert schema.field("amount").type == pa.decimal128(15, 2)
    assert schema.field("wide").type == pa.decimal128(38, 10)
    assert schema.field("ubig").type == pa.uint64()
    assert schema.field("flag").type == pa.bool_()
    assert schema.field("day").type == pa.date32()
    assert schema.field("at").type == pa.timestamp("us")
    assert schema.field("stamp").type == pa.timestamp("us", tz="UTC")
    assert schema.field("clock").type == pa.time64("us")
    first = table.to_pylist()[0]
    assert first["amount"] == Decimal("1234567890123.45")
    assert first["wide"] == Decimal("1234567890123456789012345678.0123456789")
    assert first["ubig"] == 18446744073709551615 and first["big"] == -9223372036854775808
    assert first["at"] == dt.datetime(2024, 2, 29, 23, 59, 59, 999999)
    assert first["stamp"] == dt.datetime(2024, 2, 29, 12, 0, 0, 1, tzinfo=dt.UTC)
    assert first["clock"] == dt.time(23, 59, 59, 999999)
    assert first["label"] == "žluťoučký kůň 🐎" and first["body"] == 'line1\nline2, "quoted"'
    assert json.loads(first["doc"]) == {"a": [1, 2]} and first["tags"] == "x,y"
    assert all(value is None for key, value in table.to_pylist()[2].items() if key != "id")

    _run(head + """  - id: src
    component: filesystem.parquet_extractor
    config: {path: hop/everything.parquet}
  - id: load
    component: postgres.writer
    needs: [src]
    config: {connection: "@postgres.dst", table: everything, create_if_missing: true, primary_key: id}
""", tmp_path, backend)

    with psycopg.connect(postgres_db["dsn"]) as conn:
        declared = dict(conn.execute(
            "SELECT column_name, format_type(atttypid, atttypmod) FROM information_schema.columns c "
            "JOIN pg_attribute a ON a.attname = c.column_name AND a.attrelid = 'everything'::regclass "
            "WHERE table_name = 'everything'").fetchall())
        assert declared["amount"] == "numeric(15,2)" and declared["wide"] == "numeric(38,10)"
        assert declared["ubig"] == "numeric(20,0)" and declared["stamp"] == "timestamp with time zone"
        row = conn.execute("SELECT amount, wide, ubig, label, clock FROM everything WHERE id = 1").fetchone()
    assert row == (Decimal("1234567890123.45"), Decimal("1234567890123456789012345678.0123456789"),
                   Decimal(18446744073709551615), "žluťoučký kůň 🐎", dt.time(23, 59, 59, 999999))

    _run(head + """  - id: src
    component: postgres.extractor
    config: {connection: "@postgres.dst", query: "SELECT * FROM everything ORDER BY id"}
  - id: out
    component: filesystem.csv_writer
    needs: [src]
    config: {path: hop/everything.csv}
""", tmp_path, backend)
    back = pq.read_table(tmp_path / "hop" / "everything.parquet").sort_by("id")
    from pyarrow import csv as pacsv

    convert = pacsv.ConvertOptions(column_types=back.schema, strings_can_be_null=True, quoted_strings_can_be_null=False)
    again = pacsv.read_csv(tmp_path / "hop" / "everything.csv", convert_options=convert)
    again = again.select(back.schema.names).cast(back.schema)
    assert again.to_pylist() == back.to_pylist()
