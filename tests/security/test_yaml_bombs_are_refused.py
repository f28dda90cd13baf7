"""Hostile YAML is refused while it is read, with a code, before anything is expanded.

A 500-byte "billion laughs" document took 9-15 s to reject: the tree builder expanded every
alias and counted nodes as it went. Now the composer (oml/yaml_compose.py) counts what each
anchor stands for and stops at the first alias that would multiply the document (OML012),
at the 101st nesting level (OML013, where libyaml's C composer used to segfault) and at one
value per 8 bytes of the input cap (OML013). Every reader goes through that loader: omlc
check/compile/fmt/graph, osiris run, chat's drafts, the connections file.

No test asserts a time: each has a pytest-timeout of a few seconds, so a regression to
expanding (seconds to minutes) fails instead of passing slowly.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from osiris.compiler.api import CompileOptions, compile_text
from osiris.compiler.fmt import format_text
from osiris.compiler.fmt_tree import FormatError
from osiris.oml.diagnostics import Diagnostics
from osiris.oml.yaml_loader import load_yaml
from tests.conftest import REPO

pytestmark = pytest.mark.timeout(20)

HEAD = 'oml_version: "0.1.0"\nname: bomb\n'
STEPS = "steps:\n  - id: extract\n    component: filesystem.csv_extractor\n    config: {path: data/in.csv}\n"


def _laughs(levels: int = 9, width: int = 9) -> str:
    """Each anchor repeats the previous one `width` times: width**levels values in a few lines."""
    lines = [f"  l0: &l0 [{', '.join(['lol'] * width)}]"]
    lines += [f"  l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels)]
    return HEAD + "metadata:\n" + "\n".join(lines) + "\n" + STEPS


def _merge_laughs(levels: int = 25) -> str:
    """The same through merge keys: each mapping merges and repeats the one before it."""
    lines = ["  m0: &m0 {a: 1, b: 2}"]
    lines += [f"  m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}], x: *m{i - 1}, y: *m{i - 1}}}" for i in range(1, levels)]
    return HEAD + "metadata:\n" + "\n".join(lines) + "\n" + STEPS


def _map_values_laughs() -> str:
    """Aliases as mapping values and as keys' siblings, at the top level of a step config."""
    lines = ["x-a: &a {k1: v, k2: v, k3: v, k4: v, k5: v, k6: v, k7: v, k8: v}"]
    for i, prev in zip("bcdefgh", "abcdefg", strict=True):
        lines.append(f"x-{i}: &{i} {{" + ", ".join(f"k{j}: *{prev}" for j in range(8)) + "}")
    return HEAD + "\n".join(lines) + "\n" + STEPS


BOMBS = {
    "billion-laughs": (_laughs(), "OML012"),
    "merge-key-laughs": (_merge_laughs(), "OML012"),
    "mapping-value-laughs": (_map_values_laughs(), "OML012"),
    "bomb-in-a-step-config": (HEAD + "steps:\n  - id: s\n    component: filesystem.csv_extractor\n    config:\n"
                              "      path: &p [a, a, a, a, a, a, a, a]\n"
                              "      q: &q [*p, *p, *p, *p, *p, *p, *p, *p]\n"
                              "      r: &r [*q, *q, *q, *q, *q, *q, *q, *q]\n"
                              "      s: &s [*r, *r, *r, *r, *r, *r, *r, *r]\n"
                              "      t: &t {<<: *s, u: *s, v: *s, w: *s, x: *s, y: *s, z: *s}\n", "OML012"),
    "long-string-repeated": (HEAD + "metadata:\n  sql: &sql '" + "SELECT 1 UNION ALL " * 5_000 + "SELECT 1'\n"
                             "  copies: [" + ", ".join(["*sql"] * 50) + "]\n" + STEPS, "OML012"),
    "recursive-sequence": (HEAD + "metadata: &r [a, *r]\n" + STEPS, "OML012"),
    "recursive-mapping": (HEAD + "metadata: &r {a: {b: *r}}\n" + STEPS, "OML012"),
    "recursive-merge": (HEAD + "metadata: &r {<<: *r}\n" + STEPS, "OML012"),
    "deep-flow-sequence": (HEAD + "metadata: " + "[" * 200_000 + "]" * 200_000 + "\n" + STEPS, "OML013"),
    "deep-flow-mapping": (HEAD + "metadata: " + "{a: " * 50_000 + "1" + "}" * 50_000 + "\n" + STEPS, "OML013"),
    "unclosed-deep-flow": (HEAD + "metadata: " + "[" * 200_000 + "\n", "OML013"),
    "deep-block-sequence": (HEAD + "metadata:\n" + "- " * 5_000 + "x\n" + STEPS, "OML013"),
    "deep-block-mapping": (HEAD + "metadata:\n" + "".join(" " * i + f"k{i}:\n" for i in range(1, 400)) + STEPS,
                           "OML013"),
    "alias-used-deep-down": (HEAD + "metadata:\n  a: &deep " + "[" * 60 + "]" * 60 + "\n  b: " + "[" * 60
                             + "*deep" + "]" * 60 + "\n" + STEPS, "OML013"),
    "too-many-values": (HEAD + "metadata:\n  x: [" + ",".join(["1"] * 600_000) + "]\n" + STEPS, "OML013"),
}


