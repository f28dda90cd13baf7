"""The compiled manifest as the runtimes read it: frozen records, without pydantic.

`compiler.manifest` defines manifest.yaml's shape and rules as pydantic models (the schema, and
the validation of a directory from elsewhere); importing pydantic and building those models
costs every `osiris run` ~80 ms before its first step. A runtime only reads a manifest, so it
gets these records: built straight from the data the compiler just emitted
(`manifest_from_data`), or from what `load_manifest` validated. Same field names and order as
the models (tests/compiler/test_manifest_schema.py checks they agree), same `to_data`.
"""

from __future__ import annotations

from typing import Any

from osiris.compiler.compiled import MANIFEST_VERSION
from osiris.oml.canonical import fingerprint
from osiris.oml.records import Record, record, record_fields

__all__ = ["InputSource", "Manifest", "ManifestEdge", "ManifestStep", "Partitions", "PipelineInfo", "Retry",
           "SourceMap", "SourcePosition", "manifest_from_data", "sources_from_data"]


@record
class InputSource(Record):
    step: str
    output: str


@record
class Retry(Record):
    max_attempts: int = 1
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 30.0


@record
class Partitions(Record):
    """A step's `partitions:` block, normalised (see compiler.manifest.Partitions): only Ray reads it."""

    count: int | None = None
    column: str | None = None
    bounds: tuple[Any, Any] | None = None
    scope: str | None = None
    by: list[str] | None = None


@record
class ManifestStep(Record):
    id: str
    component: str
    component_version: str
    kind: str
    mode: str
    family: str | None
    connection: str | None
    cfg_fp: str
    needs: list[str]
    inputs: dict[str, InputSource]
    outputs: list[str]
    level: int
    retry: Retry
    partitions: Partitions | None = None


@record
class ManifestEdge(Record):
    from_: str
    output: str
    to: str
    input: str


@record
class PipelineInfo(Record):
    name: str
    oml_version: str


@record
class Manifest(Record):
    manifest_version: str = MANIFEST_VERSION
    pipeline: PipelineInfo
    steps: list[ManifestStep]
    order: list[str]
    levels: list[list[str]]
    edges: list[ManifestEdge]
    connections: list[str]

    def to_data(self) -> dict[str, Any]:
        """manifest.yaml's data, keys in the documented order (`from` spelled as in the file)."""
        return _plain(self)

    def fingerprint(self) -> str:
        return fingerprint(self.to_data())

    def step(self, step_id: str) -> ManifestStep:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)


@record
class SourcePosition(Record):
    line: int
    column: int


@record
class SourceMap(Record):
    """sourcemap.json: where each step is written in the OML, so a runtime error can cite
    `pipeline.yaml:LINE` (see compiler.manifest.SourceMap)."""

    file: str
    steps: dict[str, SourcePosition]

    def cite(self, step_id: str) -> str | None:
        """`pipeline.yaml:12:3` for the step, or None when the map does not know it."""
        at = self.steps.get(step_id)
        return None if at is None else f"{self.file}:{at.line}:{at.column}"

    def citations(self) -> dict[str, str]:
        return {step_id: f"{self.file}:{at.line}:{at.column}" for step_id, at in self.steps.items()}


def manifest_from_data(data: dict[str, Any]) -> Manifest:
    """Records of manifest data that passed the rules already: the compiler's own output
    (compiler.passes.emit enforced them) or what compiler.manifest validated. Not a validator."""
    def step(raw: dict[str, Any]) -> ManifestStep:
        fields = {**raw, "needs": list(raw["needs"]), "outputs": list(raw["outputs"]),
                  "inputs": {name: InputSource(**source) for name, source in raw["inputs"].items()},
                  "retry": Retry(**raw["retry"])}
        if "partitions" in raw:
            block = dict(raw["partitions"])
            if "bounds" in block:
                block["bounds"] = tuple(block["bounds"])
            fields["partitions"] = Partitions(**block)
        return ManifestStep(**fields)

    return Manifest(
        manifest_version=data["manifest_version"],
        pipeline=PipelineInfo(**data["pipeline"]),
        steps=[step(raw) for raw in data["steps"]],
        order=list(data["order"]),
        levels=[list(level) for level in data["levels"]],
        edges=[ManifestEdge(from_=edge["from"], output=edge["output"], to=edge["to"], input=edge["input"])
               for edge in data["edges"]],
        connections=list(data["connections"]),
    )


def sources_from_data(data: dict[str, Any]) -> SourceMap:
    """The source map's records (see `manifest_from_data`)."""
    return SourceMap(file=data["file"], steps={step_id: SourcePosition(**at) for step_id, at in data["steps"].items()})


_OMITTED_WHEN_NONE = {Partitions: frozenset({"count", "column", "bounds", "scope", "by"}),
                      ManifestStep: frozenset({"partitions"})}
"""Optional fields written only when set, so a manifest without them keeps its bytes."""


def _plain(value: Any) -> Any:  # noqa: ANN401 - a record's field values, recursively
    if isinstance(value, Record):
        omit = _OMITTED_WHEN_NONE.get(type(value), frozenset())
        return {("from" if item.name == "from_" else item.name): _plain(field_value)
                for item in record_fields(value)
                if (field_value := getattr(value, item.name)) is not None or item.name not in omit}
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value
