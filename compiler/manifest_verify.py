"""Verify a loaded manifest before anything runs: a manifest from elsewhere is untrusted input.

Fingerprints are easy to recompute, so they prove only that nothing was damaged by accident;
what makes an edited manifest safe to run is that it satisfies everything the compiler would
have guaranteed. `verify_manifest` re-checks exactly that, with the compiler's own functions:

- OML092 (read by compiler.manifest): the files parse, cfg.json holds one config per step id
  and nothing else (with the schema's step id rule, no id can name a session directory
  outside the session);
- OML094: a DAG whose `needs`, `inputs`, `edges`, `order`, `levels` and `connections` agree
  and name existing steps, recomputed with the planner's own `schedule` and `find_cycles`;
- OML095: each component exists with this version, kind, mode and outputs, its `family` is the
  component's connection family (what runtimes act on), and its connection reference is
  `@family.alias` of that family;
- OML096: each cfg passes its component's checks (unknown keys, schema, constraints, inline
  secrets, connection overrides, DuckDB SQL that reaches outside its inputs) and holds no
  `connection` (the manifest step's reference is the only one);
- OML083-OML085: the path policy (compiler/path_policy.py), as when compiling.

`load_manifest` calls it for `osiris run --manifest` and for the E2B worker alike, so no
runtime accepts a manifest another would refuse.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from osiris.compiler.checks.config import broken_constraints, schema_errors
from osiris.compiler.checks.duckdb_access import HINT as DUCKDB_HINT
from osiris.compiler.checks.duckdb_access import duckdb_access_problems, duckdb_sql_fields
from osiris.compiler.checks.graph import find_cycles
from osiris.compiler.checks.incremental import keeper_problems, manifest_state_writers
from osiris.compiler.checks.secrets import find_inline_secrets
from osiris.compiler.connections import split_ref
from osiris.compiler.manifest_records import InputSource, Manifest, ManifestStep
from osiris.compiler.passes.plan import schedule
from osiris.compiler.path_policy import protected_files, step_path_problem, step_roots
from osiris.oml.diagnostics import Diagnostics
from osiris.oml.pointer import from_path, join
from osiris.oml.span import Span
from osiris.oml.suggest import did_you_mean, one_of
from osiris.spec.models import ComponentSpec
from osiris.spec.registry import Registry

if TYPE_CHECKING:
    from osiris.compiler.connections import ConnectionsFile

__all__ = ["verify_manifest"]

RECOMPILE = "recompile the pipeline with omlc; an edited manifest is not run"


class _Report:
    """Diagnostics at manifest.yaml's lines (by JSON Pointer) or cfg.json's."""

    def __init__(self, d: Diagnostics, where: str, spans: Mapping[str, Span], cfg_text: str) -> None:
        self.d, self.where, self.spans, self.cfg_text = d, where, spans, cfg_text
        self._cfg_spans: dict[str, Span] | None = None

    def manifest(self, code: str, pointer: str, message: str, help: str = RECOMPILE) -> None:
        at = pointer
        while at and at not in self.spans:
            at = at.rsplit("/", 1)[0]
        span = self.spans.get(at) or Span.whole_file(f"{self.where}/manifest.yaml")
        self.d.add(code, span, message, help=help, pointer=pointer)

    def cfg(self, code: str, step_id: str, pointer: str, message: str, help: str = RECOMPILE) -> None:
        """At `pointer` within the step's config, the object under its id in cfg.json."""
        file = f"{self.where}/cfg.json"
        if self._cfg_spans is None:
            self._cfg_spans = _json_spans(self.cfg_text, file)
        at = f"/{step_id}{pointer}"  # a step id needs no escaping in a JSON Pointer
        while at and at not in self._cfg_spans:
            at = at.rsplit("/", 1)[0]
        self.d.add(code, self._cfg_spans.get(at) or Span.whole_file(file), message, help=help, pointer=pointer)


def _json_spans(text: str, file: str) -> dict[str, Span]:
    """Pointer -> span in cfg.json (JSON is YAML, so the positioned loader reads it); only
    computed when there is a problem to point at."""
    from osiris.oml.yaml_loader import YNode, load_yaml

    root = load_yaml(text, file, Diagnostics()) if text else None
    spans: dict[str, Span] = {}

    def walk(node: YNode) -> None:
        spans[node.pointer] = node.span
        children = [v for _, v in node.items()] if node.kind == "map" else node.value if node.kind == "seq" else []
        for child in children:
            walk(child)

    if root is not None:
        walk(root)
        spans.pop("", None)  # the whole object: report problems with the file itself at 1:1
    return spans


