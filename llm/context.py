"""The model's context: rules, component names, aliases, relevant specs and discovered schema.

Kept small on purpose (a local 7B model has a few thousand tokens to think in): the minimal
context, rules plus component names plus alias names, is about 330 tokens; specs are added only
for the components the intent is about, and the whole system prompt is capped at
`MAX_CONTEXT_TOKENS` by dropping samples, then columns, then tables (the model can still call
`discover` or `describe_component` for the rest). Only alias *names* and family names enter the
prompt; connection fields never do, secrets or not.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from osiris.llm.families import FAMILY_WORDS, families_named, file_kind, format_words
from osiris.llm.templates import Templates
from osiris.llm.tokens import count_tokens, is_exact
from osiris.runtime.driver import DiscoveryResult, TableInfo
from osiris.spec.models import ComponentSpec
from osiris.spec.registry import Registry

__all__ = [
    "MAX_CONTEXT_TOKENS",
    "SystemPrompt",
    "alias_names",
    "build_system_prompt",
    "compact_spec",
    "relevant_components",
    "render_schema",
]

MAX_CONTEXT_TOKENS = 2000
ESTIMATE_MARGIN = 0.85
"""Without a tokenizer, chars/4 undercounts text with non-ASCII samples by up to ~16% (measured
against o200k_base on our prompts), so the cap is enforced against 85% of the budget."""
MAX_VALUE_CHARS = 40
MAX_SAMPLE_ROWS_SHOWN = 2
_TYPE_NAMES = {"integer": "int", "boolean": "bool", "array": "list", "object": "map", "number": "num"}
_WORDS = {**FAMILY_WORDS, **format_words()}
"""Connection families and file formats -> the words in an intent that name them."""
_TRANSFORM_WORDS = (
    "join",
    "filter",
    "where",
    "aggregate",
    "group",
    "sum",
    "count",
    "average",
    "avg",
    "top",
    "per",
    "only",
    "total",
    "revenue",
    "distinct",
    "dedup",
    "sort",
    "order by",
    "rank",
    "sql",
    "transform",
    "combine",
    "above",
    "below",
    "between",
    "greater",
    "less",
    "most",
    "least",
)


@dataclass(frozen=True)
class SystemPrompt:
    text: str
    tokens: int
    components: tuple[str, ...]
    trimmed: str = ""
    """What was left out to stay under the cap (empty when nothing was)."""


def alias_names(connections: Any) -> list[tuple[str, bool]]:
    """[("@mysql.shop", is_default), ...] from a ConnectionsFile: names only, never fields."""
    if connections is None:
        return []
    out = []
    for family in connections.families():
        default = connections.default_alias(family)
        for alias in sorted(connections.aliases.get(family, {})):
            out.append((f"@{family}.{alias}", alias == default))
    return out


def _connections_line(connections: Any) -> str:
    names = alias_names(connections)
    if not names:
        return "none (use file paths)"
    return ", ".join(f"{ref} (default)" if default else ref for ref, default in names)


def relevant_components(intent: str, registry: Registry, families: Iterable[str] = ()) -> list[str]:
    """Components the intent is about: families and formats it names, plus duckdb for transforms."""
    words = set(re.findall(r"[a-z0-9_]+", intent.lower()))
    text = intent.lower()
    # A file name's suffix is a word too (`orders.tsv.gz` -> orders, tsv, gz), so it names its format.
    wanted = set(families) | families_named(words, _WORDS)
    names = []
    for name in registry.canonical_names():
        spec = registry.components[name]
        kind = name.split(".", 1)[1].split("_")[0]
        if spec.family in wanted or (spec.family == "filesystem" and kind in wanted):
            names.append(name)
    if any(w in text if " " in w else w in words for w in _TRANSFORM_WORDS):
        names.append("duckdb.processor")
    return sorted(set(names))


def compact_spec(spec: ComponentSpec) -> str:
    """One line per component: its config keys (required marked *, enums shown) and one example."""
    schema = spec.config_schema
    required = set(schema.get("required", ()))
    hidden = set(spec.connection_fields) | {s.strip("/") for s in spec.secrets}
    keys = []
    for key, prop in schema.get("properties", {}).items():
        if key in hidden:
            continue
        shown = key + ("*" if key in required else "")
        if "enum" in prop:
            shown += "=" + "|".join(str(v) for v in prop["enum"])
        elif prop.get("type") in _TYPE_NAMES:
            shown += f":{_TYPE_NAMES[prop['type']]}"
        keys.append(shown)
    rules = [f"one of {'|'.join(c.require_one_of)}" for c in spec.constraints if c.require_one_of]
    line = f"- {spec.name} ({spec.kind}): {', '.join(keys)}"
    if rules:
        line += f"; {'; '.join(rules)}"
    if spec.examples:  # defaults left out: the compiler fills them in
        example = {
            k: v
            for k, v in spec.examples[0].config.items()
            if k in required or k == "connection" or v != schema["properties"].get(k, {}).get("default")
        }
        line += f". e.g. {json.dumps(example, ensure_ascii=False)}"
    return line


def _value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    text = str(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def _table_line(table: TableInfo, max_columns: int | None, samples: bool) -> str:
    columns = table.columns if max_columns is None else table.columns[:max_columns]
    cols = ", ".join(f"{c.name} {c.type}{' PK' if c.primary_key else ''}" for c in columns)
    if len(columns) < len(table.columns):
        cols += f", … {len(table.columns) - len(columns)} more"
    rows = f" ({table.row_count} rows)" if table.row_count is not None else ""
    line = f"  {table.name}{rows}: {cols}"
    if samples and table.sample:
        shown = [{k: _value(v) for k, v in row.items()} for row in table.sample[:MAX_SAMPLE_ROWS_SHOWN]]
        line += "\n    sample: " + json.dumps(shown, ensure_ascii=False, default=str)
    return line


def render_schema(
    results: Sequence[DiscoveryResult],
    *,
    max_tables: int | None = None,
    max_columns: int | None = None,
    samples: bool = True,
) -> str:
    if not results:
        return ""
    lines = ["Discovered:"]
    for result in results:
        lines.append(f"{result.source}:" if result.source.startswith("@") else "files:")
        tables = result.tables if max_tables is None else result.tables[:max_tables]
        lines.extend(_table_line(t, max_columns, samples) for t in tables)
        if len(tables) < len(result.tables):
            lines.append(f"  … {len(result.tables) - len(tables)} more tables (call discover to see them)")
        if not result.tables:
            lines.append("  (no tables)")
    return "\n".join(lines) + "\n"


def build_system_prompt(
    templates: Templates,
    registry: Registry,
    *,
    connections: Any = None,
    intent: str = "",
    discovered: Sequence[DiscoveryResult] = (),
    tools: bool = False,
    extra_components: Iterable[str] = (),
    cap: int = MAX_CONTEXT_TOKENS,
) -> SystemPrompt:
    """Render system.md with the smallest context that serves the intent, capped at `cap` tokens."""
    families = {r.source[1:].split(".")[0] for r in discovered if r.source.startswith("@")}
    families |= {file_kind(t.name) or "" for r in discovered if not r.source.startswith("@") for t in r.tables}
    names = sorted(set(relevant_components(intent, registry, families - {""})) | set(extra_components))
    specs = "".join(compact_spec(registry.components[n]) + "\n" for n in names if n in registry.components)
    base = dict(
        components=", ".join(registry.canonical_names()),
        connections=_connections_line(connections),
        specs=("Specs (* required):\n" + specs) if specs else "",
        output_rules=templates.render("output_tools" if tools else "output_text").strip(),
    )
    # Degrade the schema step by step until the prompt fits.
    levels: list[tuple[dict[str, Any], str]] = [
        ({}, ""),
        ({"samples": False}, "samples"),
        ({"samples": False, "max_columns": 12}, "samples, columns"),
        ({"samples": False, "max_columns": 8, "max_tables": 10}, "samples, columns, tables"),
        ({"samples": False, "max_columns": 4, "max_tables": 4}, "samples, columns, tables"),
    ]
    limit = cap if is_exact() else int(cap * ESTIMATE_MARGIN)
    text = ""
    for options, trimmed in levels:
        text = templates.render("system", schema=render_schema(discovered, **options), **base)
        tokens = count_tokens(text)
        if tokens <= limit:
            return SystemPrompt(text, tokens, tuple(names), trimmed)
    text = templates.render("system", schema="", **{**base, "specs": ""})
    return SystemPrompt(text, count_tokens(text), (), "schema, specs")


def trim_tables(result: DiscoveryResult, keep: int) -> DiscoveryResult:
    return replace(result, tables=result.tables[:keep])
