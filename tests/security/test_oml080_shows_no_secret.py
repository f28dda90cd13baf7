"""Reporting an inline secret (OML080) never prints it: not in the excerpt, not in any message.

The excerpt shows the line with the value replaced by *** (carets moved to match), and a
diagnostic that quotes the value (a schema error on a secret field: "['a', 'b'] is not of
type 'string'") is masked too, in text, JSON and SARIF output, in a run's events, and in the
diagnostics `osiris chat` sends back to the model. golden/invalid/OML080-*.txt pin the text.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

SECRETS = ["Flow-Secret-1a", "Block-Secret-2b", "List-Secret-3c", "List-Secret-4d", "Url-Secret-5e",
           "Token-Secret-6f", "12345678", "Single-Secret-7g"]

PIPELINE = """oml_version: "0.1.0"
name: inline
steps:
  - id: flow
    component: mysql.extractor
    config: {connection: "@mysql.shop", table: orders, password: "Flow-Secret-1a", lmit: 5}
  - id: block
    component: mysql.extractor
    config:
      connection: "@mysql.shop"
      table: orders
      password: |
        Block-Secret-2b
  - id: listed
    component: mysql.extractor
    config:
      connection: "@mysql.shop"
      table: orders
      password: [List-Secret-3c, List-Secret-4d]
  - id: number
    component: mysql.extractor
    config: {connection: "@mysql.shop", table: orders, password: 12345678}
  - id: quoted
    component: mysql.extractor
    config: {connection: "@mysql.shop", table: orders, password: 'Single-Secret-7g'}
  - id: write
    component: filesystem.csv_writer
    needs: [flow]
    config:
      path: "s3://user:Url-Secret-5e@bucket/orders.csv"
      auth_token: Token-Secret-6f
"""

CONNECTIONS = """version: 1
connections:
  mysql:
    shop: {host: 127.0.0.1, database: shop, user: reader, password: "${SHOP_PASSWORD:-}"}
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "pipeline.yaml").write_text(PIPELINE)
    (tmp_path / "osiris_connections.yaml").write_text(CONNECTIONS)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _omlc(*args: str) -> tuple[int, str]:
    from osiris.cli.omlc import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exit_:
            code = int(exit_.code or 0)
    return code, out.getvalue() + err.getvalue()


def _assert_clean(text: str, where: str) -> None:
    leaked = [s for s in SECRETS if s in text]
    assert not leaked, f"{leaked} in {where}:\n{text}"


@pytest.mark.parametrize("fmt", ["text", "json", "sarif"])
def test_omlc_check_output_holds_no_inline_secret(project: Path, fmt: str) -> None:
    code, output = _omlc("check", "pipeline.yaml", "--format", fmt)
    assert code == 1
    _assert_clean(output, f"omlc check --format {fmt}")
    assert output.count("OML080") >= 7  # every one was reported
    if fmt == "text":
        assert ' 6 |     config: {connection: "@mysql.shop", table: orders, password: ***, lmit: 5}' in output
        assert "is not of type 'string'" in output  # the message that quoted the list, masked


def test_the_caret_after_a_masked_value_still_points_at_its_key(project: Path) -> None:
    _, output = _omlc("check", "pipeline.yaml")
    lines = output.splitlines()
    at = lines.index(next(line for line in lines if "unknown config key 'lmit'" in line))
    source, carets = lines[at + 1], lines[at + 2]
    column = carets.index("^")
    assert source[column:column + 4] == "lmit" and carets[column:].rstrip() == "^^^^"


def test_a_run_that_fails_to_compile_records_no_inline_secret(project: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run([sys.executable, "-m", "osiris.cli.osiris", "run", "pipeline.yaml", "--run-id", "c"],
                         cwd=project, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    _assert_clean(run.stdout + run.stderr, "osiris run output")
    session = project / ".osiris" / "sessions" / "c"
    events = (session / "events.jsonl").read_text()
    assert "OML080" in events
    for path in session.rglob("*"):
        if path.is_file():
            _assert_clean(path.read_text(errors="replace"), str(path))


def test_chat_sends_the_model_no_inline_secret_back(project: Path) -> None:
    from osiris.llm.repair import check_oml

    result = check_oml(PIPELINE, cwd=project)
    assert not result.ok
    _assert_clean(result.rendered(), "the repair request")
    _assert_clean(json.dumps(result.as_json()), "the diagnostics in the session")
