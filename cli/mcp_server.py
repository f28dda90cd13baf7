"""`osiris mcp`: the compiler and discovery as tools for AI assistants (Model Context Protocol).

Assistants in editors call tools instead of chatting in a terminal. Every tool answers with
what the matching command prints as JSON, because it calls the same function:

  list_components, describe_component   osiris components list|show --json
  list_connections                      osiris connections list --json, aliases and families only
  discover                              osiris discover --json (the shared discovery and its cache)
  check                                 omlc check --format json
  compile                               omlc compile (the artifacts as text; written only with `out`)
  explain                               omlc explain CODE --json
  example                               a small OML pipeline built from a component's spec example
  run                                   osiris run --json, only when started with --allow-run

Resources: the OML JSON Schema (`osiris://schema/oml`) and the language guide
(`osiris://docs/language`). The trust rules hold here too: no tool returns a connection's
fields or a secret (answers are masked like the CLI's output), and every path a tool takes is
confined to the project root (compiler.path_policy.confine_path), as a pipeline's paths are.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from mcp.server.mcpserver.exceptions import ToolError

from osiris.compiler.path_policy import PathRefused, confine_path

__all__ = ["build_server", "example_pipeline"]

DOCS_LANGUAGE = Path(__file__).resolve().parents[1] / "docs" / "language.md"
"""The language guide, in a checkout; an installed wheel has no docs/, and the resource says so."""


def _confined(root: Path, path: str) -> Path:
    try:
        return confine_path(path, [str(root)], str(root))
    except PathRefused as error:
        raise ToolError(f"{error.code}: {error.problem.message} ({error.problem.hint})") from None


def _masker() -> Any:  # noqa: ANN401 - runtime.secrets.SecretMasker
    from osiris.runtime.secrets import SecretMasker

    masker = SecretMasker()
    masker.add_environment(os.environ)
    return masker


def _masked(data: Any) -> Any:  # noqa: ANN401 - plain JSON data
    masker = _masker()
    return json.loads(masker.mask(json.dumps(masker.mask_data(data), ensure_ascii=False, default=str)))


def _compile_options(root: Path, connections: str | None, params: dict[str, str] | None) -> Any:  # noqa: ANN401
    from osiris.cli.omlc import _options

    args = argparse.Namespace(command="mcp", connections=connections, param=list((params or {}).items()),
                              profile=None)
    return _options(args, str(root))


def _compile(root: Path, connections: str | None, path: str | None, oml: str | None,
             params: dict[str, str] | None) -> Any:  # noqa: ANN401 - compiler.api.CompileResult
    from osiris.compiler.api import compile_path, compile_text

    if (path is None) == (oml is None):
        raise ToolError("give exactly one of `path` (a file in the project) or `oml` (the pipeline's text)")
    options = _compile_options(root, connections, params)
    if path is not None:  # named as given, as `omlc check PATH` run at the project root names it
        return compile_path(_confined(root, path), options, label=path)
    return compile_text(oml, "pipeline.yaml", options)  # type: ignore[arg-type]


def example_pipeline(registry: Any, name: str) -> str | None:  # noqa: ANN401
    """A pipeline that shows `name` in place: its spec's first example between a CSV reader and
    a CSV writer as its kind needs (connections as `@family.<alias>` references to fill in)."""
    spec = registry.get(name)
    if spec is None:
        return None
    from osiris.compiler.yaml_emit import dump_yaml

    config = dict(spec.examples[0].config) if spec.examples else {}
    if spec.connection == "required" and "connection" not in config and spec.family:
        config = {"connection": f"@{spec.family}.main", **config}
    step: dict[str, Any] = {"id": spec.name.split(".")[-1].replace("_", "-"), "component": spec.name,
                            "mode": spec.pipeline_modes[0], "config": config}
    steps: list[dict[str, Any]] = []
    if spec.kind != "extractor":
        steps.append({"id": "source", "component": "filesystem.csv_extractor", "mode": "read",
                      "config": {"path": "data/input.csv"}})
        step["needs"] = ["source"]
    steps.append(step)
    if spec.kind != "writer":
        steps.append({"id": "sink", "component": "filesystem.csv_writer", "mode": "write",
                      "needs": [step["id"]], "config": {"path": f"out/{step['id']}.csv"}})
    title = spec.examples[0].title if spec.examples else spec.title
    document = {"oml_version": "0.1.0", "name": f"example-{step['id']}", "description": title, "steps": steps}
    return dump_yaml(document).decode("utf-8")


def build_server(root: Path, *, connections: str | None = None, allow_run: bool = False) -> Any:  # noqa: ANN401, C901
    """The MCP server for the project at `root` (an `mcp.server.mcpserver.MCPServer`)."""
    from mcp.server.mcpserver import MCPServer

    from osiris.compiler import __version__
    from osiris.compiler.spec_cache import default_registry

    root = Path(root).resolve()
    registry = default_registry()
    server = MCPServer(
        "osiris", version=__version__,
        instructions="Osiris compiles OML pipelines (YAML) into manifests and runs them. Write OML, call `check` "
                     "and repair from its diagnostics (each has a code; `explain` tells what it means), use "
                     "`describe_component` for config keys and `example` for a starting point. Paths are "
                     "relative to the project root.")

    @server.tool(description="Every component (name, kind, family, modes, whether its driver is installed): "
                             "`osiris components list --json` as `components`.")
    def list_components() -> dict[str, Any]:
        from osiris.cli.commands.components_cmd import component_list

        return {"components": component_list(registry)}

    @server.tool(description="One component's spec: config keys with their JSON Schema, examples, constraints: "
                             "`osiris components show NAME --json`.")
    def describe_component(name: str) -> dict[str, Any]:
        from osiris.cli.commands.components_cmd import component_detail

        detail = component_detail(registry, name)
        if detail is None:
            raise ToolError(f"unknown component {name!r}; `list_components` names them")
        return detail

    @server.tool(description="The connection aliases a step may name (`@family.alias`) and which is each "
                             "family's default. Never hosts, users or secrets.")
    def list_connections() -> dict[str, Any]:
        from osiris.cli.commands.connections_cmd import alias_entries
        from osiris.runtime.connections import ConnectionsUnavailable, load_connections_file

        try:
            file = load_connections_file(_connections_path(root, connections), root)
        except ConnectionsUnavailable as error:
            raise ToolError(_masker().mask(f"the connections file cannot be read: {error}")) from None
        entries = alias_entries(file) if file is not None else []
        return {"connections": [{key: entry[key] for key in ("ref", "family", "alias", "default")}
                                for entry in entries]}

    @server.tool(description="Tables, columns and types behind a connection (`@mysql.main`) or a project "
                             "path, through the shared discovery cache: `osiris discover TARGET --json`.")
    def discover(target: str, tables: list[str] | None = None, refresh: bool = False) -> dict[str, Any]:
        from osiris.cli.commands.discover_cmd import discovery_service
        from osiris.runtime.discovery import result_to_json
        from osiris.runtime.discovery_cache import DEFAULT_TTL_S
        from osiris.runtime.driver import DriverError

        if not target.startswith("@"):
            _confined(root, target)
        masker = _masker()
        service = discovery_service(connections, masker, DEFAULT_TTL_S, start=root)
        if isinstance(service, int):
            raise ToolError("the project's settings or connections file cannot be used; `osiris validate` shows why")
        try:
            result = service.discover(target, tables=tables, sample_rows=0, refresh=refresh)
        except DriverError as error:
            raise ToolError(masker.mask(f"{error}" + (f" ({error.hint})" if error.hint else ""))) from None
        return _masked({**result_to_json(result), "cached": service.hits > 0})

    @server.tool(description="Check OML: every problem with file:line:col, a code and a hint, exactly as "
                             "`omlc check --format json`. Give `oml` (the text) or `path` (a project file).")
    def check(oml: str | None = None, path: str | None = None, params: dict[str, str] | None = None) -> dict[str, Any]:
        from osiris.compiler.render import render_json

        result = _compile(root, connections, path, oml, params)
        return json.loads(render_json([(result.file, result.diagnostics)]))

    @server.tool(description="Compile OML into its manifest: the files `omlc compile` writes, as text, with "
                             "the diagnostics. With `out` (a project directory) they are also written there.")
    def compile(oml: str | None = None, path: str | None = None, out: str | None = None,  # noqa: A001
                params: dict[str, str] | None = None) -> dict[str, Any]:
        from osiris.compiler.api import OutputRefused, write_output
        from osiris.compiler.render import render_json

        result = _compile(root, connections, path, oml, params)
        answer: dict[str, Any] = {"ok": result.ok, "diagnostics": json.loads(render_json(
            [(result.file, result.diagnostics)]))["files"][0]["diagnostics"]}
        if result.ok:
            answer["files"] = {name: data.decode("utf-8") for name, data in result.artifacts.items()}
            answer["fingerprints"] = json.loads(result.artifacts["meta.json"])["fingerprints"]
            if out is not None:
                target = _confined(root, out)
                try:
                    write_output(result, target)
                except (OutputRefused, OSError) as error:
                    why = getattr(error, "strerror", None) or error
                    raise ToolError(f"OML091: cannot write {out}: {why}") from None
                answer["written"] = str(target.relative_to(root))
        return answer

    @server.tool(description="What a diagnostic code (OML031) means and how to fix it: `omlc explain CODE --json`.")
    def explain(code: str) -> dict[str, Any]:
        from osiris.cli.omlc import code_json
        from osiris.oml.codes import lookup

        found = lookup(code)
        if found is None:
            raise ToolError(f"unknown code {code!r}; codes look like OML031")
        return code_json(found)

    @server.tool(description="A small OML pipeline using the component, from its spec's example: a starting "
                             "point that `check` accepts once its connection alias exists.")
    def example(component: str) -> str:
        text = example_pipeline(registry, component)
        if text is None:
            raise ToolError(f"unknown component {component!r}; `list_components` names them")
        return text

    if allow_run:
        @server.tool(description="Run a pipeline file of the project: `osiris run PATH --json` (its status, "
                                 "session and totals). Enabled by `osiris mcp --allow-run`.")
        def run(path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
            pipeline = _confined(root, path)
            argv = [sys.executable, "-m", "osiris.cli.osiris", "run", str(pipeline), "--json", "--quiet"]
            for name, value in (params or {}).items():
                argv += ["--param", f"{name}={value}"]
            if connections is not None:
                argv += ["--connections", connections]
            done = subprocess.run(argv, cwd=root, capture_output=True, text=True, check=False)
            try:
                return _masked(json.loads(done.stdout))
            except json.JSONDecodeError:
                raise ToolError(_masker().mask(done.stderr.strip() or f"osiris run exited {done.returncode}")) from None

    @server.resource("osiris://schema/oml", mime_type="application/json",
                     description="The JSON Schema of OML 0.1.0 (what editors validate with; `omlc schema`).")
    def oml_schema() -> str:
        from osiris.compiler.jsonschema_export import oml_json_schema
        from osiris.oml.canonical import pretty_json

        return pretty_json(oml_json_schema(registry)).decode("utf-8")

    @server.resource("osiris://docs/language", mime_type="text/markdown",
                     description="The OML language guide (docs/language.md).")
    def language_guide() -> str:
        if DOCS_LANGUAGE.is_file():
            return DOCS_LANGUAGE.read_text(encoding="utf-8")
        return "The language guide is docs/language.md in the Osiris repository (not installed with the wheel)."

    return server


def _connections_path(root: Path, connections: str | None) -> Path | None:
    from osiris.cli.project import load_project

    project = load_project(root, cli={"connections": connections})
    path = project.path("connections")
    if project.resolved.sources["connections"] == "default" and not path.exists():
        return None
    return path
