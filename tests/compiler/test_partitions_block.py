"""The step-level `partitions:` block: every rule is OML025 at the offending node, both forms
compile to the normalised manifest block, a pipeline without it compiles as before, and a
manifest with a bad block from elsewhere is refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from osiris.compiler import manifest as models
from osiris.compiler.api import CompileOptions, compile_text, write_output
from osiris.compiler.fmt import format_text
from osiris.compiler.jsonschema_export import oml_json_schema
from osiris.compiler.manifest import ManifestError, load_manifest
from osiris.compiler.manifest_records import Manifest, Partitions, manifest_from_data
from osiris.compiler.render import render_text
from osiris.compiler.yaml_emit import dump_yaml
from osiris.oml.canonical import fingerprint
from osiris.oml.diagnostics import Diagnostics
from osiris.oml.partitions import normalise, partition_problems
from osiris.oml.yaml_loader import load_yaml
from tests.compiler.golden_harness import compile_valid, expected_tree, valid_cases
from tests.security.manifest_attacks import step, tamper

NO_CONNECTIONS = CompileOptions(search_connections=False)

EXTRACTOR = "  - id: read\n    component: filesystem.csv_extractor\n{read}    config: {{path: data/in.csv}}\n"
TRANSFORM = ("  - id: shape\n    component: duckdb.processor\n    needs: [read]\n{shape}"
             "    config: {{query: SELECT * FROM read}}\n")
WRITER = ("  - id: write\n    component: filesystem.csv_writer\n    needs: [shape]\n{write}"
          "    config: {{path: out.csv}}\n")


def _pipeline(read: str = "", shape: str = "", write: str = "") -> str:
    """Three steps, one of each kind; each argument is the text of that step's `partitions:` line(s)."""
    def block(text: str) -> str:
        return "".join(f"    {line}\n" for line in text.splitlines())

    return ('oml_version: "0.1.0"\nname: p\nsteps:\n' + EXTRACTOR.format(read=block(read))
            + TRANSFORM.format(shape=block(shape)) + WRITER.format(write=block(write)))


def _at(text: str, marker: str) -> tuple[int, int]:
    """1-based line and column of the first `marker` after the first `partitions:`."""
    before = text[:text.index(marker, text.index("partitions:"))]
    return before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1


def _errors(text: str) -> list[tuple[str, int, int, str, str]]:
    result = compile_text(text, "p.yaml", NO_CONNECTIONS)
    return [(d.code, d.span.line, d.span.column, d.message, d.help or "")
            for d in result.diagnostics if d.severity == "error"]


