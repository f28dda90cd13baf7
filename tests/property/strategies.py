"""Hypothesis strategies: random valid OML pipelines and ways to re-spell them.

A pipeline is a random DAG of file extractors -> DuckDB transforms -> file writers (no
connection needed), with random ids, config values drawn from each component's own
config_schema, and random typed parameters used in SQL and in typed config fields.
"""

from __future__ import annotations

import io
import random
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from hypothesis import strategies as st
from ruamel.yaml import YAML

from osiris.compiler.checks.secrets import CREDENTIAL_KEY, URL_WITH_PASSWORD
from osiris.compiler.spec_cache import default_registry
from osiris.oml.expr.parser import has_expression

EXTRACTORS = ("filesystem.csv_extractor", "filesystem.parquet_extractor")
TRANSFORMS = ("duckdb.processor", "duckdb.transform")
WRITERS = ("filesystem.csv_writer", "filesystem.parquet_writer")
SKIP_KEYS = {"connection", "query", "filter", "incremental"}
"""Generated separately: connection references and SQL with parameters. `incremental` is left
out: whether it compiles depends on the graph (OML047), which tests/compiler covers."""

# Characters YAML can carry in any scalar style, and the compiler keeps as written.
SAFE_CHARS = st.characters(exclude_categories=("Cs", "Cc", "Cf", "Cn", "Zl", "Zp", "Co"))


def _clean(text: str) -> bool:
    """No `${`, no URL with a password (OML080), and no leading `?`, `:` or `-`: ruamel's flow
    emitter writes `?x` and `:x` plain, which ruamel's parser then rejects (a ruamel bug)."""
    return not has_expression(text) and not URL_WITH_PASSWORD.search(text) and text[:1] not in ("?", ":", "-")


SAFE_TEXT = st.text(SAFE_CHARS, min_size=1, max_size=12).filter(_clean)
# One path component that stays in the project (the path policy refuses `/x`, `~` and `..`) and
# is not hidden (a leading dot is OML085: `.git`, `.env`, ...).
SEGMENTS = st.text(st.characters(exclude_categories=("Cs", "Cc", "Cf", "Cn", "Zl", "Zp", "Co"),
                                 exclude_characters="/\\"),
                   min_size=1, max_size=12).filter(lambda s: _clean(s) and s[0] not in "~.")
# Ids that `${id.df}` can reference (the grammar's NAME), hyphens included; and any valid id.
REF_IDS = st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,11}", fullmatch=True).filter(lambda s: s != "params")
ANY_IDS = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,11}", fullmatch=True)
PARAM_NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,9}", fullmatch=True)
INPUT_NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,9}", fullmatch=True)
SQL_WORDS = st.lists(st.from_regex(r"[a-z][a-z0-9_]{0,7}", fullmatch=True), min_size=1, max_size=4)


@dataclass
class Generated:
    data: dict[str, Any]
    text: str

    @property
    def has_floats(self) -> bool:
        return any(isinstance(v, float) for v in _scalars(self.data))


def _scalars(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _scalars(v)]
    if isinstance(value, list):
        return [s for v in value for s in _scalars(v)]
    return [value]


def dump(data: Any, *, flow: bool = False, indent: tuple[int, int, int] = (2, 2, 0)) -> str:
    """Plain YAML text of `data` (ruamel's safe dumper quotes whatever needs quoting)."""
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = flow
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment] # keep the given order
    yaml.allow_unicode = True
    yaml.width = 4096
    mapping, sequence, offset = indent
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


class _Params:
    """Parameters declared while configs are drawn, so each reference has a fitting value."""

    def __init__(self, draw: Any) -> None:
        self.draw = draw
        self.decls: dict[str, dict[str, Any]] = {}

    def declare(self, kind: str, default: Any) -> str:
        name = self.draw(PARAM_NAMES.filter(lambda n: n not in self.decls))
        decl: dict[str, Any] = {"type": kind, "default": default}
        if self.draw(st.booleans()):
            decl["description"] = self.draw(SAFE_TEXT)
        self.decls[name] = decl if self.draw(st.integers(0, 3)) else default  # shorthand sometimes
        if isinstance(self.decls[name], dict) and kind == "integer" and self.draw(st.booleans()):
            decl["minimum"] = min(default, 0)
        return "${params." + name + "}"

    def any_value(self) -> str:
        kind = self.draw(_PARAM_KINDS)
        reuse = [n for n, d in self.decls.items() if _kind_of(d) == kind]
        if reuse and self.draw(st.booleans()):
            return "${params." + self.draw(st.sampled_from(reuse)) + "}"
        return self.declare(kind, self.draw(_PARAM_VALUES[kind]))


