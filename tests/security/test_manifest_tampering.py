"""`osiris run --manifest DIR` treats the directory as untrusted input: verified before anything runs.

Each attack edits a compiled manifest directory as an attacker would (fingerprints recomputed)
and runs the real CLI in its own process with a timeout, so a hang fails the test instead of
blocking it. Every refusal must carry its code (OML092-OML096, OML083/OML084), end the session
`failed` with a manifest_error event, exit 1, show no traceback or KeyError, and create or
change nothing outside the session directory.
"""

from __future__ import annotations

import http.server
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from osiris.compiler.manifest import load_manifest
from osiris.oml.canonical import fingerprint, pretty_json
from tests.security.manifest_attacks import (
    SUPABASE,
    assert_refused,
    compiled_project,
    osiris_run,
    snapshot,
    step,
    tamper,
)


def _attack(tmp_path: Path, edit, code: str, **project: Any) -> dict[str, Any]:  # noqa: ANN001
    proj = compiled_project(tmp_path, **project)
    tamper(proj / "compiled", edit)
    before = snapshot(tmp_path)
    return assert_refused(tmp_path, proj, before, osiris_run(proj), code)


# -- the graph (OML094) ---------------------------------------------------------------------------
def _cycle(data, cfgs) -> None:  # noqa: ANN001
    step(data, "read")["needs"] = ["write"]  # read <-> write


def _unknown_need(data, cfgs) -> None:  # noqa: ANN001
    step(data, "write")["needs"] = ["read", "ghost"]


def _unknown_input(data, cfgs) -> None:  # noqa: ANN001
    step(data, "write")["inputs"] = {"read": {"step": "ghost", "output": "df"}}
    data["edges"] = [{"from": "ghost", "output": "df", "to": "write", "input": "read"}]


def _input_not_needed(data, cfgs) -> None:  # noqa: ANN001
    data["steps"].insert(1, {**step(data, "read"), "id": "read2"})
    cfgs["read2"] = cfgs["read"]
    step(data, "write")["inputs"] = {"read": {"step": "read2", "output": "df"}}
    data["edges"] = [{"from": "read2", "output": "df", "to": "write", "input": "read"}]
    data["order"], data["levels"] = ["read", "read2", "write"], [["read", "read2"], ["write"]]


def _order_drops_a_step(data, cfgs) -> None:  # noqa: ANN001
    data["order"] = ["read"]


def _order_names_a_ghost(data, cfgs) -> None:  # noqa: ANN001
    data["order"] = ["read", "ghost", "write"]


def _levels_lie(data, cfgs) -> None:  # noqa: ANN001
    data["levels"] = [["read", "write"]]
    step(data, "write")["level"] = 0


def _duplicate_id(data, cfgs) -> None:  # noqa: ANN001
    data["steps"].append(dict(step(data, "write")))
    data["order"].append("write")


def _self_need(data, cfgs) -> None:  # noqa: ANN001
    step(data, "write")["needs"] = ["read", "write"]


def _edge_to_nowhere(data, cfgs) -> None:  # noqa: ANN001
    data["edges"].append({"from": "write", "output": "df", "to": "read", "input": "x"})


def _extractor_with_input(data, cfgs) -> None:  # noqa: ANN001
    step(data, "read")["inputs"] = {"w": {"step": "write", "output": "df"}}


GRAPH_ATTACKS = [_cycle, _unknown_need, _unknown_input, _input_not_needed, _order_drops_a_step,
                 _order_names_a_ghost, _levels_lie, _duplicate_id, _self_need, _edge_to_nowhere,
                 _extractor_with_input]


def test_a_cycle_fails_the_session_instead_of_hanging(tmp_path):
    _attack(tmp_path, _cycle, "OML094")


def test_a_reference_to_an_unknown_step_is_a_graph_error_not_a_key_error(tmp_path):
    _attack(tmp_path, _unknown_need, "OML094")


