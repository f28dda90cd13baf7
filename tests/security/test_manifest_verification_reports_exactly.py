"""Every diagnostic of manifest verification, whole: code, file:line:column, JSON Pointer,
message and help.

test_manifest_verification_rules.py shows each rule refuses its attack; these pin what the user
is told (where to look, what to do), in process, so a mutant of compiler/manifest_verify.py that
changes any of it fails a test (`make mutate`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from osiris.compiler.manifest import ManifestError, load_manifest
from osiris.compiler.manifest_verify import RECOMPILE
from tests.security.manifest_attacks import COPY, TWO_EXTRACTORS, compiled_project, step, tamper
from tests.security.test_manifest_verification_rules import CONNECTIONS, DUCK, MYSQL

Found = list[tuple[str, str, str, str, str | None]]

DEFAULT_CONNECTIONS = CONNECTIONS.replace('password: "${SUPA_KEY}"}', 'password: "${SUPA_KEY}", default: true}')
DOTTED_DEFAULT = """\
version: 1
connections:
  mysql:
    shop.eu: {host: db.internal, database: shop, user: reader, password: "${SUPA_KEY}", default: true}
"""
TWO_SHOPS = CONNECTIONS.replace("  filesystem:\n",
                                "    shop2: {host: db2.internal, database: shop, user: reader}\n  filesystem:\n")
TO_MYSQL = """\
oml_version: "0.1.0"
name: load
steps:
  - id: read
    component: filesystem.csv_extractor
    config: {path: data/in.csv}
  - id: write
    component: mysql.writer
    needs: [read]
    config: {connection: "@mysql.shop", table: orders}
"""
ALIAS_NAMED_NONE = CONNECTIONS.replace("    shop: {", "    None: {")
NO_MYSQL = """\
version: 1
connections:
  filesystem:
    lake: {base_dir: lake}
