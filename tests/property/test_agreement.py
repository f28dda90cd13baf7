"""Two implementations of one rule must agree: the connection regex and the grammar, the
fast and the explaining config validators, and the artifact YAML emitter and a YAML reader."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from osiris.compiler.checks.config import explainer_for
from osiris.compiler.spec_cache import default_registry
from osiris.compiler.yaml_emit import dump_yaml
from osiris.oml.expr.parser import CONNECTION_FAST, _parser

NAMEISH = st.text(st.sampled_from("aZ_09-.@ $x{}\n\t"), max_size=12)
CONNECTION_LIKE = st.one_of(
    st.builds(lambda a, b: f"@{a}.{b}", NAMEISH, NAMEISH),
    st.from_regex(r"@?[A-Za-z_0-9-]*\.?[A-Za-z_0-9-]*", fullmatch=True),
    st.text(max_size=12),
)


@settings(max_examples=400)
@given(CONNECTION_LIKE)
def test_connection_fast_path_accepts_exactly_what_the_grammar_accepts(text: str) -> None:
    from lark.exceptions import UnexpectedInput

    try:
        _parser().parse(text, start="connection")
        grammar = True
    except UnexpectedInput:
        grammar = False
    assert (CONNECTION_FAST.fullmatch(text) is not None) == grammar


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 70000), st.floats(allow_nan=False, width=32),
                    st.text(max_size=6), st.sampled_from(["", "x", "gzip", "zstd", "5 MB", "1.5GiB", "lf"]))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=4), inner, max_size=3)),
                      max_leaves=6)
COMPONENTS = sorted(default_registry().components)


@st.composite
def configs(draw: Any) -> tuple[str, dict[str, Any]]:
    name = draw(st.sampled_from(COMPONENTS))
    keys = sorted(default_registry().components[name].properties)
    known = draw(st.dictionaries(st.sampled_from(keys), VALUES, max_size=4))
    unknown = draw(st.dictionaries(st.text(max_size=5), VALUES, max_size=1))
    return name, {**unknown, **known}


@settings(max_examples=300)
@given(configs())
def test_fast_and_explaining_validators_agree(case: tuple[str, dict[str, Any]]) -> None:
    from fastjsonschema import JsonSchemaValueException

    name, config = case
    registry = default_registry()
    try:
        registry.fast_validator(name)(config)
        fast = True
    except JsonSchemaValueException:
        fast = False
    assert explainer_for(registry.components[name]).is_valid(config) == fast, (name, config)


TRICKY = st.sampled_from(["1.0", "true", "null", "~", "yes", "no", "on", "- a", "a: b", "#x", "a #b", " lead",
                          "trail ", "'q'", '"dq"', "@x", "`", "%", "!", "&a", "*a", "|", ">", "{}", "[]",
                          "0x1F", "1e3", ".inf", "2024-01-01", "", "\t", "é", "日本", "line\nbreak", "\\"])


def _keys_and_values(text: st.SearchStrategy[str]) -> st.SearchStrategy[dict[str, Any]]:
    keys = st.one_of(TRICKY, text)
    scalars = st.one_of(st.none(), st.booleans(), st.integers(),
                        st.floats(allow_nan=False, allow_infinity=False), TRICKY, text)
    values = st.recursive(scalars, lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)), max_leaves=12)
    return st.dictionaries(keys, values, max_size=5)


def _printable(ch: str) -> bool:
    code = ord(ch)
    return ch in "\t\n" or 0x20 <= code <= 0x7E or 0xA0 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD \
        or code >= 0x10000


YAML_TEXT = st.text(st.characters(exclude_categories=("Cs",)).filter(_printable), max_size=10).filter(
    lambda s: not s.endswith("\n"))
ANY_TEXT = st.text(max_size=10)


def _reads_back(data: dict[str, Any]) -> None:
    text = dump_yaml(data).decode("utf-8")
    assert YAML(typ="safe", pure=True).load(text) == (data or None), text


@settings(max_examples=200)
@given(_keys_and_values(YAML_TEXT))
def test_artifact_yaml_reads_back_as_written(data: dict[str, Any]) -> None:
    """Strings of characters YAML can print, not ending in a line break."""
    _reads_back(data)


@settings(max_examples=300)
@given(_keys_and_values(ANY_TEXT))
def test_artifact_yaml_reads_back_any_text(data: dict[str, Any]) -> None:
    _reads_back(data)