@pytest.mark.parametrize("edit", GRAPH_ATTACKS, ids=lambda f: f.__name__.strip("_"))
def test_an_inconsistent_graph_is_refused(tmp_path, edit):  # noqa: ANN001
    _attack(tmp_path, edit, "OML094")


# -- ids and cfg.json's keys (OML092) -------------------------------------------------------------
def _rename(new_id: str):  # noqa: ANN202
    def edit(data, cfgs) -> None:  # noqa: ANN001
        step(data, "write")["id"] = new_id
        cfgs[new_id] = cfgs.pop("write")
        data["order"] = ["read", new_id]
        data["levels"] = [["read"], [new_id]]
        data["edges"][0]["to"] = new_id
    edit.__name__ = f"id {new_id!r}"
    return edit


def _no_config(data, cfgs) -> None:  # noqa: ANN001
    del cfgs["write"]


def _config_not_an_object(data, cfgs) -> None:  # noqa: ANN001
    cfgs["write"] = [cfgs["write"]]


def _config_of_no_step(data, cfgs) -> None:  # noqa: ANN001
    cfgs["ghost"] = {"path": "/etc/passwd"}


def _version_2_cfg_path(data, cfgs) -> None:  # noqa: ANN001
    step(data, "write")["cfg"] = "cfg/../../data/in.csv"  # version 2's field, pointing out of the directory


def test_a_step_id_with_traversal_is_refused_and_creates_nothing_outside(tmp_path):
    # Unverified, this id put the step's temp directory six levels up: outside the project.
    _attack(tmp_path, _rename("../../../../../../x"), "OML092")


@pytest.mark.parametrize("edit", [
    _rename("a" * 65),
    _rename("x\nevil"),
    _rename("x/y"),
    _no_config,
    _config_not_an_object,
    _config_of_no_step,
    _version_2_cfg_path,
], ids=lambda f: f.__name__.strip("_"))
def test_unsafe_ids_and_configs_that_are_not_one_per_step_are_refused(tmp_path, edit):  # noqa: ANN001
    _attack(tmp_path, edit, "OML092")


def _infinite_backoff(data, cfgs) -> None:  # noqa: ANN001
    step(data, "write")["retry"] = {"max_attempts": 20, "backoff_seconds": float("inf"),
                                    "max_backoff_seconds": float("inf")}


def _extra_field(data, cfgs) -> None:  # noqa: ANN001
    step(data, "write")["command"] = "rm -rf ~"


def _wrong_type(data, cfgs) -> None:  # noqa: ANN001
    step(data, "write")["needs"] = "read"


@pytest.mark.parametrize("edit", [_infinite_backoff, _extra_field, _wrong_type], ids=lambda f: f.__name__.strip("_"))
def test_values_the_manifest_schema_forbids_are_refused(tmp_path, edit):  # noqa: ANN001
    _attack(tmp_path, edit, "OML092")


# -- components (OML095) --------------------------------------------------------------------------
def _set(step_id: str, key: str, value: Any):  # noqa: ANN202, ANN401
    def edit(data, cfgs) -> None:  # noqa: ANN001
        step(data, step_id)[key] = value
    edit.__name__ = f"{step_id}.{key}={value!r}"
    return edit


@pytest.mark.parametrize("edit", [
    _set("write", "component", "filesystem.shell_runner"),
    _set("write", "component", "duckdb.transform"),  # an alias, not the canonical name
    _set("write", "kind", "extractor"),
    _set("write", "mode", "extract"),
    _set("write", "component_version", "9.9.9"),
    _set("read", "outputs", ["df", "extra"]),
], ids=lambda f: f.__name__)
def test_a_step_its_component_disagrees_with_is_refused(tmp_path, edit):  # noqa: ANN001
    _attack(tmp_path, edit, "OML095")


def test_a_connection_of_another_family_is_refused(tmp_path):
    def edit(data, cfgs) -> None:  # noqa: ANN001
        step(data, "write")["connection"] = "@postgres.prod"
        data["connections"] = ["@postgres.prod"]
    _attack(tmp_path, edit, "OML095")


