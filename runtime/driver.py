"""The driver protocol: the one module `drivers/` imports from the runtime.

A driver turns one manifest step into Arrow record batches (extract), batches into batches
(transform), or batches into a target (write). The runtime owns everything around it: the
session, events, metrics, retries, cancellation, spill files and secret masking. Drivers are
found by component name through the ``osiris.drivers`` entry-point group, so the runtime
never imports ``drivers.*`` and a third-party package can add components.

Data between steps is always a ``pyarrow.RecordBatchReader``: a declared schema plus a stream
of batches. Nothing in this protocol hands a whole table to a driver; a transform that needs
to scan its inputs more than once gets re-scannable ``InputTable`` objects backed by Arrow IPC
spill files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

# discovery has its own protocol module; its names stay importable from here for drivers
from osiris.runtime.discovery import ColumnInfo, Discoverer, DiscoveryResult, TableInfo

if TYPE_CHECKING:  # annotations only: `osiris components list` runs without the [run] extra
    import pyarrow as pa

__all__ = [
    "Cancelled",
    "ColumnInfo",
    "DiscoveryResult",
    "Discoverer",
    "DriverError",
    "Extractor",
    "HealthCheck",
    "HealthReport",
    "InputTable",
    "Partition",
    "PartitionHints",
    "PartitionedExtractor",
    "ResolvedConnection",
    "StagedWriter",
    "StateKeeper",
    "StepContext",
    "TableInfo",
    "TransientError",
    "Transformer",
    "WriteResult",
    "Writer",
]


class DriverError(Exception):
    """A step failed for a reason the user can act on; the message is shown as the cause.

    Messages must never contain secret values; the runtime masks them again anyway.
    ``transient`` errors (connection reset, deadlock, lock wait timeout) are retried by the
    runtime according to the step's retry policy; permanent ones are not.
    """

    transient: bool = False

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class TransientError(DriverError):
    """A failure worth retrying: the same request may succeed a moment later."""

    transient = True


class Cancelled(Exception):
    """Raised by ``StepContext.check_cancelled`` after Ctrl-C or a failed sibling step."""


@dataclass(frozen=True)
class ResolvedConnection:
    """A connection alias resolved at run time, secrets included.

    ``fields`` holds the alias's fields after ``${VAR}`` substitution. Its repr never shows
    values, so an accidental print or traceback cannot leak a password.

    A step's config may replace only the fields in ``may_override`` (docs/connections.md):
    drivers merge overrides through ``with_overrides`` and never read them from the config
    themselves, so a credential goes only to the host written next to it.
    """

    family: str
    alias: str
    fields: Mapping[str, Any]
    secret_fields: frozenset[str] = frozenset()
    may_override: frozenset[str] = frozenset()
    """Fields a step's config may replace (the family's `free` ones and the alias's `allow_override`)."""
    fixed: frozenset[str] = frozenset()
    """The family's other fields: a step config that sets one fails the step."""
    on_unencrypted: Callable[[str, str, str], None] | None = field(default=None, compare=False)
    """Set by the runtime: told (ref, host, reason) when a driver is about to talk to a
    non-loopback host without TLS, or possibly without it; it reports once per run and alias."""

    @property
    def ref(self) -> str:
        return f"@{self.family}.{self.alias}"

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)

    def check_overrides(self, config: Mapping[str, Any] | None, keys: Iterable[str] = ()) -> None:
        """Refuse a config that sets a field of this connection it may not replace: any field in
        ``fixed``, and any of ``keys`` (the driver's override keys) outside ``may_override``."""
        if not config:
            return
        refused = sorted(k for k in {*self.fixed, *keys} if k not in self.may_override
                         and config.get(k) not in (None, ""))
        if refused:
            names = ", ".join(f"`{k}`" for k in refused)
            raise DriverError(
                f"the step sets {names}, which {self.ref} does not let a step override: its credentials "
                "go only to the server written next to them in the connections file",
                hint=f"remove {names} from the step, or add `allow_override: [{', '.join(refused)}]` to "
                f"{self.ref} in osiris_connections.yaml if its credentials may be used there",
            )

    def with_overrides(self, config: Mapping[str, Any] | None, keys: Iterable[str]) -> dict[str, Any]:
        """The fields with the step's overrides among ``keys`` merged in, after `check_overrides`."""
        keys = tuple(keys)
        self.check_overrides(config, keys)
        merged = dict(self.fields)
        for key in keys:
            if config and config.get(key) not in (None, "") and key in self.may_override:
                merged[key] = config[key]
        return merged

    def report_unencrypted(self, host: str, reason: str) -> None:
        """Tell the run that this connection talks to `host` unencrypted (or may): see `on_unencrypted`."""
        if self.on_unencrypted is not None:
            self.on_unencrypted(self.ref, host, reason)

    def __repr__(self) -> str:
        shown = ", ".join(sorted(self.fields))
        return f"ResolvedConnection({self.ref}, fields=[{shown}])"

    __str__ = __repr__


