"""The native PostgreSQL read talks to libpq directly (drivers/postgres/libpq.py): a whole
`osiris run` of PostgreSQL -> Parquet never imports psycopg (60-120 ms of start-up before the
first row, docs/performance.md), and the binding reports the server's errors as psycopg did."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from osiris.drivers.postgres.connect import params_from
from osiris.drivers.postgres.libpq import Connection, ConnectError, ServerError, library
from osiris.runtime.driver import ResolvedConnection

pytestmark = pytest.mark.postgres

PROBE = """
import json, sys
from osiris.cli.osiris import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "psycopg": sorted(m for m in sys.modules if m.split(".")[0] == "psycopg")}),
      file=sys.stderr)
"""


@pytest.fixture(scope="module")
def pg(postgres_db: dict) -> dict:
    import psycopg

    with psycopg.connect(postgres_db["dsn"], autocommit=True) as conn:
        conn.execute("CREATE TABLE items AS SELECT g AS id, 'item ' || g AS name, (g / 7.0)::numeric(12, 2) AS price "
                     "FROM generate_series(1, 5000) AS g")
    return postgres_db


def _conninfo(pg: dict) -> str:
    fields = {k: pg[k] for k in ("host", "port", "user", "database")}
    return params_from(ResolvedConnection("postgres", "t", fields, frozenset({"password"}))).conninfo


def test_a_postgres_to_parquet_run_never_imports_psycopg(pg: dict, tmp_path: Path) -> None:
    (tmp_path / "connections.yaml").write_text(textwrap.dedent(f"""\
        version: 1
        connections:
          postgres:
            t:
              host: {pg['host']}
              port: {pg['port']}
              user: {pg['user']}
              database: {pg['database']}
              default: true
        """))
    (tmp_path / "pipeline.yaml").write_text(textwrap.dedent("""\
        oml_version: "0.1.0"
        name: pg_to_parquet
        steps:
          - id: extract
            component: postgres.extractor
            mode: read
            config: {table: items}
          - id: write
            component: filesystem.parquet_writer
            mode: write
            needs: [extract]
            config: {path: out/items.parquet}
        """))
    done = subprocess.run([sys.executable, "-c", PROBE, "run", "pipeline.yaml", "--connections", "connections.yaml",
                           "--session-dir", "s", "--quiet"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120, check=False)
    assert json.loads(done.stderr.strip().splitlines()[-1]) == {"code": 0, "psycopg": []}, done.stderr
    events = [json.loads(line) for session in (tmp_path / "s").iterdir()
              for line in (session / "events.jsonl").read_text().splitlines()]
    assert [e["path"] for e in events if e["event"] == "postgres_reader"] == ["native"]
    table = pq.read_table(tmp_path / "out" / "items.parquet")
    assert table.num_rows == 5000 and sorted(table.column("id").to_pylist()) == list(range(1, 5001))


def test_commands_return_text_rows_and_nulls(pg: dict) -> None:
    conn = Connection(_conninfo(pg))
    try:
        assert conn.execute("SELECT 1, NULL::text, 'x''y'") == [("1", None, "x'y")]
        assert conn.execute("SET TIME ZONE 'UTC'") == []
        assert conn.describe("SELECT id, name, price FROM items") == [("id", 23, -1), ("name", 25, -1),
                                                                       ("price", 1700, (12 << 16 | 2) + 4)]
        assert conn.server_version >= 100000
    finally:
        conn.close()
    conn.close()  # twice is harmless


@pytest.mark.parametrize("text", ["plain", "it's", "back\\slash", "new\nline", "ünï"])
def test_literals_are_quoted_by_libpq_and_round_trip(pg: dict, text: str) -> None:
    conn = Connection(_conninfo(pg))
    try:
        assert conn.execute(f"SELECT {conn.literal(text)}") == [(text,)]
    finally:
        conn.close()


def test_server_errors_carry_the_message_and_sqlstate(pg: dict) -> None:
    conn = Connection(_conninfo(pg))
    try:
        with pytest.raises(ServerError) as failure:
            conn.describe("SELECT * FROM missing_table")
        assert failure.value.sqlstate == "42P01" and 'relation "missing_table" does not exist' in str(failure.value)
        with pytest.raises(ServerError) as failure:
            conn.execute("SELECT 1/0")
        assert failure.value.sqlstate == "22012"
        assert conn.execute("SELECT 2") == [("2",)]  # the connection is still usable
        for call in (conn.execute, conn.describe, conn.literal, conn.start_copy):  # C strings end at a NUL:
            with pytest.raises(ServerError, match="NUL"):  # refused, never cut short
                call("SELECT 1\x00; DROP TABLE items")
        assert conn.execute("SELECT count(*) FROM items") == [("5000",)]
    finally:
        conn.close()
    with pytest.raises(ServerError, match="closed"):
        conn.execute("SELECT 1")


def test_a_refused_connection_is_a_connect_error_with_libpq_s_words() -> None:
    with pytest.raises(ConnectError, match="(?i)refused|could not connect"):
        Connection("host=127.0.0.1 port=1 dbname=x user=x connect_timeout=2")
    with pytest.raises(ConnectError, match="NUL"):
        Connection("host=127.0.0.1\x00 port=5432")


def test_a_running_copy_is_cancelled_from_another_thread(pg: dict) -> None:
    conn = Connection(_conninfo(pg))
    canceller = conn.canceller()
    try:
        timer = threading.Timer(0.3, canceller.cancel)
        timer.start()
        started = time.monotonic()
        with pytest.raises(ServerError) as failure:
            conn.execute("SELECT pg_sleep(30)")
        assert failure.value.sqlstate == "57014" and time.monotonic() - started < 10
    finally:
        canceller.free()
        conn.close()


def test_the_library_is_found_without_importing_psycopg() -> None:
    code = ("import sys\nfrom osiris.drivers.postgres.libpq import library\n"
            "assert library() is not None\nprint(any(m.split('.')[0] == 'psycopg' for m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "False"
    assert library() is not None