def verify_manifest(
    manifest: Manifest,
    cfgs: Mapping[str, dict[str, Any]],
    registry: Registry,
    d: Diagnostics,
    *,
    where: str,
    spans: Mapping[str, Span],
    cfg_text: str,
    project_root: Path | None = None,
    connections: ConnectionsFile | None = None,
    env: Mapping[str, str] | None = None,
) -> None:
    """Add a diagnostic to `d` for everything in `manifest` the compiler could not have produced."""
    report = _Report(d, where, spans, cfg_text)
    specs = _check_components(manifest, registry, report)
    if connections is not None:
        _check_connection_refs(manifest, specs, connections, report)
    _check_graph(manifest, specs, report)
    _check_incremental(manifest, cfgs, specs, registry, report)
    root = project_root or Path(os.getcwd())
    protected = protected_files(root, connections)
    for step in manifest.steps:
        spec, cfg = specs.get(step.id), cfgs.get(step.id)
        if spec is not None and cfg is not None:
            _check_cfg(step.id, step.connection, spec, cfg, registry, report, connections)
            roots, base = step_roots(root, connections, step.connection, env)
            for key in spec.path_fields():
                value = cfg.get(key)
                problem = (step_path_problem(value, step.connection, roots, base, protected)
                           if isinstance(value, str) else None)
                if problem is not None:
                    report.cfg(problem.code, step.id, f"/{key}", f"step '{step.id}': {problem.message}",
                               help=problem.hint)


def _check_components(manifest: Manifest, registry: Registry, report: _Report) -> dict[str, ComponentSpec]:
    """OML095 for each step its component spec disagrees with; the specs of the others."""
    specs: dict[str, ComponentSpec] = {}
    for index, step in enumerate(manifest.steps):
        at = f"/steps/{index}"
        spec = registry.get(step.component)
        if spec is None or spec.name != step.component:
            report.manifest("OML095", join(at, "component"), f"step '{step.id}': unknown component '{step.component}'",
                            help=did_you_mean(step.component, registry.canonical_names())
                            or f"components: {one_of(registry.canonical_names(), 20)}")
            continue
        problems = []
        if step.component_version != spec.version:
            problems.append(("component_version", f"was compiled for {spec.name} {step.component_version}; "
                                                  f"this runtime has {spec.version}"))
        if step.kind != spec.kind:
            problems.append(("kind", f"says kind '{step.kind}'; {spec.name} is a {spec.kind}"))
        if step.mode not in spec.pipeline_modes:
            modes = one_of(spec.pipeline_modes)
            problems.append(("mode", f"runs {spec.name} in mode '{step.mode}'; it runs in {modes}"))
        if step.outputs != list(spec.outputs):
            problems.append(("outputs", f"lists outputs {step.outputs}; {spec.name} produces {list(spec.outputs)}"))
        family_of_spec = spec.family if spec.connection != "none" else None
        if step.family != family_of_spec:
            said = f"says family {step.family!r}" if step.family is not None else "has no family"
            problems.append(("family", f"{said}; {spec.name} "
                                       + (f"uses `{family_of_spec}` connections" if family_of_spec
                                          else "takes no connection, so its family is null")))
        if step.connection is not None:
            parts = split_ref(step.connection)
            family = parts[0] if parts else None
            if parts is None:
                problems.append(("connection", f"has connection {step.connection!r}, which is not `@family.alias`"))
            elif spec.connection == "none":
                problems.append(("connection", f"has connection {step.connection}; {spec.name} takes none"))
            elif not spec.takes_family(family):
                problems.append(("connection", f"has connection {step.connection}; {spec.name} needs "
                                               f"a `{spec.family}` connection"))
        for key, text in problems:
            report.manifest("OML095", join(at, key), f"step '{step.id}' {text}")
        if not problems:
            specs[step.id] = spec
    return specs


def _check_connection_refs(manifest: Manifest, specs: Mapping[str, ComponentSpec], connections: ConnectionsFile,
                           report: _Report) -> None:
    """OML095 for a connection the connections file does not define (or, for a step without
    one, a family without a default alias): found now, not after the steps before it ran."""
    for index, step in enumerate(manifest.steps):
        spec = specs.get(step.id)
        if spec is None or not spec.family:
            continue
        if step.connection is not None:
            family, alias = split_ref(step.connection) or ("", "")
            if connections.lookup(family, alias) is None:
                defined = sorted(f"@{family}.{name}" for name in connections.aliases.get(family, {}))
                report.manifest("OML095", f"/steps/{index}/connection",
                                f"step '{step.id}' uses {step.connection}, which {connections.path} does not define",
                                help=f"defined for {family}: {', '.join(defined)}" if defined else
                                f"add it to the connections file, or {RECOMPILE}")
        elif spec.connection == "required" and connections.default_alias(spec.family) is None:
            report.manifest("OML095", f"/steps/{index}/connection",
                            f"step '{step.id}' ({spec.name}) needs a `{spec.family}` connection and "
                            f"{connections.path} has no default alias for it",
                            help="mark an alias `default: true` in the connections file, or " + RECOMPILE)


