"""OML047: an incremental extractor compiles only when one writer can keep its state with the rows."""

from __future__ import annotations

import pytest

from osiris.compiler.api import CompileOptions, compile_text

HEAD = 'oml_version: "0.1.0"\nname: inc\nsteps:\n'
READ = """  - id: read
    component: postgres.extractor
    config: {table: src, incremental: {cursor: updated_at%s}%s}
"""


def _writer(step_id: str, component: str, config: str, needs: str = "read") -> str:
    return f"  - id: {step_id}\n    component: {component}\n    needs: [{needs}]\n    config: {{{config}}}\n"


def _codes(text: str) -> list[tuple[str, int, str]]:
    result = compile_text(text, "p.yaml", CompileOptions(search_connections=False))
    return [(d.code, d.span.line, d.message) for d in result.diagnostics if d.severity == "error"]


@pytest.mark.parametrize("incremental, extra, writers", [
    ("", "", _writer("save", "postgres.writer", "table: dst")),
    (", strategy: '>='", "", _writer("save", "mysql.writer", "table: dst, write_mode: upsert, primary_key: id")),
    (", lookback: 2h, primary_key: [id]", "", _writer("save", "postgres.writer",
                                                       "table: dst, write_mode: upsert, primary_key: id")),
    ("", "", _writer("save", "filesystem.parquet_writer", "path: out/delta.parquet")),
    ("", "", "  - id: shape\n    component: duckdb.processor\n    needs: [read]\n"
             "    config: {query: SELECT * FROM read}\n" + _writer("save", "filesystem.csv_writer",
                                                               "path: out/d.csv", needs="shape")),
], ids=["append", "upsert-ge", "lookback-upsert", "file-keeper", "through-a-transform"])
def test_one_state_keeping_writer_compiles(incremental: str, extra: str, writers: str) -> None:
    assert _codes(HEAD + READ % (incremental, extra) + writers) == []


@pytest.mark.parametrize("incremental, extra, writers, line, words", [
    ("", "", _writer("a", "postgres.writer", "table: x") + _writer("b", "postgres.writer", "table: y"),
     6, "reaches 2 writers"),
    ("", "", "", 6, "reaches 0 writers"),
    ("", "", _writer("save", "postgres.writer", "table: x, write_mode: replace"), 10, "replaces its table"),
    (", lookback: 10", "", _writer("save", "postgres.writer", "table: x, write_mode: append"), 10,
     "appends them a second time"),
    (", lookback: 10, primary_key: id", "", _writer("save", "postgres.writer",
                                                     "table: x, write_mode: upsert, primary_key: [id, v]"),
     6, "equal to writer 'save'"),
    ("", ", limit: 5", _writer("save", "postgres.writer", "table: x"), 6, "combines `limit`"),
], ids=["two-writers", "no-writer", "replace", "lookback-append", "lookback-key", "limit"])
def test_each_rule_is_reported_where_it_is_broken(incremental: str, extra: str, writers: str, line: int,
                                                   words: str) -> None:
    errors = [e for e in _codes(HEAD + READ % (incremental, extra) + writers) if e[0] == "OML047"]
    assert len(errors) == 1, errors
    code, at, message = errors[0]
    assert words in message and at == line, errors


def test_a_writer_without_the_keeps_state_capability_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every shipped writer keeps state now; a component spec without `keeps_state` (a new or
    third-party writer) is still refused."""
    from osiris.compiler.spec_cache import default_registry

    monkeypatch.setitem(default_registry().components["supabase.writer"].capabilities, "keeps_state", False)
    errors = [e for e in _codes(HEAD + READ % ("", "") + _writer("save", "supabase.writer", "table: x"))
              if e[0] == "OML047"]
    assert len(errors) == 1 and "cannot keep incremental state" in errors[0][2] and errors[0][1] == 6, errors
