"""DuckDB SQL sees only the step's inputs at run time, whatever the compiler let through.

Every attack runs for real against DuckDB: first through the drivers (duckdb.processor's
`query`, filesystem.parquet_extractor's `filter`), then end to end through `osiris run
--manifest` on a compiled project whose cfg files an attacker edited (fingerprints recomputed),
in a CLI process whose compile-time check (OML082) is switched off, so only the runtime's
sandbox (drivers/common/duckdb_conn.py) stands between the SQL and the files, the network,
the environment and DuckDB's settings. A planted secret must appear in no output, event,
status, log or message, and no file may be written.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from osiris.drivers.common.duckdb_conn import connect
from osiris.drivers.duckdb_sql.processor import DuckDBProcessor
from osiris.drivers.files.parquet_extractor import ParquetExtractor
from osiris.runtime.driver import DriverError
from osiris.runtime.testing import RecordingContext, ipc_input
from tests.security.manifest_attacks import compiled_project, snapshot, step, tamper
from tests.support.http_recorder import recording_server

SECRET = "hunter2-Osiris-duckdb-5150"
ENV_SECRET = "env-Secret-Osiris-duckdb-6161"
FILE_SECRET = "file-Secret-Osiris-duckdb-7272"
SANDBOX_HINT = "a DuckDB step reads only its inputs"
REPO = Path(__file__).resolve().parents[2]
CONNECTIONS = f"""version: 1
connections:
  mysql:
    shop: {{host: 127.0.0.1, port: 3306, database: test, user: root, password: "{SECRET}"}}
"""


@pytest.fixture
def planted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory holding secrets an attacker would want; the process's cwd too, as
    DuckDB resolves relative paths against it."""
    (tmp_path / "osiris_connections.yaml").write_text(CONNECTIONS, encoding="utf-8")
    (tmp_path / "secret.csv").write_text(f"token\n{FILE_SECRET}\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OSIRIS_DUCKDB_TEST_SECRET", ENV_SECRET)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


# Each attack: the SQL and the files it would create if it worked (relative to the work dir).
QUERY_ATTACKS: dict[str, tuple[str, tuple[str, ...]]] = {
    "read_text_connections": ("SELECT content FROM read_text('osiris_connections.yaml')", ()),
    "read_text_absolute": ("SELECT content FROM read_text('{root}/osiris_connections.yaml')", ()),
    "error_message_echo": ("SELECT CAST(content AS INTEGER) AS n FROM read_text('osiris_connections.yaml')", ()),
    "read_csv_etc_hostname": ("SELECT * FROM read_csv('/etc/hostname', header = false)", ()),
    "proc_self_environ": ("SELECT content FROM read_text('/proc/self/environ')", ()),
    "read_blob": ("SELECT content FROM read_blob('secret.csv')", ()),
    "string_as_table": ("SELECT * FROM 'secret.csv'", ()),
    "file_like_table_name": ("SELECT * FROM secret.csv", ()),
    "quoted_file_like_table_name": ('SELECT * FROM "secret.csv"', ()),
    "glob": ("SELECT * FROM glob('*')", ()),
    "query_table_by_file_name": ("SELECT * FROM query_table('secret.csv')", ()),
    "copy_to": ("COPY (SELECT * FROM input_df) TO 'stolen.csv'; SELECT * FROM input_df", ("stolen.csv",)),
    "copy_to_outside": ("COPY (SELECT 1 AS x) TO '{root}/../outside-{name}.csv'; SELECT * FROM input_df",
                        ("../outside-{name}.csv",)),
    "copy_from": ("CREATE TABLE t (token VARCHAR); COPY t FROM 'secret.csv'; SELECT * FROM t", ()),
    "export_database": ("EXPORT DATABASE 'exported'; SELECT * FROM input_df", ("exported",)),
    "attach_new_file": ("ATTACH 'stolen.duckdb' AS s; SELECT * FROM input_df", ("stolen.duckdb",)),
    "install_extension": ("INSTALL httpfs; SELECT * FROM input_df", ()),
    "load_extension": ("LOAD httpfs; SELECT * FROM input_df", ()),
    "load_extension_file": ("LOAD 'secret.csv'; SELECT * FROM input_df", ()),
    "set_external_access_on": (
        "SET enable_external_access = true; SELECT content FROM read_text('osiris_connections.yaml')", ()),
    "unlock_configuration": (
        "SET lock_configuration = false; SET enable_external_access = true; "
        "SELECT content FROM read_text('osiris_connections.yaml')", ()),
    "reset_external_access": (
        "RESET enable_external_access; SELECT content FROM read_text('osiris_connections.yaml')", ()),
    "set_allowed_directories": (
        "SET allowed_directories = ['{root}']; SELECT content FROM read_text('{root}/osiris_connections.yaml')", ()),
    "pragma_profiling_output": (
        "PRAGMA enable_profiling = 'json'; PRAGMA profiling_output = 'profile.json'; SELECT * FROM input_df",
        ("profile.json",)),
    "call_enable_profiling": (
        "CALL enable_profiling(save_location := 'profile.json'); SELECT * FROM input_df", ("profile.json",)),
    "getenv": ("SELECT getenv('OSIRIS_DUCKDB_TEST_SECRET') AS v", ()),
    "url": ("SELECT * FROM read_csv('{url}/data.csv')", ()),
    "explain_analyze_copy": ("EXPLAIN ANALYZE COPY (SELECT 1) TO 'stolen.csv'", ("stolen.csv",)),
    "prepared_copy": ("PREPARE p AS COPY (SELECT 1) TO 'stolen.csv'; EXECUTE p; SELECT * FROM input_df",
                      ("stolen.csv",)),
    "serialized_sql": (
        "SELECT * FROM json_execute_serialized_sql(json_serialize_sql("
        "'SELECT content FROM read_text(''osiris_connections.yaml'')'))", ()),
}

