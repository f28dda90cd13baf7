"""The compiled manifest's shape and rules as pydantic models, and the loading and verification
of a manifest directory from elsewhere (untrusted input). Runtimes read the result as the frozen
records of compiler.manifest_records, which do not import pydantic.

See docs/manifest.md for the contract. Field order here is the order written to
manifest.yaml, which is part of the byte-for-byte determinism the compiler promises. The
field constraints (safe ids, bounded retries) are the manifest schema:
spec/manifest.schema.json is generated from these models (`python -m osiris.compiler.manifest
spec/manifest.schema.json`), and a manifest directory from elsewhere is untrusted input,
checked by `load_manifest` before anything runs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from osiris.compiler import manifest_records as records
from osiris.compiler.compiled import MANIFEST_VERSION
from osiris.oml.canonical import fingerprint, nests_deeper_than, utf8_encodable
from osiris.oml.diagnostics import Diagnostic, Diagnostics
from osiris.oml.expr.parser import CONNECTION_FAST
from osiris.oml.partitions import IDENTIFIER, INSTANT_RE, MAX_PARTITIONS, Scope, partition_problems
from osiris.oml.pointer import from_path
from osiris.oml.span import Span
from osiris.oml.yaml_compose import Limits

if TYPE_CHECKING:
    from osiris.compiler.connections import ConnectionsFile
    from osiris.spec.registry import Registry

STEP_ID = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
"""The OML step id rule (oml.lower.STEP_ID_RE): ids key cfg.json and name session directories."""
_NAME = r"^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$"
_FP = r"^sha256:[0-9a-f]{64}$"
CONNECTION_REF = f"^{CONNECTION_FAST.pattern}$"
"""`@family.alias`: the OML parser's own pattern (oml.expr.parser), so one rule reads a reference."""
FAMILY = r"^[a-z][a-z0-9_]*$"

StepId = Annotated[str, StringConstraints(pattern=STEP_ID)]
Name = Annotated[str, StringConstraints(pattern=_NAME)]
"""Input and output names: explicit input names, or the upstream step id for `needs` inputs."""
Fingerprint = Annotated[str, StringConstraints(pattern=_FP)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True, populate_by_name=True)

    omit_when_none: ClassVar[frozenset[str]] = frozenset()
    """Optional fields written only when set, so a manifest without them keeps its bytes."""


