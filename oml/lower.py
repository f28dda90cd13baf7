"""Positioned YAML tree -> typed IR, reporting every structural problem on the way.

Lowering checks shape only (keys, types, required fields, id syntax, expression syntax).
Meaning (components, references, the graph, params) is checked by the compiler's passes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from typing import Any

from osiris.oml.diagnostics import Diagnostics
from osiris.oml.expr.nodes import Reference
from osiris.oml.expr.parser import ScalarPosition, has_expression, parse_connection, parse_template
from osiris.oml.ir import (
    OML_VERSION,
    ConfigExpr,
    InputRef,
    NeedRef,
    ParamDecl,
    ParamType,
    PartitionPolicy,
    Pipeline,
    Profile,
    RetryPolicy,
    Step,
)
from osiris.oml.partitions import normalise, partition_problems
from osiris.oml.pointer import join
from osiris.oml.records import record_fields
from osiris.oml.span import Span
from osiris.oml.suggest import did_you_mean
from osiris.oml.yaml_loader import YNode, load_yaml

TOP_LEVEL_KEYS = ("oml_version", "name", "description", "metadata", "params", "profiles", "steps")
STEP_KEYS = ("id", "component", "mode", "description", "config", "needs", "inputs", "retry", "partitions")
PARAM_KEYS = ("type", "default", "enum", "minimum", "maximum", "description")
PARAM_TYPES = ("string", "integer", "number", "boolean", "identifier")

FORBIDDEN_TOP_LEVEL = {
    "version": "use `oml_version: \"0.1.0\"`",
    "connectors": "reference connections from each step's config as `connection: \"@family.alias\"`; "
                  "aliases live in osiris_connections.yaml",
    "tasks": "rename `tasks` to `steps` (each with `id`, `component`, `mode`, `config`)",
    "outputs": "write outputs with writer steps (e.g. `filesystem.csv_writer`) that `needs` the producing step",
}

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
STEP_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
INPUT_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
PARAM_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
"""All matched with `fullmatch`: `$` would also match before a final newline."""


KEY_PREFIX = "key:"
"""`spans[KEY_PREFIX + pointer]` is the span of the mapping key that holds `pointer`."""


def _index_spans(node: YNode, spans: dict[str, Span]) -> None:
    spans[node.pointer] = node.span
    if node.kind == "map":
        for key, value in node.value:
            spans[KEY_PREFIX + value.pointer] = key.span
            _index_spans(value, spans)
    elif node.kind == "seq":
        for item in node.value:
            _index_spans(item, spans)


def _type_name(node: YNode) -> str:
    if node.kind != "scalar":
        return "a mapping" if node.kind == "map" else "a list"
    value = node.value
    if value is None:
        return "null"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}.get(type(value), "a value")


class _Lowerer:
    def __init__(self, file: str, text: str, diagnostics: Diagnostics) -> None:
        self.file = file
        self.text = text
        self.lines = text.splitlines()
        self.d = diagnostics

    # --- helpers -------------------------------------------------------------------------------
    def expect(self, node: YNode, kind: str, what: str, example: str) -> bool:
        ok = node.kind == kind and (kind != "scalar" or isinstance(node.value, str))
        if not ok:
            wanted = {"map": "a mapping", "seq": "a list", "scalar": "a string"}[kind]
            self.d.add("OML007", node.span, f"{what} must be {wanted}, not {_type_name(node)}",
                       help=f"e.g. {example}", pointer=node.pointer)
        return ok

    def unknown_keys(self, node: YNode, allowed: tuple[str, ...], code: str, where: str) -> None:
        for key, _ in node.items():
            if key.value not in allowed:
                hint = did_you_mean(key.value, allowed) or f"allowed keys: {', '.join(allowed)}"
                self.d.add(code, key.span, f"unknown key '{key.value}' {where}", help=hint,
                           pointer=key.pointer)

    # --- the document --------------------------------------------------------------------------
    def pipeline(self, root: YNode) -> Pipeline | None:
        if root.kind != "map":
            self.d.add("OML002", root.span, f"an OML document must be a mapping, not {_type_name(root)}",
                       help="start with `oml_version: \"0.1.0\"`, `name: ...` and `steps:`", pointer="")
            return None
        for key, _ in root.items():
            if key.value in FORBIDDEN_TOP_LEVEL:
                self.d.add("OML005", key.span, f"top-level key '{key.value}' is not OML 0.1.0",
                           help=FORBIDDEN_TOP_LEVEL[key.value], pointer=key.pointer)
        allowed_or_forbidden = TOP_LEVEL_KEYS + tuple(FORBIDDEN_TOP_LEVEL)
        for key, _ in root.items():
            if key.value not in allowed_or_forbidden:
                hint = did_you_mean(key.value, TOP_LEVEL_KEYS) or f"allowed keys: {', '.join(TOP_LEVEL_KEYS)}"
                self.d.add("OML006", key.span, f"unknown top-level key '{key.value}'", help=hint,
                           pointer=key.pointer)

        version = self.oml_version(root)
        name = self.name(root)
        description = self.optional_string(root, "description")
        metadata_node = root.get("metadata")
        metadata: dict[str, Any] = {}
        example = "`metadata: {owner: data-team}`"
        if metadata_node is not None and self.expect(metadata_node, "map", "`metadata`", example):
            metadata = metadata_node.to_data()
        params = self.params(root.get("params"))
        profiles = self.profiles(root.get("profiles"), {param.name for param in params})
        steps = self.steps(root)
        spans: dict[str, Span] = {}
        _index_spans(root, spans)
        return Pipeline(
            span=root.span, pointer="", file=self.file, text=self.text,
            oml_version=version or OML_VERSION, name=name or "", description=description,
            metadata=metadata, params=tuple(params), profiles=tuple(profiles), steps=tuple(steps),
            data=root.to_data(), spans=spans,
        )

    def oml_version(self, root: YNode) -> str | None:
        node = root.get("oml_version")
        if node is None:
            self.d.add("OML003", Span.whole_file(self.file), "missing required key 'oml_version'",
                       help=f"add `oml_version: \"{OML_VERSION}\"` at the top", pointer="/oml_version")
            return None
        if node.kind != "scalar" or not isinstance(node.value, str) or node.value != OML_VERSION:
            shown = node.value if node.kind == "scalar" else _type_name(node)
            extra = " (YAML read it as a number: quote it)" if isinstance(node.value, (int, float)) else ""
            self.d.add("OML004", node.span, f"unsupported oml_version {shown!r}{extra}",
                       help=f"write `oml_version: \"{OML_VERSION}\"`", pointer=node.pointer)
            return None
        return node.value

    def name(self, root: YNode) -> str | None:
        node = root.get("name")
        if node is None:
            self.d.add("OML003", Span.whole_file(self.file), "missing required key 'name'",
                       help="add `name: my-pipeline`", pointer="/name")
            return None
        if not self.expect(node, "scalar", "`name`", "`name: orders-daily`"):
            return None
        if not NAME_RE.fullmatch(node.value):
            self.d.add("OML010", node.span, f"invalid pipeline name {node.value!r}",
                       help="use letters, digits, `_`, `-` and `.` (at most 100), starting with a letter or digit",
                       pointer=node.pointer)
        return node.value

    def optional_string(self, parent: YNode, key: str) -> str | None:
        node = parent.get(key)
        if node is None or node.value is None:
            return None
        if not self.expect(node, "scalar", f"`{key}`", f"`{key}: some text`"):
            return None
        return node.value

    # --- params and profiles ---------------------------------------------------------------------
    def params(self, node: YNode | None) -> list[ParamDecl]:
        if node is None or node.value is None and node.kind == "scalar":
            return []
        if not self.expect(node, "map", "`params`", "`params: {min_total: {type: integer, default: 100}}`"):
            return []
        return [p for key, value in node.items() if (p := self.param(key, value)) is not None]

    def param(self, key: YNode, node: YNode) -> ParamDecl | None:
        name = key.value
        if not PARAM_NAME_RE.fullmatch(name):
            self.d.add("OML060", key.span, f"invalid parameter name {name!r}",
                       help="use letters, digits and `_`, starting with a letter or `_`", pointer=key.pointer)
            return None
        if node.kind != "map":
            # Shorthand: `params: {limit: 100}` declares a parameter by its default's type.
            value = node.to_data()
            inferred = _infer_type(value)
            if inferred is None:
                self.d.add("OML060", node.span, f"parameter '{name}' needs a declaration",
                           help="write `{type: integer, default: 10}`, or a plain scalar default",
                           pointer=node.pointer)
                return None
            return ParamDecl(span=key.span, pointer=node.pointer, name=name, type=inferred,
                             default=value, has_default=True)
        self.unknown_keys(node, PARAM_KEYS, "OML060", f"in parameter '{name}'")
        data = node.to_data()
        declared = data.get("type")
        default_node = node.get("default")
        if declared is None and default_node is not None:
            declared = _infer_type(data["default"])
        if declared not in PARAM_TYPES:
            at = node.get("type") or node
            self.d.add("OML060", at.span, f"parameter '{name}' has no valid type ({declared!r})",
                       help="`type:` is one of string, integer, number, boolean, identifier", pointer=at.pointer)
            return None
        enum = data.get("enum")
        if enum is not None and not isinstance(enum, list):
            self.d.add("OML060", node.get("enum").span, "`enum` must be a list", pointer=join(node.pointer, "enum"))  # type: ignore[union-attr]
            enum = None
        bounds: dict[str, float | None] = {}
        for bound in ("minimum", "maximum"):
            value = data.get(bound)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not _finite(value)):
                self.d.add("OML060", node.get(bound).span, f"`{bound}` must be a finite number",  # type: ignore[union-attr]
                           pointer=join(node.pointer, bound))
                value = None
            bounds[bound] = value
        description = data.get("description")
        return ParamDecl(
            span=key.span, pointer=node.pointer, name=name, type=declared,
            default=data.get("default"), has_default=default_node is not None, enum=enum,
            minimum=bounds["minimum"], maximum=bounds["maximum"],
            description=description if isinstance(description, str) else None,
        )

    def profiles(self, node: YNode | None, declared: Collection[str] = ()) -> list[Profile]:
        """`{prod: {min_total: 1000}}`, or the original's form (its ADR-0032) with the values under
        `params` and an optional `description`: `{prod: {description: ..., params: {min_total: 1000}}}`."""
        if node is None or node.kind == "scalar" and node.value is None:
            return []
        if not self.expect(node, "map", "`profiles`", "`profiles: {prod: {min_total: 1000}}`"):
            return []
        result = []
        for key, value in node.items():
            if not self.expect(value, "map", f"profile '{key.value}'", f"`{key.value}: {{param: value}}`"):
                continue
            value = _profile_values(value, declared)
            values = {k.value: v.to_data() for k, v in value.items()}
            spans = {k.value: v.span for k, v in value.items()}
            result.append(Profile(span=key.span, pointer=value.pointer, name=key.value, values=values,
                                  value_spans=spans))
        return result

    # --- steps -----------------------------------------------------------------------------------
    def steps(self, root: YNode) -> list[Step]:
        node = root.get("steps")
        if node is None:
            self.d.add("OML003", Span.whole_file(self.file), "missing required key 'steps'",
                       help="add `steps:` with at least one step", pointer="/steps")
            return []
        if node.kind == "scalar" and node.value is None or node.kind == "seq" and not node.value:
            self.d.add("OML008", node.span, "`steps` is empty", help="add at least one step",
                       pointer=node.pointer)
            return []
        if not self.expect(node, "seq", "`steps`", "`steps: [{id: extract, component: ..., config: ...}]`"):
            return []
        return [s for i, item in enumerate(node.value) if (s := self.step(i, item)) is not None]

    def step(self, index: int, node: YNode) -> Step | None:
        if node.kind != "map":
            self.d.add("OML020", node.span, f"step {index + 1} must be a mapping, not {_type_name(node)}",
                       help="write `- id: ...` followed by `component:` and `config:`", pointer=node.pointer)
            return None
        self.unknown_keys(node, STEP_KEYS, "OML022", f"in step {index + 1}")
        id_node = node.get("id")
        component_node = node.get("component")
        ok = True
        for key, value in (("id", id_node), ("component", component_node)):
            if value is None:
                label = f"'{id_node.value}'" if key == "component" and id_node is not None else str(index + 1)
                self.d.add("OML021", node.span, f"step {label} has no `{key}`",
                           help="every step needs `id` and `component`", pointer=join(node.pointer, key))
                ok = False
            elif not self.expect(value, "scalar", f"`{key}`", f"`{key}: extract-orders`"):
                ok = False
        if not ok:
            return None
        assert id_node is not None and component_node is not None
        if not STEP_ID_RE.fullmatch(id_node.value):
            self.d.add("OML023", id_node.span, f"invalid step id {id_node.value!r}",
                       help="use letters, digits, `_` and `-` (at most 64), starting with a letter or digit",
                       pointer=id_node.pointer)
        mode_node = node.get("mode")
        mode = None
        if mode_node is not None and self.expect(mode_node, "scalar", "`mode`", "`mode: extract`"):
            mode = mode_node.value
        config, config_span, connection, exprs = self.config(node.get("config"))
        return Step(
            span=node.span, pointer=node.pointer, index=index, id=id_node.value, id_span=id_node.span,
            component=component_node.value, component_span=component_node.span,
            mode=mode, mode_span=mode_node.span if mode_node is not None else None,
            description=self.optional_string(node, "description"),
            config=config, config_span=config_span, connection=connection,
            needs=tuple(self.needs(node.get("needs"))), inputs=tuple(self.inputs(node.get("inputs"))),
            declares_inputs=node.get("inputs") is not None,
            retry=self.retry(node.get("retry")), partitions=self.partitions(node.get("partitions")),
            exprs=tuple(exprs),
        )

    def config(self, node: YNode | None) -> tuple[dict[str, Any], Span | None, Any, list[ConfigExpr]]:
        if node is None or node.kind == "scalar" and node.value is None:
            return {}, node.span if node is not None else None, None, []
        if not self.expect(node, "map", "`config`", "`config: {path: data/orders.csv}`"):
            return {}, node.span, None, []
        connection = None
        exprs: list[ConfigExpr] = []
        conn_node = node.get("connection")
        if conn_node is not None:
            if conn_node.kind == "scalar" and isinstance(conn_node.value, str):
                connection = parse_connection(conn_node.value, self.position(conn_node), self.d,
                                              conn_node.pointer)
            else:
                self.d.add("OML053", conn_node.span, "`connection` must be a string like \"@mysql.shop\"",
                           pointer=conn_node.pointer)
        self.collect_exprs(node, (), exprs, skip_connection=True)
        return node.to_data(), node.span, connection, exprs

    def position(self, node: YNode) -> ScalarPosition:
        return ScalarPosition(node.span, node.style, self.lines)

    def collect_exprs(self, node: YNode, path: tuple[str | int, ...], out: list[ConfigExpr],
                      skip_connection: bool = False) -> None:
        if node.kind == "map":
            for key, value in node.items():
                if skip_connection and not path and key.value == "connection":
                    continue
                self.collect_exprs(value, (*path, key.value), out)
        elif node.kind == "seq":
            for i, item in enumerate(node.value):
                self.collect_exprs(item, (*path, i), out)
        elif isinstance(node.value, str) and has_expression(node.value):
            pieces = parse_template(node.value, self.position(node), self.d, node.pointer)
            # Also keep strings whose only "expression" is an escaped `$${`: binding unescapes it.
            if len(pieces) > 1 or any(isinstance(p, Reference) for p in pieces) or "$${" in node.value:
                out.append(ConfigExpr(path=path, pointer=node.pointer, span=node.span,
                                                      pieces=tuple(pieces)))

    def needs(self, node: YNode | None) -> list[NeedRef]:
        if node is None or node.kind == "scalar" and node.value is None:
            return []
        if node.kind == "scalar" and isinstance(node.value, str):
            return [NeedRef(span=node.span, pointer=node.pointer, step=node.value)]
        if not self.expect(node, "seq", "`needs`", "`needs: [extract-orders]`"):
            return []
        result = []
        for item in node.value:
            if self.expect(item, "scalar", "each `needs` entry", "`- extract-orders`"):
                result.append(NeedRef(span=item.span, pointer=item.pointer, step=item.value))
        return result

    def inputs(self, node: YNode | None) -> list[InputRef]:
        if node is None or node.kind == "scalar" and node.value is None:
            return []
        if not self.expect(node, "map", "`inputs`", "`inputs: {orders: \"${extract-orders.df}\"}`"):
            return []
        result = []
        for key, value in node.items():
            if not INPUT_NAME_RE.fullmatch(key.value):
                self.d.add("OML036", key.span, f"invalid input name {key.value!r}",
                           help="input names are identifiers (letters, digits, `_`, `-`)", pointer=key.pointer)
                continue
            ref = self.input_ref(key.value, value)
            if ref is not None:
                result.append(ref)
        return result

    def input_ref(self, name: str, node: YNode) -> InputRef | None:
        example = f"`{name}: \"${{extract-orders.df}}\"`"
        if node.kind != "scalar" or not isinstance(node.value, str):
            self.d.add("OML036", node.span, f"input '{name}' must be a `${{step.output}}` reference",
                       help=f"e.g. {example}", pointer=node.pointer)
            return None
        pieces = parse_template(node.value, self.position(node), self.d, node.pointer)
        refs = [p for p in pieces if isinstance(p, Reference)]
        if len(pieces) != 1 or len(refs) != 1 or len(refs[0].parts) != 2 or refs[0].is_param:
            self.d.add("OML036", node.span, f"input '{name}' must be exactly one `${{step.output}}` reference",
                       help=f"e.g. {example}", pointer=node.pointer)
            return None
        step, output = refs[0].parts
        return InputRef(span=refs[0].span, pointer=node.pointer, name=name, step=step, output=output)

    def retry(self, node: YNode | None) -> RetryPolicy:
        if node is None:
            return RetryPolicy()
        if node.kind == "scalar" and isinstance(node.value, int) and not isinstance(node.value, bool):
            data: Any = {"max_attempts": node.value}
        elif node.kind == "map":
            data = node.to_data()
        else:
            self.d.add("OML024", node.span, "`retry` must be a mapping or a number of attempts",
                       help="e.g. `retry: {max_attempts: 3, backoff_seconds: 2}`", pointer=node.pointer)
            return RetryPolicy()
        problem = _retry_problem(data)
        if problem:
            self.d.add("OML024", node.span, problem,
                       help="`max_attempts` 1-20, `backoff_seconds` 0-86400, "
                       "`max_backoff_seconds` from `backoff_seconds` to 86400",
                       pointer=node.pointer)
            return RetryPolicy()
        return RetryPolicy(**data)

    def partitions(self, node: YNode | None) -> PartitionPolicy | None:
        """The block's shape (oml.partitions); which keys a step's kind allows is checked once the
        component is known (compiler.checks.partitions)."""
        if node is None:
            return None
        data = node.to_data()
        problems = partition_problems(data)
        for problem in problems:
            at, key = _locate(node, problem.path)
            span = key.span if problem.at_key and key is not None else at.span
            self.d.add("OML025", span, problem.message, help=problem.help, pointer=at.pointer)
        if problems:
            return None
        fields: dict[str, Any] = {key: tuple(value) if isinstance(value, list) else value
                                  for key, value in normalise(data).items()}
        return PartitionPolicy(**fields)


def _locate(node: YNode, path: tuple[str | int, ...]) -> tuple[YNode, YNode | None]:
    """The node at `path` below `node` and the mapping key that holds it (None for list items
    and for `node` itself); the deepest existing node when the path runs out."""
    key_node: YNode | None = None
    for part in path:
        if node.kind == "map":
            found = next(((k, v) for k, v in node.items() if str(k.value) == str(part)), None)
            if found is None:
                break
            key_node, node = found
        elif node.kind == "seq" and isinstance(part, int) and 0 <= part < len(node.value):
            key_node, node = None, node.value[part]
        else:
            break
    return node, key_node


def _profile_values(profile: YNode, declared: Collection[str]) -> YNode:
    """The node holding a profile's parameter values: the profile itself, or its `params` mapping
    in the original's form (unless the pipeline declares a parameter named `params`)."""
    inner = profile.get("params")
    keys = {key.value for key, _ in profile.items()}
    if inner is not None and inner.kind == "map" and "params" not in declared and keys <= {"params", "description"}:
        return inner
    return profile