def _codes(text: str, **env: str) -> set[str]:
    result = compile_text(text, "bomb.yaml", CompileOptions(search_connections=False, env=env))
    return {d.code for d in result.diagnostics if d.severity == "error"}


@pytest.mark.parametrize(("text", "code"), BOMBS.values(), ids=BOMBS.keys())
def test_bomb_is_refused_with_its_code(text: str, code: str) -> None:
    assert _codes(text) == {code}


def test_the_refusal_points_at_the_alias_that_multiplies() -> None:
    diagnostics = Diagnostics()
    assert load_yaml(_laughs(), "bomb.yaml", diagnostics) is None
    (found,) = list(diagnostics)
    assert found.code == "OML012" and "values and counting" in found.message
    assert found.span.line in range(4, 12) and found.help


def test_a_bomb_libyaml_rejects_is_refused_by_the_second_parser_too() -> None:
    """`[b:c]` is YAML 1.2 that libyaml refuses, so the pure parser reads the file again: the
    same composer and limits apply on that path."""
    text = _laughs().replace("steps:", "x-corner: [b:c]\nsteps:")
    with pytest.raises(YAMLError):
        YAML(typ="safe", pure=False).compose(text)
    assert "OML012" in _codes(text)


def test_reuse_within_the_alias_budget_still_compiles() -> None:
    """Anchors for shared settings are fine: a few values, or a long string, repeated a few times."""
    text = HEAD + ("metadata:\n  owner: &who {team: data, pager: '#data'}\n  reviewers: [*who, *who, *who]\n"
                   "  sql: &sql '" + "SELECT 1 UNION ALL " * 2_000 + "SELECT 1'\n  again: [*sql, *sql, *sql]\n"
                   "  deep: " + "[" * 90 + "]" * 90 + "\n") + STEPS
    assert _codes(text) == set()


def test_a_big_scalar_is_one_value() -> None:
    """What is limited is structure, not text: a 3 MB SQL string is one value."""
    query = "SELECT 1 AS x\n" + "UNION ALL SELECT 1\n" * 60_000
    text = HEAD + STEPS + "  - id: big\n    component: duckdb.processor\n    needs: [extract]\n" \
        "    config:\n      query: |\n" + "".join(f"        {line}\n" for line in query.splitlines())
    assert len(text) > 1_000_000
    assert _codes(text) == set()


def test_the_value_limit_follows_the_input_cap() -> None:
    """One value per 8 bytes of the cap: 8,192 at 64 KiB, 131,072 at 1 MiB."""
    text = HEAD + "metadata: {" + ", ".join(f"k{i}: 1" for i in range(5_000)) + "}\n" + STEPS
    assert len(text) < 64 * 1024
    assert _codes(text, OSIRIS_MAX_INPUT_SIZE="64KiB") == {"OML013"}
    assert _codes(text, OSIRIS_MAX_INPUT_SIZE="1MiB") == set()


@pytest.mark.parametrize("name", ["billion-laughs", "merge-key-laughs", "deep-flow-sequence"])
def test_omlc_fmt_refuses_the_bomb_too(name: str) -> None:
    with pytest.raises(FormatError) as caught:
        format_text(BOMBS[name][0])
    assert caught.value.code == BOMBS[name][1]


def test_chat_drafts_go_through_the_same_loader() -> None:
    from osiris.llm.repair import check_oml

    result = check_oml(_merge_laughs(), env={})
    assert not result.ok and {d.code for d in result.diagnostics} == {"OML012"}


def _cli(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}
    return subprocess.run([sys.executable, *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=60,
                          check=False)


@pytest.mark.parametrize("command", [["check"], ["compile", "--out", "build"], ["graph"], ["fmt", "--check"]])
def test_every_omlc_command_refuses_the_bomb(tmp_path: Path, command: list[str]) -> None:
    (tmp_path / "bomb.yaml").write_text(_laughs(), encoding="utf-8")
    done = _cli("-m", "osiris.cli.omlc", command[0], "bomb.yaml", *command[1:], cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "error[OML012]" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "build").exists()


def test_osiris_run_records_the_refusal_in_a_failed_session(tmp_path: Path) -> None:
    (tmp_path / "bomb.yaml").write_text(_merge_laughs(), encoding="utf-8")
    done = _cli("-m", "osiris.cli.osiris", "run", "bomb.yaml", "--run-id", "bomb", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "error[OML012]" in done.stderr
    status = (tmp_path / ".osiris" / "sessions" / "bomb" / "status.json").read_text(encoding="utf-8")
    assert '"status": "failed"' in status


def test_a_bomb_in_the_connections_file_is_refused(tmp_path: Path) -> None:
    """The connections file is trusted, but it must not hang the tools either."""
    (tmp_path / "osiris_connections.yaml").write_text(
        "version: 1\nconnections:\n  postgres:\n"
        + "".join(f"    x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * 9) if i else 'a'}]\n" for i in range(9)),
        encoding="utf-8")
    (tmp_path / "p.yaml").write_text(HEAD + STEPS, encoding="utf-8")
    done = _cli("-m", "osiris.cli.omlc", "check", "p.yaml", cwd=tmp_path)
    assert done.returncode == 1 and "osiris_connections.yaml" in done.stderr and "error[OML012]" in done.stderr
