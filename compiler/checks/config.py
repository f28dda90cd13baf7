"""Check one step against its component spec: mode, keys, schema, constraints, secrets."""

from __future__ import annotations

import itertools
from functools import cache
from typing import TYPE_CHECKING, Any, NamedTuple

from osiris.compiler.checks.secrets import find_inline_secrets
from osiris.oml.diagnostics import Diagnostics
from osiris.oml.ir import MODE_ALIASES, Pipeline, Step
from osiris.oml.lower import KEY_PREFIX
from osiris.oml.pointer import from_path, join
from osiris.oml.span import Span
from osiris.oml.suggest import did_you_mean, one_of
from osiris.spec.models import ComponentSpec
from osiris.spec.registry import Registry

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError


_EXPLAINERS: dict[tuple[str, str], Draft202012Validator] = {}
_EXPLAINERS_MAX = 64
MAX_SCHEMA_ERRORS = 50
"""Schema errors reported per config: a list of 10,000 wrong items is one problem, not 10,000."""


def explainer_for(spec: ComponentSpec) -> Draft202012Validator:
    """jsonschema reports every error with its path; it costs ~100 ms to import, so it is
    only loaded once the fast validator has found a config invalid.

    Cached per (name, fingerprint): the registry fingerprints each spec's canonical JSON, so
    the key changes whenever the schema does. A spec built without a fingerprint (tests) is
    not cached, as its name alone does not identify its schema.
    """
    explainer = _explainer_class()
    if not spec.fingerprint:
        return explainer(spec.config_schema)
    key = (spec.name, spec.fingerprint)
    validator = _EXPLAINERS.get(key)
    if validator is None:
        if len(_EXPLAINERS) >= _EXPLAINERS_MAX:
            del _EXPLAINERS[next(iter(_EXPLAINERS))]
        validator = _EXPLAINERS[key] = explainer(spec.config_schema)
    return validator


@cache
def _explainer_class() -> type[Draft202012Validator]:
    """Draft 2020-12 with a linear `uniqueItems`: jsonschema's own compares every pair of items
    it cannot sort (objects), so a 177 KiB list of distinct objects took four minutes to refuse."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError
    from jsonschema.validators import extend

    def unique_items(validator: Any, unique: Any, instance: Any, schema: Any) -> Any:  # noqa: ANN401
        if not unique or not validator.is_type(instance, "array"):
            return
        seen: set[Any] = set()
        for item in instance:
            key = _identity(item)
            if key in seen:
                yield ValidationError(f"has non-unique elements ({item!r} repeats)"[:300])
                return
            seen.add(key)

    return extend(Draft202012Validator, {"uniqueItems": unique_items})


def _identity(value: Any) -> Any:  # noqa: ANN401 - a JSON value
    """A hashable form with JSON Schema's equality: 1 == 1.0, but true is not 1."""
    if isinstance(value, bool) or value is None:
        return ("literal", value)
    if isinstance(value, list):
        return ("array", tuple(_identity(item) for item in value))
    if isinstance(value, dict):
        return ("object", frozenset((key, _identity(item)) for key, item in value.items()))
    return ("value", value)


def schema_errors(spec: ComponentSpec, config: dict[str, Any], registry: Registry) -> list[Any]:
    """All schema errors in `config` ([] when valid): fast check first, full report on failure."""
    from fastjsonschema import JsonSchemaValueException

    try:
        registry.fast_validator(spec.name)(config)
        return []
    except JsonSchemaValueException as fast_error:
        found = itertools.islice(explainer_for(spec).iter_errors(config), MAX_SCHEMA_ERRORS)
        errors = sorted(found, key=lambda e: (list(map(str, e.absolute_path)), e.message))
        return errors or [fast_error]


def check_mode(step: Step, spec: ComponentSpec, d: Diagnostics) -> str | None:
    """The canonical mode of `step`, or None after reporting OML041."""
    supported = spec.pipeline_modes
    if step.mode is None:
        if len(supported) == 1:
            return supported[0]
        d.add("OML041", step.span, f"step '{step.id}' must say which mode to run {spec.name} in",
              help=f"add `mode:` with one of {one_of(supported)}", pointer=join(step.pointer, "mode"))
        return None
    canonical = MODE_ALIASES.get(step.mode)
    if canonical is not None and canonical in supported:
        return canonical
    accepted = sorted({alias for alias, mode in MODE_ALIASES.items() if mode in supported})
    hint = did_you_mean(step.mode, accepted)
    detail = f"{spec.name} runs in {one_of(supported)}"
    if step.mode == "discover":
        detail += "; `discover` is for `osiris chat` and tools, not pipeline steps"
    d.add("OML041", step.mode_span or step.span, f"mode '{step.mode}' is not supported: {detail}",
          help=hint or f"use `mode: {accepted[0]}`" if accepted else None,
          pointer=join(step.pointer, "mode"))
    return None


def apply_renames(step: Step, spec: ComponentSpec, pipeline: Pipeline, d: Diagnostics) -> dict[str, Any]:
    """Rename keys the original Osiris spelled differently (OML046 warning each)."""
    config = dict(step.config)
    base = join(step.pointer, "config")
    for old, new in sorted(spec.renamed.items()):
        if old not in config:
            continue
        at = _key_span(pipeline, join(base, old))
        if new in config:
            d.add("OML042", at, f"`{old}` and `{new}` are the same setting; keep only `{new}`",
                  pointer=join(base, old))
            config.pop(old)
            continue
        d.add("OML046", at, f"`{old}` is the original Osiris's name for `{new}`",
              help=f"rename it to `{new}`", pointer=join(base, old))
        config = {(new if k == old else k): v for k, v in config.items()}
    return config


