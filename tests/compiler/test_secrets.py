"""No secret reaches a compiled artifact: connection secrets stay references."""

from __future__ import annotations

from tests.compiler.golden_harness import GOLDEN, compile_valid


def test_connection_secrets_never_reach_artifacts() -> None:
    case = GOLDEN / "valid" / "mysql-to-postgres"
    result = compile_valid(case)
    assert result.ok
    blob = b"".join(result.artifacts.values())
    for secret in (b"not-in-any-artifact-1", b"not-in-any-artifact-2", b"loader:", b"postgresql://"):
        assert secret not in blob
    manifest = result.compiled.manifest
    assert [(s.id, s.family, s.connection) for s in manifest.steps] == [
        ("extract-movies", "mysql", "@mysql.movies"), ("stats", None, None),
        ("load", "postgres", "@postgres.warehouse")]
    assert b"connection" not in result.artifacts["cfg.json"]  # the reference lives once, in the manifest
