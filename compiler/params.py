"""Parameter values: precedence, type conversion and checks.

Precedence, highest first: `--param k=v` (cli) > `OSIRIS_PARAM_<NAME>` (env) > the selected
`--profile` > the declared default. Only declared parameters are read from the environment,
so an unrelated OSIRIS_PARAM_* variable changes nothing (not even a fingerprint). A profile is
applied only when one is asked for.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from osiris.oml.diagnostics import Diagnostics
from osiris.oml.ir import BoundParam, ParamDecl, Pipeline
from osiris.oml.span import Span
from osiris.oml.suggest import did_you_mean, one_of

ENV_PREFIX = "OSIRIS_PARAM_"
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def env_name(param: str) -> str:
    return ENV_PREFIX + param.upper()


def coerce_text(decl: ParamDecl, text: str) -> tuple[Any, str | None]:
    """Convert a string from the CLI or the environment to the parameter's type."""
    raw = text.strip()
    if decl.type in ("string", "identifier"):
        return text, None
    if decl.type == "integer":
        try:
            return int(raw.replace("_", ""), 10), None
        except ValueError:
            return None, f"{text!r} is not an integer"
    if decl.type == "number":
        try:
            value = float(raw)
        except ValueError:
            return None, f"{text!r} is not a number"
        if not math.isfinite(value):
            return None, f"{text!r} is not a finite number"
        return (int(value) if value.is_integer() and "." not in raw and "e" not in raw.lower() else value), None
    lowered = raw.lower()
    if lowered in _TRUE:
        return True, None
    if lowered in _FALSE:
        return False, None
    return None, f"{text!r} is not a boolean (true/false)"


def check_value(decl: ParamDecl, value: Any) -> str | None:
    """Why `value` does not fit `decl`, or None when it does."""
    kind = decl.type
    if kind == "boolean" and not isinstance(value, bool):
        return f"{value!r} is not a boolean"
    if kind == "integer" and (isinstance(value, bool) or not isinstance(value, int)):
        return f"{value!r} is not an integer"
    if kind == "number" and (isinstance(value, bool) or not isinstance(value, (int, float))):
        return f"{value!r} is not a number"
    if kind == "number" and isinstance(value, float) and not math.isfinite(value):
        return f"{value!r} is not a finite number"
    if kind == "string" and not isinstance(value, str):
        return f"{value!r} is not a string"
    if kind == "identifier" and (not isinstance(value, str) or not value or "\x00" in value):
        return f"{value!r} is not a name (a non-empty string without NUL characters)"
    if decl.enum is not None and value not in decl.enum:
        return f"{value!r} is not one of {', '.join(repr(v) for v in decl.enum)}"
    if kind in ("integer", "number"):
        if decl.minimum is not None and value < decl.minimum:
            return f"{value!r} is less than the minimum {decl.minimum!r}"
        if decl.maximum is not None and value > decl.maximum:
            return f"{value!r} is greater than the maximum {decl.maximum!r}"
    return None


def bind_values(pipeline: Pipeline, cli: Mapping[str, str], env: Mapping[str, str],
                profile: str | None, diagnostics: Diagnostics,
                cli_span: Span | None = None) -> dict[str, BoundParam]:
    """Choose each declared parameter's value and report every problem on the way."""
    decls = {p.name: p for p in pipeline.params}
    at_cli = cli_span or Span.point("<command line>")
    for decl in pipeline.params:
        if decl.has_default:
            problem = check_value(decl, decl.default)
            if problem:
                diagnostics.add("OML060", decl.span, f"default of parameter '{decl.name}': {problem}",
                                pointer=decl.pointer + "/default")
    for name in sorted(cli):
        if name not in decls:
            diagnostics.add("OML065", at_cli, f"--param names undeclared parameter '{name}'",
                            help=did_you_mean(name, decls) or f"declared: {one_of(decls)}")
    chosen_profile = None
    if profile is not None:
        profiles = {p.name: p for p in pipeline.profiles}
        chosen_profile = profiles.get(profile)
        if chosen_profile is None:
            diagnostics.add("OML063", at_cli, f"unknown profile '{profile}'",
                            help=did_you_mean(profile, profiles) or f"profiles: {one_of(profiles)}")
    for prof in pipeline.profiles:
        for name, span in prof.value_spans.items():
            if name not in decls:
                diagnostics.add("OML064", span, f"profile '{prof.name}' sets undeclared parameter '{name}'",
                                help=did_you_mean(name, decls) or f"declared: {one_of(decls)}",
                                pointer=f"{prof.pointer}/{name}")
            else:
                problem = check_value(decls[name], prof.values[name])
                if problem:
                    diagnostics.add("OML061", span, f"profile '{prof.name}' sets '{name}': {problem}",
                                    pointer=f"{prof.pointer}/{name}")
    bound: dict[str, BoundParam] = {}
    for decl in pipeline.params:
        value, source, problem, where = _pick(decl, cli, env, chosen_profile)
        if source is None:
            diagnostics.add("OML062", decl.span, f"parameter '{decl.name}' has no value",
                            help=f"add a default, pass `--param {decl.name}=...`, or set {env_name(decl.name)}",
                            pointer=decl.pointer)
            continue
        if problem:
            if source in ("cli", "env"):  # defaults and profile values were reported at their own lines
                diagnostics.add("OML061", at_cli if source == "cli" else decl.span,
                                f"parameter '{decl.name}' from {where}: {problem}", pointer=decl.pointer)
            continue
        bound[decl.name] = BoundParam(value=value, source=source)
    return bound


def _pick(decl: ParamDecl, cli: Mapping[str, str], env: Mapping[str, str],
          profile: Any) -> tuple[Any, Any, str | None, str]:
    if decl.name in cli:
        value, problem = coerce_text(decl, cli[decl.name])
        return value, "cli", problem or check_value(decl, value), "--param"
    variable = env_name(decl.name)
    if variable in env:
        value, problem = coerce_text(decl, env[variable])
        return value, "env", problem or check_value(decl, value), variable
    if profile is not None and decl.name in profile.values:
        value = profile.values[decl.name]
        return value, "profile", check_value(decl, value), f"profile '{profile.name}'"
    if decl.has_default:
        return decl.default, "default", check_value(decl, decl.default), "its default"
    return None, None, None, ""
