"""The editor JSON Schema (`omlc schema`): valid, committed, and never stricter than omlc.

Each golden case is validated as the compiler reads it (oml.yaml_loader), so YAML details
(quoting, YAML 1.2 booleans) are the compiler's, not another parser's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from osiris.cli.omlc import main
from osiris.compiler.jsonschema_export import oml_json_schema
from osiris.compiler.spec_cache import default_registry
from osiris.oml.canonical import pretty_json
from osiris.oml.diagnostics import Diagnostics
from osiris.oml.yaml_loader import load_yaml
from tests.compiler.golden_harness import compile_invalid, compile_valid, invalid_cases, valid_cases
from tests.conftest import CONFORMANCE, REPO

COMMITTED = REPO / "spec" / "oml.schema.json"
REGENERATE = "omlc schema --out spec/oml.schema.json"

# Codes whose golden file the schema rejects: shape, types, names, enums, the component's
# config schema and rules, connection reference syntax and family, secret fields.
SCHEMA_SEES = {
    "OML002", "OML003", "OML004", "OML005", "OML006", "OML007", "OML008", "OML010", "OML020",
    "OML021", "OML022", "OML023", "OML024", "OML025", "OML034", "OML036", "OML037", "OML038", "OML040",
    "OML041", "OML042", "OML043", "OML044", "OML045", "OML053", "OML060", "OML075", "OML080",
}
# Codes the schema cannot see: they need the YAML text (duplicate keys), the whole graph,
# parameter values, the connections file or the command line. Warnings are valid pipelines.
SCHEMA_BLIND = {
    "OML009", "OML031", "OML032", "OML033", "OML035", "OML039", "OML046", "OML050", "OML051",
    "OML052", "OML061", "OML062", "OML063", "OML064", "OML065", "OML066", "OML067", "OML070", "OML071",
    "OML072", "OML073", "OML074", "OML076", "OML091",
    "OML083", "OML084", "OML085", "OML086",  # the path policy needs the project root and the operator's roots
    "OML077",  # which overrides an alias allows is in the connections file
    "OML011", "OML014",  # the input's size and file type, not its data
    "OML082",  # what DuckDB SQL reaches is inside the query text
    "OML047",  # which writers an incremental step reaches is a property of the step graph
}
# OML001 (YAML syntax), OML012 (alias bombs) and OML013 (too deep) have no data to validate:
# the document is refused before it becomes data.
UNLOADABLE = {"OML001", "OML012", "OML013"}


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    return Draft202012Validator(oml_json_schema())


def _data(text: str) -> Any:
    root = load_yaml(text, "t.yaml", Diagnostics())
    return root.to_data() if root is not None else None


def _errors(validator: Draft202012Validator, data: Any) -> list[str]:
    return [f"/{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(data)]


def test_schema_is_valid_2020_12() -> None:
    schema = oml_json_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def _patterns(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["pattern"]] if isinstance(node.get("pattern"), str) else []
        return own + [p for v in node.values() for p in _patterns(v)]
    if isinstance(node, list):
        return [p for v in node for p in _patterns(v)]
    return []


def test_every_pattern_is_anchored() -> None:
    """JSON Schema `pattern` searches; the compiler matches whole strings."""
    patterns = _patterns(oml_json_schema())
    assert patterns and all(p.startswith("^") and p.endswith("$") for p in patterns), \
        [p for p in patterns if not (p.startswith("^") and p.endswith("$"))]


def test_committed_schema_is_current() -> None:
    expected = pretty_json(oml_json_schema())
    assert COMMITTED.is_file(), f"spec/oml.schema.json is missing; run `{REGENERATE}`"
    assert COMMITTED.read_bytes() == expected, f"spec/oml.schema.json is stale; run `{REGENERATE}`"


def test_cli_writes_the_same_bytes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "oml.schema.json"
    assert main(["schema", "--out", str(out)]) == 0
    assert main(["schema"]) == 0
    assert out.read_bytes() == pretty_json(oml_json_schema())
    assert capsys.readouterr().out.encode() == out.read_bytes()


def test_every_component_and_alias_selects_its_config() -> None:
    registry = default_registry()
    step = oml_json_schema()["$defs"]["step"]
    assert step["properties"]["component"]["enum"] == registry.names()
    selected = {rule["if"]["properties"]["component"]["const"]: rule["then"]["properties"]["config"]["$ref"]
                for rule in step["allOf"]}
    assert selected == {name: f"#/$defs/config.{registry.get(name).name}" for name in registry.names()}


def _valid_texts() -> list[tuple[str, str]]:
    cases = [(f"golden/{c.name}", (c / "pipeline.yaml").read_text(encoding="utf-8")) for c in valid_cases()]
    cases += [(f"examples/{p.parent.name}", p.read_text(encoding="utf-8"))
              for p in sorted((REPO / "examples").glob("*/pipeline.yaml"))]
    cases += [(f"upstream/{p.name}", p.read_text(encoding="utf-8"))
              for p in sorted((CONFORMANCE / "examples").glob("*.yaml"))]
    return cases


@pytest.mark.parametrize("text", [t for _, t in _valid_texts()], ids=[label for label, _ in _valid_texts()])
def test_accepts_valid_pipelines(validator: Draft202012Validator, text: str) -> None:
    assert _errors(validator, _data(text)) == []


def test_golden_valid_cases_exist_and_compile() -> None:
    cases = valid_cases()
    assert cases, "golden/valid is empty"
    assert all(compile_valid(c).ok for c in cases)


def test_accepts_every_spec_example(validator: Draft202012Validator) -> None:
    for spec in default_registry().components.values():
        mode = spec.pipeline_modes[0]
        for example in spec.examples:
            step = {"id": "s", "component": spec.name, "mode": mode, "config": example.config}
            if spec.kind != "extractor":
                step["needs"] = ["up"]
            data = {"oml_version": "0.1.0", "name": "n", "steps": [step]}
            assert _errors(validator, data) == [], (spec.name, example.title)


def _code(path: Path) -> str:
    return path.name.split("-", 1)[0]


def test_classification_covers_every_invalid_golden() -> None:
    codes = {_code(p) for p in invalid_cases()} - UNLOADABLE
    assert codes <= SCHEMA_SEES | SCHEMA_BLIND, codes - SCHEMA_SEES - SCHEMA_BLIND
    assert not SCHEMA_SEES & SCHEMA_BLIND


def _invalid(codes: set[str]) -> list[Path]:
    return [p for p in invalid_cases() if _code(p) in codes]


@pytest.mark.parametrize("path", _invalid(SCHEMA_SEES), ids=lambda p: p.stem)
def test_rejects_structural_errors(validator: Draft202012Validator, path: Path) -> None:
    result, _ = compile_invalid(path)
    assert _code(path) in {d.code for d in result.diagnostics}
    assert _errors(validator, _data(path.read_text(encoding="utf-8")))


@pytest.mark.parametrize("path", _invalid(SCHEMA_BLIND), ids=lambda p: p.stem)
def test_cannot_see_graph_param_and_connection_errors(validator: Draft202012Validator, path: Path) -> None:
    assert _errors(validator, _data(path.read_text(encoding="utf-8"))) == []


def _pipeline(config: dict[str, Any], component: str = "filesystem.parquet_extractor", **step: Any) -> dict:
    return {"oml_version": "0.1.0", "name": "p", "params": {"limit": 10},
            "steps": [{"id": "read-it", "component": component, "config": config, **step}]}


@pytest.mark.parametrize("config", [
    {"path": "a.parquet", "limit": "${params.limit}"},
    {"path": "a.parquet", "batch_size": "${params.limit}"},
    {"path": "data/${params.day}/a.parquet", "filter": "x > ${params.limit}"},
])
def test_parameter_references_stand_for_any_scalar(validator: Draft202012Validator, config: dict) -> None:
    assert _errors(validator, _pipeline(config)) == []


@pytest.mark.parametrize(("config", "where"), [
    ({"path": "a.parquet", "limit": "${params.limit"}, "/steps/0/config/limit"),
    ({"path": "a.parquet", "limit": "ten"}, "/steps/0/config/limit"),
    ({"path": "a.parquet", "limit": 0}, "/steps/0/config/limit"),
    ({"path": "a.parquet", "columns": "${params.limit}"}, "/steps/0/config/columns"),
    ({"path": "a.parquet", "connection": "@mysql.shop"}, "/steps/0/config/connection"),
    ({"path": "a.parquet", "compresion": "zstd"}, "/steps/0/config"),
])
def test_rejects_bad_config_values(validator: Draft202012Validator, config: dict, where: str) -> None:
    assert any(e.startswith(where + ":") for e in _errors(validator, _pipeline(config)))


def test_step_rules_follow_the_component(validator: Draft202012Validator) -> None:
    writer = {"path": "out.csv"}
    assert _errors(validator, _pipeline(writer, "filesystem.csv_writer", needs="read-it")) == []
    assert _errors(validator, _pipeline(writer, "filesystem.csv_writer", needs=[]))  # OML034
    assert _errors(validator, _pipeline(writer, "filesystem.csv_writer", mode="read", needs=["x"]))  # OML041
    assert _errors(validator, _pipeline({"query": "SELECT 1"}, "duckdb.transform", needs=["x"])) == []
    assert _errors(validator, _pipeline({"query": "SELECT 1", "connection": "@duckdb.x"}, "duckdb.processor",
                                        needs=["x"]))  # a component without connections


def test_legacy_spellings_are_accepted_and_marked_deprecated() -> None:
    config = oml_json_schema()["$defs"]["config.mysql.writer"]
    assert config["properties"]["upsert_keys"]["deprecated"] is True
    assert config["properties"]["mode"]["allOf"][0] == config["properties"]["write_mode"]
