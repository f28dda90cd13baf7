"""Secrets never reach a file, the console or a traceback, whatever a driver does with them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, quote_plus

from osiris.runtime.secrets import MASK, SecretMasker
from tests.runtime.conftest import osiris_inproc

REPO = Path(__file__).resolve().parents[2]
SECRET = "Zq9!kV7#hunter-Pa55/w0rd"
FORMS = {SECRET, quote(SECRET, safe=""), quote_plus(SECRET), "hunter-Pa55"}

PIPELINE = """
oml_version: "0.1.0"
name: leaky
steps:
  - id: extract
    component: mysql.extractor
    mode: read
    config: {connection: "@mysql.shop", query: "SELECT 1"}
  - id: write
    component: filesystem.csv_writer
    mode: write
    needs: [extract]
    config: {path: out/x.csv}
"""

CONNECTIONS = """
version: 1
connections:
  mysql:
    shop:
      host: 127.0.0.1
      database: shop
      user: leaker
      password: ${OSIRIS_TEST_DB_PASSWORD}
      default: true
"""


def _harness(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OSIRIS_TEST_DB_PASSWORD": SECRET, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "tests.runtime.cli_harness", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _assert_clean(text: str, where: str) -> None:
    for form in FORMS:
        assert form not in text, f"secret form {form!r} leaked into {where}"


def _assert_tree_clean(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes().decode("utf-8", errors="replace")
            _assert_clean(data, str(path))


def test_a_leaky_driver_cannot_leak_through_the_runtime(tmp_path, repo):
    (tmp_path / "pipeline.yaml").write_text(PIPELINE)
    (tmp_path / "osiris_connections.yaml").write_text(CONNECTIONS)
    results = [
        _harness(["run", "pipeline.yaml", "--debug", "--run-id", "text"], tmp_path),
        _harness(["run", "pipeline.yaml", "--json", "--debug", "--run-id", "json"], tmp_path),
    ]
    for result in results:
        assert result.returncode == 1, result.stderr
        _assert_clean(result.stdout, "stdout")
        _assert_clean(result.stderr, "stderr")
    _assert_tree_clean(tmp_path / ".osiris")
    text, as_json = results
    assert (
        "error: step extract (mysql.extractor) failed: cannot connect to mysql://leaker:***@127.0.0.1/db" in text.stderr
    )
    assert "Traceback" in text.stderr  # --debug shows it, masked
    body = json.loads(as_json.stdout)
    assert body["ok"] is False and body["steps"]["extract"]["error"]["message"].count(MASK) >= 2
    session = tmp_path / ".osiris" / "sessions" / "text"
    events = [json.loads(line) for line in (session / "events.jsonl").read_text().splitlines()]
    (connecting,) = [e for e in events if e["event"] == "connecting"]
    assert connecting["password"] == MASK and connecting["nested"] == {"list": [MASK]}
    assert "***" in (session / "osiris.log").read_text()
    metrics = (session / "metrics.jsonl").read_text()
    assert "leak_attempts" in metrics and MASK in metrics


def test_connections_list_and_doctor_mask_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("OSIRIS_TEST_DB_PASSWORD", SECRET)
    literal = "Literal-Pg-Secret-42"
    (tmp_path / "osiris_connections.yaml").write_text(
        CONNECTIONS
        + f"""
  postgres:
    wh:
      dsn: postgresql://bob:{literal}@127.0.0.1:1/none
"""
    )
    for args in (
        ["connections", "list"],
        ["connections", "list", "--json"],
        ["connections", "doctor", "--json", "--timeout", "1"],
        ["connections", "doctor"],
    ):
        result = osiris_inproc(*args, cwd=tmp_path)
        for text in (result.stdout, result.stderr):
            _assert_clean(text, " ".join(args))
            assert literal not in text
    listed = json.loads(osiris_inproc("connections", "list", "--json", cwd=tmp_path).stdout)
    shop = next(e for e in listed if e["ref"] == "@mysql.shop")
    assert shop["fields"]["password"] == "${OSIRIS_TEST_DB_PASSWORD}" and shop["env"] == {
        "OSIRIS_TEST_DB_PASSWORD": True
    }
    wh = next(e for e in listed if e["ref"] == "@postgres.wh")
    assert wh["fields"]["dsn"] == MASK


def test_masker_covers_encodings_urls_and_key_value_pairs():
    masker = SecretMasker([SECRET])
    assert masker.mask(f"a {SECRET} b") == f"a {MASK} b"
    assert masker.mask(f"postgresql://u:{quote(SECRET, safe='')}@h/db") == f"postgresql://u:{MASK}@h/db"
    assert masker.mask(json.dumps({"p": SECRET})) == json.dumps({"p": MASK})
    assert masker.mask("mysql://x:other-unknown@h") == f"mysql://x:{MASK}@h"
    assert masker.mask("host=h password=abc123 user=u") == f"host=h password={MASK} user=u"
    assert masker.mask("password authentication failed for user bob") == "password authentication failed for user bob"
    assert masker.mask_data({"k": [SECRET, 1, None], SECRET: True}) == {"k": [MASK, 1, None], MASK: True}


def test_masker_registers_connection_fields_and_credential_environment():
    masker = SecretMasker()
    masker.add_connection(
        {"host": "h", "password": "pw-1234", "dsn": "postgresql://a:inner-pw@h/db", "api_token": "tok-5678"},
        secret_fields={"password"},
    )
    masker.add_environment({"SOME_SERVICE_PASSWORD": "env-secret-1", "PWD": "/home/x", "HOME": "/root"})
    text = masker.mask("pw-1234 inner-pw tok-5678 env-secret-1 /home/x /root h")
    assert text == f"{MASK} {MASK} {MASK} {MASK} /home/x /root h"


def test_short_secrets_are_masked_as_whole_tokens_only():
    masker = SecretMasker(["ab"])
    assert masker.mask("ab cab ab.") == f"{MASK} cab {MASK}."
