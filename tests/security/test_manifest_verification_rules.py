"""Each rule of manifest verification, in process: the exact diagnostic, where it points.

test_manifest_tampering.py performs the attacks through the CLI; these call `load_manifest`
on edited directories and pin each rule's code, file, line and message, so any change to a
rule (compiler/manifest.py, compiler/manifest_verify.py) fails a fast test.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from osiris.compiler.manifest import ManifestError, load_manifest
from tests.security.manifest_attacks import COPY, compiled_project, step, tamper

DUCK = """\
oml_version: "0.1.0"
name: duck
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
MYSQL = """\
oml_version: "0.1.0"
name: my
steps:
  - id: read
    component: mysql.extractor
    config: {connection: "@mysql.shop", table: orders}
  - id: write
    component: filesystem.csv_writer
    needs: [read]
    config: {path: out/copy.csv}
"""
CONNECTIONS = """\
version: 1
filesystem: {roots: [/data/granted]}
connections:
  mysql:
    shop: {host: db.internal, database: shop, user: reader, password: "${SUPA_KEY}"}
  filesystem:
    lake: {base_dir: lake}
"""


def _problems(tmp_path: Path, edit, pipeline: str = COPY, connections: str | None = None) -> list[tuple[str, ...]]:  # noqa: ANN001
    project = compiled_project(tmp_path, pipeline, connections)
    tamper(project / "compiled", edit)
    conns = None
    if connections is not None:
        from osiris.compiler.api import CompileOptions, load_connections_for
        from osiris.compiler.spec_cache import default_registry
        from osiris.oml.diagnostics import Diagnostics

        conns = load_connections_for(CompileOptions(cwd=project), default_registry(), Diagnostics())
    with pytest.raises(ManifestError) as caught:
        load_manifest(project / "compiled", label="c", project_root=project, connections=conns, env={"SUPA_KEY": "k"})
    return [(d.code, d.span.file, str(d.span.line), d.message) for d in caught.value.diagnostics]


def _only(found: list[tuple[str, ...]]) -> tuple[str, ...]:
    assert len(found) == 1, found
    return found[0]


def test_an_untouched_directory_loads(tmp_path: Path) -> None:
    project = compiled_project(tmp_path, DUCK)
    manifest, cfgs, meta = load_manifest(project / "compiled", project_root=project)
    assert manifest.order == ["read", "q", "write"] and set(cfgs) == {"read", "q", "write"}
    assert meta["fingerprints"]["manifest_fp"] == manifest.fingerprint()


# -- OML092 -----------------------------------------------------------------------------------------
def test_a_config_for_no_step_is_refused(tmp_path: Path) -> None:
    def edit(data: dict[str, Any], cfgs: dict[str, Any]) -> None:
        cfgs["ghost"] = dict(cfgs["write"])

    code, file, _, message = _only(_problems(tmp_path, edit))
    assert (code, file) == ("OML092", "c/cfg.json")
    assert message == "c/cfg.json holds a config for 'ghost', which is not a step of the manifest"


def test_a_step_without_a_config_is_refused(tmp_path: Path) -> None:
    code, file, _, message = _only(_problems(tmp_path, lambda d, c: c.pop("write")))
    assert (code, file, message) == ("OML092", "c/cfg.json", "c/cfg.json has no config object for step 'write'")


def test_schema_violations_point_at_the_value(tmp_path: Path) -> None:
    def edit(data: dict[str, Any], cfgs: dict[str, Any]) -> None:
        step(data, "write")["level"] = -1

    code, file, line, message = _only(_problems(tmp_path, edit))
    assert (code, file) == ("OML092", "c/manifest.yaml")
    assert message.startswith("c/manifest.yaml does not match the manifest schema at /steps/1/level: ")


def test_a_missing_meta_file_and_an_unsupported_version(tmp_path: Path) -> None:
    project = compiled_project(tmp_path)
    (project / "compiled" / "meta.json").unlink()
    with pytest.raises(ManifestError) as caught:
        load_manifest(project / "compiled", label="c")
    assert [d.code for d in caught.value.diagnostics] == ["OML092"]
    assert str(caught.value).startswith("cannot read c/meta.json")

    def edit(data: dict[str, Any], cfgs: dict[str, Any]) -> None:
        data["manifest_version"] = "4"

    code, _, _, message = _only(_problems(tmp_path / "b", edit))
    assert code == "OML092" and message == "manifest_version '4' is not supported (this runtime reads '3')"


