"""`omlc fmt`: canonical, idempotent, comment-keeping, and never a change in meaning."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from osiris.cli.omlc import main
from osiris.compiler.api import CompileOptions, compile_text
from osiris.compiler.fmt import FormatError, format_text
from tests.compiler.golden_harness import invalid_cases, valid_cases
from tests.conftest import CONFORMANCE, REPO

MESSY = """\
# Orders pipeline.
# Second header line.

name: orders   # the name
oml_version: '0.1.0'
params:
  limit: {default: 10, type: integer}
steps:
# first step
- config: {path: "data/orders.csv", delimiter: ","}
  component: filesystem.csv_extractor
  id: "extract"
- retry: {backoff_seconds: 2, max_attempts: 3}
  id: top
  config:
    query: |
      SELECT *
      FROM extract   -- keep me
      LIMIT ${params.limit}
  needs:
    - extract
  component: duckdb.processor  # the engine
    # about the writer
- id: write
  component: filesystem.csv_writer
  needs: [ "top" ]
  config:
    path: out/top.csv
    connection: "@filesystem.local"
"""

CANONICAL = """\
# Orders pipeline.
# Second header line.

oml_version: "0.1.0"
name: orders  # the name
params:
  limit:
    type: integer
    default: 10
steps:
  # first step
  - id: extract
    component: filesystem.csv_extractor
    config:
      path: data/orders.csv
      delimiter: ","
  - id: top
    component: duckdb.processor  # the engine
    needs: [extract]
    config:
      query: |
        SELECT *
        FROM extract   -- keep me
        LIMIT ${params.limit}
    retry:
      max_attempts: 3
      backoff_seconds: 2
    # about the writer
  - id: write
    component: filesystem.csv_writer
    needs: [top]
    config:
      connection: "@filesystem.local"
      path: out/top.csv