@dataclass(frozen=True)
class WriteResult:
    """What a writer reports back; the runtime turns it into `rows_written`/`bytes_written`."""

    rows: int
    bytes: int = 0
    target: str = ""


@dataclass(frozen=True)
class HealthReport:
    ok: bool
    message: str
    latency_ms: float | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PartitionHints:
    """A step's `partitions:` block as an extractor sees it when a backend splits its source.

    ``count`` is the most partitions wanted (the step's `count`, else the CLI's
    `--partitions`, else the cluster's CPUs); ``key`` and ``bounds`` are the user's choice of
    split column and range, or None for the driver to choose (min/max of the key, page ranges,
    row groups, files).
    """

    count: int
    key: str | None = None
    bounds: tuple[Any, Any] | None = None


@dataclass(frozen=True)
class Partition:
    """One slice of an extractor's source: planned once, read by one task, possibly twice
    (a backend retries a task whose worker died), so reading it must have no side effect.

    ``spec`` is the driver's own plain, JSON-serialisable description (say
    ``{"key": "id", "lo": 1, "hi": 500}``, ``{"pages": [0, 128]}`` or
    ``{"file": "a.parquet", "row_groups": [0, 1]}``). It travels in task arguments, so it never
    holds a secret; its values reach SQL only as bound parameters or validated identifiers.
    ``label`` is a short human description for events ("id in [1, 500)").
    """

    index: int
    count: int
    spec: Mapping[str, Any]
    label: str = ""


class InputTable(Protocol):
    """One upstream output as a transform sees it: re-scannable and memory-mapped.

    ``reader()`` starts a fresh scan each call. ``dataset()`` returns a
    ``pyarrow.dataset.Dataset`` over the spill files, which DuckDB scans with projection
    and filter push-down without loading the table into RAM.
    """

    name: str
    schema: pa.Schema
    num_rows: int

    def reader(self) -> pa.RecordBatchReader: ...

    def dataset(self) -> Any: ...


class StepContext(Protocol):
    """Everything a driver may use while it runs one step."""

    step_id: str
    component: str
    mode: str
    config: Mapping[str, Any]
    """The step's compiled config (its object in cfg.json): defaults filled, params bound, no secrets."""
    connection: ResolvedConnection | None
    work_dir: Path
    """Relative paths in config resolve against this (the directory `osiris run` started in)."""
    path_roots: tuple[str, ...]
    """Directories outside `work_dir` the operator allows config paths to use; drivers confine
    paths with `drivers.common.paths` (compiler/path_policy.py), never by hand."""
    protected_files: tuple[str, ...]
    """Absolute paths no config path may reach, even inside the roots: the connections file in use."""
    temp_dir: Path
    """Private scratch space inside the session directory; spill and staging files go here."""
    batch_rows: int
    """Preferred rows per record batch (drivers may deviate for wide or narrow rows)."""
    memory_limit_bytes: int
    """Soft budget for this step's buffers, e.g. DuckDB's memory_limit."""
    partition: Partition | None
    """The slice of the source this extract reads (a `PartitionedExtractor` on a distributed
    backend), or None for the whole source; read it with ``getattr(ctx, "partition", None)``."""
    incremental: Any
    """For an incremental extractor, the `runtime.incremental.CursorFilter` of the rows to read
    (render it with its `where()`), else None; read it with ``getattr(ctx, "incremental", None)``."""
    state_commit: Any
    """For the writer that keeps incremental state, the `runtime.local.cursors.StateCommit`
    whose `records()` it writes in its own transaction just before committing, else None."""

    def event(self, name: str, /, **fields: Any) -> None:
        """Record a structured event (masked, timestamped, written to events.jsonl)."""

    def metric(self, name: str, value: float, /, unit: str | None = None, **tags: Any) -> None:
        """Record a metric tagged with this step (written to metrics.jsonl)."""

    def progress(self, rows: int, nbytes: int) -> None:
        """Report cumulative progress for the live display; cheap, call it per batch."""

    def check_cancelled(self) -> None:
        """Raise `Cancelled` if the run is being stopped; call it between batches."""

    def resolve_path(self, path: str) -> Path:
        """Resolve a config path against `work_dir` (absolute paths are kept)."""