# (step, its partitions text, marker where the diagnostic points, words of the message)
RULES = [
    # not a mapping or a number
    ("read", "partitions: [8]", "[8]", "must be a mapping or a number of partitions, not a list"),
    ("read", "partitions: '8'", "'8'", "not a string"),
    ("read", "partitions: true", "true", "not a boolean"),
    ("read", "partitions: ~", "~", "not null"),
    ("read", "partitions: 8.5", "8.5", "not a number"),
    # the shorthand and count: an integer 1..1024, booleans are not integers
    ("read", "partitions: 0", "0", "must be an integer from 1 to 1024, not 0"),
    ("read", "partitions: 1025", "1025", "not 1025"),
    ("read", "partitions: {count: -3}", "-3", "`partitions.count` must be an integer from 1 to 1024"),
    ("read", "partitions: {count: 2.0}", "2.0", "not 2.0"),
    ("read", "partitions: {count: yes_please}", "yes_please", "not 'yes_please'"),
    ("read", "partitions: {count: true}", "true", "not True"),
    # unknown keys, with "did you mean"
    ("read", "partitions: {cuont: 4}", "cuont", "unknown key `partitions.cuont`"),
    ("shape", "partitions: {scpoe: hash}", "scpoe", "unknown key `partitions.scpoe`"),
    # column: a plain SQL identifier
    ("read", "partitions:\n  column: 1st", "1st", "`partitions.column` must be a column name"),
    ("read", "partitions:\n  column: order-id", "order-id", "must be a column name"),
    ("read", "partitions:\n  column: 7", "7", "must be a column name"),
    ("read", f"partitions:\n  column: {'c' * 64}", "c" * 64, "must be a column name"),
    # bounds: with column, two values of one kind, low < high, finite
    ("read", "partitions:\n  bounds: [1, 9]", "bounds", "`partitions.bounds` needs `partitions.column`"),
    ("read", "partitions:\n  column: id\n  bounds: [1]", "[1]", "a list of two values [low, high], not 1 values"),
    ("read", "partitions:\n  column: id\n  bounds: [1, 2, 3]", "[1, 2, 3]", "not 3 values"),
    ("read", "partitions:\n  column: id\n  bounds: 5", "5", "not an integer"),
    ("read", "partitions:\n  column: id\n  bounds: [1, '2024-01-01']", "[1, ", "mixes integer 1 and timestamp"),
    ("read", "partitions:\n  column: id\n  bounds: [9, 9]", "[9, 9]", "low < high, not [9, 9]"),
    ("read", "partitions:\n  column: id\n  bounds: [10, 2.5]", "[10, 2.5]", "low < high"),
    ("read", "partitions:\n  column: day\n  bounds: [2024-02-01, 2024-01-31]", "[2024-02-01", "low < high"),
    ("read", "partitions:\n  column: id\n  bounds: [.nan, 1]", ".nan", "`partitions.bounds[0]` must be"),
    ("read", "partitions:\n  column: id\n  bounds: [1, .inf]", ".inf", "`partitions.bounds[1]` must be"),
    ("read", "partitions:\n  column: id\n  bounds: [true, false]", "true", "`partitions.bounds[0]` must be"),
    ("read", "partitions:\n  column: day\n  bounds: [2024-13-01, 2025-01-01]", "2024-13-01", "bounds[0]"),
    ("read", "partitions:\n  column: day\n  bounds: ['2024W01', '2024W09']", "'2024W01'", "bounds[0]"),
    ("read", "partitions:\n  column: ts\n  bounds: ['2024-01-01T00:00Z', '2024-02-01T00:00']", "['2024",
     "a timestamp with a UTC offset to one without"),
    # scope and by
    ("shape", "partitions: {scope: global}", "global", "must be local, hash or single, not 'global'"),
    ("shape", "partitions: {by: []}", "[]", "`partitions.by` must be a non-empty list of column names"),
    ("shape", "partitions: {by: customer_id}", "customer_id", "non-empty list of column names"),
    ("shape", "partitions: {by: [ok, not ok]}", "[ok, ", "non-empty list of column names"),
    ("shape", "partitions: {scope: local, by: [c]}", "by",
     "`partitions.by` goes with `scope: hash`, not `scope: local`"),
    ("shape", "partitions: {scope: single, by: [c]}", "by", "not `scope: single`"),
    # which kind takes which key (checked once the component is known)
    ("shape", "partitions: {count: 4, column: id}", "column",
     "`partitions.column` applies to extractors; step 'shape' is a transform"),
    ("write", "partitions: {count: 2, column: id}", "column", "step 'write' is a writer (filesystem.csv_writer)"),
    ("read", "partitions: {scope: local}", "scope",
     "`partitions.scope` applies to transforms; step 'read' is an extractor"),
    ("read", "partitions: {by: [c]}", "by", "`partitions.by` applies to transforms"),
    ("write", "partitions: {scope: single}", "scope", "`partitions.scope` applies to transforms"),
    ("write", "partitions: {by: [c]}", "by", "`partitions.by` applies to transforms; step 'write' is a writer"),
]