FILTER_ATTACKS: dict[str, tuple[str, tuple[str, ...]]] = {
    "boolean_oracle": (f"id > 0 AND EXISTS (SELECT 1 FROM read_text('osiris_connections.yaml') "
                       f"WHERE content LIKE '%{SECRET[:7]}%')", ()),
    "union_out": ("true) UNION ALL SELECT 1, content FROM read_text('osiris_connections.yaml') WHERE (true", ()),
    "statements_injected": ("true); COPY (SELECT 1) TO 'stolen.csv'; SELECT * FROM parquet_source WHERE (true",
                            ("stolen.csv",)),
    "setting_injected": ("true); SET enable_external_access = true; "
                         "SELECT * FROM parquet_source WHERE (true", ()),
    "getenv_in_filter": ("getenv('OSIRIS_DUCKDB_TEST_SECRET') LIKE 'env%'", ()),
    "string_table_in_filter": ("EXISTS (FROM 'secret.csv')", ()),
}

INPUT = pa.table({"id": pa.array([1, 2], pa.int64()), "name": ["a", "b"]})


def _expand(text: str, root: Path, name: str, url: str = "http://127.0.0.1:9") -> str:
    return text.replace("{root}", str(root)).replace("{name}", name).replace("{url}", url)


def _drain(reader: pa.RecordBatchReader) -> pa.Table:
    return reader.read_all()


def _refused(error: DriverError, created: list[Path]) -> None:
    """DuckDB's sandbox stopped it (the hint says so), nothing leaked into the message, no file."""
    text = f"{error} {error.hint}"
    assert SANDBOX_HINT in (error.hint or "") or "is not one SQL expression" in str(error), text
    for secret in (SECRET, ENV_SECRET, FILE_SECRET):
        assert secret not in text, text
    assert "unexpected error" not in text
    assert not [path for path in created if path.exists()], created


@pytest.mark.parametrize("name", sorted(QUERY_ATTACKS))
def test_query_attack_is_refused_by_duckdb(planted: Path, name: str) -> None:
    sql, creates = QUERY_ATTACKS[name]
    with recording_server() as server:
        query = _expand(sql, planted, name, server.url)
        ctx = RecordingContext(config={"query": query}, work_dir=planted, mode="transform",
                               component="duckdb.processor", step_id=name)
        with pytest.raises(DriverError) as caught:
            _drain(DuckDBProcessor().transform(ctx, {"input_df": ipc_input("input_df", INPUT, ctx.temp_dir)}))
    assert not server.requests, server.requests
    _refused(caught.value, [planted / _expand(c, planted, name) for c in creates])
    assert str(caught.value).startswith("DuckDB query failed: "), caught.value


@pytest.mark.parametrize("name", sorted(FILTER_ATTACKS))
def test_parquet_filter_attack_is_refused_by_duckdb(planted: Path, name: str) -> None:
    where, creates = FILTER_ATTACKS[name]
    pq.write_table(INPUT, planted / "in.parquet")
    ctx = RecordingContext(config={"path": "in.parquet", "filter": where}, work_dir=planted, step_id=name,
                           component="filesystem.parquet_extractor")
    with pytest.raises(DriverError) as caught:
        _drain(ParquetExtractor().extract(ctx))
    _refused(caught.value, [planted / c for c in creates])
    assert str(caught.value).startswith("filter on in.parquet"), caught.value
    if name.endswith("_injected"):  # refused before DuckDB runs anything: a filter is one expression
        assert str(caught.value) == "filter on in.parquet is not one SQL expression"