@runtime_checkable
class Extractor(Protocol):
    def extract(self, ctx: StepContext) -> pa.RecordBatchReader:
        """Return a stream of batches; the runtime pulls it lazily (back-pressure)."""


@runtime_checkable
class Transformer(Protocol):
    def transform(self, ctx: StepContext, inputs: Mapping[str, InputTable]) -> pa.RecordBatchReader:
        """Consume the named inputs and return the output stream."""


@runtime_checkable
class Writer(Protocol):
    def write(self, ctx: StepContext, data: pa.RecordBatchReader) -> WriteResult:
        """Write the whole stream atomically: all of it reaches the target, or none of it."""


@runtime_checkable
class PartitionedExtractor(Protocol):
    """An extractor a distributed backend may split: plan once, then one `extract` per partition."""

    def plan_partitions(self, ctx: StepContext, hints: PartitionHints) -> list[Partition]:
        """Split the source into 1..``hints.count`` partitions (``ctx.partition`` is None here).

        The partitions' rows together are exactly the rows of an unpartitioned extract, each in
        exactly one partition (NULL keys included); half-open ranges, so a boundary value is read
        once. Fewer partitions than asked is fine (a small table, one file)."""

    def extract(self, ctx: StepContext) -> pa.RecordBatchReader:
        """Read ``ctx.partition`` only when it is set; same schema for every partition."""


@runtime_checkable
class StagedWriter(Protocol):
    """A database writer a distributed backend may feed from many tasks, all or nothing.

    Each partition is loaded into its own staging table (`stage`, safe to repeat: a retried task
    replaces what the earlier attempt staged), then one `publish` applies the step's write mode
    to the target with every staged partition, in one transaction. ``token`` is
    ``[a-z0-9]{12}``, unique per run and step; staging table names derive from it.
    """

    def stage(self, ctx: StepContext, data: pa.RecordBatchReader, token: str, partition: int) -> WriteResult:
        """Load one partition's rows into its staging table (created from the stream's schema,
        even for zero rows); the target is not touched."""

    def publish(self, ctx: StepContext, token: str, partitions: int) -> WriteResult:
        """In one transaction: apply the write mode (append, replace, upsert; create_if_missing)
        to the target with the rows of staging tables 0..partitions-1, in partition order, and
        drop them. On failure the target is as it was."""

    def discard(self, ctx: StepContext, token: str, partitions: int) -> None:
        """Drop the staging tables of ``token`` that exist (a failed or cancelled run); quiet
        when there are none."""


@runtime_checkable
class StateKeeper(Protocol):
    """A writer that keeps incremental state next to its target (docs/incremental.md).

    `write` persists ``ctx.state_commit.records()`` in the transaction that loads the rows;
    these two methods read and clear the stored rows, each in its own short transaction.
    """

    def read_state(self, ctx: StepContext, pipeline: str, step: str) -> str | None:
        """The stored state (JSON text) of ``pipeline``/``step`` at this target, or None."""

    def list_state(self, ctx: StepContext, pipeline: str) -> dict[str, str]:
        """Step id -> stored state (JSON text) of every step of ``pipeline`` at this target."""

    def reset_state(self, ctx: StepContext, pipeline: str, steps: Iterable[str]) -> int:
        """Delete the stored state of ``steps``; returns how many rows went."""


@runtime_checkable
class HealthCheck(Protocol):
    def health_check(self, connection: ResolvedConnection, timeout_s: float = 5.0) -> HealthReport:
        """Check the connection answers (used by `osiris connections doctor`)."""


def iter_batches(reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
    """Iterate a reader's batches, skipping empty ones (some sources emit them)."""
    for batch in reader:
        if batch.num_rows:
            yield batch