def check_config(step: Step, spec: ComponentSpec, config: dict[str, Any], pipeline: Pipeline,
                 d: Diagnostics, registry: Registry) -> bool:
    """Report every problem in `config`; True when there was none."""
    base = join(step.pointer, "config")
    before = d.error_count
    properties = spec.properties
    for key in config:
        if key not in properties:
            original = next((old for old, new in spec.renamed.items() if new == key), key)
            pointer = join(base, original)
            hint = did_you_mean(key, properties) or f"{spec.name} accepts {one_of(properties, 40)}"
            d.add("OML042", _key_span(pipeline, pointer), f"unknown config key '{key}' for {spec.name}",
                  help=hint, pointer=pointer)
    known = {k: v for k, v in config.items() if k in properties}
    for error in schema_errors(spec, known, registry):
        if hasattr(error, "absolute_path") and from_path(base, error.absolute_path) in step.unbound:
            continue  # its parameter problem was already reported
        if hasattr(error, "absolute_path"):
            _report_schema_error(error, step, spec, base, pipeline, d)
        else:  # the validators disagree: trust the stricter one, say what it said
            pointer = from_path(base, error.path[1:])
            d.add("OML044", pipeline.span_of(pointer), error.message.replace("data.", "", 1), pointer=pointer)
    _check_constraints(step, spec, known, base, pipeline, d)
    for pointer, reason in find_inline_secrets(config, spec.secret_keys, base):
        _report_secret(pointer, reason, spec, pipeline, d)
    return d.error_count == before


def _key_span(pipeline: Pipeline, pointer: str) -> Span:
    """Point at the key itself when the loader recorded it, else at its value."""
    return pipeline.spans.get(KEY_PREFIX + pointer) or pipeline.span_of(pointer)


def _report_schema_error(error: ValidationError, step: Step, spec: ComponentSpec, base: str,
                         pipeline: Pipeline, d: Diagnostics) -> None:
    pointer = from_path(base, error.absolute_path)
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        d.add("OML043", _key_span(pipeline, join(step.pointer, "config")),
              f"step '{step.id}' ({spec.name}) needs config key '{missing}'",
              help=_describe(spec, missing), pointer=join(pointer, missing))
        return
    key = str(error.absolute_path[0]) if error.absolute_path else ""
    message = error.message
    if error.validator == "enum":
        allowed = error.validator_value
        hint = did_you_mean(str(error.instance), [str(a) for a in allowed]) or f"allowed: {one_of(map(str, allowed))}"
        d.add("OML044", pipeline.span_of(pointer), f"`{key}`: {error.instance!r} is not an allowed value",
              help=hint, pointer=pointer)
        return
    if error.validator == "oneOf":
        message = f"{error.instance!r} is not valid here"
    d.add("OML044", pipeline.span_of(pointer), f"`{key}`: {message}", help=_describe(spec, key), pointer=pointer)


def _describe(spec: ComponentSpec, key: str) -> str | None:
    prop = spec.properties.get(key)
    if isinstance(prop, dict) and prop.get("description"):
        return f"`{key}`: {prop['description']}"
    return None


class Broken(NamedTuple):
    """A constraint a config breaks: what to say, and the key involved (None: the whole config)."""

    message: str
    help: str
    key: str | None
    key_present: bool


def broken_constraints(spec: ComponentSpec, config: dict[str, Any]) -> list[Broken]:
    """Every cross-field rule of `spec` that `config` breaks (also run on compiled cfg files)."""
    broken = []
    for rule in spec.constraints:
        if rule.require_one_of and not any(k in config for k in rule.require_one_of):
            broken.append(Broken(rule.message, f"add one of {one_of(rule.require_one_of)}", None, False))
        if rule.exclusive:
            present = [k for k in rule.exclusive if k in config]
            if len(present) > 1:
                broken.append(Broken(rule.message, f"remove `{present[-1]}` or `{present[0]}`", present[-1], True))
        if rule.when is not None and rule.require:
            applies = all(config.get(k, _default(spec, k)) == v for k, v in rule.when.items())
            missing = [k for k in rule.require if k not in config]
            if applies and missing:
                broken.append(Broken(rule.message, f"add `{missing[0]}`", missing[0], False))
    return broken


def _check_constraints(step: Step, spec: ComponentSpec, config: dict[str, Any], base: str,
                       pipeline: Pipeline, d: Diagnostics) -> None:
    at_config = _key_span(pipeline, join(step.pointer, "config"))
    for rule in broken_constraints(spec, config):
        pointer = base if rule.key is None else join(base, rule.key)
        at = pipeline.span_of(pointer) if rule.key_present else at_config
        d.add("OML045", at, f"step '{step.id}': {rule.message}", help=rule.help, pointer=pointer)


def _default(spec: ComponentSpec, key: str) -> Any:
    prop = spec.properties.get(key)
    return prop.get("default") if isinstance(prop, dict) else None


def _report_secret(pointer: str, reason: str, spec: ComponentSpec | None, pipeline: Pipeline,
                   d: Diagnostics) -> None:
    family = spec.family if spec is not None and spec.family else "family"
    d.add("OML080", pipeline.span_of(pointer), f"secret written inline: {reason}",
          help=f"move it to osiris_connections.yaml as `${{ENV_VAR}}` and use `connection: \"@{family}.<alias>\"`",
          pointer=pointer)


def check_secrets_only(step: Step, pipeline: Pipeline, d: Diagnostics) -> None:
    """Secret heuristics for a step whose component is unknown (the schema cannot help)."""
    for pointer, reason in find_inline_secrets(step.config, frozenset(), join(step.pointer, "config")):
        _report_secret(pointer, reason, None, pipeline, d)