@pytest.mark.parametrize(("where", "block", "marker", "words"), RULES, ids=[f"{r[0]}:{r[1]}" for r in RULES])
def test_each_rule_is_oml025_at_the_offending_node(where: str, block: str, marker: str, words: str) -> None:
    text = _pipeline(**{where: block})
    line, column = _at(text, marker)
    errors = _errors(text)
    found = [(code, at_line, at_column) for code, at_line, at_column, _, _ in errors]
    assert found == [("OML025", line, column)], errors
    assert words in errors[0][3], errors[0][3]
    assert errors[0][4], "every OML025 has help"


def test_each_key_a_kind_does_not_take_is_reported_at_that_key() -> None:
    text = _pipeline(shape="partitions:\n  column: id\n  bounds: [1, 2]\n  scope: local")
    found = [(code, line, column, message.split(";")[0]) for code, line, column, message, _ in _errors(text)]
    assert found == [("OML025", *_at(text, "column"), "`partitions.column` applies to extractors"),
                     ("OML025", *_at(text, "bounds"), "`partitions.bounds` applies to extractors")]


def test_an_unknown_key_suggests_the_nearest_one() -> None:
    (_, _, _, _, help_text), = _errors(_pipeline(read="partitions: {cuont: 4}"))
    assert help_text == "did you mean 'count'?"
    (_, _, _, _, help_text), = _errors(_pipeline(read="partitions: {zzz: 4}"))
    assert help_text == "allowed keys: count, column, bounds, scope, by"


def test_every_problem_of_a_block_is_reported_not_only_the_first() -> None:
    text = _pipeline(read="partitions:\n  count: 0\n  column: 9x\n  bounds: [3, 1]\n  colour: red")
    found = [(code, line, column) for code, line, column, _, _ in _errors(text)]
    assert found == [("OML025", *_at(text, "0\n")), ("OML025", *_at(text, "9x")),
                     ("OML025", *_at(text, "[3, 1]")), ("OML025", *_at(text, "colour"))]


def test_the_kind_rules_skip_a_step_whose_component_is_unknown() -> None:
    text = _pipeline(read="partitions: {scope: hash, by: [c]}").replace("filesystem.csv_extractor", "nope.nothing")
    assert [code for code, *_ in _errors(text)] == ["OML040"]


def test_the_shape_rules_still_apply_to_a_step_whose_component_is_unknown() -> None:
    text = _pipeline(read="partitions: {count: 0}").replace("filesystem.csv_extractor", "nope.nothing")
    assert sorted(code for code, *_ in _errors(text)) == ["OML025", "OML040"]


def test_the_rendered_diagnostic_shows_the_line_and_a_caret() -> None:
    text = _pipeline(shape="partitions: {scope: global}")
    result = compile_text(text, "p.yaml", NO_CONNECTIONS)
    rendered = render_text([("p.yaml", result.diagnostics)], {"p.yaml": text})
    line, column = _at(text, "global")
    assert f"p.yaml:{line}:{column}: error[OML025]:" in rendered
    assert "partitions: {scope: global}" in rendered and "^^^^^^" in rendered
    assert result.artifacts == {}


def test_the_excerpt_shows_the_split_column_unmasked() -> None:
    """The field is `column`, not `key`: the secret masker reads a bare `key` as a credential name."""
    text = _pipeline(read="partitions: {count: 8, column: id, bounds: [9, 1]}")
    result = compile_text(text, "p.yaml", NO_CONNECTIONS)
    rendered = render_text([("p.yaml", result.diagnostics)], {"p.yaml": text})
    assert "partitions: {count: 8, column: id, bounds: [9, 1]}" in rendered, rendered
    assert "***" not in rendered


# -- valid blocks and the manifest ---------------------------------------------------------------
def _manifest(text: str) -> Manifest:
    result = compile_text(text, "p.yaml", NO_CONNECTIONS)
    assert result.ok, [(d.code, d.message) for d in result.diagnostics]
    assert result.compiled is not None
    return result.compiled.manifest