def _retry_problem(data: dict[str, Any]) -> str | None:
    """Check a retry mapping against RetryPolicy's own field bounds (read from its fields'
    metadata, not repeated here)."""
    fields = {f.name: f for f in record_fields(RetryPolicy)}
    for key, value in data.items():
        if key not in fields:
            return f"unknown key `retry.{key}`" + (f"; {hint}" if (hint := did_you_mean(key, fields)) else "")
        wanted = int if fields[key].type in (int, "int") else float
        numeric = isinstance(value, (int, float)) and not isinstance(value, bool) and _finite(value)
        if not numeric or (wanted is int and not isinstance(value, int)):
            return f"`retry.{key}` must be {'an integer' if wanted is int else 'a finite number'}, not {value!r}"
        bounds = fields[key].metadata
        if bounds.get("ge") is not None and value < bounds["ge"]:
            return f"`retry.{key}` must be at least {bounds['ge']}, not {value!r}"
        if bounds.get("le") is not None and value > bounds["le"]:
            return f"`retry.{key}` must be at most {bounds['le']}, not {value!r}"
    low, high = data.get("backoff_seconds"), data.get("max_backoff_seconds")
    if low is not None and high is not None and high < low:
        return f"`retry.max_backoff_seconds` ({high!r}) must be at least `retry.backoff_seconds` ({low!r})"
    return None


def _finite(value: int | float) -> bool:
    """A number JSON and float arithmetic can carry (no NaN, infinity or 400-digit integer)."""
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def _infer_type(value: Any) -> ParamType | None:  # noqa: ANN401
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return None


def parse_pipeline(text: str, file: str, diagnostics: Diagnostics, max_bytes: int | None = None) -> Pipeline | None:
    """OML text -> IR. Returns None only when the document is unusable (syntax, limits, not a
    mapping); `max_bytes` is the input cap (oml.source), default from the environment."""
    root = load_yaml(text, file, diagnostics, max_bytes)
    if root is None:
        if not diagnostics.has_errors:
            diagnostics.add("OML002", Span.whole_file(file), "the file is empty",
                            help="start with `oml_version: \"0.1.0\"`, `name: ...` and `steps:`")
        return None
    return _Lowerer(file, text, diagnostics).pipeline(root)