# -- cfg files (OML096) ---------------------------------------------------------------------------
def _cfg(step_id: str, change):  # noqa: ANN001, ANN202
    def edit(data, cfgs) -> None:  # noqa: ANN001
        change(cfgs[step_id])
    edit.__name__ = getattr(change, "__name__", "change")
    return edit


def _unknown_key(cfg) -> None:  # noqa: ANN001
    cfg["url"] = "http://attacker.example"


def _wrong_type_value(cfg) -> None:  # noqa: ANN001
    cfg["delimiter"] = 7


def _missing_required(cfg) -> None:  # noqa: ANN001
    del cfg["path"]


def _inline_secret(cfg) -> None:  # noqa: ANN001
    cfg["encoding"] = "postgres://u:hunter2@db/x"


def _connection_differs(cfg) -> None:  # noqa: ANN001
    cfg["connection"] = "@filesystem.elsewhere"  # a second reference, which v2 cfg files never hold


@pytest.mark.parametrize("change", [_unknown_key, _wrong_type_value, _missing_required, _inline_secret,
                                    _connection_differs], ids=lambda f: f.__name__.strip("_"))
def test_a_cfg_the_component_would_reject_is_refused(tmp_path, change):  # noqa: ANN001
    _attack(tmp_path, _cfg("read", change), "OML096")