def _blocks(manifest: Manifest) -> dict[str, Any]:
    return {s["id"]: s.get("partitions") for s in manifest.to_data()["steps"]}


def test_both_forms_compile_to_the_normalised_block() -> None:
    manifest = _manifest(_pipeline(
        read="partitions: 8",
        shape="partitions:\n  by: [customer_id, day]\n  count: 3",
        write="partitions: {count: 2}",
    ))
    assert _blocks(manifest) == {"read": {"count": 8},
                                 "shape": {"count": 3, "scope": "hash", "by": ["customer_id", "day"]},
                                 "write": {"count": 2}}
    assert manifest.step("read").partitions == Partitions(count=8)
    assert manifest.step("shape").partitions is not None and manifest.step("shape").partitions.scope == "hash"


def test_an_extractor_block_keeps_its_column_and_bounds_in_documented_order() -> None:
    manifest = _manifest(_pipeline(read="partitions:\n  bounds: [1, 1000000]\n  column: id\n  count: 16"))
    block = manifest.to_data()["steps"][0]["partitions"]
    assert list(block) == ["count", "column", "bounds"] and block["bounds"] == [1, 1000000]
    text = dump_yaml(manifest.to_data()).decode()
    assert "  partitions:\n    count: 16\n    column: id\n    bounds: [1, 1000000]\n" in text


@pytest.mark.parametrize(("bounds", "expected"), [
    ("[1, 2.5]", [1.0, 2.5]),  # an integer and a float: two floats, so the manifest reloads the same
    ("[-1.5, 0]", [-1.5, 0.0]),
    ("[2024-01-01, 2024-01-01T00:00:01]", ["2024-01-01", "2024-01-01T00:00:01"]),  # dates compare as instants
    ("['2024-01-01T10:00+02:00', '2024-01-01T09:00Z']", ["2024-01-01T10:00+02:00", "2024-01-01T09:00Z"]),
])
def test_bounds_compare_as_what_they_are(bounds: str, expected: list[Any]) -> None:
    manifest = _manifest(_pipeline(read=f"partitions:\n  column: k\n  bounds: {bounds}"))
    block = manifest.to_data()["steps"][0]["partitions"]
    assert block["bounds"] == expected and [type(v) for v in block["bounds"]] == [type(v) for v in expected]


def test_scope_alone_and_hash_without_by_are_valid_for_a_transform() -> None:
    assert _blocks(_manifest(_pipeline(shape="partitions: {scope: single}")))["shape"] == {"scope": "single"}
    assert _blocks(_manifest(_pipeline(shape="partitions: {scope: hash}")))["shape"] == {"scope": "hash"}
    assert _blocks(_manifest(_pipeline(shape="partitions: {}")))["shape"] == {}


def test_a_step_without_the_block_has_no_partitions_key() -> None:
    manifest = _manifest(_pipeline(read="partitions: 4"))
    data = manifest.to_data()
    assert [("partitions" in s) for s in data["steps"]] == [True, False, False]
    assert manifest.step("shape").partitions is None
    validated = models.Manifest.model_validate(data)
    assert "partitions" not in validated.steps[1].model_dump(mode="json", by_alias=True)


def test_pipelines_without_the_block_compile_byte_for_byte_as_their_goldens() -> None:
    for case in valid_cases():
        expected = expected_tree(case)
        assert b"partitions" not in expected["manifest.yaml"], case.name
        assert compile_valid(case).artifacts == expected, case.name


def test_the_block_is_part_of_manifest_fp_and_not_of_the_cfg_files() -> None:
    plain = compile_text(_pipeline(), "p.yaml", NO_CONNECTIONS)
    split = compile_text(_pipeline(read="partitions: 4"), "p.yaml", NO_CONNECTIONS)
    four, eight = (json.loads(r.artifacts["meta.json"])["fingerprints"]["manifest_fp"]
                   for r in (split, compile_text(_pipeline(read="partitions: 8"), "p.yaml", NO_CONNECTIONS)))
    assert four != eight != json.loads(plain.artifacts["meta.json"])["fingerprints"]["manifest_fp"]
    assert plain.artifacts["cfg.json"] == split.artifacts["cfg.json"]


