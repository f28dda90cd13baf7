"""Check every message from the sandbox before the host acts on it: types, ranges and sizes.

The sandbox is untrusted (step code runs there, and it could write into the protocol stream),
so a worker message is data to validate, never a structure to trust: each type has a strict
pydantic model (no coercion: a count is a non-negative int64, a name a bounded string, a
metric value a finite number), unknown fields are dropped, and what the host writes into the
session is the validated copy. `protocol.WORKER_MESSAGES` stays the documented table of
required fields; tests/e2b/test_inbound.py checks the models agree with it. Whether a step
id is one of the manifest's, or an output one the manifest declares, is checked where the
manifest is known (runtime/e2b/host/mirror.py, runtime/e2b/host/executor.py).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, TypeAdapter, ValidationError

from osiris.runtime.e2b.protocol import ProtocolError
from osiris.runtime.local.context import PROGRESS_FIELDS

__all__ = ["MAX_TEXT", "STATE_MODEL_FIELDS", "validate"]

MAX_TEXT = 1 << 20
"""Longest free text (a message, a traceback, a log line) the host takes from the worker."""

Count = Annotated[int, Field(ge=0, le=2**63 - 1)]
Small = Annotated[int, Field(ge=0, le=1 << 20)]
Name = Annotated[str, Field(min_length=1, max_length=256)]
Short = Annotated[str, Field(max_length=256)]
PathText = Annotated[str, Field(max_length=4096)]
Text = Annotated[str, Field(max_length=MAX_TEXT)]
StepId = Name
Finite = Annotated[float, Field(allow_inf_nan=False)]
Number = Annotated[int, Field(ge=-(2**63), le=2**64 - 1)] | Finite


class _Message(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


class Heartbeat(_Message):
    type: Literal["heartbeat"]
    phase: Literal["install", "start", "run", "end"]
    progress: Annotated[dict[StepId, dict[Literal[PROGRESS_FIELDS], Count]], Field(max_length=10_000)] | None = None  # type: ignore[valid-type]


class Handshake(_Message):
    type: Literal["handshake"]
    protocol: Count
    osiris: Short
    build: Short | None
    python: Short
    packages: Annotated[dict[Name, Short | None], Field(max_length=64)]
    pid: Count | None = None
    cpus: Small | None = None
    env_names: Annotated[list[Name], Field(max_length=4096)] = []
    runtime_path: PathText | None = None
    install_ms: Count | None = None
    installed: Small | None = None
    site: PathText | None = None
    build_id: Short | None = None


class Event(_Message):
    type: Literal["event"]
    event: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.:-]*$", max_length=128)]
    step_id: StepId | None = None
    """Null for the few run-level events the worker may send (e.g. `connection_unencrypted`)."""
    fields: Annotated[dict[Name, JsonValue], Field(max_length=1000)]


class Metric(_Message):
    type: Literal["metric"]
    metric: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.]*$", max_length=128)]
    value: Number
    unit: Short | None = None
    step_id: StepId
    tags: Annotated[dict[Name, Annotated[str, Field(max_length=4096)] | bool | Number], Field(max_length=100)] = {}


class StepError(_Message):
    error_type: Name
    message: Text
    transient: bool
    hint: Text | None = None
    note: Text | None = None
    source: Short | None = None
    """Where the OML writes the step (`pipeline.yaml:12:3`), from the job's sourcemap.json."""


class Snapshot(_Message):
    """A step state (runtime.e2b.sandbox.sinks.snapshot); the host keeps its own id, component and kind."""

    id: StepId
    status: Literal["pending", "waiting", "running", "succeeded", "failed", "skipped", "cancelled"]
    attempts: Small = 0
    rows_in: Count = 0
    rows_out: Count = 0
    rows_written: Count = 0
    bytes_out: Count = 0
    bytes_written: Count = 0
    reported_rows: Count = 0
    reported_bytes: Count = 0
    target: PathText = ""
    error: StepError | None = None
    skip_reason: Text | None = None
    peak_rss_bytes: Count = 0
    elapsed_ms: Annotated[int, Field(ge=0, le=10 * 365 * 86_400_000)] = 0
    started: bool = False
    finished: bool = False


STATE_MODEL_FIELDS = frozenset(Snapshot.model_fields)


class State(_Message):
    type: Literal["state"]
    step: Snapshot


Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class DatasetFile(_Message):
    """One file of a dataset directory, `name` relative to the artifact's `path`."""

    name: Annotated[str, Field(min_length=1, max_length=4096)]
    size: Count
    sha256: Sha256


class ArtifactMessage(_Message):
    type: Literal["artifact"]
    step_id: StepId
    mount: Annotated[int, Field(ge=0, le=10_000)] = 0
    path: PathText
    size: Count
    sha256: Sha256
    files: Annotated[list[DatasetFile], Field(max_length=100_000)] | None = None
    """A dataset directory's files (a writer with partition_by or rotation); None for one file."""


class Log(_Message):
    type: Literal["log"]
    level: Annotated[int, Field(ge=0, le=100)]
    logger: Short
    message: Text


class StepResult(_Message):
    state: Snapshot
    schema_: Annotated[str, Field(max_length=16 << 20)] | None = Field(default=None, alias="schema")
    traceback: Text | None = None


class Wire(_Message):
    messages: Count = 0
    bytes: Count = 0
    seconds: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0


class Result(_Message):
    type: Literal["result"]
    status: Literal["succeeded", "failed", "cancelled"]
    steps: Annotated[dict[StepId, StepResult], Field(max_length=100_000)]
    wire: Wire | None = None


class Error(_Message):
    type: Literal["error"]
    stage: Short
    message: Text


WorkerMessage = Annotated[
    Heartbeat | Handshake | Event | Metric | State | ArtifactMessage | Log | Result | Error,
    Field(discriminator="type"),
]
_ADAPTER: TypeAdapter[Any] = TypeAdapter(WorkerMessage)


def validate(message: dict[str, Any]) -> dict[str, Any]:
    """The validated message as plain data (only the fields it sent, of the declared types).

    ProtocolError names the first problem (field path and what was wrong), never the value,
    which may be long or hostile.
    """
    try:
        model = _ADAPTER.validate_python(message)
    except ValidationError as error:
        first = error.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(part) for part in first["loc"][1:]) or "message"
        raise ProtocolError(f"{message.get('type')} message: {where}: {first['msg']}") from None
    return model.model_dump(exclude_unset=True, by_alias=True)
