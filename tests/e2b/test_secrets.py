"""Secrets on the sandbox path: environment of the worker only, masked in everything that returns.

A MariaDB user with a known password and a Postgres DSN carrying another (trust auth ignores
it, the runtime still treats it as a secret) run MySQL -> Postgres + CSV in a kept local
sandbox; then every file of the sandbox directory and of the host session is searched for
both values, in the forms they take in URLs and JSON. The worker's environment holds only
the fixed variables, the allow-list and the payload (which it removes from its own env).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from urllib.parse import quote

import pytest

from osiris.runtime.e2b.host.options import E2BOptions
from osiris.runtime.e2b.paths import PathMapper
from osiris.runtime.e2b.sandbox.connections import PayloadConnections
from osiris.runtime.e2b.sandbox.sinks import Wire
from osiris.runtime.secrets import SecretMasker
from tests.e2b.helpers import events, run_pipeline, transport

pytestmark = [pytest.mark.mysql, pytest.mark.postgres]

PIPELINE = """\
oml_version: "0.1.0"
name: secret-paths
steps:
  - id: extract-people
    component: mysql.extractor
    mode: read
    config: {connection: "@mysql.app", table: people}
  - id: load-people
    component: postgres.writer
    mode: write
    needs: [extract-people]
    config: {connection: "@postgres.dw", table: people_copy, write_mode: replace, create_if_missing: true}
  - id: export-people
    component: filesystem.csv_writer
    mode: write
    needs: [extract-people]
    config: {path: out/people.csv}
"""


@pytest.fixture(scope="module")
def mysql_user(mysql_db):
    import pymysql

    user, password = f"e2b_{secrets.token_hex(3)}", f"My-S3cret/{secrets.token_hex(6)}@x"
    admin = pymysql.connect(**mysql_db, autocommit=True)
    with admin.cursor() as cur:
        cur.execute("CREATE TABLE people (id INT PRIMARY KEY, name VARCHAR(40), email VARCHAR(80))")
        cur.execute("INSERT INTO people VALUES (1, 'Zoë', 'zoe@example.com'), (2, 'Jiří', NULL)")
        cur.execute(f"CREATE USER '{user}'@'%%' IDENTIFIED BY %s", (password,))
        cur.execute(f"GRANT SELECT ON `{mysql_db['database']}`.* TO '{user}'@'%'")
    try:
        yield {**mysql_db, "user": user, "password": password}
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP USER IF EXISTS '{user}'@'%'")
        admin.close()


def _workspace(tmp_path: Path, mysql_user: dict, postgres_db: dict) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "pipeline.yaml").write_text(PIPELINE, encoding="utf-8")
    (ws / "osiris_connections.yaml").write_text(
        "version: 1\nconnections:\n"
        f"  mysql:\n    app: {{host: 127.0.0.1, port: 3306, database: {mysql_user['database']}, "
        f'user: {mysql_user["user"]}, password: "${{E2B_T_MYSQL_PASSWORD}}"}}\n'
        '  postgres:\n    dw: {dsn: "postgresql://postgres:${E2B_T_PG_PASSWORD}@127.0.0.1:5432/'
        f'{postgres_db["database"]}"}}\n',
        encoding="utf-8",
    )
    return ws


def _forms(value: str) -> list[bytes]:
    return [form.encode() for form in {value, quote(value, safe=""), quote(value), value.replace("/", "\\/")}]


def _leaks(root: Path, values: list[str]) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path.relative_to(root)}" for v in values for f in _forms(v) if f in data]
    return found


def test_secrets_stay_out_of_files_and_the_session(tmp_path, mysql_user, postgres_db, monkeypatch):
    pg_password = f"Pg-S3cret-{secrets.token_hex(6)}"
    monkeypatch.setenv("E2B_T_MYSQL_PASSWORD", mysql_user["password"])
    monkeypatch.setenv("E2B_T_PG_PASSWORD", pg_password)
    monkeypatch.setenv("E2B_T_PASSED", "visible")
    monkeypatch.setenv("E2B_T_NOT_PASSED", "hidden")
    ws = _workspace(tmp_path, mysql_user, postgres_db)
    local = transport()
    options = E2BOptions(transport="local", keep=True, env_names=("E2B_T_PASSED",))
    try:
        outcome, executor = run_pipeline(
            ws,
            "pipeline.yaml",
            sandbox=True,
            connections=str(ws / "osiris_connections.yaml"),
            options=options,
            local=local,
        )
        assert outcome.exit_code == 0, (outcome.status, [d.message for d in outcome.diagnostics])
        (sandbox,) = local.created
        values = [mysql_user["password"], pg_password]
        assert _leaks(sandbox.path, values) == []
        assert _leaks(ws, values) == []  # the session directory and the downloaded CSV
        names = set(executor.last_report["worker_env_names"])
        assert names == {
            "E2B_T_PASSED",
            "HOME",
            "LANG",
            "OSIRIS_E2B",
            "PATH",
            "PYTHONUNBUFFERED",
            "TMPDIR",
            "XDG_CACHE_HOME",
        }
        exported = (ws / "out" / "people.csv").read_text(encoding="utf-8")
        assert "Zoë" in exported and "Jiří" in exported and "zoe@example.com" in exported
    finally:
        for sandbox in local.created:
            sandbox.kill()


def test_wrong_password_fails_masked(tmp_path, mysql_user, postgres_db, monkeypatch):
    wrong = f"Wrong-{secrets.token_hex(8)}"
    monkeypatch.setenv("E2B_T_MYSQL_PASSWORD", wrong)
    monkeypatch.setenv("E2B_T_PG_PASSWORD", "unused-pg-secret")
    ws = _workspace(tmp_path, mysql_user, postgres_db)
    outcome, _ = run_pipeline(ws, "pipeline.yaml", sandbox=True, connections=str(ws / "osiris_connections.yaml"))
    assert outcome.exit_code == 1
    error = outcome.status["steps"]["extract-people"]["error"]
    assert mysql_user["user"] in error["message"] or "denied" in error["message"].lower(), error
    assert [e["step_id"] for e in events(outcome) if e["event"] == "step_error"] == ["extract-people"]
    assert _leaks(ws, [wrong, "unused-pg-secret"]) == []


def test_worker_masks_before_sending():
    """The worker masks with the payload's secrets itself: nothing secret crosses the wire."""
    masker = SecretMasker()
    payload = {
        "refs": {
            "@mysql.app": {
                "family": "mysql",
                "alias": "app",
                "secret_fields": ["password"],
                "fields": {"host": "db", "password": "Tr1cky-p4ss"},
            }
        },
        "defaults": {},
    }
    PayloadConnections(payload, masker)
    lines: list[str] = []

    class Out:
        def send_line(self, line: str) -> None:
            lines.append(line)

    wire = Wire(Out(), masker, PathMapper([("/sbx/work", "/home/me/project")]))
    wire.send(
        {
            "type": "event",
            "event": "step_error",
            "step_id": "x",
            "fields": {"message": "login failed with Tr1cky-p4ss at /sbx/work/out.csv"},
        }
    )
    assert "Tr1cky-p4ss" not in lines[0] and "***" in lines[0]
    assert "/home/me/project/out.csv" in lines[0]