def test_fmt_puts_partitions_last_and_its_keys_in_order() -> None:
    text = ('oml_version: "0.1.0"\nname: p\nsteps:\n  - partitions:\n      by: [c]\n      count: 2\n'
            '      scope: hash\n    id: s\n    component: duckdb.processor\n    needs: [x]\n')
    formatted = format_text(text)
    assert formatted.index("component:") < formatted.index("partitions:")
    assert "    partitions:\n      count: 2\n      scope: hash\n      by: [c]\n" in formatted


# -- a manifest from elsewhere -------------------------------------------------------------------
@pytest.fixture
def compiled(tmp_path: Path) -> Path:
    result = compile_text(_pipeline(read="partitions: {count: 4, column: id, bounds: [1, 100]}",
                                    shape="partitions: {by: [c]}"), "p.yaml", NO_CONNECTIONS)
    out = tmp_path / "compiled"
    write_output(result, out)
    return out


def _load(directory: Path) -> Manifest:
    return load_manifest(directory, project_root=directory.parent)[0]


def test_a_compiled_manifest_with_blocks_loads_unchanged(compiled: Path) -> None:
    manifest = _load(compiled)
    assert manifest.step("read").partitions == Partitions(count=4, column="id", bounds=(1, 100))
    assert manifest.step("shape").partitions == Partitions(scope="hash", by=["c"])
    assert manifest.step("write").partitions is None


@pytest.mark.parametrize("block", [
    {"count": 0}, {"count": 2000}, {"count": True}, {"count": 2.0}, {"count": None},
    {"column": "id; DROP TABLE x", "bounds": [1, 2]}, {"bounds": [1, 2]}, {"column": "id", "bounds": [5, 1]},
    {"column": "id", "bounds": [1, "2024-01-01"]}, {"column": "id", "bounds": [1, 2.5]},
    {"column": "id", "bounds": [1]},
    {"column": "id", "bounds": ["2024-01-01", "tomorrow"]}, {"scope": "everywhere"}, {"by": ["c"]},
    {"scope": "local", "by": ["c"]}, {"scope": "hash", "by": []}, {"scope": "hash", "by": ["a b"]},
    {"colour": "red"}, 8, None, [4],
])
def test_a_tampered_block_is_refused_by_verification(compiled: Path, block: Any) -> None:  # noqa: ANN401
    def edit(data: dict[str, Any], cfgs: dict[str, Any]) -> None:
        step(data, "read")["partitions"] = block

    tamper(compiled, edit)  # every fingerprint recomputed: only the rules can refuse it
    with pytest.raises(ManifestError) as refused:
        _load(compiled)
    found = [(d.code, d.pointer) for d in refused.value.diagnostics]
    assert found and all(code == "OML092" for code, _ in found), found
    assert all(pointer.startswith("/steps/0/partitions") for _, pointer in found), found


def test_a_changed_block_without_new_fingerprints_is_oml093(compiled: Path) -> None:
    def edit(data: dict[str, Any], cfgs: dict[str, Any]) -> None:
        step(data, "read")["partitions"]["count"] = 5

    tamper(compiled, edit, refingerprint=False)
    with pytest.raises(ManifestError) as refused:
        _load(compiled)
    assert [d.code for d in refused.value.diagnostics] == ["OML093"]


# -- any valid block round-trips -------------------------------------------------------------------
COLUMN = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True)
COUNT = st.integers(1, 1024)