# -- OML094 -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("edit", "message"), [
    (lambda d, c: step(d, "read").update(needs=["write"]), "dependency cycle: read -> write -> read"),
    (lambda d, c: step(d, "write").update(needs=["read", "ghost"]), "step 'write' needs unknown step 'ghost'"),
    (lambda d, c: step(d, "write").update(needs=["read", "write"]), "step 'write' needs itself"),
    (lambda d, c: step(d, "write").update(needs=["read", "read"]), "step 'write' lists a step twice in `needs`"),
    (lambda d, c: step(d, "write").update(inputs={"read": {"step": "read", "output": "rows"}}),
     "input 'read' of step 'write' reads output 'rows', which 'read' does not produce"),
    (lambda d, c: d.update(edges=[]), "`edges` do not match the steps' `inputs`"),
    (lambda d, c: d.update(connections=["@mysql.x"]), "`connections` does not list exactly the steps' connections"),
    (lambda d, c: d.update(order=["write", "read"]), "`order` is not the plan of the steps' `needs`"),
    (lambda d, c: d.update(steps=d["steps"][::-1]), "`steps` are not listed in plan order"),
    (lambda d, c: d.update(levels=[["read", "write"]]), "`levels` are not the plan of the steps' `needs`"),
    (lambda d, c: step(d, "write").update(level=0), "step 'write' says level 0; its `needs` put it at 1"),
], ids=["cycle", "unknown", "self", "twice", "output", "edges", "connections", "order", "steps", "levels", "level"])
def test_graph_rules(tmp_path: Path, edit, message: str) -> None:  # noqa: ANN001
    found = _problems(tmp_path, edit)
    assert ("OML094", message) in [(code, text) for code, _, _, text in found], found
    assert {code for code, *_ in found} == {"OML094"}


def test_an_input_from_a_step_not_in_needs(tmp_path: Path) -> None:
    def edit(data: dict[str, Any], cfgs: dict[str, Any]) -> None:
        step(data, "write")["inputs"] = {"x": {"step": "q", "output": "df"}}
        step(data, "write")["needs"] = ["read", "q"]
        step(data, "q")["needs"] = ["read"]
        data["edges"] = [e if e["to"] != "write" else {**e, "input": "x"} for e in data["edges"]]
        step(data, "write")["needs"] = ["read"]

    found = _problems(tmp_path, edit, DUCK)
    assert ("OML094", "input 'x' of step 'write' comes from 'q', which its `needs` does not list") in [
        (c, m) for c, _, _, m in found]


def test_a_writer_with_two_inputs(tmp_path: Path) -> None:
    def edit(data: dict[str, Any], cfgs: dict[str, Any]) -> None:
        write = step(data, "write")
        write["needs"] = ["q", "read"]
        write["inputs"] = {"q": {"step": "q", "output": "df"}, "read": {"step": "read", "output": "df"}}
        data["edges"].append({"from": "read", "output": "df", "to": "write", "input": "read"})
        data["edges"].sort(key=lambda e: (e["to"], e["input"]))

    assert ("OML094", "writer 'write' has 2 data inputs") in [(c, m) for c, _, _, m in _problems(tmp_path, edit, DUCK)]


# -- OML095 -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("key", "value", "message"), [
    ("component", "nope.nothing", "step 'write': unknown component 'nope.nothing'"),
    ("component_version", "2.0.0", "step 'write' was compiled for filesystem.csv_writer 2.0.0; this runtime has 1.0.0"),
    ("kind", "transform", "step 'write' says kind 'transform'; filesystem.csv_writer is a writer"),
    ("mode", "transform", "step 'write' runs filesystem.csv_writer in mode 'transform'; it runs in 'write'"),
    ("outputs", ["df"], "step 'write' lists outputs ['df']; filesystem.csv_writer produces []"),
])
def test_component_rules(tmp_path: Path, key: str, value: Any, message: str) -> None:  # noqa: ANN401
    found = _problems(tmp_path, lambda d, c: step(d, "write").update({key: value}))
    assert ("OML095", message) in [(c, m) for c, _, _, m in found], found


def test_a_connection_on_a_component_that_takes_none(tmp_path: Path) -> None:
    def edit(data: dict[str, Any], cfgs: dict[str, Any]) -> None:
        step(data, "q")["connection"] = "@duckdb.x"
        data["connections"] = ["@duckdb.x"]

    found = _problems(tmp_path, edit, DUCK)
    assert ("OML095", "step 'q' has connection @duckdb.x; duckdb.processor takes none") in [
        (c, m) for c, _, _, m in found], found


