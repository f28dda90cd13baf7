"""A diagnostic about the whole file is reported at 1:1 without a misleading source excerpt; line
diagnostics keep theirs."""

from __future__ import annotations

from pathlib import Path

from osiris.compiler.api import CompileOptions, compile_text
from osiris.compiler.render import render_text
from osiris.oml.span import Span

NO_CONNECTIONS = CompileOptions(search_connections=False)


def _check(text: str, name: str = "p.yaml") -> str:
    result = compile_text(text, name, NO_CONNECTIONS)
    return render_text([(name, result.diagnostics)], {name: text})


def test_whole_file_span_is_reported_at_1_1_without_an_excerpt() -> None:
    span = Span.whole_file("p.yaml")
    assert (span.line, span.column, span.end_line, span.end_column) == (1, 1, 1, 2)
    assert span.file_level and not Span.point("p.yaml").file_level


def test_missing_top_level_keys_get_no_misleading_excerpt() -> None:
    out = _check('oml_version: "0.1.0"\n')
    assert "missing required key 'name'" in out and "missing required key 'steps'" in out
    assert " | " not in out  # no caret under `oml_version`
    out = _check("name: x\nsteps: []\n")
    assert "missing required key 'oml_version'" in out
    assert " 1 | name: x" not in out


def test_line_diagnostics_still_get_their_excerpt() -> None:
    out = _check('oml_version: "0.1.0"\nname: "bad name!"\nsteps: []\n')
    assert "OML010" in out and ' 2 | name: "bad name!"' in out


def test_no_connections_warning_has_no_excerpt() -> None:
    text = Path("golden/invalid/OML070-no-connections-file.yaml").read_text(encoding="utf-8")
    out = _check(text, "x.yaml")
    assert "OML070" in out and " 1 | " not in out
