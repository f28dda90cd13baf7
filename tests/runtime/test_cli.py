"""`osiris` as a user runs it: subprocesses, exit codes, output, the quickstart end to end."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from tests.runtime.conftest import REPO, compile_to, osiris, osiris_inproc, read_jsonl, validate_session


@pytest.fixture
def quickstart(tmp_path: Path) -> Path:
    """A working directory laid out like the repository root for the quickstart."""
    target = tmp_path / "examples" / "quickstart"
    target.mkdir(parents=True)
    shutil.copy(REPO / "examples" / "quickstart" / "pipeline.yaml", target / "pipeline.yaml")
    shutil.copytree(REPO / "examples" / "quickstart" / "data", target / "data")
    return tmp_path


def test_quickstart_end_to_end(quickstart):
    result = osiris("run", "examples/quickstart/pipeline.yaml", cwd=quickstart)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for text in (
        "quickstart: succeeded",
        "extract-orders",
        "revenue-by-country",
        "outputs:",
        "out/quickstart/revenue_by_country.parquet",
        "out/quickstart/revenue_by_country.csv",
        "session: .osiris/sessions/",
    ):
        assert text in out, out
    parquet = quickstart / "out" / "quickstart" / "revenue_by_country.parquet"
    table = pq.read_table(parquet)
    data = quickstart / "examples" / "quickstart" / "data"
    expected = duckdb.sql(f"""
        SELECT c.country, o.currency, count(*) AS orders, round(sum(o.amount), 2) AS revenue
        FROM read_csv('{data / "orders.csv"}') o JOIN read_parquet('{data / "customers.parquet"}') c
          ON c.id = o.customer_id
        WHERE o.status IN ('paid', 'shipped') AND o.amount >= 0
        GROUP BY ALL ORDER BY revenue DESC, c.country""").fetchall()
    got = list(zip(*(table.column(n).to_pylist() for n in ("country", "currency", "orders", "revenue")), strict=True))
    assert [(c, cur, n) for c, cur, n, _ in got] == [(c, cur, n) for c, cur, n, _ in expected]
    assert [round(r, 2) for *_, r in got] == [round(r, 2) for *_, r in expected]
    csv_lines = (quickstart / "out" / "quickstart" / "revenue_by_country.csv").read_text().splitlines()
    assert len(csv_lines) == table.num_rows + 1
    (session,) = (quickstart / ".osiris" / "sessions").iterdir()
    status = json.loads((session / "status.json").read_text())
    assert status["ok"] is True and status["totals"]["rows_written"] == 2 * table.num_rows
    assert status["totals"]["rows_read"] == 2800
    assert (session / "compiled" / "manifest.yaml").is_file()
    validate_session(session)


def test_quickstart_param_and_json_output(quickstart):
    result = osiris(
        "run",
        "examples/quickstart/pipeline.yaml",
        "--param",
        "min_amount=1000000",
        "--json",
        "--run-id",
        "big-only",
        cwd=quickstart,
    )
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["ok"] is True and body["session_id"] == "big-only" and body["exit_code"] == 0
    assert body["session_dir"] == ".osiris/sessions/big-only"
    assert body["totals"]["rows_written"] == 0
    assert result.stderr == ""


def test_run_manifest_and_quiet(tmp_path):
    (tmp_path / "data.csv").write_text("a,b\n1,x\n2,y\n")
    compiled = compile_to(
        """
oml_version: "0.1.0"
name: m
steps:
  - id: read
    component: filesystem.csv_extractor
    mode: read
    config: {path: data.csv}
  - id: write
    component: filesystem.parquet_writer
    mode: write
    needs: [read]
    config: {path: out/m.parquet}
