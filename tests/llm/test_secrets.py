"""No secret or credential ever enters a prompt, a transcript or the session state.

A connections file reads secrets from the environment; we give them known values, drive a
tool-calling conversation that discovers the connections (the MySQL password is wrong on
purpose, so the driver's error text goes back to the model) and even paste a secret into the
request, then search every byte the replay server received and every file the session wrote.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from tests.llm.conftest import GOOD_OML, chat
from tests.support.openai_server import Reply

SECRETS = {
    "CHAT_MYSQL_PASSWORD": "Myp4ss-7f3a9c1e-mysql",
    "CHAT_PG_PASSWORD": "Pg/p4ss@9b2d-postgres",
    "CHAT_SUPABASE_KEY": "eyJhbGciOi.supabase-service-role-5e8f",
    "CHAT_LLM_KEY": "sk-test-llm-key-0c4d",
}

CONNECTIONS = """version: 1
connections:
  mysql:
    shop:
      {host: 127.0.0.1, port: 3306, database: test, user: root, default: true,
       password: "${CHAT_MYSQL_PASSWORD}"}
  postgres:
    wh: {dsn: "postgresql://postgres:${CHAT_PG_PASSWORD}@127.0.0.1:1/test"}
  supabase:
    main: {url: "http://127.0.0.1:1", service_role_key: "${CHAT_SUPABASE_KEY}"}
"""


def _forms(value: str) -> set[str]:
    return {value, quote(value, safe=""), quote(value), value.encode("unicode_escape").decode()}


def test_no_secret_reaches_the_endpoint_or_the_session(project: Path, endpoint, monkeypatch, capsys) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    endpoint.use(key=SECRETS["CHAT_LLM_KEY"])
    (project / "osiris_connections.yaml").write_text(CONNECTIONS)
    endpoint.server.add(
        Reply(
            tool_calls=[
                ("discover", {"target": "@postgres.wh"}),
                ("discover", {"target": "@supabase.main"}),
                ("describe_component", {"name": "mysql.extractor"}),
            ]
        ),
        Reply(
            tool_calls=[
                (
                    "check_oml",
                    {
                        "oml": GOOD_OML.replace(
                            "path: data/orders.csv",
                            "path: data/orders.csv\n      password: " + SECRETS["CHAT_MYSQL_PASSWORD"],
                        )
                    },
                )
            ]
        ),
        Reply(content="```yaml\n" + GOOD_OML + "```"),
    )
    intent = (
        f"copy orders from mysql and postgres to parquet; the mysql password is "
        f"{SECRETS['CHAT_MYSQL_PASSWORD']} if you need it"
    )
    assert chat("-m", intent, "-y", "-o", "p.yaml", "--tools", "on", "--samples", "2") == 0

    requests = endpoint.server.completions
    assert len(requests) == 3
    sent = b"".join(r.body for r in requests).decode()
    assert "@mysql.shop" in sent and "@postgres.wh" in sent  # alias names do go in
    assert "cannot" in sent.lower() or "error" in sent.lower()  # the failed discoveries were reported back
    shown = "".join(capsys.readouterr())
    written = "".join(p.read_text(errors="replace") for p in project.glob(".osiris/**/*") if p.is_file())
    for name, value in SECRETS.items():
        for form in _forms(value):
            assert form not in sent, f"{name} leaked into a request"
            assert form not in written, f"{name} leaked into the session files"
            assert form not in shown, f"{name} leaked onto the terminal"
    # the key travels only where it belongs: the Authorization header
    assert all(r.headers["authorization"] == f"Bearer {SECRETS['CHAT_LLM_KEY']}" for r in requests)
