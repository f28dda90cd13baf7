"""Properties of compiling random valid pipelines: success, determinism, fingerprints."""

from __future__ import annotations

import json
import random
from typing import Any

from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from osiris.compiler.api import CompileOptions, CompileResult, compile_text
from osiris.compiler.manifest import Manifest
from osiris.compiler.spec_cache import default_registry
from osiris.oml.lower import STEP_ID_RE
from tests.property.mutations import Expected, locate
from tests.property.strategies import Generated, dump, pipelines, shuffled, with_comments
from tests.support.diagnostic_checks import assert_well_formed

OPTIONS = CompileOptions(search_connections=False, env={})


def _compile(text: str) -> CompileResult:
    return compile_text(text, "pipeline.yaml", OPTIONS)


def _fingerprints(result: CompileResult) -> dict[str, str]:
    assert result.ok, [(d.code, d.message) for d in result.diagnostics]
    return json.loads(result.artifacts["meta.json"])["fingerprints"]


@settings(max_examples=30)
@given(pipelines())
def test_valid_pipelines_compile_deterministically(generated: Generated) -> None:
    first, second = _compile(generated.text), _compile(generated.text)
    assert [d for d in first.diagnostics if d.severity == "error"] == []
    assert_well_formed(first.diagnostics, {"pipeline.yaml": generated.text})
    assert first.artifacts == second.artifacts  # every file, byte for byte
    assert first.diagnostics == second.diagnostics
    data = YAML(typ="safe", pure=True).load(first.artifacts["manifest.yaml"].decode("utf-8"))
    manifest = Manifest.model_validate(data)
    assert manifest.to_data() == data
    assert manifest.fingerprint() == _fingerprints(first)["manifest_fp"]


@settings(max_examples=15)
@given(pipelines(), st.randoms(use_true_random=False))
def test_spelling_does_not_change_fingerprints(generated: Generated, rng: random.Random) -> None:
    """Key order, comments, quoting, flow or block style and indentation are not meaning."""
    expected = _fingerprints(_compile(generated.text))
    variants = [
        # JSON is YAML (but not with ensure_ascii: YAML reads "\ud83d\ude00" as two lone surrogates)
        json.dumps(shuffled(generated.data, rng), ensure_ascii=False),
        dump(shuffled(generated.data, rng), flow=True),
        with_comments(dump(generated.data, indent=(4, 6, 4)), rng),
    ]
    for text in variants:
        assert _fingerprints(_compile(text)) == expected, text


def _literal_keys(config: dict[str, Any]) -> list[str]:
    return sorted(k for k, v in config.items()
                  if isinstance(v, (bool, int, str)) and not (isinstance(v, str) and "${" in v))


def _changed(value: Any, prop: dict[str, Any], rng: random.Random) -> Any:
    """Another valid value for `prop`."""
    if "enum" in prop:
        return rng.choice([v for v in prop["enum"] if v != value])
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1 if value + 1 <= prop.get("maximum", value + 1) else value - 1
    if prop.get("pattern"):  # memory_limit: another number of the same unit
        return "1" + value
    if prop.get("maxLength") == 1:
        return "x" if value != "x" else "y"
    return value + "x"


@settings(max_examples=15)
@given(pipelines(), st.randoms(use_true_random=False))
def test_any_config_change_changes_fingerprints(generated: Generated, rng: random.Random) -> None:
    data = json.loads(json.dumps(generated.data))
    candidates = [(s, k) for s in data["steps"] for k in _literal_keys(s["config"])]
    assume(candidates)
    step, key = rng.choice(candidates)
    prop = default_registry().get(step["component"]).properties[key]
    step["config"][key] = _changed(step["config"][key], prop, rng)
    before, after = _fingerprints(_compile(generated.text)), _fingerprints(_compile(dump(data)))
    assert after["oml_fp"] != before["oml_fp"]
    assert after["manifest_fp"] != before["manifest_fp"]


def _two_steps(step_id: str) -> str:
    return dump({"oml_version": "0.1.0", "name": "ids", "steps": [
        {"id": step_id, "component": "filesystem.csv_extractor", "config": {"path": "in.csv"}},
        {"id": "write", "component": "filesystem.csv_writer", "needs": [step_id], "config": {"path": "o.csv"}},
    ]})


ACCEPTED_IDS = st.from_regex(STEP_ID_RE, fullmatch=True).filter(lambda i: i != "write")


@settings(max_examples=20)
@given(ACCEPTED_IDS)
def test_every_accepted_step_id_reads_back_from_the_manifest(step_id: str) -> None:
    result = _compile(_two_steps(step_id))
    data = YAML(typ="safe", pure=True).load(result.artifacts["manifest.yaml"].decode("utf-8"))
    manifest = Manifest.model_validate(data)
    assert manifest.fingerprint() == _fingerprints(result)["manifest_fp"]
    assert {s.id for s in manifest.steps} == {step_id, "write"}


@settings(max_examples=30)
@example(step_id="abc\n")  # `$` in a regex would let a final newline through; fullmatch does not
@example(step_id="-lead")
@example(step_id="x" * 65)
@given(st.one_of(st.text(max_size=70), st.from_regex(f"^{STEP_ID_RE.pattern}$"), ACCEPTED_IDS))
def test_a_step_id_is_accepted_exactly_when_it_fits_the_pattern(step_id: str) -> None:
    """Accepted ids compile; any other is one OML023 at the id (and references to it, OML032)."""
    assume(step_id != "write")
    text = _two_steps(step_id)
    result = _compile(text)
    assert_well_formed(result.diagnostics, {"pipeline.yaml": text})
    if STEP_ID_RE.fullmatch(step_id):
        assert result.ok, result.diagnostics
        return
    (invalid,) = [d for d in result.diagnostics if d.code == "OML023"]
    expected = Expected("OML023", "/steps/0/id", "value")
    assert (invalid.pointer, (invalid.span.line, invalid.span.column)) == (expected.pointer, locate(text, expected))
    errors = {d.code for d in result.diagnostics if d.severity == "error"}
    assert errors <= {"OML023", "OML032"} and not result.artifacts