@st.composite
def _bounds(draw: st.DrawFn) -> list[Any]:
    kind = draw(st.sampled_from(["int", "float", "mixed", "date", "datetime"]))
    if kind == "int":
        low = draw(st.integers(-(2**53), 2**53 - 1))
        return [low, draw(st.integers(low + 1, 2**53))]
    if kind in ("float", "mixed"):
        values = st.floats(-1e15, 1e15, allow_nan=False, allow_infinity=False)
        low, high = sorted(draw(st.lists(values, min_size=2, max_size=2, unique=True)))
        return [int(low), high + 1.0] if kind == "mixed" else [low, high]
    days = sorted(draw(st.lists(st.dates(), min_size=2, max_size=2, unique=True)))
    if kind == "date":
        return [d.isoformat() for d in days]
    return [f"{days[0].isoformat()}T00:00:00Z", f"{days[1].isoformat()}T12:30:00.25+01:00"]


def _optional(draw: st.DrawFn, name: str, strategy: st.SearchStrategy[Any]) -> dict[str, Any]:
    return {name: draw(strategy)} if draw(st.booleans()) else {}


@st.composite
def _blocks_for(draw: st.DrawFn, kind: str) -> int | dict[str, Any]:
    if draw(st.booleans()):
        return draw(COUNT)
    block = _optional(draw, "count", COUNT)
    if kind == "extractor" and draw(st.booleans()):
        block["column"] = draw(COLUMN)
        block.update(_optional(draw, "bounds", _bounds()))
    if kind == "transform":
        scope = draw(st.sampled_from([None, "local", "hash", "single"]))
        if scope is not None:
            block["scope"] = scope
        if scope in (None, "hash") and draw(st.booleans()):
            block["by"] = draw(st.lists(COLUMN, min_size=1, max_size=4))
    keys = list(block)
    return {key: block[key] for key in draw(st.permutations(keys))}


EDITOR_SCHEMA = Draft202012Validator(oml_json_schema())


def test_the_editor_schema_sees_the_kind_rules() -> None:
    for text in (_pipeline(shape="partitions: {column: id}"), _pipeline(read="partitions: {by: [c]}"),
                 _pipeline(write="partitions: {scope: single}"), _pipeline(read="partitions: {bounds: [1, 2]}"),
                 _pipeline(shape="partitions: {scope: local, by: [c]}"), _pipeline(read="partitions: 0")):
        root = load_yaml(text, "p.yaml", Diagnostics())
        assert root is not None and list(EDITOR_SCHEMA.iter_errors(root.to_data())), text


@given(read=_blocks_for("extractor"), shape=_blocks_for("transform"), write=_blocks_for("writer"))
def test_any_valid_block_compiles_normalised_and_round_trips(read: Any, shape: Any, write: Any) -> None:  # noqa: ANN401
    blocks = {"read": read, "shape": shape, "write": write}
    assert all(partition_problems(block) == [] for block in blocks.values())
    text = _pipeline(**{name: f"partitions: {json.dumps(block)}" for name, block in blocks.items()})
    root = load_yaml(text, "p.yaml", Diagnostics())
    assert root is not None and list(EDITOR_SCHEMA.iter_errors(root.to_data())) == []  # never stricter than omlc
    manifest = _manifest(text)
    data = manifest.to_data()
    assert _blocks(manifest) == {name: normalise(block) for name, block in blocks.items()}
    assert all(partition_problems(normalise(block), compiled=True) == [] for block in blocks.values())
    # What omlc writes is what a runtime reads back: same model, same data, same fingerprint.
    root = load_yaml(dump_yaml(data).decode("utf-8"), "manifest.yaml", Diagnostics())
    assert root is not None
    reloaded = models.Manifest.model_validate(root.to_data())
    assert manifest_from_data(reloaded.to_data()) == manifest and reloaded.to_data() == data
    assert manifest.fingerprint() == fingerprint(data)
    assert reloaded.to_data() == reloaded.model_dump(mode="json", by_alias=True)