_PARAM_KINDS = st.sampled_from(["integer", "number", "string", "boolean"])
_PARAM_VALUES = {
    "integer": st.integers(-10**12, 10**12),
    "number": st.floats(allow_nan=False, allow_infinity=False, width=64),
    "string": st.text(SAFE_CHARS, max_size=12).filter(_clean),
    "boolean": st.booleans(),
}


def _kind_of(decl: Any) -> str:
    if isinstance(decl, dict):
        return decl["type"]
    return {bool: "boolean", int: "integer", float: "number", str: "string"}[type(decl)]


@cache
def _texts(lo: int, hi: int) -> st.SearchStrategy[str]:
    return st.text(SAFE_CHARS, min_size=lo, max_size=max(lo, hi)).filter(_clean)


@cache
def _regex(pattern: str) -> st.SearchStrategy[str]:
    return st.from_regex(pattern, fullmatch=True, alphabet=st.characters(codec="ascii"))


@cache
def _ints(lo: int, hi: int) -> st.SearchStrategy[int]:
    return st.integers(lo, hi)


_ITEMS = st.text(SAFE_CHARS, min_size=1, max_size=8).filter(_clean)
_OBJECTS = st.dictionaries(SAFE_TEXT.filter(lambda k: not CREDENTIAL_KEY.match(k)), SAFE_TEXT, max_size=3)


def _value(draw: Any, prop: dict[str, Any], params: _Params, top: bool) -> Any:
    """A valid value for one property; at the top level sometimes a `${params.x}` instead."""
    kind = prop.get("type")
    if "enum" in prop:
        value = draw(st.sampled_from(prop["enum"]))
    elif kind == "string" and "pattern" in prop:
        value = draw(_regex(prop["pattern"]))
    elif kind == "string":
        value = draw(_texts(prop.get("minLength", 0), prop.get("maxLength", 12)))
    elif kind == "integer":
        value = draw(_ints(prop.get("minimum", -10**9), prop.get("maximum", 10**9)))
    elif kind == "boolean":
        value = draw(st.booleans())
    elif kind == "array":
        least = prop.get("minItems", 0)
        return draw(st.lists(_ITEMS, min_size=least, max_size=max(3, least), unique=bool(prop.get("uniqueItems"))))
    elif kind == "object":
        return draw(_OBJECTS)
    else:
        raise AssertionError(f"no strategy for {prop}")
    if top and draw(st.integers(0, 4)) == 0:
        json_kind = {bool: "boolean", int: "integer", str: "string"}[type(value)]
        return params.declare(json_kind, value)
    return value


def _config(draw: Any, component: str, params: _Params) -> dict[str, Any]:
    spec = default_registry().get(component)
    assert spec is not None
    props = spec.properties
    optional = sorted(k for k in props if k not in SKIP_KEYS and k != "path")
    chosen = draw(st.lists(st.sampled_from(optional), unique=True, max_size=3)) if optional else []
    config: dict[str, Any] = {}
    if "path" in props:
        path = draw(SEGMENTS)
        if draw(st.integers(0, 3)) == 0:  # a parameter as a directory: one safe segment too
            path = f"out/{params.declare('string', draw(SEGMENTS))}/{path}"
        config["path"] = path
    if "query" in props:
        config["query"] = _sql(draw, params, "SELECT * FROM input_df WHERE ")
    if "filter" in props and draw(st.booleans()):
        config["filter"] = _sql(draw, params, "")
    if "connection" in props and draw(st.integers(0, 5)) == 0:
        config["connection"] = "@filesystem." + draw(REF_IDS)
    for key in chosen:
        config[key] = _value(draw, props[key], params, top=True)
    keys = list(config)
    random.Random(draw(st.integers(0, 2**16))).shuffle(keys)
    return {k: config[k] for k in keys}


def _sql(draw: Any, params: _Params, prefix: str) -> str:
    parts = [prefix]
    for _ in range(draw(st.integers(1, 2))):
        column = " ".join(draw(SQL_WORDS))
        parts.append(f"{column} = {params.any_value()} AND ")
    text = "".join(parts) + "TRUE"
    return text + "\n" if draw(st.booleans()) else text