def _check_graph(manifest: Manifest, specs: Mapping[str, ComponentSpec], report: _Report) -> None:
    """OML094: unique ids, known references, agreeing edges, no cycle, the planner's own plan.
    The input rules per kind apply to steps whose component matched (else OML095 said why)."""
    by_id: dict[str, int] = {}
    broken = False
    for index, step in enumerate(manifest.steps):
        if step.id in by_id:
            report.manifest("OML094", f"/steps/{index}/id", f"step id '{step.id}' appears twice")
            broken = True
        else:
            by_id[step.id] = index
    steps = manifest.steps
    for index, step in enumerate(steps):
        at = f"/steps/{index}"
        for n, need in enumerate(step.needs):
            if need == step.id or need not in by_id:
                what = "itself" if need == step.id else f"unknown step '{need}'"
                report.manifest("OML094", f"{at}/needs/{n}", f"step '{step.id}' needs {what}")
                broken = True
        if len(set(step.needs)) != len(step.needs):
            report.manifest("OML094", f"{at}/needs", f"step '{step.id}' lists a step twice in `needs`")
        for name, source in step.inputs.items():
            pointer = join(at, "inputs", name)
            if source.step not in by_id or source.step == step.id:
                report.manifest("OML094", pointer, f"input '{name}' of step '{step.id}' comes from "
                                f"{'itself' if source.step == step.id else f'unknown step {source.step!r}'}")
                broken = True
            elif source.step not in step.needs:
                report.manifest("OML094", pointer, f"input '{name}' of step '{step.id}' comes from "
                                f"'{source.step}', which its `needs` does not list")
                broken = True
            elif source.output not in steps[by_id[source.step]].outputs:
                report.manifest("OML094", pointer, f"input '{name}' of step '{step.id}' reads output "
                                f"'{source.output}', which '{source.step}' does not produce")
        fed = {source.step for source in step.inputs.values()}
        for n, need in enumerate(step.needs):
            if need in by_id and need != step.id and steps[by_id[need]].outputs and need not in fed:
                report.manifest("OML094", f"{at}/needs/{n}", f"step '{step.id}' needs '{need}', which "
                                "produces data, but none of its `inputs` reads it")
        kind = specs[step.id].kind if step.id in specs else None
        if kind == "extractor" and any(not _ordering_only(name, source, steps, by_id)
                                       for name, source in step.inputs.items()):
            report.manifest("OML094", join(at, "inputs"), f"extractor '{step.id}' cannot take data inputs")
        if kind == "writer" and len(step.inputs) > 1:
            report.manifest("OML094", join(at, "inputs"), f"writer '{step.id}' has {len(step.inputs)} data inputs")
    edges = sorted(((s.id, name, source.step, source.output) for s in steps for name, source in s.inputs.items()))
    written = [(e.to, e.input, e.from_, e.output) for e in manifest.edges]
    if written != edges:
        report.manifest("OML094", "/edges", "`edges` do not match the steps' `inputs`")
    used = sorted({s.connection for s in steps if s.connection})
    if manifest.connections != used:
        report.manifest("OML094", "/connections", "`connections` does not list exactly the steps' connections")
    if broken:
        return  # a plan over unknown references would be meaningless
    depends = {s.id: set(s.needs) for s in steps}
    cycles = find_cycles(depends)
    for cycle in cycles:
        path = " -> ".join(reversed([*cycle, cycle[0]]))
        report.manifest("OML094", f"/steps/{by_id[cycle[0]]}/needs", f"dependency cycle: {path}")
    if cycles:
        return
    order, levels = schedule(depends)
    if manifest.order != order:
        report.manifest("OML094", "/order", "`order` is not the plan of the steps' `needs`")
    if [s.id for s in steps] != order:
        report.manifest("OML094", "/steps", "`steps` are not listed in plan order")
    if manifest.levels != levels:
        report.manifest("OML094", "/levels", "`levels` are not the plan of the steps' `needs`")
    level_of = {step_id: n for n, level in enumerate(levels) for step_id in level}
    for index, step in enumerate(steps):
        if step.level != level_of[step.id]:
            report.manifest("OML094", f"/steps/{index}/level",
                            f"step '{step.id}' says level {step.level}; its `needs` put it at {level_of[step.id]}")


