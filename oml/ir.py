"""The typed intermediate representation of an OML pipeline.

Every node carries its source span and JSON Pointer. Nodes are frozen: a pass returns a new
IR (via `evolve(...)`) instead of mutating the one it was given, so each pass can be run and
tested alone. They are frozen records (oml.records), not pydantic models: `omlc` never imports
pydantic (about 60 ms of every compile's start-up), and every value is checked by the passes anyway.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any, Literal

from osiris.oml.expr.nodes import ConnectionRef, Reference, Text
from osiris.oml.records import Record, described, record
from osiris.oml.span import Span

ParamType = Literal["string", "integer", "number", "boolean", "identifier"]
"""`identifier` is a string that SQL fields quote as a name (a table, a column), never as a value."""
Kind = Literal["extractor", "transform", "writer"]
CanonicalMode = Literal["extract", "transform", "write"]

OML_VERSION = "0.1.0"
DEFAULT_OUTPUT = "df"
"""Extractors and transforms produce one output, named `df` as in the original Osiris."""

MODE_ALIASES: dict[str, CanonicalMode] = {
    "extract": "extract",
    "read": "extract",
    "transform": "transform",
    "write": "write",
}
"""OML mode names (the original's included) -> the canonical mode a component declares."""


@record
class Node(Record):
    span: Span
    pointer: str


@record
class ParamDecl(Node):
    name: str = described(description="Parameter name, referenced as ${params.<name>}.")
    type: ParamType = described(description="Value type; CLI and environment values are converted to it. "
                                            "`identifier` is a name (table, column) that SQL quotes as an "
                                            "identifier: `SELECT * FROM ${params.t}`.")
    default: Any = described(default=None, description="Value used when nothing else sets one.")
    has_default: bool = False
    enum: list[Any] | None = described(default=None, description="The only values allowed.")
    minimum: float | None = described(default=None, description="Smallest allowed number.")
    maximum: float | None = described(default=None, description="Largest allowed number.")
    description: str | None = None


@record
class Profile(Node):
    name: str
    values: dict[str, Any]
    value_spans: dict[str, Span]


@record
class RetryPolicy(Record):
    """How often a step is retried after a transient failure (permanent ones never are)."""

    max_attempts: int = described(default=1, ge=1, le=20, description="Attempts in all, the first included.")
    backoff_seconds: float = described(default=1.0, ge=0, le=86400,
                                       description="Wait before the second attempt; doubles each time (at most a day).")
    max_backoff_seconds: float = described(default=30.0, ge=0, le=86400,
                                           description="Upper bound of the wait (at most a day).")


DEFAULT_RETRY = RetryPolicy()


@record
class PartitionPolicy(Record):
    """How a backend that splits a step's work (the Ray backend) should split it; the local and
    E2B backends ignore it. Absent fields are the backend's choice. The rules are in
    oml.partitions (shared with manifest verification); lowering stores the normalised form."""

    count: int | None = described(default=None, ge=1, le=1024,
                                  description="How many partitions (1-1024); absent: the backend decides "
                                              "(`--partitions`, the cluster's CPUs).")
    column: str | None = described(default=None, description="Extractors: the column the read is split by "
                                                             "(a plain SQL identifier).")
    bounds: tuple[Any, Any] | None = described(default=None, description=(
        "Extractors, with `column`: the split column's range [low, high], low < high; two integers, two "
        "numbers, or two ISO-8601 dates or timestamps. Absent: the driver finds it."))
    scope: Literal["local", "hash", "single"] | None = described(default=None, description=(
        "Transforms: local (each partition on its own), hash (a hash exchange by `by`, then one task per "
        "bucket) or single (one task sees all rows); overrides the backend's reading of the SQL."))
    by: tuple[str, ...] | None = described(default=None, description=(
        "Transforms: the columns rows are hashed by (implies `scope: hash`)."))


@record
class NeedRef(Node):
    step: str


@record
class InputRef(Node):
    """One data input: `name` inside the step, fed by `step`'s `output`."""

    name: str
    step: str
    output: str


@record
class ConfigExpr(Record):
    """A config string that contains `${...}` references, parsed once at lowering time."""

    path: tuple[str | int, ...]
    """Location inside the step's config (keys and list indexes)."""
    pointer: str
    span: Span
    pieces: tuple[Text | Reference, ...]

    @property
    def references(self) -> list[Reference]:
        return [p for p in self.pieces if isinstance(p, Reference)]

    @property
    def is_single_reference(self) -> bool:
        """The whole string is one `${...}`: the bound value keeps the parameter's type."""
        return len(self.pieces) == 1 and isinstance(self.pieces[0], Reference)


@record
class Step(Node):
    index: int
    id: str
    id_span: Span
    component: str
    component_span: Span
    mode: str | None = None
    mode_span: Span | None = None
    description: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    config_span: Span | None = None
    connection: ConnectionRef | None = None
    needs: tuple[NeedRef, ...] = ()
    inputs: tuple[InputRef, ...] = ()
    retry: RetryPolicy = DEFAULT_RETRY
    partitions: PartitionPolicy | None = None
    """The `partitions:` block, normalised (oml.partitions.normalise); None when absent or invalid."""
    unbound: tuple[str, ...] = ()
    """Pointers of config values whose parameters could not be bound (already reported)."""
    declares_inputs: bool = False
    """The OML has an `inputs:` block (whether or not its entries were valid)."""
    exprs: tuple[ConfigExpr, ...] = ()
    # Filled in by passes:
    canonical_component: str | None = None
    component_version: str | None = None
    kind: Kind | None = None
    canonical_mode: CanonicalMode | None = None
    connection_ref: str | None = None
    outputs: tuple[str, ...] = ()
    data_inputs: tuple[InputRef, ...] = ()
    """Explicit `inputs` plus data-producing `needs`, assembled by validate."""
    depends_on: tuple[str, ...] = ()
    """Every step this one runs after (data and ordering), sorted."""
    valid: bool = True
    """False once a pass found an error in this step; later passes skip it."""


@record
class BoundParam(Record):
    value: Any
    source: Literal["cli", "env", "profile", "default"]


@record
class Edge(Record):
    from_: str
    """`from` in the manifest (a Python keyword here)."""
    output: str
    to: str
    input: str


@record
class Plan(Record):
    order: tuple[str, ...]
    levels: tuple[tuple[str, ...], ...]
    edges: tuple[Edge, ...]
    # A step's dependencies are its `depends_on`; the plan does not keep a second copy.

    @property
    def level_of(self) -> dict[str, int]:
        """Step id -> its level: `levels` inverted (built on each call; read it once)."""
        return {step_id: n for n, level in enumerate(self.levels) for step_id in level}


@record
class Pipeline(Node):
    file: str
    text: str = field(repr=False)
    oml_version: str
    name: str
    description: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    params: tuple[ParamDecl, ...] = ()
    profiles: tuple[Profile, ...] = ()
    steps: tuple[Step, ...] = ()
    data: dict[str, Any] = field(default_factory=dict, repr=False)
    """The whole document as plain data; `oml_fp` hashes it."""
    spans: dict[str, Span] = field(default_factory=dict, repr=False)
    """JSON Pointer -> span of every node, for diagnostics raised on plain data."""
    # Filled in by passes:
    bound_params: dict[str, BoundParam] = field(default_factory=dict)
    profile: str | None = None
    plan: Plan | None = None

    def span_of(self, pointer: str) -> Span:
        """The span of `pointer`, or of its nearest ancestor that has one."""
        while pointer:
            if pointer in self.spans:
                return self.spans[pointer]
            pointer = pointer.rsplit("/", 1)[0]
        return self.span

    def step(self, step_id: str) -> Step | None:
        for step in self.steps:
            if step.id == step_id:
                return step
        return None

    def replace_steps(self, steps: list[Step]) -> Pipeline:
        return self.evolve(steps=tuple(steps))