def test_only_registered_inputs_are_tables(planted: Path) -> None:
    """Python replacement scans are off: a DataFrame or Arrow table in a caller's variables is
    not a table to the SQL (DuckDB would otherwise find it by name). Two settings guard this
    (`python_enable_replacements` and external access), so it takes removing both to fail."""
    leaked = pa.table({"token": [FILE_SECRET]})  # noqa: F841 - what a replacement scan would find
    con = connect(planted / "tmp", memory_limit="64MiB")
    try:
        with pytest.raises(duckdb.CatalogException):
            con.sql("SELECT * FROM leaked").fetchall()
    finally:
        con.close()


def test_spill_directory_is_the_only_place_duckdb_touches(tmp_path: Path) -> None:
    """DuckDB keeps access to its own spill directory inside the step's temp dir, and nothing
    beside or above it (not the step's other scratch files, not the session)."""
    step_temp = tmp_path / "session" / "tmp" / "steps" / "s" / "attempt-1"
    step_temp.mkdir(parents=True)
    (step_temp / "scratch.txt").write_text(FILE_SECRET, encoding="utf-8")
    con = connect(step_temp, memory_limit="64MiB")
    spill = step_temp / "duckdb"
    try:
        for target in (step_temp / "scratch.txt", spill / ".." / "scratch.txt", tmp_path / "session" / "x.csv"):
            with pytest.raises(duckdb.PermissionException):
                con.sql(f"SELECT content FROM read_text('{target}')").fetchall()
            with pytest.raises(duckdb.PermissionException):
                con.execute(f"COPY (SELECT 1) TO '{target}.out'")
        assert con.sql("SELECT current_setting('temp_directory')").fetchall() == [(str(spill),)]
    finally:
        con.close()
    assert sorted(p.name for p in step_temp.iterdir()) == ["duckdb", "scratch.txt"]


def test_inputs_spilled_to_ipc_files_stay_readable_and_spill_works(tmp_path: Path) -> None:
    """The sandbox keeps the inputs (IPC spill files scanned by pyarrow, not by DuckDB's file
    system) and DuckDB's own spilling: a sort bigger than memory_limit completes."""
    rows = 400_000
    table = pa.table({"k": pa.array(range(rows), pa.int64()), "v": [f"value-{i:09d}-padding" for i in range(rows)]})
    ctx = RecordingContext(config={"query": "SELECT v FROM big ORDER BY v DESC", "memory_limit": "24MiB",
                                   "threads": 1}, work_dir=tmp_path, mode="transform", batch_rows=8192)
    seen_spill: list[str] = []
    reader = DuckDBProcessor().transform(ctx, {"big": ipc_input("big", table, tmp_path)})
    first = reader.read_next_batch()
    seen_spill += os.listdir(ctx.temp_dir / "duckdb")
    total = first.num_rows + sum(batch.num_rows for batch in reader)
    assert total == rows and first.column(0)[0].as_py() == f"value-{rows - 1:09d}-padding"
    assert seen_spill, "DuckDB did not spill under a 24MiB memory_limit"


@pytest.mark.parametrize("threads", [1_000, 65, 0, -1, "8", True, 2.5])
def test_thread_count_is_bounded(tmp_path: Path, threads: Any) -> None:
    """`threads: 100000` (schema-valid before) stalled the process creating threads; a manifest
    from elsewhere may carry any value, so the connection refuses it, quickly."""
    with pytest.raises(DriverError, match="threads"):
        connect(tmp_path, memory_limit="64MiB", threads=threads)
    con = connect(tmp_path, memory_limit="64MiB", threads=2)
    try:
        assert con.sql("SELECT current_setting('threads')").fetchall() == [(2,)]
    finally:
        con.close()


def test_thread_count_above_the_maximum_is_a_compile_error() -> None:
    from osiris.compiler.api import CompileOptions, compile_text

    text = ('oml_version: "0.1.0"\nname: t\nsteps:\n  - id: e\n    component: filesystem.csv_extractor\n'
            "    config: {path: data/in.csv}\n  - id: q\n    component: duckdb.processor\n    needs: [e]\n"
            "    config: {query: SELECT * FROM input_df, threads: 100000}\n")
    result = compile_text(text, "p.yaml", CompileOptions(search_connections=False, env={}), connections=None)
    assert [(d.code, d.span.line) for d in result.diagnostics if d.severity == "error"] == [("OML044", 10)]


