"""The JSON Schema of OML 0.1.0, generated from the lowering rules, the IR and the registry.

Editors (VS Code's YAML extension and anything else on yaml-language-server) use it for
completion, hover text and red squiggles while typing; `omlc check` stays the authority.
The schema is built so that it never rejects a pipeline `omlc` accepts: where the compiler
checks something only after binding parameters (a `${params.x}` in an integer field), the
schema allows the reference. It is written in the 2020-12 dialect but sticks to keywords
draft-07 tools understand (no `$ref` siblings, no `prefixItems`/`unevaluated*`), since
yaml-language-server validates with draft-07 semantics.

`omlc schema --out spec/oml.schema.json` regenerates the committed copy; a test fails when
it drifts. Output is deterministic: lists whose order carries no meaning are sorted, and
`oml.canonical.pretty_json` sorts keys.
"""

from __future__ import annotations

import copy
import inspect
import re
from typing import Any

from osiris.compiler.checks.partitions import allowed_partition_keys
from osiris.compiler.spec_cache import default_registry
from osiris.oml.codes import CATALOG
from osiris.oml.ir import MODE_ALIASES, OML_VERSION, ParamDecl, PartitionPolicy, RetryPolicy
from osiris.oml.lower import (
    FORBIDDEN_TOP_LEVEL,
    INPUT_NAME_RE,
    NAME_RE,
    PARAM_KEYS,
    PARAM_NAME_RE,
    PARAM_TYPES,
    STEP_ID_RE,
)
from osiris.oml.partitions import IDENTIFIER_RE, INSTANT_RE, MAX_PARTITIONS, PARTITION_KEYS, SCOPES
from osiris.oml.records import record_fields
from osiris.spec.models import ComponentSpec
from osiris.spec.registry import Registry

__all__ = ["PARAM_REF_PATTERN", "oml_json_schema"]

DIALECT = "https://json-schema.org/draft/2020-12/schema"
EXPR_NAME = "[A-Za-z_][A-Za-z0-9_-]*"
"""The grammar's NAME terminal (oml/expr/grammar.lark)."""
PARAM_REF_PATTERN = r"^\$\{params\.[A-Za-z_][A-Za-z0-9_]*\}$"
"""A whole-string parameter reference: bound with the parameter's type before validation."""
_JSON_TYPES = {"string": "string", "integer": "integer", "number": "number", "boolean": "boolean",
               "identifier": "string"}
_REF = "#/$defs/"


def _anchored(regex: re.Pattern[str]) -> str:
    """The loader matches whole strings (`fullmatch`); JSON Schema `pattern` searches."""
    return f"^(?:{regex.pattern})$"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF + name}


def oml_json_schema(registry: Registry | None = None) -> dict[str, Any]:
    """The whole schema as plain data (write it with `oml.canonical.pretty_json`)."""
    registry = registry or default_registry()
    defs: dict[str, Any] = {
        "param_ref": {
            "type": "string",
            "pattern": PARAM_REF_PATTERN,
            "description": "A parameter reference such as `${params.limit}`; the parameter's value "
                           "(with its type) replaces it at compile time.",
        },
        "param": _param(),
        "param_declaration": _param_declaration(),
        "partitions": _partitions(),
        "retry": _retry(),
        "step": _step(registry),
    }
    for name, spec in sorted(registry.components.items()):
        defs[f"config.{name}"] = _config(spec)
    properties: dict[str, Any] = {
        "oml_version": {"type": "string", "const": OML_VERSION,
                        "description": f"The OML version; write `oml_version: \"{OML_VERSION}\"` (quoted)."},
        "name": {"type": "string", "pattern": _anchored(NAME_RE), "description": CATALOG["OML010"].explanation},
        "description": {"type": ["string", "null"], "description": "What the pipeline does, for people."},
        "metadata": {
            "type": "object",
            "description": "Free-form data kept with the pipeline (owner, intent); not interpreted.",
        },
        "params": {
            "type": ["object", "null"],
            "description": "Typed parameters, referenced as `${params.<name>}` in step configs. Values "
                           "come from --param, then OSIRIS_PARAM_<NAME>, then the profile, then the default.",
            "propertyNames": {"pattern": _anchored(PARAM_NAME_RE)},
            "additionalProperties": _ref("param"),
        },
        "profiles": {
            "type": ["object", "null"],
            "description": "Named sets of parameter values, applied with `--profile <name>`.",
            "additionalProperties": {
                "type": "object",
                "description": "Parameter name -> value for this profile; or the original Osiris's form, "
                               "`{description: ..., params: {name: value}}`.",
                "propertyNames": {"pattern": _anchored(PARAM_NAME_RE)},
            },
        },
        "steps": {
            "type": "array", "minItems": 1, "items": _ref("step"),
            "description": "The steps; they run in dependency order (`needs`, `inputs`), not in file order.",
        },
    }
    for key, hint in sorted(FORBIDDEN_TOP_LEVEL.items()):
        properties[key] = {"not": {}, "description": f"Not OML {OML_VERSION}: {hint}."}
    return {
        "$schema": DIALECT,
        "title": f"OML {OML_VERSION} pipeline",
        "description": "An Osiris pipeline, compiled by `omlc`. Generated by `omlc schema`; do not edit.",
        "type": "object",
        "required": ["name", "oml_version", "steps"],
        "additionalProperties": False,
        "properties": properties,
        "$defs": defs,
    }