"""


def _load(project: Path, connections: bool, env: dict[str, str] | None = None,
          project_root: Path | None = None) -> Found:
    conns = None
    if connections:
        from osiris.compiler.api import CompileOptions, load_connections_for
        from osiris.compiler.spec_cache import default_registry
        from osiris.oml.diagnostics import Diagnostics

        conns = load_connections_for(CompileOptions(cwd=project), default_registry(), Diagnostics())
    try:
        load_manifest(project / "compiled", label="c", project_root=project_root or project, connections=conns,
                      env={"SUPA_KEY": "k"} if env is None else env)
    except ManifestError as error:
        return [(d.code, f"{d.span.file}:{d.span.line}:{d.span.column}{'*' if d.span.file_level else ''}",
                 d.pointer, d.message, d.help) for d in error.diagnostics]
    return []


def _found(tmp_path: Path, edit=None, pipeline: str = COPY, connections: str | None = None,  # noqa: ANN001
           at_run: str | None = None) -> Found:
    """Compile `pipeline` (with `connections`), apply the attacker's `edit`, load with the
    connections file `at_run` (default: the one compiled with)."""
    project = compiled_project(tmp_path, pipeline, connections)
    if edit is not None:
        tamper(project / "compiled", edit)
    if at_run is not None:
        (project / "osiris_connections.yaml").write_text(at_run, encoding="utf-8")
    return _load(project, connections is not None or at_run is not None)


# -- the attacks: (edit, pipeline, connections when compiling, connections when running) ----------------
def _duplicate_id(data: dict[str, Any], cfgs: dict[str, Any]) -> None:
    data["steps"].append(dict(step(data, "write")))
    data["order"].append("write")


def _set(step_id: str, **values: Any):  # noqa: ANN202, ANN401
    return lambda data, cfgs: step(data, step_id).update(values)


def _cfg(step_id: str, **values: Any):  # noqa: ANN202, ANN401
    return lambda data, cfgs: cfgs[step_id].update(values)


def _connect(step_id: str, ref: str | None, **cfg: Any):  # noqa: ANN202, ANN401
    """Point a step at `ref` everywhere the manifest names it, so only the rule about `ref` fires."""
    def edit(data: dict[str, Any], cfgs: dict[str, Any]) -> None:
        step(data, step_id)["connection"] = ref
        cfgs[step_id].update(cfg)
        data["connections"] = sorted({ref, *(s["connection"] for s in data["steps"] if s["connection"])} - {None})
    return edit


def _unknown_component_first(data: dict[str, Any], cfgs: dict[str, Any]) -> None:
    step(data, "read")["component"] = "nope.nothing"
    cfgs["write"]["pathh"] = "x"


def _unknown_version_then_undefined_alias(data: dict[str, Any], cfgs: dict[str, Any]) -> None:
    step(data, "read")["component_version"] = "2.0.0"  # no spec to check its connection against
    _connect("write", "@mysql.other")(data, cfgs)


SCENARIOS: dict[str, dict[str, Any]] = {
    # OML094: the graph
    "duplicate-id": {"edit": _duplicate_id},
    "unknown-need": {"edit": _set("write", needs=["read", "ghost"])},
    "self-need": {"edit": _set("write", needs=["read", "write"])},
    "need-twice": {"edit": _set("write", needs=["read", "read"])},
    "input-from-unknown": {"edit": _set("write", inputs={"read": {"step": "ghost", "output": "df"}})},
    "input-from-itself": {"edit": _set("write", inputs={"x": {"step": "write", "output": "df"}})},
    "input-not-in-needs": {"pipeline": DUCK, "edit": lambda data, cfgs: step(data, "write").update(
        inputs={"x": {"step": "read", "output": "df"}})},
    "unproduced-output": {"edit": _set("write", inputs={"read": {"step": "read", "output": "rows"}})},
    "cycle": {"edit": _set("read", needs=["write"])},
    "edges": {"edit": lambda data, cfgs: data.update(edges=[])},
    "connections": {"edit": lambda data, cfgs: data.update(connections=["@mysql.x"])},
    "order": {"edit": lambda data, cfgs: data.update(order=["write", "read"])},
    "steps-order": {"edit": lambda data, cfgs: data.update(steps=data["steps"][::-1])},
    "levels": {"edit": lambda data, cfgs: data.update(levels=[["read", "write"]])},
    "level": {"edit": _set("write", level=0)},
    "extractor-after-extractor": {"pipeline": TWO_EXTRACTORS},
    "extractor-data-input": {"pipeline": TWO_EXTRACTORS,
                             "edit": _set("read2", inputs={"x": {"step": "read", "output": "df"}})},
    "extractor-input-from-unknown": {"pipeline": TWO_EXTRACTORS,
                                     "edit": _set("read2", inputs={"ghost": {"step": "ghost", "output": "df"}})},
    "extractor-after-a-step-with-two-outputs": {"pipeline": TWO_EXTRACTORS, "edit": _set("read", outputs=["df", "x"])},
    "needed-data-not-read": {"pipeline": DUCK, "edit": _set("write", needs=["q", "read"])},
    "writer-two-inputs": {"pipeline": DUCK, "edit": _set("write", needs=["q", "read"], inputs={
        "q": {"step": "q", "output": "df"}, "read": {"step": "read", "output": "df"}})},
    # OML095: components and connection references
    "unknown-component": {"edit": _unknown_component_first},
    "misspelt-component": {"edit": _set("write", component="filesystem.csv_writr")},
    "component-version": {"edit": _set("write", component_version="2.0.0")},
    "kind": {"edit": _set("write", kind="transform")},
    "mode": {"edit": _set("write", mode="transform")},
    "outputs": {"edit": _set("write", outputs=["df"])},
    "connection-on-no-connection": {"pipeline": DUCK, "edit": _connect("q", "@duckdb.x")},
    "family-of-another-component": {"edit": _set("write", family="mysql")},
    "family-on-no-connection": {"pipeline": DUCK, "edit": _set("q", family="filesystem")},
    "family-missing": {"edit": _set("write", family=None)},
    "connection-not-an-alias-form": {"edit": _connect("write", "filesystem.lake")},
    "connection-with-a-dotted-alias": {"edit": _connect("write", "@filesystem.lake.x")},
    "connection-of-another-family": {"pipeline": MYSQL, "connections": CONNECTIONS,
                                     "edit": _connect("read", "@supabase.shop")},
    "undefined-alias": {"pipeline": MYSQL, "connections": CONNECTIONS, "edit": _connect("read", "@mysql.other")},
    "undefined-alias-among-two": {"pipeline": MYSQL, "connections": CONNECTIONS, "at_run": TWO_SHOPS,
                                  "edit": _connect("read", "@mysql.other")},
    "each-step-s-connection-is-checked": {"pipeline": TO_MYSQL, "connections": CONNECTIONS,
                                          "edit": _unknown_version_then_undefined_alias},
    "family-without-aliases": {"pipeline": MYSQL, "connections": CONNECTIONS, "at_run": NO_MYSQL},
    "no-default-alias": {"pipeline": MYSQL, "connections": CONNECTIONS, "edit": _connect("read", None)},
    # OML096: each cfg
    "cfg-connection": {"edit": _cfg("read", connection="@filesystem.lake")},
    "unknown-key-suggested": {"edit": _cfg("read", pathh="x")},
    "unknown-key-listed": {"edit": _cfg("read", zzzzzz="x")},
    "schema": {"edit": _cfg("read", delimiter=";;")},
    "schema-required": {"edit": lambda data, cfgs: cfgs["read"].pop("path")},
    "constraint": {"pipeline": MYSQL, "connections": CONNECTIONS, "edit": _cfg("read", query="SELECT 1")},
    "constraint-on-the-whole-config": {"pipeline": MYSQL, "connections": CONNECTIONS,
                                       "edit": lambda data, cfgs: cfgs["read"].pop("table")},
    "override": {"pipeline": MYSQL, "connections": CONNECTIONS, "edit": _cfg("read", host="evil.example")},
    "override-of-the-default-alias": {"pipeline": MYSQL, "connections": DEFAULT_CONNECTIONS,
                                      "edit": _connect("read", None, host="evil.example")},
    "blank-override": {"pipeline": MYSQL, "connections": CONNECTIONS, "edit": _cfg("read", host="", port=None)},
    "secret-in-cfg": {"pipeline": MYSQL, "connections": CONNECTIONS, "edit": _cfg("read", password="hunter2")},
    "override-of-a-dotted-default-alias": {"pipeline": MYSQL, "connections": CONNECTIONS, "at_run": DOTTED_DEFAULT,
                                           "edit": _connect("read", None, host="evil.example")},
    "no-default-alias-beside-one-named-None": {"pipeline": MYSQL, "connections": CONNECTIONS,
                                               "at_run": ALIAS_NAMED_NONE,
                                               "edit": _connect("read", None, host="evil.example")},
    "inline-secret": {"edit": _cfg("read", encoding="mysql://u:pw@h/db")},
    "duckdb-sql": {"pipeline": DUCK, "edit": _cfg("q", query="SELECT * FROM read_csv('x.csv')")},
    # the path policy
    "path-leaves": {"edit": _cfg("write", path="../x.csv")},
    "path-from-the-alias-base-dir": {"connections": CONNECTIONS,
                                    "edit": _connect("write", "@filesystem.lake", path="../x.csv")},
    "path-leaves-the-alias-base-dir": {"connections": CONNECTIONS,
                                       "edit": _connect("write", "@filesystem.lake", path="../../x.csv")},
    "path-in-connections-file": {"pipeline": MYSQL, "connections": CONNECTIONS,
                                 "edit": _cfg("write", path="osiris_connections.yaml")},
}

R = RECOMPILE
CONNECTION_PATTERN = "'^@([A-Za-z_][A-Za-z0-9_-]*)\\.([A-Za-z_][A-Za-z0-9_-]*)$'"
EXPECTED: dict[str, Found] = {
    "duplicate-id": [
        ("OML094", "c/manifest.yaml:3:1", "/edges", "`edges` do not match the steps' `inputs`", R),
        ("OML094", "c/manifest.yaml:47:7", "/steps/2/id", "step id 'write' appears twice", R),
    ],
    "unknown-need": [
        ("OML094", "c/manifest.yaml:37:17", "/steps/1/needs/1", "step 'write' needs unknown step 'ghost'", R),
    ],
    "self-need": [
        ("OML094", "c/manifest.yaml:37:17", "/steps/1/needs/1", "step 'write' needs itself", R),
    ],
    "need-twice": [
        ("OML094", "c/manifest.yaml:37:10", "/steps/1/needs", "step 'write' lists a step twice in `needs`", R),
    ],
    "input-from-unknown": [
        ("OML094", "c/manifest.yaml:3:1", "/edges", "`edges` do not match the steps' `inputs`", R),
        ("OML094", "c/manifest.yaml:33:11", "/steps/1/inputs/read",
         "input 'read' of step 'write' comes from unknown step 'ghost'",
         R),
        ("OML094", "c/manifest.yaml:37:11", "/steps/1/needs/0",
         "step 'write' needs 'read', which produces data, but none of its `inputs` reads it",
         R),
    ],
    "input-from-itself": [
        ("OML094", "c/manifest.yaml:3:1", "/edges", "`edges` do not match the steps' `inputs`", R),
        ("OML094", "c/manifest.yaml:33:8", "/steps/1/inputs/x", "input 'x' of step 'write' comes from itself", R),
        ("OML094", "c/manifest.yaml:37:11", "/steps/1/needs/0",
         "step 'write' needs 'read', which produces data, but none of its `inputs` reads it",
         R),
    ],
    "input-not-in-needs": [
        ("OML094", "c/manifest.yaml:3:1", "/edges", "`edges` do not match the steps' `inputs`", R),
        ("OML094", "c/manifest.yaml:50:8", "/steps/2/inputs/x",
         "input 'x' of step 'write' comes from 'read', which its `needs` does not list",
         R),
        ("OML094", "c/manifest.yaml:54:11", "/steps/2/needs/0",
         "step 'write' needs 'q', which produces data, but none of its `inputs` reads it",
         R),
    ],
    "unproduced-output": [
        ("OML094", "c/manifest.yaml:3:1", "/edges", "`edges` do not match the steps' `inputs`", R),
        ("OML094", "c/manifest.yaml:33:11", "/steps/1/inputs/read",
         "input 'read' of step 'write' reads output 'rows', which 'read' does not produce",
         R),
    ],
    "cycle": [
        ("OML094", "c/manifest.yaml:22:10", "/steps/0/needs", "dependency cycle: read -> write -> read", R),
    ],
    "edges": [
        ("OML094", "c/manifest.yaml:2:8", "/edges", "`edges` do not match the steps' `inputs`", R),
    ],
    "connections": [
        ("OML094", "c/manifest.yaml:1:14", "/connections",
         "`connections` does not list exactly the steps' connections",
         R),
    ],
    "order": [
        ("OML094", "c/manifest.yaml:8:8", "/order", "`order` is not the plan of the steps' `needs`", R),
    ],
    "steps-order": [
        ("OML094", "c/manifest.yaml:11:1", "/steps", "`steps` are not listed in plan order", R),
    ],
    "levels": [
        ("OML094", "c/manifest.yaml:5:1", "/levels", "`levels` are not the plan of the steps' `needs`", R),
    ],
    "level": [
        ("OML094", "c/manifest.yaml:35:10", "/steps/1/level",
         "step 'write' says level 0; its `needs` put it at 1",
         R),
    ],
    "extractor-after-extractor": [],
    "extractor-data-input": [
        ("OML094", "c/manifest.yaml:3:1", "/edges", "`edges` do not match the steps' `inputs`", R),
        ("OML094", "c/manifest.yaml:35:5", "/steps/1/inputs", "extractor 'read2' cannot take data inputs", R),
    ],
    "extractor-input-from-unknown": [
        ("OML094", "c/manifest.yaml:3:1", "/edges", "`edges` do not match the steps' `inputs`", R),
        ("OML094", "c/manifest.yaml:35:5", "/steps/1/inputs", "extractor 'read2' cannot take data inputs", R),
        ("OML094", "c/manifest.yaml:35:12", "/steps/1/inputs/ghost",
         "input 'ghost' of step 'read2' comes from unknown step 'ghost'",
         R),
        ("OML094", "c/manifest.yaml:39:11", "/steps/1/needs/0",
         "step 'read2' needs 'read', which produces data, but none of its `inputs` reads it",
         R),
    ],
    "extractor-after-a-step-with-two-outputs": [
        ("OML095", "c/manifest.yaml:25:12", "/steps/0/outputs",
         "step 'read' lists outputs ['df', 'x']; filesystem.csv_extractor produces ['df']",
         R),
    ],
    "needed-data-not-read": [
        ("OML094", "c/manifest.yaml:54:14", "/steps/2/needs/1",
         "step 'write' needs 'read', which produces data, but none of its `inputs` reads it",
         R),
    ],
    "writer-two-inputs": [
        ("OML094", "c/manifest.yaml:3:1", "/edges", "`edges` do not match the steps' `inputs`", R),
        ("OML094", "c/manifest.yaml:50:5", "/steps/2/inputs", "writer 'write' has 2 data inputs", R),
    ],
    "unknown-component": [
        ("OML096", "c/cfg.json:21:14", "/pathh",
         "step 'write': unknown config key 'pathh' for filesystem.csv_writer",
         "did you mean 'path'?"),
        ("OML095", "c/manifest.yaml:13:14", "/steps/0/component",
         "step 'read': unknown component 'nope.nothing'",
         "components: 'duckdb.processor', 'filesystem.csv_extractor', 'filesystem.csv_writer', "
         "'filesystem.parquet_extractor', 'filesystem.parquet_writer', 'mysql.extractor', 'mysql.writer', "
         "'postgres.extractor', 'postgres.writer', 'supabase.extractor' or 'supabase.writer'"),
    ],
    "misspelt-component": [
        ("OML095", "c/manifest.yaml:27:14", "/steps/1/component",
         "step 'write': unknown component 'filesystem.csv_writr'",
         "did you mean 'filesystem.csv_writer'?"),
    ],
    "component-version": [
        ("OML095", "c/manifest.yaml:28:22", "/steps/1/component_version",
         "step 'write' was compiled for filesystem.csv_writer 2.0.0; this runtime has 1.0.0",
         R),
    ],
    "kind": [
        ("OML095", "c/manifest.yaml:34:9", "/steps/1/kind",
         "step 'write' says kind 'transform'; filesystem.csv_writer is a writer",
         R),
    ],
    "mode": [
        ("OML095", "c/manifest.yaml:36:9", "/steps/1/mode",
         "step 'write' runs filesystem.csv_writer in mode 'transform'; it runs in 'write'",
         R),
    ],
    "outputs": [
        ("OML095", "c/manifest.yaml:38:12", "/steps/1/outputs",
         "step 'write' lists outputs ['df']; filesystem.csv_writer produces []",
         R),
    ],
    "connection-on-no-connection": [
        ("OML095", "c/manifest.yaml:31:15", "/steps/1/connection",
         "step 'q' has connection @duckdb.x; duckdb.processor takes none",
         R),
    ],
    "family-of-another-component": [
        ("OML095", "c/manifest.yaml:30:11", "/steps/1/family",
         "step 'write' says family 'mysql'; filesystem.csv_writer uses `filesystem` connections",
         R),
    ],
    "family-on-no-connection": [
        ("OML095", "c/manifest.yaml:32:11", "/steps/1/family",
         "step 'q' says family 'filesystem'; duckdb.processor takes no connection, so its family is null",
         R),
    ],
    "family-missing": [
        ("OML095", "c/manifest.yaml:30:11", "/steps/1/family",
         "step 'write' has no family; filesystem.csv_writer uses `filesystem` connections",
         R),
    ],
    "connection-not-an-alias-form": [
        ("OML092", "c/manifest.yaml:29:15", "/steps/1/connection",
         "c/manifest.yaml does not match the manifest schema at /steps/1/connection: String should match "
         "pattern '^@([A-Za-z_][A-Za-z0-9_-]*)\\.([A-Za-z_][A-Za-z0-9_-]*)$'",
         "recompile the pipeline with omlc"),
    ],
    "connection-with-a-dotted-alias": [
        ("OML092", "c/manifest.yaml:29:15", "/steps/1/connection",
         "c/manifest.yaml does not match the manifest schema at /steps/1/connection: String should match "
         "pattern '^@([A-Za-z_][A-Za-z0-9_-]*)\\.([A-Za-z_][A-Za-z0-9_-]*)$'",
         "recompile the pipeline with omlc"),
    ],
    "connection-of-another-family": [
        ("OML095", "c/manifest.yaml:15:15", "/steps/0/connection",
         "step 'read' has connection @supabase.shop; mysql.extractor needs a `mysql` connection",
         R),
    ],
    "undefined-alias": [
        ("OML095", "c/manifest.yaml:15:15", "/steps/0/connection",
         "step 'read' uses @mysql.other, which osiris_connections.yaml does not define",
         "defined for mysql: @mysql.shop"),
    ],
    "undefined-alias-among-two": [
        ("OML095", "c/manifest.yaml:15:15", "/steps/0/connection",
         "step 'read' uses @mysql.other, which osiris_connections.yaml does not define",
         "defined for mysql: @mysql.shop, @mysql.shop2"),
    ],
    "each-step-s-connection-is-checked": [
        ("OML095", "c/manifest.yaml:14:22", "/steps/0/component_version",
         "step 'read' was compiled for filesystem.csv_extractor 2.0.0; this runtime has 1.0.0",
         R),
        ("OML095", "c/manifest.yaml:29:15", "/steps/1/connection",
         "step 'write' uses @mysql.other, which osiris_connections.yaml does not define",
         "defined for mysql: @mysql.shop"),
    ],
    "family-without-aliases": [
        ("OML095", "c/manifest.yaml:12:15", "/steps/0/connection",
         "step 'read' uses @mysql.shop, which osiris_connections.yaml does not define",
         "add it to the connections file, or recompile the pipeline with omlc; an edited manifest is not run"),
    ],
    "no-default-alias": [
        ("OML095", "c/manifest.yaml:15:15", "/steps/0/connection",
         "step 'read' (mysql.extractor) needs a `mysql` connection and osiris_connections.yaml has no "
         "default alias for it",
         "mark an alias `default: true` in the connections file, or recompile the pipeline with omlc; an "
         "edited manifest is not run"),
    ],
    "cfg-connection": [
        ("OML096", "c/cfg.json:5:19", "/connection",
         "step 'read': the cfg names a connection ('@filesystem.lake'); the manifest step's `connection` "
         "(None) is the only one a step runs with",
         R),
    ],
    "unknown-key-suggested": [
        ("OML096", "c/cfg.json:9:14", "/pathh",
         "step 'read': unknown config key 'pathh' for filesystem.csv_extractor",
         "did you mean 'path'?"),
    ],
    "unknown-key-listed": [
        ("OML096", "c/cfg.json:11:15", "/zzzzzz",
         "step 'read': unknown config key 'zzzzzz' for filesystem.csv_extractor",
         "filesystem.csv_extractor accepts 'block_size', 'column_names', 'columns', 'compression', "
         "'connection', 'delimiter', 'encoding', 'header', 'incremental', 'limit', 'null_values', 'path', "
         "'quotechar', 'schema' or 'skip_rows'"),
    ],
    "schema": [
        ("OML096", "c/cfg.json:5:18", "/delimiter",
         "step 'read' (filesystem.csv_extractor): /delimiter: ';;' is too long",
         R),
    ],
    "schema-required": [
        ("OML096", "c/cfg.json:2:11", "/path",
         "step 'read' (filesystem.csv_extractor): /path: 'path' is a required property",
         R),
    ],
    "constraint": [
        ("OML096", "c/cfg.json:6:14", "/table",
         "step 'read': give either `query` or `table`, not both",
         "remove `table` or `query`"),
    ],
    "constraint-on-the-whole-config": [
        ("OML096", "c/cfg.json:2:11", "",
         "step 'read': the extractor needs either `query` or `table`",
         "add one of 'query' or 'table'"),
    ],
    "override": [
        ("OML096", "c/cfg.json:5:13", "/host",
         "step 'read' overrides `host` of @mysql.shop, which its connection does not allow",
         "a credential goes only to the host written next to it; recompile the pipeline with omlc; an edited "
         "manifest is not run"),
    ],
    "override-of-the-default-alias": [
        ("OML096", "c/cfg.json:5:13", "/host",
         "step 'read' overrides `host` of @mysql.shop, which its connection does not allow",
         "a credential goes only to the host written next to it; recompile the pipeline with omlc; an edited "
         "manifest is not run"),
    ],
    "blank-override": [
        ("OML096", "c/cfg.json:6:13", "/port",
         "step 'read' (mysql.extractor): /port: None is not of type 'integer'",
         R),
    ],
    "secret-in-cfg": [
        ("OML096", "c/cfg.json:5:17", "/password",
         "step 'read': secret written inline: `password` is a secret field of this component",
         "secrets come from osiris_connections.yaml at run time, never from a cfg file"),
    ],
    "override-of-a-dotted-default-alias": [
        ("OML096", "c/cfg.json:5:13", "/host",
         "step 'read' overrides `host` of @mysql.shop.eu, which its connection does not allow",
         "a credential goes only to the host written next to it; recompile the pipeline with omlc; an edited "
         "manifest is not run"),
    ],
    "no-default-alias-beside-one-named-None": [
        ("OML095", "c/manifest.yaml:15:15", "/steps/0/connection",
         "step 'read' (mysql.extractor) needs a `mysql` connection and osiris_connections.yaml has no "
         "default alias for it",
         "mark an alias `default: true` in the connections file, or recompile the pipeline with omlc; an "
         "edited manifest is not run"),
    ],
    "inline-secret": [
        ("OML096", "c/cfg.json:6:17", "/encoding",
         "step 'read': secret written inline: the value is a URL with a password in it",
         "secrets come from osiris_connections.yaml at run time, never from a cfg file"),
    ],
    "duckdb-sql": [
        ("OML096", "c/cfg.json:3:14", "/query",
         "step 'q': `read_csv(` reads files or URLs; DuckDB SQL may read only the step's inputs",
         "a DuckDB step reads only its inputs, by name (e.g. `FROM input_df`): read files with an extractor "
         "step (filesystem.csv_extractor, filesystem.parquet_extractor) and pass its output in `needs` or "
         "`inputs`; settings such as memory_limit and threads are step config keys"),
    ],
    "path-leaves": [
        ("OML083", "c/cfg.json:20:13", "/path",
         "step 'write': path '../x.csv' leaves the project",
         "use a path inside the project (relative to the directory omlc and osiris run start in), or have "
         "the operator allow the directory under `filesystem: roots:` in osiris_connections.yaml"),
    ],
    "path-from-the-alias-base-dir": [],
    "path-leaves-the-alias-base-dir": [
        ("OML083", "c/cfg.json:20:13", "/path",
         "step 'write': path '../../x.csv' leaves the project",
         "use a path inside the project (relative to the directory omlc and osiris run start in), or have "
         "the operator allow the directory under `filesystem: roots:` in osiris_connections.yaml"),
    ],
    "path-in-connections-file": [
        ("OML085", "c/cfg.json:15:13", "/path",
         "step 'write': path 'osiris_connections.yaml' is the connections file",
         "the connections file holds the secrets and is read only by Osiris itself; point the step at a data file"),
    ],
}





@pytest.mark.parametrize("name", list(SCENARIOS))
def test_each_rule_says_what_where_and_what_to_do(tmp_path: Path, name: str) -> None:
    assert _found(tmp_path, **SCENARIOS[name]) == EXPECTED[name]


def test_a_cfg_too_large_to_position_is_reported_at_the_whole_file(tmp_path: Path) -> None:
    """Lines are found by the YAML loader, which stops at the input cap (4 MiB); a larger cfg.json
    (up to the manifest file limit) still gets its diagnostic, at 1:1."""
    found = _found(tmp_path, _cfg("write", x="a" * (4 * 2**20)))
    assert [(code, where, pointer) for code, where, pointer, *_ in found] == [("OML096", "c/cfg.json:1:1*", "/x")]


# -- the roots a path is checked against --------------------------------------------------------------
LAKE_FROM_ENV = CONNECTIONS.replace("lake: {base_dir: lake}", 'lake: {base_dir: "${LAKE_DIR}"}')


@pytest.mark.parametrize(("env", "refused"), [({"LAKE_DIR": "lake"}, False), ({}, True)])
def test_a_base_dir_from_the_environment_is_resolved_with_the_run_s_environment(
        tmp_path: Path, env: dict[str, str], refused: bool) -> None:
    """`../x.csv` from base_dir `lake` is the project's x.csv; with the variable unset the base
    is unknown and climbing out of it is refused. The run's `env`, not os.environ, decides."""
    assert "LAKE_DIR" not in os.environ
    project = compiled_project(tmp_path, COPY, CONNECTIONS)
    tamper(project / "compiled", _connect("write", "@filesystem.lake", path="../x.csv"))
    (project / "osiris_connections.yaml").write_text(LAKE_FROM_ENV, encoding="utf-8")
    found = _load(project, True, env={"SUPA_KEY": "k", **env})
    assert [code for code, *_ in found] == (["OML083"] if refused else [])


