"""Pipelines written for the original Osiris (OML v0.1.0) check and compile here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from osiris.compiler.api import CompileOptions, compile_path
from tests.conftest import CONFORMANCE

CONNECTIONS = """version: 1
connections:
  mysql:
    db_movies:
      host: 127.0.0.1
      database: movies
      user: root
      password: ${MYSQL_PASSWORD:-}
  supabase:
    main:
      url: http://127.0.0.1:54321
      service_role_key: ${SUPABASE_SERVICE_ROLE_KEY}
"""
EXAMPLES = sorted((CONFORMANCE / "examples").glob("*.yaml"))


def test_the_conformance_examples_are_present() -> None:
    assert len(EXAMPLES) >= 5, f"expected the upstream examples under {CONFORMANCE}"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_upstream_example_compiles_without_errors(example: Path, tmp_path: Path) -> None:
    conns = tmp_path / "osiris_connections.yaml"
    conns.write_text(CONNECTIONS)
    options = CompileOptions(connections=conns, env={"SUPABASE_SERVICE_ROLE_KEY": "k"})
    result = compile_path(example, options, label=example.name)
    assert result.ok, [f"{d.span.line}:{d.code} {d.message}" for d in result.diagnostics]
    assert not [d for d in result.diagnostics if d.severity != "note"], result.diagnostics
    manifest = result.artifacts["manifest.yaml"].decode()
    assert "@mysql.db_movies" in manifest
    # The original made every step depend on the one before it; here only declared edges exist.
    meta = json.loads(result.artifacts["meta.json"])
    assert meta["pipeline"]["source"] == example.name


def test_debug_example_fans_out_without_implicit_chaining(tmp_path: Path) -> None:
    conns = tmp_path / "c.yaml"
    conns.write_text(CONNECTIONS)
    result = compile_path(CONFORMANCE / "examples" / "mysql_duckdb_supabase_debug.yaml",
                          CompileOptions(connections=conns, env={"SUPABASE_SERVICE_ROLE_KEY": "k"}))
    plan = result.pipeline.plan
    assert plan.levels[0] == ("extract-movies",)
    assert set(plan.levels[1]) == {"compute-director-stats", "debug-mysql-extract"}
    assert result.pipeline.step("debug-final-output").depends_on == ("compute-director-stats",)
