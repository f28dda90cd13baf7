"""End to end against the real MariaDB and PostgreSQL: `osiris run` as a user runs it.

- examples/mysql_to_postgres (seeded with its own seed.sql), run twice (replace and upsert
  are idempotent), results checked against the source;
- the original Osiris examples in shared/conformance, with `@supabase.main` pointed at
  PostgreSQL through its `dsn` (the bulk path), and the CSV export of every table;
- secrets: a MariaDB user with a known password, right and wrong, grepped for everywhere.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.runtime.conftest import REPO, validate_session

pytestmark = [pytest.mark.mysql, pytest.mark.postgres, pytest.mark.slow]

EXAMPLE = REPO / "examples" / "mysql_to_postgres"


def _seed(mysql_db: dict) -> None:
    import pymysql
    from pymysql.constants import CLIENT

    conn = pymysql.connect(**mysql_db, client_flag=CLIENT.MULTI_STATEMENTS, autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute((EXAMPLE / "seed.sql").read_text(encoding="utf-8"))
            while cur.nextset():
                pass
    finally:
        conn.close()


@pytest.fixture(scope="module")
def seeded(mysql_db: dict) -> dict:
    _seed(mysql_db)
    return mysql_db


def _osiris(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "osiris.cli.osiris", *args],
        cwd=cwd,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _pg(postgres_db: dict, sql: str) -> list[tuple]:
    import psycopg

    with psycopg.connect(postgres_db["dsn"]) as conn:
        return conn.execute(sql).fetchall()


def _pg_exec(postgres_db: dict, sql: str) -> None:
    import psycopg

    with psycopg.connect(postgres_db["dsn"], autocommit=True) as conn:
        conn.execute(sql)


def test_mysql_to_postgres_example(seeded, postgres_db, tmp_path):
    env = {"MYSQL_DATABASE": seeded["database"], "PG_DATABASE": postgres_db["database"]}
    args = [
        "run",
        str(EXAMPLE / "pipeline.yaml"),
        "--connections",
        str(EXAMPLE / "osiris_connections.yaml"),
        "--session-dir",
        str(tmp_path / "sessions"),
    ]
    first = _osiris(args, tmp_path, env)
    assert first.returncode == 0, first.stderr
    assert "mysql-to-postgres: succeeded" in first.stdout and "public.director_stats" in first.stdout
    second = _osiris([*args, "--json"], tmp_path, env)
    assert second.returncode == 0, second.stderr
    status = json.loads(second.stdout)
    assert status["totals"]["rows_read"] == 15 + 18 and status["totals"]["rows_written"] == 8 + 15
    assert _pg(postgres_db, "SELECT count(*) FROM movies") == [(15,)]
    stats = _pg(
        postgres_db,
        "SELECT director_id, director_name, movie_count, total_box_office_usd, avg_rating, "
        "review_count FROM director_stats ORDER BY director_id",
    )
    assert len(stats) == 8
    nolan = stats[0]
    assert nolan[:3] == (1, "Christopher Nolan", 3)
    assert float(nolan[3]) == 836_800_000 + 975_600_000 + 701_700_000
    assert float(nolan[4]) == 8.75 and int(nolan[5]) == 4
    assert [row[1] for row in stats if row[0] in (4, 7)] == ["Pedro Almodóvar", "Miloš Forman"]
    for session in (tmp_path / "sessions").iterdir():
        validate_session(session)


UPSTREAM = [
    "mysql_to_local_csv_all_tables.yaml",
    "mysql_duckdb_supabase_demo.yaml",
    "mysql_duckdb_supabase_append.yaml",
    "mysql_duckdb_supabase_debug.yaml",
    "mysql_to_supabase_all_tables.yaml",
]


@pytest.fixture
def other_pg_db(postgres_db: dict):  # noqa: ANN201
    """A second scratch database, apart from the example's tables of the same names."""
    name = postgres_db["database"] + "_up"
    _pg_exec(postgres_db, f'CREATE DATABASE "{name}"')
    try:
        yield {**postgres_db, "database": name, "dsn": postgres_db["dsn"].rsplit("/", 1)[0] + "/" + name}
    finally:
        _pg_exec(postgres_db, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_upstream_examples_run_unchanged(seeded, other_pg_db, conformance, tmp_path):
    postgres_db = other_pg_db
    (tmp_path / "osiris_connections.yaml").write_text(f"""
version: 1
connections:
  mysql:
    db_movies:
      {{host: 127.0.0.1, database: {seeded["database"]}, user: root, password: "${{MYSQL_PASSWORD:-}}"}}
  supabase:
    main: {{dsn: "{postgres_db["dsn"]}"}}
""")
    for name in UPSTREAM:
        shutil.copy(conformance / "examples" / name, tmp_path / name)
        result = _osiris(["run", name, "--quiet"], tmp_path, {})
        assert result.returncode == 0, (name, result.stderr)
    for table in ("actors", "directors", "movie_actors", "movies", "reviews"):
        csv = (tmp_path / "output" / f"{table}.csv").read_text(encoding="utf-8").splitlines()
        (count,) = _pg(postgres_db, f"SELECT count(*) FROM {table}")[0]
        assert len(csv) - 1 == count > 0, table
    assert "Pedro Almodóvar" in (tmp_path / "output" / "directors.csv").read_text(encoding="utf-8")
    replace = _pg(postgres_db, "SELECT director_id, movie_count FROM director_stats_replace ORDER BY 1")
    append = _pg(postgres_db, "SELECT director_id, movie_count FROM director_stats_append ORDER BY 1")
    assert replace == append and len(replace) == 7  # directors with budget and box office figures
    assert dict(replace)[1] == 3


SECRET = "Rq7$-Osiris-Secret_pw!9"
WRONG = "Wrong#Osiris-Pw_7777"


def _grep_tree(root: Path, needles: list[str]) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes().decode("utf-8", errors="replace")
            for needle in needles:
                assert needle not in data, f"{needle!r} leaked into {path}"


def test_secrets_with_a_real_mariadb_user(seeded, tmp_path):
    import pymysql

    user = f"u_{seeded['database'][-10:]}"
    admin = pymysql.connect(**seeded, autocommit=True)
    with admin.cursor() as cur:
        cur.execute(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", (SECRET,))
        cur.execute(f"GRANT SELECT ON `{seeded['database']}`.* TO '{user}'@'%'")
    try:
        (tmp_path / "osiris_connections.yaml").write_text(f"""
version: 1
connections:
  mysql:
    shop: {{host: 127.0.0.1, database: {seeded["database"]}, user: {user}, password: "${{SHOP_DB_PASSWORD}}"}}
""")
        (tmp_path / "p.yaml").write_text("""
oml_version: "0.1.0"
name: secret-check
steps:
  - id: extract-directors
    component: mysql.extractor
    mode: read
    config: {connection: "@mysql.shop", table: directors}
  - id: write
    component: filesystem.csv_writer
    mode: write
    needs: [extract-directors]
    config: {path: out/directors.csv}
""")
        good = _osiris(["run", "p.yaml", "--debug"], tmp_path, {"SHOP_DB_PASSWORD": SECRET})
        assert good.returncode == 0, good.stderr
        bad = _osiris(["run", "p.yaml", "--debug"], tmp_path, {"SHOP_DB_PASSWORD": WRONG})
        assert bad.returncode == 1
        assert "error: step extract-directors (mysql.extractor) failed:" in bad.stderr
        bad_json = _osiris(["run", "p.yaml", "--json", "--debug"], tmp_path, {"SHOP_DB_PASSWORD": WRONG})
        assert json.loads(bad_json.stdout)["steps"]["extract-directors"]["status"] == "failed"
        doctor = _osiris(["connections", "doctor", "--json"], tmp_path, {"SHOP_DB_PASSWORD": WRONG})
        assert doctor.returncode == 1 and json.loads(doctor.stdout)["ok"] is False
        healthy = _osiris(["connections", "doctor"], tmp_path, {"SHOP_DB_PASSWORD": SECRET})
        assert healthy.returncode == 0 and healthy.stdout.startswith("ok   @mysql.shop"), healthy.stdout
        for result in (good, bad, bad_json, doctor, healthy):
            for stream in (result.stdout, result.stderr):
                assert SECRET not in stream and WRONG not in stream
        _grep_tree(tmp_path / ".osiris", [SECRET, WRONG])
        _grep_tree(tmp_path / "out", [SECRET, WRONG])
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")
        admin.close()
