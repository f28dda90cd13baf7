"""Whole-file spans, single serialisation of step configs, the plan's derived data, and
connections resolved from the pieces parsed at load time."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from osiris.compiler.api import CompileOptions, compile_text
from osiris.compiler.checks.config import explainer_for
from osiris.compiler.connections import load_connections
from osiris.compiler.render import render_text
from osiris.compiler.spec_cache import default_registry
from osiris.oml.canonical import fingerprint
from osiris.oml.diagnostics import Diagnostics
from osiris.oml.span import Span
from tests.compiler.golden_harness import compile_valid, valid_cases

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


def test_cfg_fingerprints_match_the_cfg_files() -> None:
    for case in valid_cases():
        result = compile_valid(case)
        manifest = yaml.safe_load(result.artifacts["manifest.yaml"])
        for step in manifest["steps"]:
            cfg = json.loads(result.artifacts[step["cfg"]])
            assert step["cfg_fp"] == fingerprint(cfg), (case.name, step["id"])


def test_nan_in_config_is_still_oml044() -> None:
    text = ('oml_version: "0.1.0"\nname: p\nsteps:\n  - id: a\n    component: supabase.extractor\n'
            '    mode: read\n    config: {connection: "@supabase.main", table: t, filter: {total: .nan}}\n')
    result = compile_text(text, "p.yaml", NO_CONNECTIONS)
    assert [d.code for d in result.diagnostics if d.severity == "error"] == ["OML044"]
    assert "NaN and infinity" in _check(text) and result.artifacts == {}


def test_plan_levels_and_level_of_agree() -> None:
    for case in valid_cases():
        result = compile_valid(case)
        plan = result.pipeline.plan
        assert plan is not None
        level_of = plan.level_of
        assert sorted(level_of) == sorted(plan.order)
        for n, level in enumerate(plan.levels):
            assert all(level_of[s] == n for s in level)
        for step in result.pipeline.steps:
            assert all(level_of[d] < level_of[step.id] for d in step.depends_on)
        assert "level_of" not in plan.model_dump() and "needs" not in plan.model_dump()


def test_explainer_is_cached_per_name_and_fingerprint() -> None:
    registry = default_registry()
    spec = next(iter(registry.components.values()))
    assert explainer_for(spec) is explainer_for(spec)
    changed = spec.model_copy(update={"fingerprint": spec.fingerprint + "x"})
    assert explainer_for(changed) is not explainer_for(spec)


CONNECTIONS = """\
version: 1
connections:
  mysql:
    shop:
      host: ${DB_HOST:-localhost}
      database: shop
      user: reader
      password: pre-${MYSQL_PASSWORD}-post
      default: true
"""


def test_connections_resolve_from_parsed_pieces(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(CONNECTIONS)
    d = Diagnostics()
    conns = load_connections(path, "c.yaml", default_registry(), d)
    assert conns is not None and not d.has_errors, list(d)
    decl = conns.lookup("mysql", "shop")
    assert decl is not None
    assert sorted(decl.env_refs) == ["host", "password"]
    assert [r.name for r in decl.env_refs["password"]] == ["MYSQL_PASSWORD"]
    resolved = conns.resolve("mysql", "shop", {"MYSQL_PASSWORD": "s3cret"})
    assert resolved.fields["host"] == "localhost"
    assert resolved.fields["password"] == "pre-s3cret-post"
    assert resolved.fields["database"] == "shop"
    assert "password" in resolved.secret_fields
    assert conns.secret_fields["mysql"] == resolved.secret_fields
    missing = conns.resolve("mysql", "shop", {})
    assert missing.missing_env == ("MYSQL_PASSWORD",) and missing.fields["password"] == "pre--post"
