"""`osiris discover`: tables and columns of a path or a connection, through the cache chat uses.

The cache lives under $OSIRIS_CACHE_DIR (a temporary directory here); the database tests use
the real local MariaDB and PostgreSQL.
"""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path

import pytest

from osiris.cli import osiris

DATA = Path(__file__).resolve().parents[2] / "examples" / "quickstart" / "data"
SECRET = "Pw-Never-Shown-4417"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(DATA, tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OSIRIS_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:
    assert osiris.main(["discover", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_a_directory_lists_each_file_with_its_columns(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert osiris.main(["discover", "data"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("data: 4 table(s), discovered now")
    assert "data/orders.csv (8 columns, 2500 rows)" in out and "data/customers.parquet" in out
    assert "  signup_date  date32[day]" in out


def test_the_second_call_is_served_from_the_cache_and_refresh_asks_again(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _json(capsys, "data", "--tables", "orders.csv", "--sample", "2")
    assert first["cached"] is False and [t["name"] for t in first["tables"]] == ["data/orders.csv"]
    assert len(first["tables"][0]["sample"]) == 2
    again = _json(capsys, "data", "--tables", "orders.csv", "--sample", "2")
    assert again["cached"] is True and again["tables"] == first["tables"]
    assert _json(capsys, "data", "--tables", "orders.csv", "--sample", "2", "--refresh")["cached"] is False
    (project / "data" / "orders.csv").write_text("id\n1\n")  # a rewritten file changes the fingerprint
    changed = _json(capsys, "data", "--tables", "orders.csv", "--sample", "2")
    assert changed["cached"] is False and changed["tables"][0]["row_count"] == 1


def test_an_entry_past_its_ttl_is_discovered_again(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _json(capsys, "data", "--ttl", "0")["cached"] is False
    assert _json(capsys, "data", "--ttl", "0")["cached"] is False  # the entry expired as it was written
    assert _json(capsys, "data")["cached"] is False  # its own TTL (0) travels with it
    assert _json(capsys, "data")["cached"] is True  # written with the default TTL (3600 s)
    assert _json(capsys, "data", "--ttl", "0")["cached"] is False  # a caller may ask for fresher


def test_the_cache_is_private(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _json(capsys, "data")
    directory = project / "cache" / "discovery"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert [stat.S_IMODE(p.stat().st_mode) for p in directory.iterdir()] == [0o600]


def test_chat_reuses_what_osiris_discover_cached(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import os

    from osiris.runtime.discovery_service import DiscoveryService

    _json(capsys, "data")
    chat = DiscoveryService(None, cwd=project, env=dict(os.environ))  # as cli/chat.py builds it
    assert [t.name for t in chat.discover("data").tables][0] == "data/customers.csv"
    assert chat.hits == 1 and chat.misses == 0


def test_usage_errors_exit_2(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert osiris.main(["discover", "@mysql"]) == 2
    err = capsys.readouterr().err
    assert "invalid connection reference '@mysql'" in err and "hint: write it as @family.alias" in err
    assert osiris.main(["discover", "data", "--sample", "-1"]) == 2


def test_a_path_outside_the_project_is_refused(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert osiris.main(["discover", ".."]) == 1
    assert "cannot discover" in capsys.readouterr().err


def _connections(project: Path, text: str) -> None:
    (project / "osiris_connections.yaml").write_text("version: 1\nconnections:\n" + text)


@pytest.mark.mysql
def test_an_unknown_alias_names_the_defined_ones(
    project: Path, mysql_db: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    _connections(project, f"  mysql:\n    shop: {{host: 127.0.0.1, database: {mysql_db['database']}, user: root}}\n")
    assert osiris.main(["discover", "@mysql.shopp"]) == 1
    err = capsys.readouterr().err
    assert "connection @mysql.shopp is not defined" in err and "hint: defined for mysql: @mysql.shop" in err


@pytest.mark.mysql
def test_mariadb_tables_columns_and_keys(project: Path, mysql_db: dict, capsys: pytest.CaptureFixture[str]) -> None:
    import pymysql

    conn = pymysql.connect(**mysql_db, autocommit=True)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE items (id INT PRIMARY KEY, label VARCHAR(20) NOT NULL)")
        cur.execute("INSERT INTO items VALUES (1, 'one'), (2, 'two')")
    conn.close()
    _connections(project, f"  mysql:\n    shop: {{host: 127.0.0.1, database: {mysql_db['database']}, user: root}}\n")
    assert osiris.main(["discover", "@mysql.shop"]) == 0
    out = capsys.readouterr().out
    assert "@mysql.shop: 1 table(s), discovered now" in out and "items (2 columns, 2 rows)" in out
    assert any(line.split()[:3] == ["id", "int(11)", "->"] and "key" in line for line in out.splitlines())
    body = _json(capsys, "@mysql.shop", "--sample", "1")
    assert body["tables"][0]["sample"] == [{"id": 1, "label": "one"}]


@pytest.mark.postgres
def test_postgres_secrets_reach_neither_the_output_nor_the_cache(
    project: Path, postgres_db: dict, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    with psycopg.connect(postgres_db["dsn"], autocommit=True) as conn:
        conn.execute("CREATE TABLE notes (id int PRIMARY KEY, body text)")
        conn.execute("INSERT INTO notes VALUES (1, %s)", (SECRET,))  # the password, stored as data
    monkeypatch.setenv("NOTES_PW", SECRET)
    _connections(project, f"  postgres:\n    wh: {{host: 127.0.0.1, port: 5432, database: {postgres_db['database']}, "
                 "user: postgres, password: \"${NOTES_PW}\"}\n")
    body = _json(capsys, "@postgres.wh")
    assert body["source"] == "@postgres.wh" and [t["name"] for t in body["tables"]] == ["notes"]
    (entry,) = (project / "cache" / "discovery").iterdir()
    text = entry.read_text()
    assert SECRET not in text and "NOTES_PW" not in text and '"password"' not in text
    assert json.loads(text)["identity"] == {"family": "postgres", "alias": "wh", "host": "127.0.0.1",
                                            "port": 5432, "database": postgres_db["database"], "user": "postgres",
                                            "schema": "public"}  # the family default
    sampled = _json(capsys, "@postgres.wh", "--sample", "1")
    assert sampled["tables"][0]["sample"] == [{"id": 1, "body": "***"}]  # the password, as data, is masked
    assert osiris.main(["discover", "@postgres.wh", "--sample", "1"]) == 0
    out = capsys.readouterr().out
    assert "from the cache" in out and SECRET not in out and '"body": "***"' in out


def test_a_filesystem_alias_is_its_base_dir_and_doctor_sees_the_cached_answer(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _connections(project, "  filesystem:\n    lake: {base_dir: data}\n")
    body = _json(capsys, "@filesystem.lake", "--tables", "orders.csv")
    assert [t["name"] for t in body["tables"]] == ["orders.csv"] and body["source"] == "@filesystem.lake"
    assert osiris.main(["connections", "doctor", "--json"]) == 0
    (lake,) = json.loads(capsys.readouterr().out)["connections"]
    assert lake["ref"] == "@filesystem.lake" and lake["discovery"]["tables"] == 1
    assert osiris.main(["connections", "doctor"]) == 0
    assert "discovery cache: 1 table(s)" in capsys.readouterr().out


def test_a_missing_driver_extra_is_named_with_exit_2(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "pymysql", None)  # as if installed without [mysql]
    assert osiris.main(["discover", "@mysql.main"]) == 2
    err = capsys.readouterr().err
    assert "this needs the extra [mysql]" in err and "pip install 'osiris-oml[mysql]'" in err