def test_the_connections_file_in_use_is_off_limits_under_any_name(tmp_path: Path) -> None:
    from osiris.compiler.api import CompileOptions, load_connections_for
    from osiris.compiler.spec_cache import default_registry
    from osiris.oml.diagnostics import Diagnostics

    project = compiled_project(tmp_path, COPY)
    (project / "secrets.yaml").write_text(CONNECTIONS, encoding="utf-8")
    tamper(project / "compiled", _cfg("write", path="secrets.yaml"))
    conns = load_connections_for(CompileOptions(cwd=project, connections=Path("secrets.yaml")), default_registry(),
                                 Diagnostics())
    assert conns is not None and conns.path == "secrets.yaml"
    with pytest.raises(ManifestError) as caught:
        load_manifest(project / "compiled", label="c", project_root=project, connections=conns, env={"SUPA_KEY": "k"})
    assert [(d.code, d.message) for d in caught.value.diagnostics] == [
        ("OML085", "step 'write': path 'secrets.yaml' is the connections file")]


def test_paths_are_checked_against_the_project_root_given_else_the_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = compiled_project(tmp_path, COPY)
    tamper(project / "compiled", _cfg("write", path=str(project / "out" / "x.csv")))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    load_manifest(project / "compiled", project_root=project)
    with pytest.raises(ManifestError) as caught:
        load_manifest(project / "compiled")
    assert [d.code for d in caught.value.diagnostics] == ["OML083"]
    monkeypatch.chdir(project)
    load_manifest(project / "compiled")