""",
        tmp_path,
    )
    result = osiris("run", "--manifest", str(compiled), "--quiet", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""
    assert pq.read_table(tmp_path / "out" / "m.parquet").num_rows == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run"], "give a pipeline file"),
        (["run", "missing.yaml"], "pipeline file not found: missing.yaml"),
        (["run", "p.yaml", "--manifest", "x"], "not both"),
        (["run", "--manifest", "nowhere"], "not a compiled manifest directory"),
        (["run", "p.yaml", "--param", "novalue"], "expected KEY=VALUE"),
        (["run", "p.yaml", "--run-id", "../escape"], "invalid session id"),
        (["frobnicate"], "unknown command 'frobnicate'"),
        (["logs", "show", "nope"], "no session 'nope'"),
        (["logs", "gc"], "give --keep N and/or --older-than DAYS"),
        (["components", "show", "mysql.extractr"], "did you mean mysql.extractor"),
    ],
)
def test_usage_errors_exit_2(tmp_path, args, message):
    (tmp_path / "p.yaml").write_text("oml_version: '0.1.0'\nname: p\nsteps: []\n")
    result = osiris_inproc(*args, cwd=tmp_path)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert message in result.stderr
    assert not (tmp_path / ".osiris").exists() or args[:2] == ["logs", "show"]


def test_duplicate_run_id_is_a_usage_error(tmp_path):
    (tmp_path / "d.csv").write_text("a\n1\n")
    (tmp_path / "p.yaml").write_text("""
oml_version: "0.1.0"
name: p
steps:
  - id: r
    component: filesystem.csv_extractor
    mode: read
    config: {path: d.csv}
""")
    assert osiris_inproc("run", "p.yaml", "--run-id", "same", cwd=tmp_path).returncode == 0
    again = osiris_inproc("run", "p.yaml", "--run-id", "same", cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr


def test_compile_errors_exit_1_with_compiler_diagnostics(tmp_path):
    (tmp_path / "bad.yaml").write_text("""oml_version: "0.1.0"
name: bad
steps:
  - id: read
    component: filesystem.csv_extractr
    mode: read
    config: {path: d.csv}
""")
    result = osiris("run", "bad.yaml", cwd=tmp_path)
    assert result.returncode == 1
    first = result.stderr.splitlines()[0]
    assert first.startswith("bad.yaml:5:16: error[OML") and "filesystem.csv_extractr" in first
    assert "did you mean" in result.stderr
    (session,) = (tmp_path / ".osiris" / "sessions").iterdir()
    events = [e["event"] for e in read_jsonl(session / "events.jsonl")]
    assert events == ["run_start", "compile_error", "run_end"]
    status = json.loads((session / "status.json").read_text())
    assert status["ok"] is False and status["error"]["stage"] == "compile"
    validate_session(session)


def test_failed_step_exits_1_naming_step_component_and_cause(tmp_path):
    (tmp_path / "p.yaml").write_text("""
oml_version: "0.1.0"
name: p
steps:
  - id: read-orders
    component: filesystem.csv_extractor
    mode: read
    config: {path: data/ordres.csv}
  - id: write
    component: filesystem.csv_writer
    mode: write
    needs: [read-orders]
    config: {path: out/o.csv}
