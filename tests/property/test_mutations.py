"""Broken input gives diagnostics, never a crash; a targeted break gives its exact diagnostic.

Random breaks (any key deleted, any value swapped for an odd one, the text truncated, spliced,
re-indented) check what holds for every input: known codes, positions inside the file, output
order, nothing reported twice, no artifacts next to an error, the same answer twice. Targeted
breaks (tests/property/mutations.py) each name the one code they must produce and the node it
must point at.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from osiris.compiler.api import CompileOptions, compile_text
from osiris.compiler.render import render_json, render_sarif, render_text
from tests.property.mutations import MUTATIONS, locate
from tests.property.strategies import Generated, dump, pipelines
from tests.support.diagnostic_checks import assert_well_formed

OPTIONS = CompileOptions(search_connections=False, env={})
ODD_VALUES = [None, True, 0, -1, 1.5, "", "x", [], {}, [1, "a"], {"k": [None]}, "${", "${params.nope}",
              "@", "@a.b", "${a.b.c}", "$${x}", 10**30]


def _walk(value: Any, path: tuple = ()) -> list[tuple]:
    paths = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            paths += _walk(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            paths += _walk(v, (*path, i))
    return paths


def _parent(data: Any, path: tuple) -> Any:
    for part in path[:-1]:
        data = data[part]
    return data


def _mutate_data(data: Any, rng: random.Random) -> str:
    data = json.loads(json.dumps(data))
    path = rng.choice([p for p in _walk(data) if p])
    parent, last = _parent(data, path), path[-1]
    action = rng.randrange(3)
    if action == 0:
        del parent[last]  # delete a key or an item
    elif action == 1:
        parent[last] = rng.choice(ODD_VALUES)  # swap the type
    else:
        steps = data.get("steps")
        if isinstance(steps, list) and steps:
            steps.append(json.loads(json.dumps(rng.choice(steps))))  # duplicate a step
    return dump(data)


def _mutate_text(text: str, rng: random.Random, junk: str) -> str:
    action = rng.randrange(4)
    lines = text.splitlines(keepends=True)
    if action == 0:
        return text[:rng.randrange(len(text) + 1)]  # truncated
    if action == 1:
        at = rng.randrange(len(text) + 1)
        return text[:at] + junk + text[at:]  # inserted characters
    if action == 2 and lines:
        i = rng.randrange(len(lines))
        lines[i] = (" " * rng.randrange(1, 4) + lines[i]) if rng.random() < 0.5 else lines[i].lstrip()
        return "".join(lines)  # broken indentation
    if lines:
        del lines[rng.randrange(len(lines))]
    return "".join(lines)  # a line deleted


JUNK = st.one_of(st.text(max_size=4), st.binary(max_size=4).map(lambda b: b.decode("latin-1")),
                 st.sampled_from([":", "- ", "\t", "{", "]", "'", '"', "&a", "*a", "!!int", "|", "#", "\x00",
                                  "\ufeff", "---\n", "? "]))


def _assert_well_formed(text: str) -> None:
    result = compile_text(text, "broken.yaml", OPTIONS)  # must not raise
    assert_well_formed(result.diagnostics, {"broken.yaml": text})
    errors = [d for d in result.diagnostics if d.severity == "error"]
    assert result.ok == (not errors) and bool(result.artifacts) == result.ok
    again = compile_text(text, "broken.yaml", OPTIONS)
    assert again.diagnostics == result.diagnostics and again.artifacts == result.artifacts
    files = [("broken.yaml", result.diagnostics)]
    render_text(files, {"broken.yaml": text})
    render_json(files)
    render_sarif(files)


@pytest.mark.parametrize("name", sorted(MUTATIONS))
@settings(max_examples=12)
@given(generated=pipelines(max_steps=5), rng=st.randoms(use_true_random=False))
def test_each_targeted_break_gives_its_code_at_its_node(name: str, generated: Generated,
                                                         rng: random.Random) -> None:
    mutated = MUTATIONS[name](json.loads(json.dumps(generated.data)), rng)
    assume(mutated is not None)
    assert mutated is not None
    expected = mutated.expected
    result = compile_text(mutated.text, "broken.yaml", OPTIONS)
    assert_well_formed(result.diagnostics, {"broken.yaml": mutated.text})
    found = [d for d in result.diagnostics if d.code == expected.code]
    assert len(found) == 1, (expected, result.diagnostics)
    (hit,) = found
    assert hit.pointer == expected.pointer, (expected, hit)
    assert (hit.span.line, hit.span.column) == locate(mutated.text, expected), (expected, hit, mutated.text)
    other_errors = {d.code for d in result.diagnostics if d.severity == "error"} - {expected.code}
    assert other_errors <= mutated.also, (expected, result.diagnostics)
    assert not result.ok and not result.artifacts


@settings(max_examples=40)
@given(pipelines(max_steps=4), st.randoms(use_true_random=False), JUNK)
def test_text_mutations_give_diagnostics_not_exceptions(generated: Generated, rng: random.Random,
                                                       junk: str) -> None:
    _assert_well_formed(_mutate_text(generated.text, rng, junk))


@settings(max_examples=40)
@given(pipelines(max_steps=4), st.randoms(use_true_random=False))
def test_data_mutations_give_diagnostics_not_exceptions(generated: Generated, rng: random.Random) -> None:
    _assert_well_formed(_mutate_data(generated.data, rng))


@settings(max_examples=60)
@given(st.text(max_size=200))
def test_arbitrary_text_gives_diagnostics_not_exceptions(text: str) -> None:
    _assert_well_formed(text)


def test_surrogate_escapes_are_diagnosed() -> None:
    _assert_well_formed('oml_version: "0.1.0"\nname: p\nsteps:\n  - id: a\n'
                        '    component: filesystem.csv_extractor\n    config: {path: "\\ud800.csv"}\n')