@pytest.fixture
def listener() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on 127.0.0.1 that records every request it gets (the attacker's)."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def _any(self) -> None:
            seen.append(f"{self.command} {self.path} {dict(self.headers)}")
            self.send_response(200)
            self.end_headers()

        do_GET = do_POST = do_PATCH = do_HEAD = _any  # noqa: N815

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()




def test_a_url_key_added_to_a_supabase_cfg_never_reaches_the_other_server(tmp_path, listener):
    evil, seen = listener
    connections = "version: 1\nconnections:\n  supabase:\n    main:\n      url: http://127.0.0.1:9\n" \
                  "      key: ${SUPA_KEY}\n"
    proj = compiled_project(tmp_path, SUPABASE, connections)
    tamper(proj / "compiled", _cfg("write", lambda cfg: cfg.update(url=evil)))
    before = snapshot(tmp_path)
    result = osiris_run(proj, env={"SUPA_KEY": "service-role-secret"})
    assert_refused(tmp_path, proj, before, result, "OML096")
    assert seen == []
    assert "service-role-secret" not in result.stdout + result.stderr


DUCKDB = """\
oml_version: "0.1.0"
name: with-sql
steps:
  - id: read
    component: filesystem.csv_extractor
    config: {path: data/in.csv}
  - id: q
    component: duckdb.processor
    needs: [read]
    config: {query: "SELECT * FROM input_df"}
  - id: write
    component: filesystem.csv_writer
    needs: [q]
    config: {path: out/copy.csv}
"""


@pytest.mark.parametrize("query", [
    "SELECT content FROM read_text('osiris_connections.yaml')",
    "COPY (SELECT 1) TO 'stolen.csv'",
    "SELECT * FROM 'data/in.csv'",
    "SELECT getenv('HOME')",
])
def test_duckdb_sql_that_reaches_outside_its_inputs_is_refused_before_it_runs(tmp_path, query):  # noqa: ANN001
    """The compiler's own DuckDB check (OML082 when compiling), so DuckDB never sees the query."""
    _attack(tmp_path, _cfg("q", lambda cfg: cfg.update(query=query)), "OML096", pipeline=DUCKDB)


# -- paths in cfg files (OML083/OML084, the compiler's path policy) --------------------------------
@pytest.mark.parametrize(("step_id", "path", "code"), [
    ("write", "../../../x.csv", "OML083"),
    ("write", "/tmp/osiris-escape.csv", "OML083"),
    ("read", "~/.ssh/id_rsa", "OML083"),
    ("read", "data/../../outside.csv", "OML083"),
    ("write", "out/x\u0000.csv", "OML084"),
    ("write", "out/" + "y" * 300 + ".csv", "OML084"),
])
def test_a_cfg_path_outside_the_project_is_refused(tmp_path, step_id, path, code):  # noqa: ANN001
    _attack(tmp_path, _cfg(step_id, lambda cfg: cfg.update(path=path)), code)
    assert not Path("/tmp/osiris-escape.csv").exists()


# -- fingerprints (OML093): the runtime checks every cfg file and the manifest --------------------
def _retarget(cfg) -> None:  # noqa: ANN001
    cfg["path"] = "out/elsewhere.csv"  # a change every other check accepts: only cfg_fp catches it


def test_a_step_config_edited_without_its_fingerprint_is_refused(tmp_path):
    proj = compiled_project(tmp_path)
    tamper(proj / "compiled", _cfg("write", _retarget), refingerprint=False)
    before = snapshot(tmp_path)
    status = assert_refused(tmp_path, proj, before, osiris_run(proj), "OML093")
    assert "compiled/cfg.json: the config of step 'write' does not match its cfg_fp" in status["error"]["message"]
    assert not (proj / "out").exists()


def test_load_manifest_checks_each_step_s_config_against_its_cfg_fp(tmp_path):
    proj = compiled_project(tmp_path)
    load_manifest(proj / "compiled", project_root=proj)  # untouched: accepted
    cfg_file = proj / "compiled" / "cfg.json"
    original = cfg_file.read_bytes()
    for step_id in ("read", "write"):
        cfgs = json.loads(original)
        cfgs[step_id]["encoding"] = "latin-1"  # valid for both components
        cfg_file.write_bytes(pretty_json(cfgs))
        with pytest.raises(Exception) as caught:
            load_manifest(proj / "compiled", project_root=proj)
        assert [(d.code, d.span.file, d.message.split(": ", 1)[1]) for d in caught.value.diagnostics] == [
            ("OML093", f"{proj / 'compiled'}/cfg.json", f"the config of step '{step_id}' does not match its cfg_fp")]
        cfg_file.write_bytes(original)


def test_a_manifest_edited_without_manifest_fp_is_refused(tmp_path):
    proj = compiled_project(tmp_path)
    tamper(proj / "compiled", lambda data, cfgs: step(data, "write")["retry"].update(max_attempts=3),
           refingerprint=False)
    before = snapshot(tmp_path)
    status = assert_refused(tmp_path, proj, before, osiris_run(proj), "OML093")
    assert "compiled/manifest.yaml does not match manifest_fp" in status["error"]["message"]


def test_load_manifest_checks_the_manifest_against_manifest_fp(tmp_path):
    proj = compiled_project(tmp_path)
    meta_file = proj / "compiled" / "meta.json"
    meta = json.loads(meta_file.read_text(encoding="utf-8"))
    meta["fingerprints"]["manifest_fp"] = fingerprint({"another": "manifest"})
    meta_file.write_bytes(pretty_json(meta))
    with pytest.raises(Exception) as caught:
        load_manifest(proj / "compiled", project_root=proj)
    assert [d.code for d in caught.value.diagnostics] == ["OML093"]


# -- the files themselves (OML092): links, FIFOs, bombs -------------------------------------------
def test_a_fifo_in_place_of_cfg_json_is_refused_without_blocking(tmp_path):
    proj = compiled_project(tmp_path)
    cfg_file = proj / "compiled" / "cfg.json"
    cfg_file.unlink()
    os.mkfifo(cfg_file)
    before = snapshot(tmp_path)
    status = assert_refused(tmp_path, proj, before, osiris_run(proj, timeout=30), "OML092")
    assert "not a regular file" in status["error"]["message"]


def test_a_symlinked_cfg_json_is_refused_and_not_copied(tmp_path):
    proj = compiled_project(tmp_path)
    secret = tmp_path / "secret.json"
    cfgs = json.loads((proj / "compiled" / "cfg.json").read_text(encoding="utf-8"))
    cfgs["write"].update(path="out/copy.csv", token="s3cr3t")
    secret.write_text(json.dumps(cfgs), encoding="utf-8")
    cfg_file = proj / "compiled" / "cfg.json"
    cfg_file.unlink()
    cfg_file.symlink_to(secret)
    before = snapshot(tmp_path)
    result = osiris_run(proj)
    assert_refused(tmp_path, proj, before, result, "OML092")
    (session,) = (proj / ".osiris" / "sessions").iterdir()
    assert not (session / "compiled").exists()
    assert "s3cr3t" not in result.stdout + result.stderr


def test_an_alias_bomb_in_the_manifest_is_refused_quickly(tmp_path):
    proj = compiled_project(tmp_path)
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, "
              f"*a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, 12)]
    (proj / "compiled" / "manifest.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    before = snapshot(tmp_path)
    assert_refused(tmp_path, proj, before, osiris_run(proj, timeout=30), "OML092")


# -- the E2B path refuses what the local path refuses ----------------------------------------------
def test_the_sandbox_executor_never_sees_a_refused_manifest(tmp_path):
    from osiris.runtime.e2b.host.executor import SandboxExecutor
    from osiris.runtime.e2b.host.options import E2BOptions
    from osiris.runtime.local.executor import ExecOptions
    from osiris.runtime.run import RunRequest, run
    from tests.e2b.helpers import transport

    proj = compiled_project(tmp_path)
    tamper(proj / "compiled", _cycle)
    local = transport()
    outcome = run(RunRequest(manifest_dir=Path("compiled"), work_dir=proj, session_root=proj / ".osiris" / "sessions",
                             exec_options=ExecOptions(work_dir=proj)),
                  executor=SandboxExecutor(E2BOptions(transport="local"), local))
    assert outcome.exit_code == 1 and outcome.status["error"]["code"] == "OML094"
    assert local.created == []


def test_the_sandbox_worker_verifies_with_the_same_function(tmp_path, monkeypatch):
    """The worker loads the job's manifest with `load_manifest`, so it runs the same checks."""
    import osiris.runtime.e2b.sandbox.worker as worker
    proj = compiled_project(tmp_path)
    tamper(proj / "compiled", _cycle)
    job = worker._Job.__new__(worker._Job)
    job.root = tmp_path / "sandbox"
    job.work_dir = tmp_path / "sandbox" / "work"  # the worker verifies paths against its work dir
    (job.root / "job").mkdir(parents=True)
    os.rename(proj / "compiled", job.root / "job" / "compiled")
    with pytest.raises(Exception) as caught:
        job.run([])
    assert [d.code for d in caught.value.diagnostics] == ["OML094"]


# -- incremental state (OML094): a window nobody commits the state of ---------------------------
_INCREMENTAL = """oml_version: "0.1.0"
name: inc
steps:
  - id: read
    component: postgres.extractor
    config: {connection: "@postgres.db", table: src, incremental: {cursor: updated_at, lookback: 2h, primary_key: id}}
  - id: save
    component: postgres.writer
    needs: [read]
    config: {connection: "@postgres.db", table: dst, write_mode: upsert, primary_key: id}
"""
_PG = 'version: 1\nconnections:\n  postgres:\n    db: {dsn: "postgresql://nobody@127.0.0.1:1/x"}\n'


def _replace_mode(cfg) -> None:  # noqa: ANN001
    cfg["write_mode"] = "replace"


def _append_mode(cfg) -> None:  # noqa: ANN001
    cfg["write_mode"] = "append"


@pytest.mark.parametrize("change", [_replace_mode, _append_mode], ids=lambda f: f.__name__.strip("_"))
def test_an_incremental_step_whose_keeper_cannot_keep_its_state_is_refused(tmp_path, change):  # noqa: ANN001
    result = _attack(tmp_path, _cfg("save", change), "OML094", pipeline=_INCREMENTAL, connections=_PG)
    assert "incremental" in json.dumps(result) or "lookback" in json.dumps(result)
