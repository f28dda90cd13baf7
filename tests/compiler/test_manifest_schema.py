"""spec/manifest.schema.json: generated from compiler/manifest.py's models, committed, drift-tested."""

from __future__ import annotations

import copy
from dataclasses import MISSING
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from ruamel.yaml import YAML

from osiris.compiler.manifest import Manifest, manifest_schema
from osiris.compiler.manifest_records import manifest_from_data
from osiris.oml.canonical import pretty_json
from tests.compiler.golden_harness import valid_cases

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "spec" / "manifest.schema.json"
REGENERATE = ".venv/bin/python -m osiris.compiler.manifest spec/manifest.schema.json"


def _manifests() -> list[dict[str, Any]]:
    yaml = YAML(typ="safe", pure=True)
    return [yaml.load((case / "expected" / "manifest.yaml").read_text(encoding="utf-8")) for case in valid_cases()]


def test_the_committed_manifest_schema_is_generated_from_the_model() -> None:
    assert COMMITTED.is_file(), f"spec/manifest.schema.json is missing; run `{REGENERATE}`"
    assert COMMITTED.read_bytes() == pretty_json(manifest_schema()), (
        f"spec/manifest.schema.json is stale; run `{REGENERATE}`")


def test_every_compiled_golden_manifest_matches_the_schema() -> None:
    validator = Draft202012Validator(manifest_schema())
    for data in _manifests():
        assert list(validator.iter_errors(data)) == []
        assert Manifest.model_validate(data).to_data() == data


@pytest.mark.parametrize(("pointer", "value"), [
    (("steps", 0, "id"), "../../../x"),
    (("steps", 0, "cfg"), "cfg/../../x.json"),
    (("steps", 0, "cfg"), "/etc/passwd"),
    (("steps", 0, "cfg_fp"), "md5:abc"),
    (("steps", 0, "needs"), ["../up"]),
    (("steps", 0, "connection"), "postgres://u:p@h/db"),
    (("steps", 0, "retry", "max_attempts"), 1000),
    (("steps", 0, "level"), -1),
    (("steps", 0, "inputs"), {"bad name": {"step": "a", "output": "df"}}),
    (("order",), ["a/b"]),
])
def test_the_schema_and_the_model_refuse_the_same_unsafe_values(pointer: tuple, value: Any) -> None:  # noqa: ANN401
    validator = Draft202012Validator(manifest_schema())
    data = copy.deepcopy(_manifests()[0])
    target = data
    for part in pointer[:-1]:
        target = target[part]
    target[pointer[-1]] = value
    assert list(validator.iter_errors(data)), pointer
    with pytest.raises(ValueError):
        Manifest.model_validate(data)


def _documented_manifest() -> dict[str, Any]:
    """The annotated example under `## manifest.yaml` in docs/manifest.md, as data."""
    text = (REPO / "docs" / "manifest.md").read_text(encoding="utf-8")
    section = text.split("## `manifest.yaml`", 1)[1]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    return YAML(typ="safe", pure=True).load(block.replace("sha256:...", "x").replace(", ...]", "]"))


def test_docs_manifest_md_shows_every_field_of_the_schema_in_order() -> None:
    schema = manifest_schema()
    documented = _documented_manifest()
    assert list(documented) == list(schema["properties"])
    step_fields = list(schema["$defs"]["ManifestStep"]["properties"])
    assert list(documented["steps"][0]) == [name for name in step_fields if name in documented["steps"][0]]
    assert set(documented["steps"][0]) == set(step_fields)
    assert documented["manifest_version"] == Manifest.model_fields["manifest_version"].default


def test_what_emit_constructs_is_what_the_model_validates() -> None:
    """emit builds the model without validating (no validator build per omlc process); each
    golden's model must survive validation unchanged, and `to_data` must be pydantic's dump."""
    from tests.compiler.golden_harness import compile_valid

    for case in valid_cases():
        compiled = compile_valid(case).compiled
        assert compiled is not None, case.name
        validated = Manifest.model_validate(compiled.manifest.to_data())
        assert manifest_from_data(validated.to_data()) == compiled.manifest, case.name
        assert validated.to_data() == compiled.manifest.to_data(), case.name
        assert validated.to_data() == validated.model_dump(mode="json", by_alias=True), case.name


@pytest.mark.parametrize("name", ["InputSource", "Retry", "Partitions", "ManifestStep", "ManifestEdge",
                                  "PipelineInfo", "Manifest", "SourcePosition", "SourceMap"])
def test_the_runtime_records_have_the_models_fields_in_order(name: str) -> None:
    """The records a runtime reads (no pydantic) and the models that define and validate the
    shape name the same fields in the same order, with the same defaults."""
    from osiris.compiler import manifest as models
    from osiris.compiler import manifest_records as records
    from osiris.oml.records import record_fields

    model, kept = getattr(models, name), getattr(records, name)
    assert [item.name for item in record_fields(kept)] == list(model.model_fields)
    for item in record_fields(kept):
        info = model.model_fields[item.name]
        assert (item.default is MISSING) == info.is_required(), (name, item.name)
        if not info.is_required():
            assert item.default == info.default, (name, item.name)
    assert records._OMITTED_WHEN_NONE.get(kept, frozenset()) == model.omit_when_none
