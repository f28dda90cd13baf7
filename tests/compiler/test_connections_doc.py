"""docs/connections.md lists every field of every family in spec/families.yaml, with whether a
step may set it, and nothing else: the doc cannot drift from what the loader accepts."""

from __future__ import annotations

import re
from pathlib import Path

from osiris.compiler.spec_cache import default_registry

DOC = Path(__file__).resolve().parents[2] / "docs" / "connections.md"
SETTABLE = {"grant": "with `allow_override`", "free": "yes", None: "no"}


def _documented() -> dict[str, dict[str, str]]:
    tables: dict[str, dict[str, str]] = {}
    family = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"### (\w+)", line)
        if heading:
            family = heading.group(1)
            continue
        row = re.match(r"\| `([\w.]+)` \| \w+ \| [^|]* \| [^|]* \| ([^|]+) \|", line)
        if row and family is not None:
            tables.setdefault(family, {})[row.group(1)] = row.group(2).strip()
    return tables


def test_every_family_field_is_documented_with_its_override_rule() -> None:
    expected: dict[str, dict[str, str]] = {}
    for name, family in default_registry().families.items():
        rows = expected.setdefault(name, {})
        for key, field in family.fields.items():
            if field.fields:
                rows.update({f"{key}.{sub}": SETTABLE[field.override] for sub in field.fields})
            else:
                rows[key] = SETTABLE[field.override]
    assert _documented() == expected
