"""`omlc fmt` on random pipelines in random spellings: idempotent, and the meaning stays."""

from __future__ import annotations

import json
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from osiris.compiler.api import CompileOptions, compile_text
from osiris.compiler.fmt import format_text
from tests.property.strategies import Generated, dump, pipelines, shuffled, with_comments

OPTIONS = CompileOptions(search_connections=False, env={})


def _fingerprints(text: str) -> dict[str, str]:
    result = compile_text(text, "pipeline.yaml", OPTIONS)
    assert result.ok, [(d.code, d.message) for d in result.diagnostics]
    return json.loads(result.artifacts["meta.json"])["fingerprints"]


@settings(max_examples=15)
@given(pipelines(), st.randoms(use_true_random=False))
def test_fmt_is_idempotent_and_keeps_meaning(generated: Generated, rng: random.Random) -> None:
    text = with_comments(dump(shuffled(generated.data, rng), flow=rng.random() < 0.3), rng)
    once = format_text(text)
    assert format_text(once) == once
    assert _fingerprints(once) == _fingerprints(generated.text)
    assert once.count("# a comment") == text.count("# a comment")
    assert once.count("# trailing") == text.count("# trailing")


@settings(max_examples=10)
@given(pipelines())
def test_fmt_output_does_not_depend_on_the_input_style(generated: Generated) -> None:
    """Same data, same key order, no comments: block, flow and JSON text format identically
    (numbers keep their spelling, so pipelines with floats are compared by meaning only)."""
    outputs = {format_text(t) for t in (generated.text, dump(generated.data, flow=True),
                                        json.dumps(generated.data, ensure_ascii=False))}
    if not generated.has_floats:
        assert len(outputs) == 1, outputs
    assert len({json.dumps(_fingerprints(o), sort_keys=True) for o in outputs}) == 1