# --- parameters and retry ---------------------------------------------------------------------
def _param() -> dict[str, Any]:
    return {
        "description": "A declaration `{type: integer, default: 10}`, or a plain default value whose "
                       "type becomes the parameter's type.",
        "anyOf": [_ref("param_declaration"), {"type": ["boolean", "number", "string"]}],
    }


def _param_declaration() -> dict[str, Any]:
    text = _descriptions(ParamDecl)
    props: dict[str, Any] = {
        "type": {"type": "string", "enum": list(PARAM_TYPES), "description": text["type"]},
        "default": {"description": text["default"]},
        "enum": {"type": "array", "description": text["enum"]},
        "minimum": {"type": "number", "description": text["minimum"]},
        "maximum": {"type": "number", "description": text["maximum"]},
        "description": {"description": "What the parameter means, for people."},
    }
    assert set(props) == set(PARAM_KEYS), "keep in step with oml.lower.PARAM_KEYS"
    by_type = [
        {"if": {"properties": {"type": {"const": kind}}, "required": ["type"]},
         "then": {"properties": {"default": {"type": _JSON_TYPES[kind]}}}}
        for kind in sorted(PARAM_TYPES)
    ]
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": props,
        "anyOf": [{"required": ["type"]}, {"required": ["default"]}],
        "allOf": by_type,
    }


def _retry() -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for item in record_fields(RetryPolicy):
        bounds = item.metadata
        properties[item.name] = {"default": item.default, "description": bounds["description"],
                                 "maximum": bounds["le"], "minimum": bounds["ge"],
                                 "type": "integer" if item.type in (int, "int") else "number"}
    policy = {"additionalProperties": False, "properties": properties, "type": "object"}
    attempts = properties["max_attempts"]
    return {
        "description": f"{inspect.getdoc(RetryPolicy)} A number is shorthand for `max_attempts`.",
        "anyOf": [{k: v for k, v in attempts.items() if k != "default"}, policy],
    }


def _descriptions(cls: type) -> dict[str, str]:
    """Field name -> the text its `described(...)` field gives (oml.ir)."""
    return {item.name: item.metadata["description"] for item in record_fields(cls) if "description" in item.metadata}


def _partitions() -> dict[str, Any]:
    """oml.partitions' rules that a schema can state; the order of `bounds` and the step kinds'
    keys (per component, in `_step_rules`) aside, omlc checks the same."""
    text = _descriptions(PartitionPolicy)
    count = {"type": "integer", "minimum": 1, "maximum": MAX_PARTITIONS, "description": text["count"]}
    column = {"type": "string", "pattern": _anchored(IDENTIFIER_RE)}
    number = {"type": "number"}
    instant = {"type": "string", "pattern": _anchored(INSTANT_RE)}
    props: dict[str, Any] = {
        "count": count,
        "column": {**column, "description": text["column"]},
        "bounds": {"type": "array", "minItems": 2, "maxItems": 2, "description": text["bounds"],
                   "anyOf": [{"items": number}, {"items": instant}]},
        "scope": {"type": "string", "enum": list(SCOPES), "description": text["scope"]},
        "by": {"type": "array", "minItems": 1, "items": column, "description": text["by"]},
    }
    assert tuple(props) == PARTITION_KEYS, "keep in step with oml.partitions.PARTITION_KEYS"
    block = {
        "type": "object",
        "additionalProperties": False,
        "properties": props,
        "allOf": [
            {"if": {"required": ["bounds"]}, "then": {"required": ["column"]}},
            {"if": {"required": ["by", "scope"]}, "then": {"properties": {"scope": {"const": "hash"}}}},
        ],
    }
    return {
        "description": "How a backend that splits a step's work (`--backend ray`) splits it; the local and "
                       "E2B backends ignore it. A number is shorthand for `count`.",
        "anyOf": [{k: v for k, v in count.items() if k != "description"}, block],
    }