""")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "orders.csv").write_text("a\n1\n")
    result = osiris("run", "p.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert "error: step read-orders (filesystem.csv_extractor) failed: file not found: data/ordres.csv" in result.stderr
    assert "hint: did you mean 'data/orders.csv'?" in result.stderr
    assert "skipped: step write (filesystem.csv_writer)" in result.stderr
    assert "Traceback" not in result.stderr


def test_init_writes_a_runnable_project_and_never_overwrites(tmp_path):
    first = osiris("init", cwd=tmp_path)
    assert first.returncode == 0
    for name in ("osiris_connections.yaml", ".env.example", "pipeline.yaml", "data/sales.csv"):
        assert (tmp_path / name).is_file() and f"created  {name}" in first.stdout
    (tmp_path / "pipeline.yaml").write_text((tmp_path / "pipeline.yaml").read_text() + "# mine\n")
    second = osiris("init", cwd=tmp_path)
    assert "kept     pipeline.yaml (already exists)" in second.stdout
    assert (tmp_path / "pipeline.yaml").read_text().endswith("# mine\n")
    run = osiris("run", "pipeline.yaml", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert pq.read_table(tmp_path / "out" / "sales_by_region.parquet").num_rows == 4
    listed = osiris("connections", "list", cwd=tmp_path)
    assert "@filesystem.local (default)" in listed.stdout


def test_components_list_and_show(tmp_path):
    listed = osiris_inproc("components", "list", cwd=tmp_path)
    assert listed.returncode == 0 and "duckdb.processor" in listed.stdout and "mysql.writer" in listed.stdout
    as_json = json.loads(osiris_inproc("components", "list", "--json", cwd=tmp_path).stdout)
    assert {c["name"] for c in as_json} >= {"filesystem.csv_extractor", "postgres.writer"}
    shown = osiris_inproc("components", "show", "duckdb.transform", cwd=tmp_path)
    assert shown.stdout.startswith("duckdb.processor 1.0.0")
    assert "query (string; required)" in shown.stdout
    detail = json.loads(osiris_inproc("components", "show", "filesystem.csv_writer", "--json", cwd=tmp_path).stdout)
    assert detail["name"] == "filesystem.csv_writer" and detail["driver_installed"] is True


def test_logs_list_show_gc_and_report(tmp_path):
    (tmp_path / "d.csv").write_text("a\n1\n2\n")
    (tmp_path / "p.yaml").write_text("""
oml_version: "0.1.0"
name: logs-demo
steps:
  - id: r
    component: filesystem.csv_extractor
    mode: read
    config: {path: d.csv}
  - id: w
    component: filesystem.csv_writer
    mode: write
    needs: [r]
    config: {path: out/d.csv}
""")
    for run_id in ("run-1", "run-2", "run-3"):
        assert osiris_inproc("run", "p.yaml", "--run-id", run_id, "--quiet", cwd=tmp_path).returncode == 0
    listed = osiris_inproc("logs", "list", cwd=tmp_path)
    assert listed.returncode == 0
    assert [line.split()[0] for line in listed.stdout.splitlines()[1:]] == ["run-3", "run-2", "run-1"]
    assert json.loads(osiris_inproc("logs", "list", "--json", cwd=tmp_path).stdout)[0]["rows_written"] == 2
    shown = osiris_inproc("logs", "show", "run-2", "--events", cwd=tmp_path)
    assert "logs-demo: succeeded" in shown.stdout and "step_complete [w]" in shown.stdout
    last = json.loads(osiris_inproc("logs", "show", "last", "--json", cwd=tmp_path).stdout)
    assert last["status"]["session_id"] == "run-3"
    report = osiris_inproc("report", "run-1", cwd=tmp_path)
    html = (tmp_path / ".osiris" / "sessions" / "run-1" / "artifacts" / "report.html").read_text()
    assert report.returncode == 0 and "<title>Osiris run run-1</title>" in html
    assert "http" not in html.replace("https://", "").lower() or "<link" not in html
    assert "<script" not in html and "<link" not in html
    dry = osiris_inproc("logs", "gc", "--keep", "1", "--dry-run", cwd=tmp_path)
    assert "would remove 2 sessions" in dry.stdout
    assert osiris_inproc("logs", "gc", "--keep", "1", cwd=tmp_path).returncode == 0
    assert [p.name for p in (tmp_path / ".osiris" / "sessions").iterdir()] == ["run-3"]


def test_help_does_not_import_heavy_modules():
    code = (
        "import sys\nfrom osiris.cli.osiris import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('pyarrow', 'duckdb', 'rich', 'osiris.drivers', 'pymysql', 'osiris.compiler.api') "
        "if m in sys.modules]\nprint('HEAVY', heavy)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in result.stdout


def test_chat_options_belong_to_the_chat_command(tmp_path):
    result = osiris("chat", "--help", cwd=tmp_path)  # options after `chat` belong to cli/chat.py
    assert result.returncode == 0 and "usage: osiris chat" in result.stdout
