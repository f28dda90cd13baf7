"""NaN and infinity in a step config are OML044 (JSON cannot carry them), and nothing is written."""

from __future__ import annotations

from osiris.compiler.api import CompileOptions, compile_text
from osiris.compiler.render import render_text

NO_CONNECTIONS = CompileOptions(search_connections=False)


def _check(text: str, name: str = "p.yaml") -> str:
    result = compile_text(text, name, NO_CONNECTIONS)
    return render_text([(name, result.diagnostics)], {name: text})


def test_nan_in_config_is_still_oml044() -> None:
    text = ('oml_version: "0.1.0"\nname: p\nsteps:\n  - id: a\n    component: supabase.extractor\n'
            '    mode: read\n    config: {connection: "@supabase.main", table: t, filter: {total: .nan}}\n')
    result = compile_text(text, "p.yaml", NO_CONNECTIONS)
    assert [d.code for d in result.diagnostics if d.severity == "error"] == ["OML044"]
    assert "NaN and infinity" in _check(text) and result.artifacts == {}