# --- steps ------------------------------------------------------------------------------------
def _step(registry: Registry) -> dict[str, Any]:
    names = registry.names()
    reference = f"^\\$\\{{(?!params\\.){EXPR_NAME}\\.({'|'.join(_outputs(registry))})\\}}$"
    properties = {
        "id": {"type": "string", "pattern": _anchored(STEP_ID_RE), "description": CATALOG["OML023"].explanation},
        "component": {
            "type": "string", "enum": names,
            "description": "The component that runs this step (canonical name or alias); "
                           "`osiris components list` shows them.",
            "enumDescriptions": [_component_blurb(registry.get(n), n) for n in names],
        },
        "mode": {"type": "string", "enum": sorted(MODE_ALIASES),
                 "description": "extract (also `read`), transform or write; optional when the component "
                                "has one pipeline mode."},
        "description": {"type": ["string", "null"], "description": "What the step does, for people."},
        "needs": {
            "description": "Steps this one runs after. A step that produces data also feeds it in, as an "
                           "input named after the step id; a writer in `needs` only orders.",
            "anyOf": [{"type": "null"}, {"type": "string", "pattern": _anchored(STEP_ID_RE)},
                      {"type": "array", "items": {"type": "string", "pattern": _anchored(STEP_ID_RE)}}],
        },
        "inputs": {
            "type": ["object", "null"],
            "description": "Named data inputs, each exactly one `${step_id.output}` reference, "
                           "e.g. `{orders: \"${extract-orders.df}\"}`.",
            "propertyNames": {"pattern": _anchored(INPUT_NAME_RE)},
            "additionalProperties": {"type": "string", "pattern": reference},
        },
        "config": {"type": ["object", "null"], "description": "The component's settings (see its spec)."},
        "retry": _ref("retry"),
        "partitions": _ref("partitions"),
    }
    rules = []
    for name in names:
        spec = registry.get(name)
        assert spec is not None
        rules.append({"if": {"properties": {"component": {"const": name}}, "required": ["component"]},
                      "then": _step_rules(spec)})
    return {
        "type": "object",
        "description": "One step: `id`, `component`, usually `config`, and `needs` or `inputs` for its data.",
        "required": ["component", "id"],
        "additionalProperties": False,
        "properties": properties,
        "allOf": rules,
    }


def _outputs(registry: Registry) -> list[str]:
    return sorted({o for spec in registry.components.values() for o in spec.outputs})


def _component_blurb(spec: ComponentSpec | None, name: str) -> str:
    assert spec is not None
    alias = f" (alias of {spec.name})" if name != spec.name else ""
    return f"{spec.title}{alias}: {spec.description}"


def _step_rules(spec: ComponentSpec) -> dict[str, Any]:
    """What choosing `spec` as the component implies for the rest of the step."""
    modes = sorted(alias for alias, mode in MODE_ALIASES.items() if mode in spec.pipeline_modes)
    properties: dict[str, Any] = {"config": _ref(f"config.{spec.name}"), "mode": {"enum": modes}}
    rules: dict[str, Any] = {"properties": properties}
    required = []
    if _needs_config(spec):
        required.append("config")
    if len(spec.pipeline_modes) > 1:
        required.append("mode")
    if spec.kind == "extractor":  # OML038: `needs` only orders an extractor
        properties["inputs"] = {"maxProperties": 0}
    else:  # OML034: a transform or writer needs a data input
        rules["anyOf"] = [
            {"required": ["inputs"]},
            {"required": ["needs"],
             "properties": {"needs": {"anyOf": [{"type": "string"}, {"type": "array", "minItems": 1}]}}},
        ]
    allowed = allowed_partition_keys(spec.kind)
    properties["partitions"] = {"properties": {key: {"not": {}} for key in PARTITION_KEYS if key not in allowed}}
    if required:
        rules["required"] = sorted(required)
    return rules


# --- component configs ------------------------------------------------------------------------
def _needs_config(spec: ComponentSpec) -> bool:
    return bool(spec.config_schema.get("required")) or any(c.require_one_of for c in spec.constraints)


