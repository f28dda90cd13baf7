"""`osiris components list|show NAME`: what the spec registry offers, and whether a driver is installed."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

__all__ = ["components_command"]


def components_command(args: argparse.Namespace) -> int:
    from osiris.compiler.spec_cache import default_registry

    registry = default_registry()
    if args.action == "list":
        return _list(registry, args.json)
    return _show(registry, args.name, args.json)


def _driver_status() -> dict[str, str]:
    """Component -> "installed", or why its driver cannot run here ("not installed: needs extra
    mysql (pip install 'osiris-oml[mysql]')")."""
    from osiris.runtime.registry import default_registry as drivers

    registry = drivers()
    return {name: registry.unavailable(name) or "installed" for name in registry.names()}


def _installed() -> set[str]:
    return {name for name, status in _driver_status().items() if status == "installed"}


def component_list(registry: Any) -> list[dict[str, Any]]:
    """`osiris components list --json` (and the MCP tool `list_components`)."""
    installed = _installed()
    return [
        {"name": s.name, "version": s.version, "kind": s.kind, "family": s.family, "modes": list(s.pipeline_modes),
         "aliases": list(s.aliases), "title": s.title, "driver_installed": s.name in installed}
        for s in (registry.components[name] for name in registry.canonical_names())
    ]


def component_detail(registry: Any, name: str) -> dict[str, Any] | None:
    """`osiris components show NAME --json` (and the MCP tool `describe_component`); None when unknown."""
    spec = registry.get(name)
    if spec is None:
        return None
    return {**spec.to_data(), "driver_installed": spec.name in _installed()}


def _list(registry: Any, as_json: bool) -> int:
    specs = [registry.components[name] for name in registry.canonical_names()]
    if as_json:
        print(json.dumps(component_list(registry), indent=2))
        return 0
    from osiris.cli.commands.output import format_table

    status = _driver_status()
    rows = [("COMPONENT", "KIND", "MODES", "DRIVER", "TITLE")]
    for s in specs:
        why = status.get(s.name, "not installed")
        driver = "yes" if why == "installed" else why.partition(" (")[0]  # the hint is in `show`
        rows.append((s.name, s.kind, ",".join(s.pipeline_modes), driver, s.title))
    print("\n".join(format_table(rows)))
    return 0


def _show(registry: Any, name: str, as_json: bool) -> int:
    spec = registry.get(name)
    if spec is None:
        import difflib

        close = difflib.get_close_matches(name, registry.names(), n=3)
        hint = f" (did you mean {' or '.join(close)}?)" if close else ""
        sys.stderr.write(f"osiris components show: error: unknown component {name!r}{hint}\n")
        return 2
    if as_json:
        print(json.dumps(component_detail(registry, name), indent=2, ensure_ascii=False))
        return 0
    out = [f"{spec.name} {spec.version}: {spec.title}", "", spec.description, ""]
    out.append(f"kind:        {spec.kind}")
    out.append(f"modes:       {', '.join(spec.pipeline_modes)}")
    if spec.aliases:
        out.append(f"aliases:     {', '.join(spec.aliases)}")
    connection = f"{spec.connection}" + (f" (@{spec.family}.<alias>)" if spec.family else "")
    out.append(f"connection:  {connection}")
    out.append(f"driver:      {_driver_status().get(spec.name, 'not installed')}")
    required = set(spec.config_schema.get("required", []))
    out.append("")
    out.append("config:")
    for key, prop in spec.properties.items():
        prop = prop if isinstance(prop, dict) else {}
        kind = prop.get("type") or ("one of " + "/".join(map(str, prop["enum"])) if "enum" in prop else "any")
        if isinstance(kind, list):
            kind = "|".join(kind)
        flags = []
        if key in required:
            flags.append("required")
        if "default" in prop:
            flags.append(f"default {json.dumps(prop['default'], ensure_ascii=False)}")
        if "enum" in prop and prop.get("type"):
            flags.append("one of " + ", ".join(map(str, prop["enum"])))
        if key in spec.secret_keys:
            flags.append("secret")
        out.append(f"  {key} ({kind}{'; ' + '; '.join(flags) if flags else ''})")
        if prop.get("description"):
            out.append(f"      {prop['description']}")
    for example in spec.examples:
        out.append("")
        out.append(f"example: {example.title}")
        out.append("  config:")
        for key, value in example.config.items():
            out.append(f"    {key}: {json.dumps(value, ensure_ascii=False)}")
    print("\n".join(out))
    return 0