"""


def _comments(text: str) -> list[str]:
    return sorted(m.group(0).rstrip() for m in re.finditer(r"(?m)(?<=\s)#.*$|^#.*$", text))


def _sources() -> list[tuple[str, str]]:
    found = [(f"golden/{c.name}", (c / "pipeline.yaml").read_text(encoding="utf-8")) for c in valid_cases()]
    found += [(f"golden/{p.stem}", p.read_text(encoding="utf-8")) for p in invalid_cases()
              if not p.name.startswith(("OML001", "OML009", "OML012", "OML013"))]
    found += [(f"examples/{p.parent.name}", p.read_text(encoding="utf-8"))
              for p in sorted((REPO / "examples").glob("*/pipeline.yaml"))]
    found += [(f"upstream/{p.stem}", p.read_text(encoding="utf-8"))
              for p in sorted((CONFORMANCE / "examples").glob("*.yaml"))]
    return [*found, ("messy", MESSY)]


SOURCES = _sources()


def test_canonical_style() -> None:
    assert format_text(MESSY) == CANONICAL


@pytest.mark.parametrize("text", [t for _, t in SOURCES], ids=[label for label, _ in SOURCES])
def test_idempotent_and_keeps_every_comment(text: str) -> None:
    once = format_text(text)
    assert format_text(once) == once
    assert once.endswith("\n") and not once.endswith("\n\n") and "\r" not in once
    assert _comments(once) == _comments(text)


def _compiled(text: str) -> dict[str, bytes]:
    options = CompileOptions(search_connections=False, env={})
    result = compile_text(text, "pipeline.yaml", options)
    return {k: v for k, v in result.artifacts.items() if k != "sourcemap.json"}


@pytest.mark.parametrize("case", valid_cases(), ids=lambda c: c.name)
def test_formatting_never_changes_the_compiled_output(case: Path) -> None:
    text = (case / "pipeline.yaml").read_text(encoding="utf-8")
    before, after = _compiled(text), _compiled(format_text(text))
    assert before == after
    fingerprints = json.loads(after["meta.json"])["fingerprints"] if after else {}
    assert not after or fingerprints["manifest_fp"].startswith("sha256:")


def test_messy_file_compiles_to_the_same_manifest() -> None:
    assert _compiled(MESSY) == _compiled(CANONICAL)


def test_comments_move_with_their_keys() -> None:
    text = "name: x\n# the version\noml_version: \"0.1.0\"\nsteps: []\n"
    assert format_text(text) == "# the version\noml_version: \"0.1.0\"\nname: x\nsteps: []\n"
    step = "steps:\n  - component: c  # comp\n    # about the id\n    id: a\n"
    assert format_text(step) == "steps:\n  # about the id\n  - id: a\n    component: c  # comp\n"


def test_strings_are_quoted_only_when_needed() -> None:
    text = ("a: 'plain'\nb: \"yes\"\nc: '@x.y'\nd: \"it's\"\ne: '\"hi\" she said'\nf: \"1.0\"\ng: \"\"\n"
            "h: \"tab\\there\"\ni: '${params.x}'\nj: 'a: b'\nk: \"2024-01-01\"\nl: 0x1F\nm: ~\n")
    assert format_text(text) == (
        "a: plain\nb: \"yes\"\nc: \"@x.y\"\nd: it's\ne: '\"hi\" she said'\nf: \"1.0\"\ng: \"\"\n"
        "h: \"tab\\there\"\ni: ${params.x}\nj: \"a: b\"\nk: \"2024-01-01\"\nl: 0x1F\nm: ~\n")


def test_block_scalars_keep_their_style_and_folding() -> None:
    text = "q: >-\n    SELECT 1\n    FROM t\n\n      WHERE x\nr: \"two\\nlines\\n\"\ns: |+\n  kept\n\nt: 1\n"
    assert format_text(text) == ("q: >-\n  SELECT 1\n  FROM t\n\n    WHERE x\n"
                                 "r: |\n  two\n  lines\ns: |+\n  kept\n\nt: 1\n")


def test_line_endings_bom_and_blank_lines() -> None:
    text = "\ufeffa: 1\r\n\r\n\r\n\r\nb:\r\n\r\n  c: 2\r\n\r\n\r\n"
    assert format_text(text) == "a: 1\n\nb:\n  c: 2\n"
    assert format_text("") == ""
    assert format_text("# only a comment\n\n") == "# only a comment\n"


@pytest.mark.parametrize(("text", "line", "column"), [
    ("a: [1, 2\n", 1, 9),  # where `omlc check` points too: the end of the last line
    ("a: 1\n  b: 2\n", 2, 4),
    ("a: 1\na: 2\n", 2, 1),
    ("---\na: 1\n---\nb: 2\n", 3, 1),
])
def test_invalid_yaml_is_a_format_error_with_a_position(text: str, line: int, column: int) -> None:
    with pytest.raises(FormatError) as caught:
        format_text(text)
    assert (caught.value.line, caught.value.column) == (line, column)
    assert caught.value.code == ("OML009" if "repeated" in str(caught.value) else "OML001")


@pytest.mark.parametrize(("text", "code"), [("path: !!int abc\n", "OML001"), ("x: " + "[" * 3000 + "\n", "OML013"),
                                           ("n: !!bool maybe\n", "OML001")])
def test_values_and_shapes_check_rejects_are_format_errors_too(text: str, code: str) -> None:
    """fmt runs the compiler's loader first: its limits and messages, never a crash."""
    with pytest.raises(FormatError) as caught:
        format_text(text)
    assert caught.value.code == code


def test_cli_fmt_check_and_rewrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    messy = tmp_path / "messy.yaml"
    messy.write_text(MESSY, encoding="utf-8")
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [1, 2\n", encoding="utf-8")
    assert main(["fmt", "--check", str(messy)]) == 1
    assert messy.read_text(encoding="utf-8") == MESSY
    assert main(["fmt", str(messy)]) == 0
    assert messy.read_text(encoding="utf-8") == CANONICAL
    assert main(["fmt", "--check", str(messy)]) == 0
    assert main(["fmt", str(broken)]) == 1
    assert f"{broken}:1:9: error[OML001]" in capsys.readouterr().err
    assert broken.read_text(encoding="utf-8") == "a: [1, 2\n"