# --- end to end: a tampered manifest, the compile-time check switched off ---------------------------
PIPELINE = """\
oml_version: "0.1.0"
name: sandbox
steps:
  - id: read
    component: filesystem.csv_extractor
    config: {path: data/in.csv}
  - id: filtered
    component: filesystem.parquet_extractor
    config: {path: data/in.parquet, filter: "id > 0"}
  - id: write-filtered
    component: filesystem.csv_writer
    needs: [filtered]
    config: {path: out/filtered.csv}
"""
TRANSFORM = """\
  - id: q{n}
    component: duckdb.processor
    needs: [read]
    config: {{query: "SELECT * FROM input_df"}}
  - id: w{n}
    component: filesystem.csv_writer
    needs: [q{n}]
    config: {{path: out/q{n}.csv}}
"""
FILTER = """\
  - id: f{n}
    component: filesystem.parquet_extractor
    config: {{path: data/in.parquet, filter: "id > 0"}}
  - id: fw{n}
    component: filesystem.csv_writer
    needs: [f{n}]
    config: {{path: out/f{n}.csv}}
"""
E2E_QUERIES = sorted(name for name in QUERY_ATTACKS if name not in ("url", "copy_to_outside"))
E2E_FILTERS = sorted(FILTER_ATTACKS)
"""Each attack is its own step of one pipeline (one process for all: they run concurrently)."""


def _project(root: Path, attacks: bool = True) -> Path:
    text = PIPELINE
    if attacks:
        text += "".join(TRANSFORM.format(n=n) for n in range(len(E2E_QUERIES)))
        text += "".join(FILTER.format(n=n) for n in range(len(E2E_FILTERS)))
    project = compiled_project(root, text)
    pq.write_table(INPUT, project / "data" / "in.parquet")
    (project / "osiris_connections.yaml").write_text(CONNECTIONS, encoding="utf-8")
    (project / "secret.csv").write_text(f"token\n{FILE_SECRET}\n", encoding="utf-8")
    return project


def _run(project: Path, module: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OSIRIS_DUCKDB_TEST_SECRET": ENV_SECRET, "HOME": str(project.parent / "home"),
           "PYTHONPATH": os.pathsep.join(filter(None, (str(REPO), os.environ.get("PYTHONPATH"))))}
    env.pop("COLUMNS", None)
    return subprocess.run([sys.executable, "-m", module, "run", "--manifest", "compiled", *args], cwd=project,
                          env=env, capture_output=True, text=True, timeout=240)


def _everything_written(root: Path, result: subprocess.CompletedProcess[str]) -> str:
    """stdout, stderr and every file under `root` the run could have written (outputs, session)."""
    texts = [result.stdout, result.stderr]
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name not in ("osiris_connections.yaml", "secret.csv"):
            texts.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(texts)


def test_tampered_manifest_attacks_fail_their_steps_and_leak_nothing(tmp_path: Path) -> None:
    project = _project(tmp_path)
    queries = {f"q{n}": name for n, name in enumerate(E2E_QUERIES)}
    filters = {f"f{n}": name for n, name in enumerate(E2E_FILTERS)}

    def edit(data: dict[str, Any], cfgs: dict[str, dict[str, Any]]) -> None:
        for step_id, name in queries.items():
            cfgs[step_id]["query"] = _expand(QUERY_ATTACKS[name][0], project, name)
        for step_id, name in filters.items():
            assert step(data, step_id)["component"] == "filesystem.parquet_extractor"
            cfgs[step_id]["filter"] = FILTER_ATTACKS[name][0]

    tamper(project / "compiled", edit)
    before = snapshot(project)
    # --debug: tracebacks go into events.jsonl and DEBUG records into osiris.log, more places to leak
    result = _run(project, "tests.security.duckdb_unchecked_cli", "--debug")
    assert result.returncode == 1, result.stdout + result.stderr
    (session,) = (project / ".osiris" / "sessions").iterdir()
    status = json.loads((session / "status.json").read_text(encoding="utf-8"))
    for step_id in (*queries, *filters):
        state = status["steps"][step_id]
        assert state["status"] == "failed", (step_id, queries.get(step_id) or filters.get(step_id), state)
        error = state["error"]
        assert error["error_type"] == "DriverError", (step_id, error)
        assert "unexpected" not in error.get("hint", ""), (step_id, error)
    assert status["steps"]["read"]["status"] == "succeeded"  # the inputs themselves were fine
    written = _everything_written(project, result)
    for secret in (SECRET, ENV_SECRET, FILE_SECRET):
        assert secret not in written
    assert (session / "events.jsonl").is_file() and (session / "status.json").is_file()
    after = snapshot(project)
    session_part = os.path.relpath(session, project)
    created = {k for k in after if k not in before and not k.startswith(session_part)}
    # the benign filter step's output, and nothing from the attack steps or their writers
    assert created == {"out", "out/filtered.csv"}, sorted(created)
    assert not list((tmp_path / "home").rglob("*duckdb*")), "DuckDB stored something in HOME"