PARQUET = """\
oml_version: "0.1.0"
name: pq
steps:
  - id: read
    component: filesystem.parquet_extractor
    config: {path: data/in.parquet, filter: "load = 1"}
  - id: write
    component: filesystem.csv_writer
    needs: [read]
    config: {path: out/copy.csv}
"""


def test_a_sql_expression_is_checked_as_an_expression(tmp_path: Path) -> None:
    """A Parquet `filter` is wrapped in a query at run time: a column named `load` at its start
    is not the LOAD statement (compiler.checks.duckdb_access), in a manifest as when compiling."""
    project = compiled_project(tmp_path, PARQUET)
    load_manifest(project / "compiled", project_root=project)
    tamper(project / "compiled", _cfg("read", filter="x); LOAD httpfs; SELECT (1"))
    assert [(code, pointer) for code, _, pointer, *_ in _load(project, False)] == [("OML096", "/filter")]


# -- where a diagnostic points ------------------------------------------------------------------------
def _report(cfg_text: str = ""):  # noqa: ANN202
    from osiris.compiler.manifest_verify import _Report
    from osiris.oml.diagnostics import Diagnostics
    from osiris.oml.span import Span

    spans = {"": Span.point("c/manifest.yaml", 1), "/a": Span.point("c/manifest.yaml", 2),
             "/a/b/c/d": Span.point("c/manifest.yaml", 5)}
    d = Diagnostics()
    return _Report(d, "c", spans, cfg_text), d