# -- OML096 -----------------------------------------------------------------------------------------
def test_an_unknown_key_points_at_its_line_in_the_cfg_file(tmp_path: Path) -> None:
    found = _problems(tmp_path, lambda d, c: c["read"].update(pathh="x"))
    code, file, line, message = _only(found)
    assert (code, file) == ("OML096", "c/cfg.json")
    text = (tmp_path / "proj" / "compiled" / "cfg.json").read_text(encoding="utf-8").splitlines()
    assert '"pathh"' in text[int(line) - 1]
    assert message == "step 'read': unknown config key 'pathh' for filesystem.csv_extractor"


@pytest.mark.parametrize(("change", "message"), [
    (lambda c: c.update(delimiter=";;"), "step 'read' (filesystem.csv_extractor): /delimiter: "),
    (lambda c: c.pop("path"), "step 'read' (filesystem.csv_extractor): /path: "),
    (lambda c: c.update(connection="@filesystem.lake"), "step 'read': the cfg names a connection "
                                                         "('@filesystem.lake'); the manifest step's "),
    (lambda c: c.update(encoding="mysql://u:pw@h/db"), "step 'read': secret written inline: "),
])
def test_cfg_rules(tmp_path: Path, change, message: str) -> None:  # noqa: ANN001
    found = _problems(tmp_path, lambda d, c: change(c["read"]))
    assert any(code == "OML096" and text.startswith(message) for code, _, _, text in found), found


def test_a_broken_constraint(tmp_path: Path) -> None:
    found = _problems(tmp_path, lambda d, c: c["read"].update(query="SELECT 1"), MYSQL, CONNECTIONS)
    assert ("OML096", "step 'read': give either `query` or `table`, not both") in [(c, m) for c, _, _, m in found]


def test_an_override_the_alias_does_not_grant(tmp_path: Path) -> None:
    found = _problems(tmp_path, lambda d, c: c["read"].update(host="evil.example"), MYSQL, CONNECTIONS)
    assert [(c, m) for c, _, _, m in found] == [
        ("OML096", "step 'read' overrides `host` of @mysql.shop, which its connection does not allow")]


def test_duckdb_sql_reaching_outside(tmp_path: Path) -> None:
    found = _problems(tmp_path, lambda d, c: c["q"].update(query="SELECT * FROM read_csv('x.csv')"), DUCK)
    code, file, _, message = _only(found)
    assert (code, file) == ("OML096", "c/cfg.json") and message.startswith("step 'q': `read_csv(`")


# -- paths --------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("path", "code", "message"), [
    ("../x.csv", "OML083", "step 'write': path '../x.csv' leaves the project"),
    ("/data/granted/x.csv", None, None),
    ("/data/granted-not/x.csv", "OML083", "step 'write': path '/data/granted-not/x.csv' is outside the project"),
    ("out/\u0000", "OML084", "step 'write': path 'out/\\x00' holds a NUL byte"),
])
def test_path_rules_use_the_operator_roots(tmp_path: Path, path: str, code: str | None, message: str | None) -> None:
    project = compiled_project(tmp_path, COPY, CONNECTIONS)
    tamper(project / "compiled", lambda d, c: c["write"].update(path=path))
    from osiris.compiler.api import CompileOptions, load_connections_for
    from osiris.compiler.spec_cache import default_registry
    from osiris.oml.diagnostics import Diagnostics

    conns = load_connections_for(CompileOptions(cwd=project), default_registry(), Diagnostics())
    if code is None:
        load_manifest(project / "compiled", label="c", project_root=project, connections=conns)
        return
    with pytest.raises(ManifestError) as caught:
        load_manifest(project / "compiled", label="c", project_root=project, connections=conns)
    assert [(d.code, d.span.file, d.message) for d in caught.value.diagnostics] == [(code, "c/cfg.json", message)]


def test_the_error_sums_up_every_problem(tmp_path: Path) -> None:
    def edit(data: dict[str, Any], cfgs: dict[str, Any]) -> None:
        cfgs["read"]["x"] = 1
        cfgs["write"]["y"] = 2

    project = compiled_project(tmp_path)
    tamper(project / "compiled", edit)
    with pytest.raises(ManifestError) as caught:
        load_manifest(project / "compiled", label="c", project_root=project)
    assert str(caught.value).endswith(" (and 1 more problem)")
    assert str(caught.value).startswith("c/cfg.json:")
