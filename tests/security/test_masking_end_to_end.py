"""A real `osiris run` whose DuckDB error carries the whole connections file never writes a secret.

The attack: a pipeline reads osiris_connections.yaml as a one-column CSV (it is inside the
project, so the path policy allows it) and a DuckDB step casts the file's text to an integer.
DuckDB's error quotes the string it could not convert, so the whole file (passwords of aliases
the run never uses, in every YAML form) reaches the step's error, and from there the console,
events.jsonl, status.json, osiris.log and the HTML report. None of these secrets is registered
with the masker (no step uses a connection), so only masking by shape can hide them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SECRETS = {
    "block": "Block-Pw-4b1d",
    "flow": "Flow-Pw-77c2",
    "quoted": "Quoted Pw 9e",
    "scalar": "Scalar-Pw-line-2",
    "supabase": "eyJhbGciOi.Supabase-Key-42",
    "dsn": "P%40ss-Dsn-99",
    "token": "Json-Token-5150",
    "kv": "Kv-Secret-3e3",
    "userinfo": "Url-Userinfo-33",
}

CONNECTIONS = f"""version: 1
connections:
  mysql:
    shop:
      host: 127.0.0.1
      database: shop
      user: reader
      password: {SECRETS["block"]}
    vault: {{host: 127.0.0.1, database: vault, user: v, password: "{SECRETS["flow"]}"}}
    legacy:
      host: 127.0.0.1
      database: legacy
      user: old
      password: '{SECRETS["quoted"]}'
    scalar:
      host: 127.0.0.1
      database: s
      user: s
      password: |
        first-line
        {SECRETS["scalar"]}
  supabase:
    main:
      url: http://127.0.0.1:54321
      key: {SECRETS["supabase"]}
  postgres:
    wh:
      dsn: postgresql://bob:{SECRETS["dsn"]}@127.0.0.1:1/none
# notes: {{"token": "{SECRETS["token"]}"}}
# old: host=db api_key={SECRETS["kv"]} dbname=x
# proxy: https://svc:{SECRETS["userinfo"]}@proxy.example/
"""

PIPELINE = """oml_version: "0.1.0"
name: exfiltrate
steps:
  - id: read
    component: filesystem.csv_extractor
    config: {path: backup/connections-copy.txt, delimiter: "\\t", header: false}
  - id: cast
    component: duckdb.processor
    needs: [read]
    config:
      query: "SELECT CAST(string_agg(f0, chr(10)) AS INTEGER) AS n FROM read"
  - id: write
    component: filesystem.csv_writer
    needs: [cast]
    config: {path: out/n.csv}
"""


def _osiris(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "osiris.cli.osiris", *args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=180,
    )


def _leaks(text: str) -> list[str]:
    found = [name for name, secret in SECRETS.items() if secret in text]
    # fragments too: a half-masked value is a leak
    found += [f"{name} (part)" for name, secret in SECRETS.items() if len(secret) > 8 and secret[-7:] in text]
    return found


def test_a_duckdb_error_quoting_the_connections_file_leaks_no_secret(tmp_path: Path) -> None:
    """The connections file itself is off-limits (OML085); a stray copy of it under another
    name is just data, so its secrets must be masked where an error quotes it."""
    (tmp_path / "osiris_connections.yaml").write_text(CONNECTIONS)
    (tmp_path / "backup").mkdir()
    (tmp_path / "backup" / "connections-copy.txt").write_text(CONNECTIONS)
    (tmp_path / "pipeline.yaml").write_text(PIPELINE)
    run = _osiris("run", "pipeline.yaml", "--run-id", "attack", cwd=tmp_path)
    assert run.returncode == 1, run.stderr
    report = _osiris("report", "attack", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    shown = _osiris("logs", "show", "attack", "--events", cwd=tmp_path)

    session = tmp_path / ".osiris" / "sessions" / "attack"
    written = {
        p.relative_to(session).as_posix(): p.read_text(errors="replace") for p in session.rglob("*") if p.is_file()
    }
    assert {"events.jsonl", "metrics.jsonl", "status.json", "artifacts/report.html"} <= set(written)
    outputs = {"run stdout": run.stdout, "run stderr": run.stderr, "logs show": shown.stdout + shown.stderr}
    for where, text in {**written, **outputs}.items():
        assert not _leaks(text), f"{_leaks(text)} leaked into {where}"

    # The attack did reach the error text (else this test would prove nothing): the file's
    # structure is there, its secrets masked.
    status = json.loads(written["status.json"])
    error = status["steps"]["cast"]["error"]["message"]
    assert "Conversion Error" in error and "user: reader" in error and "password: ***" in error
    assert "dsn: ***" in error and "https://svc:***@proxy.example/" in error
    assert "Conversion Error" in run.stderr
    for line in written["events.jsonl"].splitlines():
        json.loads(line)  # still JSON after masking