def _config(spec: ComponentSpec) -> dict[str, Any]:
    """The component's config_schema, adapted for OML source text (see the module docstring)."""
    schema = _walk(copy.deepcopy(spec.config_schema))
    props = schema.setdefault("properties", {})
    for key in spec.secret_keys & set(props):
        props[key] = {"type": "string", "maxLength": 0,
                      "description": f"{props[key].get('description', 'A secret.')} omlc rejects any value "
                                     "here (OML080): secrets belong in osiris_connections.yaml."}
    if "connection" in props:
        family = spec.family or EXPR_NAME
        if spec.object_stores:
            family = "(?:" + "|".join((family, *spec.object_stores)) + ")"
        props["connection"] = {"type": "string", "pattern": f"^@{family}\\.{EXPR_NAME}$",
                               "description": spec.properties["connection"].get("description", "")}
    aliases: dict[str, list[str]] = {}
    for old, new in sorted(spec.renamed.items()):
        if new in props and old not in props:
            props[old] = {"deprecated": True, "description": f"The original Osiris's name for `{new}`; "
                                                               f"rename it (omlc warns, OML046).",
                          "allOf": [copy.deepcopy(props[new])]}
            aliases.setdefault(new, []).append(old)
    rules = [_constraint(c, spec, aliases) for c in spec.constraints]
    if rules:
        schema["allOf"] = schema.get("allOf", []) + rules
    if not _needs_config(spec):
        schema["type"] = ["object", "null"]
    schema["title"] = spec.title
    schema["description"] = spec.description
    return schema


def _constraint(rule: Any, spec: ComponentSpec, aliases: dict[str, list[str]]) -> dict[str, Any]:
    def spelled(key: str) -> list[str]:
        return [key, *aliases.get(key, [])]

    if rule.require_one_of:
        return {"anyOf": [{"required": [k]} for key in rule.require_one_of for k in spelled(key)]}
    if rule.exclusive:
        keys = list(rule.exclusive)
        pairs = [[a, b] for i, a in enumerate(keys) for b in keys[i + 1:]]
        return {"not": {"anyOf": [{"required": sorted(pair)} for pair in pairs]}}
    when = dict(rule.when or {})
    condition: dict[str, Any] = {"properties": {k: {"const": v} for k, v in sorted(when.items())}}
    # The compiler compares an absent key by its default, so only keys whose default differs
    # from the condition must be present for the rule to apply.
    present = sorted(k for k, v in when.items() if spec.properties.get(k, {}).get("default") != v)
    if present:
        condition["required"] = present
    return {"if": condition, "then": {"required": sorted(rule.require or ())}}


def _walk(schema: Any) -> Any:
    """Drop `x-` keywords and let `${params.x}` stand for any value a string cannot be."""
    if not isinstance(schema, dict):
        return schema
    schema = {k: v for k, v in schema.items() if not k.startswith("x-")}
    for key in ("properties", "patternProperties"):
        if isinstance(schema.get(key), dict):
            schema[key] = {name: _with_param(_walk(sub)) for name, sub in schema[key].items()}
    for key in ("additionalProperties", "items"):
        if isinstance(schema.get(key), dict):
            schema[key] = _with_param(_walk(schema[key]))
    for key in ("oneOf", "anyOf", "allOf"):
        if isinstance(schema.get(key), list):
            schema[key] = [_walk(sub) for sub in schema[key]]
    return schema


def _types(schema: dict[str, Any]) -> set[str] | None:
    kind = schema.get("type")
    if kind is None:
        return None
    return {kind} if isinstance(kind, str) else set(kind)


def _admits_any_param_ref(schema: dict[str, Any]) -> bool:
    if "enum" in schema or "const" in schema:
        return False
    branches = schema.get("oneOf") or schema.get("anyOf")
    if branches and not any(_admits_any_param_ref(b) for b in branches):
        return False
    types = _types(schema)
    if types is not None and "string" not in types:
        return False
    if any(k in schema for k in ("pattern", "format", "maxLength")):
        return False
    return schema.get("minLength", 0) <= len("${params.x}")


def _with_param(schema: Any) -> Any:
    """`anyOf: [schema, param_ref]` for a value that a plain string could not be."""
    if not isinstance(schema, dict) or _admits_any_param_ref(schema):
        return schema
    types = _types(schema)
    if types is not None and types <= {"object", "array"}:
        return schema  # parameters are scalars: a whole list or mapping cannot come from one
    outer = {k: schema.pop(k) for k in ("description", "default", "title", "deprecated") if k in schema}
    return {**outer, "anyOf": [schema, _ref("param_ref")]}