@pytest.mark.parametrize(("pointer", "line"), [("/a/b/c/d/e", 5), ("/a/b/c", 2), ("/a", 2), ("/x/y", 1)])
def test_a_manifest_problem_is_shown_at_the_nearest_node_that_has_a_line(pointer: str, line: int) -> None:
    report, d = _report()
    report.manifest("OML094", pointer, "m")
    (only,) = d
    assert (only.span.file, only.span.line, only.pointer, only.help) == ("c/manifest.yaml", line, pointer, RECOMPILE)


def test_without_any_line_a_manifest_problem_is_about_the_whole_file() -> None:
    from osiris.compiler.manifest_verify import _Report
    from osiris.oml.diagnostics import Diagnostics

    d = Diagnostics()
    _Report(d, "c", {}, "").manifest("OML094", "/a/b", "m", help="h")
    (only,) = d
    assert (only.span.file, only.span.file_level, only.pointer, only.help) == ("c/manifest.yaml", True, "/a/b", "h")


CFG = '{"s": {\n  "a": {\n    "b": [\n      1,\n      {"c": {"d": 2}}\n    ]\n  },\n  "e": 3\n}}\n'
"""cfg.json with one step, "s"."""


@pytest.mark.parametrize(("pointer", "where"), [
    ("/a/b/1/c/d/x/y", (5, 19)), ("/a/b/1/c", (5, 13)), ("/a/b/0", (4, 7)), ("/a/zz", (2, 8)), ("/e", (8, 8)),
    ("/zz", (1, 7)), ("", (1, 7)),  # the step's config as a whole
])
def test_a_cfg_problem_is_shown_at_the_nearest_value_in_cfg_json(pointer: str, where: tuple[int, int]) -> None:
    report, d = _report(CFG)
    report.cfg("OML096", "s", pointer, "m")
    report.cfg("OML096", "other", pointer, "m", help="h")  # a step cfg.json has no config for: the whole file
    first, second = d
    assert first.span.file == "c/cfg.json" and first.pointer == pointer and first.help == RECOMPILE
    assert (first.span.file_level, (first.span.line, first.span.column)) == (False, where)
    assert (second.span.file, second.span.file_level, second.pointer, second.help) == ("c/cfg.json", True, pointer, "h")


# -- the schema's fallback errors ---------------------------------------------------------------------
@pytest.mark.parametrize(("name", "pointer", "shown"), [
    ("data.delimiter", "/delimiter", "/delimiter: delimiter must be one of ['data.csv']"),
    ("data", "", "config: data must be an object"),
])
def test_fastjsonschema_errors_point_at_their_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str,
                                                     pointer: str, shown: str) -> None:
    """When jsonschema finds nothing fastjsonschema refused, its error is reported: its `path`
    starts with "data", which is neither in the pointer nor (once, in front) in the message."""
    from fastjsonschema import JsonSchemaValueException

    import osiris.compiler.manifest_verify as verify
    message = "data.delimiter must be one of ['data.csv']" if name != "data" else "data must be an object"
    project = compiled_project(tmp_path, COPY)
    fake = JsonSchemaValueException(message, name=name, rule="enum")
    monkeypatch.setattr(verify, "schema_errors", lambda spec, cfg, registry: [fake] if spec.kind == "writer" else [])
    assert [(code, file, at, text) for code, file, at, text, _ in _load(project, False)] == [
        ("OML096", "c/cfg.json:15:18" if pointer else "c/cfg.json:12:12", pointer,
         f"step 'write' (filesystem.csv_writer): {shown}")]