def _check_incremental(manifest: Manifest, cfgs: Mapping[str, dict[str, Any]], specs: Mapping[str, ComponentSpec],
                       registry: Registry, report: _Report) -> None:
    """OML094: every incremental extractor reaches exactly one writer that can keep its state
    (the OML047 rules), so a run never loads a window whose state nobody commits."""
    reached = manifest_state_writers(manifest, cfgs)
    for index, step in enumerate(manifest.steps):
        if step.id not in reached:
            continue
        cfg = cfgs.get(step.id) or {}
        writers = [(w, cfgs.get(w) or {}, specs.get(w)) for w in reached[step.id]]
        for problem in keeper_problems(step.id, cfg, step.partitions is not None, writers, registry):
            report.manifest("OML094", f"/steps/{index}", problem.message, help=problem.hint)


def _ordering_only(name: str, source: InputSource, steps: list[ManifestStep], by_id: Mapping[str, int]) -> bool:
    """An extractor's `needs` on a step that produces data compiles to an input named after
    that step, reading its first output (the compiler refuses any other input, OML038)."""
    outputs = steps[by_id[source.step]].outputs if source.step in by_id else []
    return name == source.step and outputs[:1] == [source.output]


def _check_overrides(step_id: str, ref: str, cfg: dict[str, Any], connections: ConnectionsFile,
                     registry: Registry, report: _Report) -> None:
    """The compiler's OML077 rule (`compiler.connections.overridable`): a cfg may replace an
    alias field only when the connections file allows it, so a credential goes only to its host."""
    from osiris.compiler.connections import overridable

    family_name, alias = split_ref(ref) or ("", "")
    family, decl = registry.family(family_name), connections.lookup(family_name, alias)
    if family is None or decl is None:
        return
    may = overridable(family, decl)
    for key, value in cfg.items():
        field = family.fields.get(key)
        if field is None or field.secret or key in may or value in (None, ""):
            continue
        report.cfg("OML096", step_id, join("", key),
                   f"step '{step_id}' overrides `{key}` of {ref}, which its connection does not allow",
                   help=f"a credential goes only to the host written next to it; {RECOMPILE}")


def _check_cfg(step_id: str, connection: str | None, spec: ComponentSpec, cfg: dict[str, Any],
               registry: Registry, report: _Report, connections: ConnectionsFile | None) -> None:
    """OML096: the compiler's config checks on a compiled cfg (defaults filled, params bound)."""
    ref = connection
    if ref is None and spec.connection != "none" and spec.family and connections is not None:
        alias = connections.default_alias(spec.family)  # what the runtime will use (runtime.connections.step_ref)
        ref = f"@{spec.family}.{alias}" if alias else None
    if "connection" in cfg:
        report.cfg("OML096", step_id, "/connection",
                   f"step '{step_id}': the cfg names a connection ({cfg['connection']!r}); the manifest step's "
                   f"`connection` ({connection!r}) is the only one a step runs with")
    properties = spec.properties
    for key in cfg:
        if key not in properties:
            report.cfg("OML096", step_id, join("", key),
                       f"step '{step_id}': unknown config key '{key}' for {spec.name}",
                       help=did_you_mean(key, properties) or f"{spec.name} accepts {one_of(properties, 40)}")
    known = {k: v for k, v in cfg.items() if k in properties}
    for error in schema_errors(spec, known, registry):
        # jsonschema's errors carry `absolute_path`; fastjsonschema's (when the two disagree) `path`,
        # starting with "data"
        path = list(error.absolute_path) if hasattr(error, "absolute_path") else list(error.path)[1:]
        if getattr(error, "validator", None) == "required" and "'" in error.message:
            path.append(error.message.split("'")[1])
        pointer = from_path("", [str(p) for p in path])
        report.cfg("OML096", step_id, pointer,
                   f"step '{step_id}' ({spec.name}): {pointer or 'config'}: {error.message.replace('data.', '', 1)}")
    for rule in broken_constraints(spec, known):
        report.cfg("OML096", step_id, join("", rule.key) if rule.key else "", f"step '{step_id}': {rule.message}",
                   help=rule.help)
    if connections is not None and ref is not None:
        _check_overrides(step_id, ref, cfg, connections, registry, report)
    for pointer, reason in find_inline_secrets(cfg, spec.secret_keys, ""):
        report.cfg("OML096", step_id, pointer, f"step '{step_id}': secret written inline: {reason}",
                   help="secrets come from osiris_connections.yaml at run time, never from a cfg file")
    for key, expression in duckdb_sql_fields(spec).items():
        sql = cfg.get(key)
        if isinstance(sql, str):
            for problem in duckdb_access_problems(sql, expression=expression):  # OML082 when compiling
                report.cfg("OML096", step_id, join("", key), f"step '{step_id}': {problem.message}", help=DUCKDB_HINT)
