"""What every list of diagnostics the compiler returns must satisfy, whatever the input.

Shared by the golden corpus checks and the property tests, so "well formed" means one thing.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence

from osiris.oml.codes import CATALOG
from osiris.oml.diagnostics import Diagnostic

INTERNAL_ERROR = "OML090"
YAML_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
"""What YAML counts as a line break (ruamel, like YAML 1.1, counts NEL, LS and PS too)."""


def assert_well_formed(diagnostics: Sequence[Diagnostic], sources: Mapping[str, str]) -> None:
    """Known codes, positions inside their file, output order, no problem reported twice.

    `sources` maps file labels to their text; a diagnostic about another file (the command
    line, say) only needs a position of at least 1:1."""
    for d in diagnostics:
        assert d.code in CATALOG and d.code != INTERNAL_ERROR, d
        assert d.severity in ("error", "warning", "note") and d.message.strip(), d
        span = d.span
        assert span.line >= 1 and span.column >= 1, d
        assert (span.end_line, span.end_column) >= (span.line, span.column), d
        assert d.pointer == "" or d.pointer.startswith("/"), d
        if span.file not in sources:
            continue
        lines = YAML_LINE_BREAK.split(sources[span.file])
        assert span.line <= len(lines), f"{d.code} at line {span.line} of a {len(lines)}-line text"
        assert span.column <= len(lines[span.line - 1]) + 1, (
            f"{d.code} at {span.line}:{span.column}, the line has {len(lines[span.line - 1])} characters")
    assert list(diagnostics) == sorted(diagnostics, key=Diagnostic.sort_key), "not in output order"
    repeated = [d for d, n in Counter(diagnostics).items() if n > 1]
    assert not repeated, f"reported twice for one cause (fix the pass that reports it): {repeated}"


def positions(diagnostics: Sequence[Diagnostic]) -> list[tuple[int, int, str]]:
    """(line, column, code) of each diagnostic, in the order given."""
    return [(d.span.line, d.span.column, d.code) for d in diagnostics]