def test_tampered_manifest_is_stopped_without_leaks_by_the_real_cli(tmp_path: Path) -> None:
    """The plain CLI (manifest verification included) stops the same edit one way or another:
    refused before running or failed in DuckDB, never a leak or a written file."""
    project = _project(tmp_path)

    def edit(data: dict[str, Any], cfgs: dict[str, dict[str, Any]]) -> None:
        cfgs["q0"]["query"] = ("COPY (SELECT 1) TO 'stolen.csv'; "
                               "SELECT content FROM read_text('osiris_connections.yaml')")

    tamper(project / "compiled", edit)
    result = _run(project, "osiris.cli.osiris")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "unexpected error" not in result.stdout + result.stderr
    assert not (project / "stolen.csv").exists()
    assert SECRET not in _everything_written(project, result)


def test_manifest_verification_reads_a_filter_where_it_runs(tmp_path: Path) -> None:
    """A compiled filter over a column named `load` runs; the same manifest edited to close the
    expression and add a statement is refused before anything runs (OML096 with OML082's reason)."""
    pipeline = PIPELINE.replace('filter: "id > 0"', 'filter: "load > 0.5"')
    project = compiled_project(tmp_path, pipeline)
    pq.write_table(pa.table({"id": [1, 2], "load": [0.2, 0.9]}), project / "data" / "in.parquet")
    ok = _run(project, "osiris.cli.osiris")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert (project / "out" / "filtered.csv").read_text(encoding="utf-8").splitlines() == ["id,load", "2,0.9"]

    def edit(data: dict[str, Any], cfgs: dict[str, dict[str, Any]]) -> None:
        cfgs["filtered"]["filter"] = "true); SET threads = 1; SELECT 1 WHERE (true"

    tamper(project / "compiled", edit)
    refused = _run(project, "osiris.cli.osiris")
    assert refused.returncode == 1
    assert "error[OML096]" in refused.stderr and "`SET` changes DuckDB's settings" in refused.stderr, refused.stderr


# --- errors DuckDB raises while the result streams ----------------------------------------------------
def test_error_mid_stream_is_a_clear_driver_error(tmp_path: Path) -> None:
    rows = [str(i) for i in range(200_000)] + ["not-a-number"]
    ctx = RecordingContext(config={"query": "SELECT CAST(s AS INTEGER) AS n FROM input_df"}, work_dir=tmp_path,
                           mode="transform", batch_rows=1000)
    # The query starts fine (transform returns); DuckDB fails while the batches are read.
    reader = DuckDBProcessor().transform(ctx, {"input_df": ipc_input("input_df", pa.table({"s": rows}), tmp_path)})
    with pytest.raises(DriverError) as caught:
        for _ in reader:
            pass
    assert str(caught.value).startswith("DuckDB query failed: Conversion Error"), caught.value
    assert "not-a-number" in str(caught.value)


def test_error_mid_stream_names_the_step_in_the_run(tmp_path: Path) -> None:
    rows = [str(i) for i in range(200_000)] + ["not-a-number"]
    pipeline = """\
oml_version: "0.1.0"
name: midstream
steps:
  - id: read
    component: filesystem.parquet_extractor
    config: {path: data/in.parquet}
  - id: cast-numbers
    component: duckdb.processor
    needs: [read]
    config: {query: "SELECT CAST(s AS INTEGER) AS n FROM input_df"}
  - id: write
    component: filesystem.csv_writer
    needs: [cast-numbers]
    config: {path: out/n.csv}
"""
    project = compiled_project(tmp_path, pipeline)
    pq.write_table(pa.table({"s": rows}), project / "data" / "in.parquet", row_group_size=10_000)
    result = _run(project, "osiris.cli.osiris")
    assert result.returncode == 1
    (session,) = (project / ".osiris" / "sessions").iterdir()
    status = json.loads((session / "status.json").read_text(encoding="utf-8"))
    error = status["steps"]["cast-numbers"]["error"]
    assert error["error_type"] == "DriverError", error
    assert error["message"].startswith("DuckDB query failed: Conversion Error"), error
    assert "unexpected" not in error.get("hint", "")
    output = result.stdout + result.stderr
    assert "cast-numbers" in output and "Conversion Error" in output, output
    assert not (project / "out" / "n.csv").exists()