class _Sparse(_Model):
    """A model whose `omit_when_none` fields are left out of `model_dump` (as manifest.yaml leaves them out)."""

    @model_serializer(mode="wrap")
    def _leave_out_absent(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for name in self.omit_when_none:
            if getattr(self, name) is None:
                data.pop(type(self).model_fields[name].alias or name, None)
        return data


class InputSource(_Model):
    step: StepId
    output: Name


class Retry(_Model):
    # The bounds of oml.ir.RetryPolicy; infinity, NaN and waits beyond a day are refused (a run
    # must never wait forever, and 1e300 seconds overflowed the wait into an internal error).
    max_attempts: int = Field(default=1, ge=1, le=20)
    backoff_seconds: float = Field(default=1.0, ge=0, le=86400, allow_inf_nan=False)
    max_backoff_seconds: float = Field(default=30.0, ge=0, le=86400, allow_inf_nan=False)


Column = Annotated[str, StringConstraints(pattern=f"^{IDENTIFIER}$")]
Instant = Annotated[StrictStr, StringConstraints(pattern=f"^{INSTANT_RE.pattern}$")]
FiniteFloat = Annotated[StrictFloat, Field(allow_inf_nan=False)]


class Partitions(_Sparse):
    """A step's `partitions:` block, normalised (oml.partitions.normalise): how a backend that
    splits work (Ray) splits this step; absent fields are the backend's choice. The local and
    E2B runtimes ignore it. oml.partitions' rules are checked again on a manifest from elsewhere."""

    omit_when_none = frozenset({"count", "column", "bounds", "scope", "by"})

    count: Annotated[int, Field(ge=1, le=MAX_PARTITIONS)] | SkipJsonSchema[None] = Field(default=None, description=(
        "How many partitions; absent: the backend decides (`--partitions`, the cluster's CPUs)."))
    column: Column | SkipJsonSchema[None] = Field(default=None, description=(
        "Extractors: the column the read is split by."))
    bounds: (tuple[StrictInt, StrictInt] | tuple[FiniteFloat, FiniteFloat] | tuple[Instant, Instant]
             | SkipJsonSchema[None]) = Field(default=None, description=(
        "Extractors, with `column`: the split column's range [low, high], low < high; two integers, two "
        "numbers or two ISO-8601 dates or timestamps. Absent: the driver finds it."))
    scope: Scope | SkipJsonSchema[None] = Field(default=None, description=(
        "Transforms: local (each partition on its own), hash (a hash exchange by `by`, then one task "
        "per bucket) or single (one task sees all rows); absent: the backend reads the SQL."))
    by: Annotated[list[Column], Field(min_length=1)] | SkipJsonSchema[None] = Field(default=None, description=(
        "Transforms, with `scope: hash`: the columns rows are hashed by."))

    @model_validator(mode="before")
    @classmethod
    def _rules(cls, data: Any) -> Any:  # noqa: ANN401 - the raw value, before any conversion
        """oml.partitions' rules on the raw value, so `true` is not read as a count of 1."""
        if isinstance(data, cls):
            return data
        problems = partition_problems(data, compiled=True)
        if problems:
            raise ValueError("; ".join(problem.message for problem in problems))
        return data


class ManifestStep(_Sparse):
    omit_when_none = frozenset({"partitions"})

    id: StepId
    component: str = Field(pattern=r"^[a-z0-9_]+\.[a-z0-9_]+$")
    component_version: str = Field(pattern=r"^[0-9]+\.[0-9]+\.[0-9]+$")
    kind: Literal["extractor", "transform", "writer"]
    mode: Literal["extract", "transform", "write"]
    family: str | None = Field(pattern=FAMILY, description=(
        "The component's connection family (`mysql`, `filesystem`, ...), or null for a component that "
        "takes no connection: all a runtime needs to find a default alias or a step's output files."))
    connection: str | None = Field(pattern=CONNECTION_REF, description=(
        "The step's one connection reference, `@family.alias`, the default alias filled in when the "
        "compiler knew the connections file; null otherwise (the runtime then uses the family's default "
        "alias, if any). Never the alias's fields, and never repeated in cfg.json."))
    cfg_fp: Fingerprint = Field(description=(
        "Fingerprint of the step's config, the object under its id in cfg.json (canonical JSON)."))
    needs: list[StepId]
    inputs: dict[Name, InputSource] = Field(json_schema_extra={"propertyNames": {"pattern": _NAME}})
    outputs: list[Name]
    level: int = Field(ge=0)
    retry: Retry
    partitions: Partitions | SkipJsonSchema[None] = Field(default=None, description=(
        "The OML step's `partitions:` block, normalised; absent when the OML has none (so the "
        "manifest is byte for byte what it was before the field existed). Only the Ray backend "
        "reads it; the local and E2B backends ignore it."))

    @field_validator("partitions", mode="before")
    @classmethod
    def _absent_not_null(cls, value: Any) -> Any:  # noqa: ANN401
        if value is None:
            raise ValueError("leave `partitions` out rather than writing null")
        return value


class ManifestEdge(_Model):
    from_: StepId = Field(alias="from")
    output: Name
    to: StepId
    input: Name


class PipelineInfo(_Model):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
    oml_version: str = Field(pattern=r"^[0-9]+\.[0-9]+\.[0-9]+$")


class Manifest(_Model):
    manifest_version: str = MANIFEST_VERSION
    pipeline: PipelineInfo
    steps: list[ManifestStep] = Field(min_length=1)
    order: list[StepId]
    levels: list[list[StepId]]
    edges: list[ManifestEdge]
    connections: list[str]

    def to_data(self) -> dict[str, Any]:
        """Plain data in documented key order (`from` spelled as in the file), as written."""
        return self.model_dump(mode="json", by_alias=True)

    def fingerprint(self) -> str:
        return fingerprint(self.to_data())


class SourcePosition(_Model):
    line: int = Field(ge=1)
    column: int = Field(ge=1)


class SourceMap(_Model):
    """sourcemap.json: where each step is written in the OML, so a runtime error can cite
    `pipeline.yaml:LINE`. Beside the manifest rather than in it: reformatting the OML moves
    lines but must leave manifest.yaml and its fingerprint unchanged (docs/manifest.md)."""

    file: str = Field(pattern=r"^[^/\\\x00-\x1f\x7f]{1,255}$", description="The OML file's base name.")
    steps: dict[StepId, SourcePosition]


def read_sources(data: bytes | None) -> records.SourceMap | None:
    """sourcemap.json's bytes as the runtime's SourceMap; None when missing or malformed. It is
    not fingerprinted, so a damaged one costs only the file:line in error messages, never a run."""
    if data is None:
        return None
    try:
        return records.sources_from_data(SourceMap.model_validate_json(data).model_dump(mode="json"))
    except ValueError:
        return None


def manifest_schema() -> dict[str, Any]:
    """The JSON Schema of manifest.yaml, generated from the models (committed as spec/manifest.schema.json)."""
    schema = Manifest.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://osiris.dev/schemas/manifest/v{MANIFEST_VERSION}.json", **schema}


class ManifestError(Exception):
    """A manifest directory is missing, unreadable or fails verification.

    `diagnostics` holds one coded diagnostic per problem (OML092-OML096, OML083-OML085),
    at the file and line of manifest.yaml or cfg.json; the message sums them up.
    """

    def __init__(self, message: str, diagnostics: list[Diagnostic] | None = None) -> None:
        super().__init__(message)
        self.diagnostics = diagnostics or []


MANIFEST_SIZE_FACTOR = 16
"""A manifest file may be this many times the input cap (oml.source.max_input_bytes), and at
least MIN_MANIFEST_BYTES: the compiler writes more than it reads (a 2 MB, 10,000-step pipeline
is a 5 MB manifest.yaml; a terse step of 90 bytes becomes 480), so what omlc writes, osiris runs."""
MIN_MANIFEST_BYTES = 64 * 2**20
MAX_JSON_DEPTH = Limits.max_depth
"""How deep meta.json and a step's config may nest: what the YAML they were compiled from may
(oml.yaml_compose.Limits.max_depth); deeper JSON blew Python's recursion limit. cfg.json holds
the configs one level down, so it may nest one level more."""
VERIFIED = ("manifest.yaml", "meta.json", "cfg.json")
"""The files a run acts on, each verified before anything runs."""
OPTIONAL = ("effective_config.json", "sourcemap.json")
"""The files nothing runs: copied when present and readable, for people and reports."""
COPIED = (*VERIFIED, *OPTIONAL)
"""The files of a manifest directory: what `osiris run --manifest` copies into the session
(nothing else, and never a symbolic link)."""


def load_manifest(
    directory: Path,
    *,
    label: str | None = None,
    registry: Registry | None = None,
    project_root: Path | None = None,
    connections: ConnectionsFile | None = None,
    env: Mapping[str, str] | None = None,
    keep: dict[str, bytes] | None = None,
) -> tuple[records.Manifest, dict[str, dict[str, Any]], dict[str, Any]]:
    """Read and verify a compiled directory: (manifest, cfg by step id, meta), the manifest as
    the runtime's records.

    A manifest from elsewhere is untrusted input, so before anything runs it must pass the
    manifest schema, match its fingerprints (`manifest_fp` in meta.json, every step's config in
    cfg.json its `cfg_fp`: an edited or half-copied directory is refused instead of half-run), and pass
    `compiler.manifest_verify.verify_manifest` (graph, components, each cfg as the compiler
    checks a config, the path policy against `project_root` and the roots `connections` grant).
    Every problem is a coded diagnostic, raised together as one ManifestError; `label` is how
    messages name `directory` (as the user typed it). Nothing here can hang on a FIFO, follow
    a symbolic link out of the directory, or crash on a damaged file. Each file is read once:
    `keep` (when given) receives the verified bytes by relative path, so a caller that copies
    the directory copies exactly what was verified, whatever changed on disk meanwhile.
    """
    from osiris.compiler.manifest_verify import verify_manifest
    from osiris.compiler.spec_cache import default_registry

    where = label or str(directory)
    d = Diagnostics()
    reader = _Reader(directory, where, d, max_file_bytes(env))
    loaded = _load_model(reader)
    if loaded is None:
        raise _error(d)
    manifest, meta, spans = loaded
    cfgs, cfg_text = _load_cfgs(reader, manifest)
    verify_manifest(
        manifest, cfgs, registry or default_registry(), d, where=where, spans=spans, cfg_text=cfg_text,
        project_root=project_root, connections=connections, env=env,
    )
    if d.has_errors:
        raise _error(d)
    if keep is not None:
        keep.update(reader.read)
    return manifest, cfgs, meta


def warm_verifier() -> None:
    """Load (and so cache) what `load_manifest` verifies against: the shipped component specs.
    A sandbox template calls it once, so no job pays for parsing them."""
    from osiris.compiler.spec_cache import default_registry

    default_registry()


def max_file_bytes(env: Mapping[str, str] | None = None) -> int:
    """The largest manifest.yaml, meta.json or cfg.json read: MANIFEST_SIZE_FACTOR times the
    input cap, at least MIN_MANIFEST_BYTES (a malformed OSIRIS_MAX_INPUT_SIZE means the default:
    the cap's own users report it)."""
    from osiris.oml.source import DEFAULT_MAX_INPUT_BYTES, InputError, max_input_bytes

    try:
        cap = max_input_bytes(env)
    except InputError:
        cap = DEFAULT_MAX_INPUT_BYTES
    return max(MIN_MANIFEST_BYTES, MANIFEST_SIZE_FACTOR * cap)


def read_regular(path: Path, shown: str, limit: int | None = None) -> bytes:
    """A regular file's bytes, at most `limit` (default `max_file_bytes()`); refuses links,
    FIFOs and devices (which could point outside the directory or block forever) with a
    ManifestError."""
    from osiris.compiler.files import NotAPlainFile, read_plain_file

    try:
        return read_plain_file(path, shown, max_file_bytes() if limit is None else limit, kind="manifest file",
                               where="a manifest directory holds plain files", limit_text=_limit_text)
    except NotAPlainFile as error:
        raise ManifestError(str(error)) from None


def _limit_text(limit: int) -> str:
    return f"({limit:,}: {MANIFEST_SIZE_FACTOR} times OSIRIS_MAX_INPUT_SIZE, at least {MIN_MANIFEST_BYTES:,})"


class _Reader:
    """Reads each file of one manifest directory once, keeping the bytes it verified; a
    problem is an OML092 diagnostic and None."""

    def __init__(self, directory: Path, where: str, d: Diagnostics, limit: int) -> None:
        self.directory, self.where, self.d, self.limit = directory, where, d, limit
        self.read: dict[str, bytes] = {}

    def text(self, name: str) -> str | None:
        shown = f"{self.where}/{name}"
        try:
            data = read_regular(self.directory / name, shown, self.limit)
            text = data.decode("utf-8")
        except ManifestError as error:
            self.malformed(shown, str(error))
            return None
        except UnicodeDecodeError as error:
            self.malformed(shown, f"{shown} is not UTF-8 text (byte {error.start})")
            return None
        self.read[name] = data
        return text

    def json_object(self, name: str, depth: int = MAX_JSON_DEPTH) -> dict[str, Any] | None:
        """A JSON object file with no repeated key (json.loads keeps the last one, so a file
        could show a reader one value and run another under the same fingerprint), at most
        `depth` deep."""
        text = self.text(name)
        if text is None:
            return None
        shown = f"{self.where}/{name}"
        try:
            data = json.loads(text, object_pairs_hook=_unique_keys)
        except _RepeatedKey as error:
            self.malformed(shown, f"{shown} repeats the key {error.args[0]!r} in one object")
            return None
        except RecursionError:
            self.malformed(shown, f"{shown} nests more than {depth} levels deep")
            return None
        except ValueError as error:
            self.malformed(shown, f"{shown} is not valid JSON: {error}")
            return None
        if not isinstance(data, dict):
            self.malformed(shown, f"{shown} is not a JSON object")
            return None
        if nests_deeper_than(data, depth):
            self.malformed(shown, f"{shown} nests more than {depth} levels deep")
            return None
        if _SURROGATE_ESCAPE.search(text) and not utf8_encodable(data):
            self.malformed(shown, f"{shown} holds a lone UTF-16 surrogate (a \\ud800-\\udfff escape without "
                                  "its pair), which no UTF-8 text can carry")
            return None
        return data

    def malformed(self, shown: str, message: str) -> None:
        self.d.add("OML092", Span.whole_file(shown), message, help="recompile the pipeline with omlc")


class _RepeatedKey(ValueError):
    pass


_VERSION_NUMBER = re.compile(r"[0-9]{1,9}")
"""A manifest_version that reads as an older version: ASCII digits, bounded (`str.isdigit` also
accepts "²", which `int` refuses)."""
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
"""A JSON escape of a UTF-16 surrogate: paired, it is one character; alone, json.loads returns a
string that cannot be encoded, which crashed the event log and the report downstream."""
MAX_EXTRA_KEYS_SHOWN = 10
MAX_DIAGNOSTICS = 200
"""The diagnostics a ManifestError carries (its message counts them all): a hostile directory
can hold hundreds of thousands of problems, and each would be a line of the session's events."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    data = dict(pairs)
    if len(data) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _RepeatedKey(key)
            seen.add(key)
    return data


def _load_model(reader: _Reader) -> tuple[records.Manifest, dict[str, Any], dict[str, Span]] | None:
    """manifest.yaml through the schema and its fingerprint, or None after reporting why."""
    from osiris.oml.yaml_loader import YNode, load_yaml

    where, d = reader.where, reader.d
    shown = f"{where}/manifest.yaml"
    text = reader.text("manifest.yaml")
    meta = reader.json_object("meta.json")
    if text is None or meta is None:
        return None
    found = Diagnostics()
    # depth, alias and size limits: a hostile file cannot hang us
    root = load_yaml(text, shown, found, max_bytes=reader.limit)
    if root is None or found.has_errors:
        first = next(iter(found.errors()), None)
        problem = f" (line {first.span.line}, column {first.span.column}: {first.message})" if first else ""
        d.add("OML092", first.span if first else Span.whole_file(shown),
              f"{shown} is not valid YAML{problem}; recompile it" if first else f"{shown} is empty",
              help="recompile the pipeline with omlc")
        return None
    spans: dict[str, Span] = {}

    def walk(node: YNode) -> None:
        spans[node.pointer] = node.span
        for _, value in node.items():
            walk(value)
        if node.kind == "seq":
            for item in node.value:
                walk(item)

    walk(root)
    data = root.to_data()
    version = data.get("manifest_version") if isinstance(data, dict) else MANIFEST_VERSION
    if version != MANIFEST_VERSION:  # before the schema: an older manifest lacks fields, not sense
        older = (isinstance(version, str) and _VERSION_NUMBER.fullmatch(version) is not None
                 and int(version) < int(MANIFEST_VERSION))
        d.add("OML092", _span(spans, "/manifest_version", shown),
              f"{shown} is a version {version} manifest; this runtime reads version {MANIFEST_VERSION}"
              if older else f"manifest_version {version!r} is not supported (this runtime reads "
              f"{MANIFEST_VERSION!r})",
              help=f"recompile with omlc compile (this omlc writes manifest_version {MANIFEST_VERSION})",
              pointer="/manifest_version")
        return None
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as error:
        for issue in error.errors(include_url=False, include_input=False)[:50]:
            pointer = from_path("", [str(part) for part in issue["loc"]])
            at = _span(spans, pointer, shown)
            d.add("OML092", at, f"{shown} does not match the manifest schema at {pointer or '/'}: {issue['msg']}",
                  help="recompile the pipeline with omlc", pointer=pointer)
        return None
    fingerprints = meta.get("fingerprints")
    expected = fingerprints.get("manifest_fp") if isinstance(fingerprints, dict) else None
    validated = manifest.to_data()
    if expected != fingerprint(validated):
        d.add("OML093", Span.whole_file(shown), f"{shown} does not match manifest_fp in meta.json",
              help="the manifest was edited or half-copied after compiling; recompile it")
    return records.manifest_from_data(validated), meta, spans


def _load_cfgs(reader: _Reader, manifest: records.Manifest) -> tuple[dict[str, dict[str, Any]], str]:
    """cfg.json: one object per step, under the step's id, each checked against its `cfg_fp`;
    a key that is not a step, or a step without a config, is refused (a step whose config is
    unusable is left out). Returns the configs and the file's text (for diagnostics' lines)."""
    cfgs: dict[str, dict[str, Any]] = {}
    found = reader.json_object("cfg.json", MAX_JSON_DEPTH + 1)
    if found is None:
        return cfgs, ""
    shown = f"{reader.where}/cfg.json"
    steps = {step.id: step for step in manifest.steps}
    extra = sorted(found.keys() - steps.keys())
    for key in extra[:MAX_EXTRA_KEYS_SHOWN]:
        reader.malformed(shown, f"{shown} holds a config for {key!r}, which is not a step of the manifest")
    if len(extra) > MAX_EXTRA_KEYS_SHOWN:
        reader.malformed(shown, f"{shown} holds configs for {len(extra) - MAX_EXTRA_KEYS_SHOWN:,} more keys that are "
                                "not steps of the manifest")
    for step_id, step in steps.items():
        cfg = found.get(step_id)
        if not isinstance(cfg, dict):
            reader.malformed(shown, f"{shown} has no config object for step {step_id!r}")
            continue
        try:
            matches = fingerprint(cfg) == step.cfg_fp
        except ValueError:  # NaN or infinity: no canonical form
            matches = False
        if not matches:
            reader.d.add("OML093", Span.whole_file(shown), f"{shown}: the config of step {step_id!r} does not "
                         "match its cfg_fp", help="the file was edited or half-copied after compiling; "
                         "recompile the pipeline")
        cfgs[step_id] = cfg
    return cfgs, reader.read["cfg.json"].decode("utf-8")


def _span(spans: Mapping[str, Span], pointer: str, file: str) -> Span:
    """The span recorded for `pointer` or its nearest ancestor; the whole file otherwise."""
    while pointer:
        if pointer in spans:
            return spans[pointer]
        pointer = pointer.rsplit("/", 1)[0]
    return spans.get("", Span.whole_file(file))


def _error(d: Diagnostics) -> ManifestError:
    errors = [x for x in d.sorted() if x.severity == "error"]
    first = errors[0]
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    message = first.message if first.message.startswith(first.span.file) or first.span.file_level else (
        f"{first.span.file}:{first.span.line}:{first.span.column}: {first.message}")
    return ManifestError(f"{message}{more}", errors[:MAX_DIAGNOSTICS])


if __name__ == "__main__":  # python -m osiris.compiler.manifest spec/manifest.schema.json
    import sys

    from osiris.compiler.files import write_atomic
    from osiris.oml.canonical import pretty_json

    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m osiris.compiler.manifest OUT.json")
    write_atomic(sys.argv[1], pretty_json(manifest_schema()))
