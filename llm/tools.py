"""Tools offered to models that support function calling.

list_components, describe_component, discover and check_oml answer from the spec registry,
the drivers' discovery and the compiler: the model can look things up and test a draft, but
every answer is data we produce, and nothing it calls writes or runs anything. Results are
compact text or JSON (they count against the model's context too). `discover` reads sample
rows only up to what the user allowed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from osiris.llm.client import ToolCall
from osiris.llm.context import compact_spec, render_schema
from osiris.llm.repair import CheckResult
from osiris.runtime.driver import DiscoveryResult, DriverError
from osiris.spec.registry import Registry

__all__ = ["TOOL_SCHEMAS", "Toolbox"]


def _function(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": properties,
                "required": required,
                "additionalProperties": False,
            },
        },
    }


TOOL_SCHEMAS: list[dict[str, Any]] = [
    _function("list_components", "List every component: name, kind and connection family.", {}, []),
    _function(
        "describe_component",
        "Config keys of one component, with meanings and an example.",
        {"name": {"type": "string", "description": "e.g. mysql.extractor"}},
        ["name"],
    ),
    _function(
        "discover",
        "List tables, columns, types, keys and row counts of a connection alias "
        "(@family.alias) or a file/directory path.",
        {
            "target": {"type": "string", "description": "@mysql.shop or data/orders.csv"},
            "tables": {"type": "array", "items": {"type": "string"}},
            "sample_rows": {"type": "integer", "minimum": 0, "maximum": 10},
        },
        ["target"],
    ),
    _function(
        "check_oml",
        "Check an OML draft with the compiler; returns its diagnostics.",
        {"oml": {"type": "string", "description": "the whole pipeline as YAML"}},
        ["oml"],
    ),
]


@dataclass
class Toolbox:
    registry: Registry
    check: Callable[[str], CheckResult]
    discover_fn: Callable[..., DiscoveryResult] | None = None
    allowed_samples: int = 0
    discovered: list[DiscoveryResult] = field(default_factory=list)
    last_checked: CheckResult | None = None

    def run(self, call: ToolCall) -> str:
        """Run one call; every failure becomes a result the model can read, never an exception."""
        try:
            arguments = call.parsed()
        except ValueError as error:
            return _json({"error": f"arguments are not a JSON object: {error}"})
        handler = getattr(self, f"_{call.name}", None)
        if handler is None or call.name.startswith("_"):
            return _json(
                {
                    "error": f"unknown tool {call.name!r}",
                    "tools": [t["function"]["name"] for t in TOOL_SCHEMAS],
                }
            )
        try:
            return handler(**arguments)
        except (TypeError, ValueError) as error:  # a missing key, an unknown one, "abc" for a number
            return _json({"error": f"bad arguments for {call.name}: {error}"})

    def _list_components(self) -> str:
        rows = [
            f"{n} ({s.kind}{', ' + s.family if s.family else ''})"
            for n, s in sorted(self.registry.components.items())
        ]
        return "\n".join(rows)

    def _describe_component(self, name: str) -> str:
        spec = self.registry.get(name)
        if spec is None:
            from osiris.oml.suggest import did_you_mean

            return _json(
                {
                    "error": f"unknown component {name!r}",
                    "hint": did_you_mean(name, self.registry.names()) or "call list_components",
                }
            )
        hidden = set(spec.connection_fields) | {s.strip("/") for s in spec.secrets}
        keys = [
            f"  {k}: {p.get('description', '')}"
            for k, p in spec.config_schema.get("properties", {}).items()
            if k not in hidden
        ]
        return "\n".join([compact_spec(spec), spec.description, *keys])

    def _discover(self, target: str, tables: list[str] | None = None, sample_rows: int = 0) -> str:
        if self.discover_fn is None:
            return _json({"error": "discovery is switched off for this session"})
        rows = max(0, min(int(sample_rows or 0), self.allowed_samples))
        try:
            result = self.discover_fn(target, tables=tables, sample_rows=rows)
        except DriverError as error:
            return _json({"error": str(error), "hint": error.hint})
        except Exception as error:  # noqa: BLE001 - a driver bug becomes a result, not a crash
            return _json({"error": f"{type(error).__name__}: {error}"})
        self.discovered.append(result)
        note = "" if rows == int(sample_rows or 0) else f"(samples limited to {rows} rows by the user)\n"
        return note + render_schema([result])

    def _check_oml(self, oml: str) -> str:
        result = self.check(oml)
        self.last_checked = result
        return _json({"ok": result.ok, "diagnostics": result.as_json()})


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