@st.composite
def pipelines(draw: Any, max_steps: int = 6) -> Generated:
    params = _Params(draw)
    n_extract = draw(st.integers(1, 2))
    n_transform = draw(st.integers(0, 2))
    n_write = draw(st.integers(1, max(1, max_steps - n_extract - n_transform)))
    ref_ids = draw(st.lists(REF_IDS, min_size=n_extract + n_transform, max_size=n_extract + n_transform,
                            unique_by=str.lower))
    writer_ids = draw(st.lists(ANY_IDS.filter(lambda i: i.lower() not in {r.lower() for r in ref_ids}),
                               min_size=n_write, max_size=n_write, unique_by=str.lower))
    steps: list[dict[str, Any]] = []
    producers: list[str] = []
    for i, step_id in enumerate(ref_ids):
        if i < n_extract:
            component = draw(st.sampled_from(EXTRACTORS))
            step: dict[str, Any] = {"id": step_id, "component": component}
            if draw(st.booleans()):
                step["mode"] = draw(st.sampled_from(["extract", "read"]))
        else:
            component = draw(st.sampled_from(TRANSFORMS))
            step = {"id": step_id, "component": component}
            sources = draw(st.lists(st.sampled_from(producers), min_size=1, max_size=3, unique=True))
            if draw(st.booleans()):
                step["needs"] = sources
            else:
                names = draw(st.lists(INPUT_NAMES, min_size=len(sources), max_size=len(sources), unique=True))
                step["inputs"] = {n: "${" + s + ".df}" for n, s in zip(names, sources, strict=True)}
        step["config"] = _config(draw, component, params)
        steps.append(step)
        producers.append(step_id)
    for i, step_id in enumerate(writer_ids):
        component = draw(st.sampled_from(WRITERS))
        source = draw(st.sampled_from(producers))
        step = {"id": step_id, "component": component, "config": _config(draw, component, params)}
        style = draw(st.integers(0, 2))
        if style == 0:
            step["needs"] = source
        elif style == 1:
            step["needs"] = [source, *writer_ids[:i][:1]]  # an earlier writer only orders
        else:
            step["inputs"] = {draw(INPUT_NAMES): "${" + source + ".df}"}
        steps.append(step)
    for step in steps:
        if draw(st.integers(0, 4)) == 0:
            retry = draw(st.one_of(st.integers(1, 20), st.fixed_dictionaries(
                {"max_attempts": st.integers(1, 20)},
                optional={"backoff_seconds": st.floats(0, 60), "max_backoff_seconds": st.integers(0, 600)})))
            if isinstance(retry, dict) and retry.get("max_backoff_seconds", 600) < retry.get("backoff_seconds", 0):
                retry["max_backoff_seconds"] = 600  # valid policies only: the cap is at least the first delay
            step["retry"] = retry
        if draw(st.integers(0, 4)) == 0:
            step["description"] = draw(SAFE_TEXT)
    order = list(range(len(steps)))
    random.Random(draw(st.integers(0, 2**16))).shuffle(order)
    data: dict[str, Any] = {"oml_version": "0.1.0", "name": draw(st.from_regex(r"[a-z0-9][a-z0-9_.-]{0,15}",
                                                                               fullmatch=True))}
    if draw(st.booleans()):
        data["description"] = draw(SAFE_TEXT)
    if params.decls:
        data["params"] = params.decls
    data["steps"] = [steps[i] for i in order]
    return Generated(data, dump(data))


def shuffled(value: Any, rng: random.Random) -> Any:
    """The same data with every mapping's keys in another order (lists keep theirs)."""
    if isinstance(value, dict):
        keys = list(value)
        rng.shuffle(keys)
        return {k: shuffled(value[k], rng) for k in keys}
    if isinstance(value, list):
        return [shuffled(v, rng) for v in value]
    return value


def with_comments(text: str, rng: random.Random) -> str:
    """Comment lines before top-level keys and trailing comments after plain `key: value` lines."""
    out = []
    for line in text.splitlines():
        if line and not line[0].isspace() and rng.random() < 0.5:
            out.append("# a comment: with 'quotes' and ${not.a.ref}")
        if re.fullmatch(r"\s*[A-Za-z_]+: [A-Za-z0-9_./-]+", line) and rng.random() < 0.3:
            line += "   # trailing"
        out.append(line)
    return "\n".join(out) + "\n"
