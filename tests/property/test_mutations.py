"""Broken input never crashes the compiler: every failure is a diagnostic with a position."""

from __future__ import annotations

import json
import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.api import CompileOptions, compile_text
from compiler.render import render_json, render_sarif, render_text
from oml.codes import CATALOG
from tests.property.strategies import Generated, dump, pipelines

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
    for d in result.diagnostics:
        assert d.code in CATALOG
        assert d.span.line >= 1 and d.span.column >= 1, d
        assert d.message
    files = [("broken.yaml", result.diagnostics)]
    render_text(files, {"broken.yaml": text})
    render_json(files)
    render_sarif(files)


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
