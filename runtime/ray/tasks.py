"""What runs inside a Ray worker: plan an extractor's partitions, run one stage on one partition,
split a result into hash buckets.

These functions receive no secret: a `TaskEnv` names the connections file (mounted on every
node, or `OSIRIS_CONNECTIONS` there) and each worker resolves the connection itself, with its
own environment. Ray keeps task arguments, task names and errors in its control store and
shows them on its dashboard, so a task never raises: a failure comes back as data, masked by
the worker's `SecretMasker` (the coordinator masks it again before writing it).

A step that fails with a `TransientError` is retried inside the task (its inputs are immutable
objects, so a second attempt sees exactly what the first did); a worker that dies is retried
by Ray (`max_retries`), and the run's log actor counts those attempts.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pyarrow as pa

from osiris.compiler.manifest_records import ManifestStep
from osiris.runtime.backoff import backoff_delay
from osiris.runtime.connections import RuntimeConnections, load_connections_file, step_ref
from osiris.runtime.driver import (
    DriverError,
    Partition,
    PartitionHints,
    ResolvedConnection,
    TransientError,
    WriteResult,
    iter_batches,
)
from osiris.runtime.local.rss import current_rss_bytes
from osiris.runtime.local.step import describe_error
from osiris.runtime.ray.context import Recorded, TableInput, TaskStepContext
from osiris.runtime.registry import DriverRegistry
from osiris.runtime.secrets import SecretMasker

__all__ = [
    "ChainResult",
    "Failure",
    "StepReport",
    "StepTask",
    "TaskEnv",
    "plan_partitions",
    "run_stage",
    "split_buckets",
]

FAILPOINTS = "OSIRIS_FAILPOINTS"
"""Test hooks, set by the operator only (the environment is trusted), comma-separated:
`kill:<step>:<partition>` makes the worker running that partition's first attempt die with
SIGKILL (a real worker death, which Ray retries); `hang:<step>:<partition>` makes that
partition's task wait until it is killed (a run caught mid-way)."""


@dataclass(frozen=True)
class TaskEnv:
    """Run-wide settings every task needs; plain values, no secret."""

    session_id: str
    work_dir: str
    connections_path: str | None
    path_roots: tuple[str, ...] = ()
    protected_files: tuple[str, ...] = ()
    batch_rows: int = 65536
    memory_bytes: int = 512 * 1024 * 1024
    debug: bool = False
    overrides: Mapping[str, Any] | None = None
    """Driver overrides of an embedder's registry (tests); None: the installed entry points."""


@dataclass(frozen=True)
class StepTask:
    """One step of a stage, as a task runs it."""

    step: ManifestStep
    cfg: Mapping[str, Any]
    staged_token: str | None = None
    """Set for a staged database writer: the run's token for its staging tables."""


@dataclass
class StepReport:
    """What one step did in one task (one partition)."""

    rows_in: int = 0
    rows_out: int = 0
    bytes_out: int = 0
    rows_written: int = 0
    bytes_written: int = 0
    target: str = ""
    attempts: int = 1
    schema: pa.Schema | None = None
    retries: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Failure:
    """A step failed (``step_id`` set, ``error`` as `describe_error`), or an upstream one did (``upstream``)."""

    step_id: str | None = None
    error: dict[str, Any] | None = None
    upstream: str | None = None
    traceback: str | None = None


@dataclass
class ChainResult:
    """A stage's report for one partition (its output table is the task's second return value)."""

    partition: int
    reports: dict[str, StepReport] = field(default_factory=dict)
    failure: Failure | None = None
    events: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    metrics: list[tuple[str, str, float, str | None, dict[str, Any]]] = field(default_factory=list)
    worker: dict[str, Any] = field(default_factory=dict)
    attempt: int = 1
    started: str = ""
    started_wall: float = 0.0
    """`time.time()` when the task began: the coordinator dates the step's start from it."""
    duration_ms: int = 0
    peak_rss_bytes: int = 0


class _Worker:
    """Per-process state: the masker, the connections file, the driver registry."""

    def __init__(self, env: TaskEnv) -> None:
        self.env = env
        self.masker = SecretMasker()
        self.masker.add_environment(os.environ)
        path = os.environ.get("OSIRIS_CONNECTIONS") or env.connections_path
        file = load_connections_file(path, Path(env.work_dir)) if path else None
        self.connections = RuntimeConnections(file, self.masker, os.environ)
        self.registry = DriverRegistry(env.overrides)
        _mask_logs(self.masker)

    def connection(self, step: ManifestStep, cfg: Mapping[str, Any]) -> ResolvedConnection | None:
        ref = step_ref(step.family, step.connection, self.connections)
        if ref is None:
            return None
        connection = self.connections.resolve(ref, step_id=step.id)
        connection.check_overrides(cfg)
        return connection


class _MaskRecords(logging.Filter):
    """Mask a log record's text before any handler of the worker formats it: a worker's log
    files belong to the cluster (Ray collects and shows them), not to the run."""

    def __init__(self, masker: SecretMasker) -> None:
        super().__init__()
        self.masker = masker

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = self.masker.mask(record.getMessage()), ()
        if record.exc_info:
            record.exc_text = self.masker.mask(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def _mask_logs(masker: SecretMasker) -> None:
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler())
    for handler in root.handlers:
        if not any(isinstance(f, _MaskRecords) for f in handler.filters):
            handler.addFilter(_MaskRecords(masker))


@lru_cache(maxsize=4)
def _worker(env: TaskEnv) -> _Worker:
    return _Worker(env)


def _context(worker: _Worker, task: StepTask, temp: Path, recorded: Recorded,
             partition: Partition | None) -> TaskStepContext:
    env = worker.env
    return TaskStepContext(
        step_id=task.step.id,
        component=task.step.component,
        mode=task.step.mode,
        config=task.cfg,
        connection=worker.connection(task.step, task.cfg),
        work_dir=Path(env.work_dir),
        temp_dir=temp,
        batch_rows=env.batch_rows,
        memory_limit_bytes=env.memory_bytes,
        recorded=recorded,
        path_roots=env.path_roots,
        protected_files=env.protected_files,
        partition=partition,
    )


def plan_partitions(env: TaskEnv, task: StepTask, hints: PartitionHints) -> list[Partition] | Failure:
    """Ask a splittable extractor for its partitions (a task: the worker holds the credentials)."""
    worker = _worker(env)
    temp = Path(tempfile.mkdtemp(prefix="osiris-plan-"))
    try:
        ctx = _context(worker, task, temp, Recorded(), None)
        driver = worker.registry.create(task.step.component)
        partitions = list(driver.plan_partitions(ctx, hints))
        if not partitions:
            raise DriverError(f"{task.step.component} planned no partition")
        return partitions
    except BaseException as error:  # noqa: BLE001 - returned as data, never raised into Ray
        return _failure(worker, task.step.id, error)
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def run_stage(
    env: TaskEnv,
    chain: Sequence[StepTask],
    index: int,
    partition: Partition | None,
    layout: Sequence[tuple[str, int]],
    log: Any,
    *payloads: Any,
) -> tuple[ChainResult, Any]:
    """Run `chain` on one partition; `layout` says how `payloads` (tables, or the `Failure` an
    upstream stage returned instead) group into named inputs (input name, how many payloads),
    all of them for the chain's first step.

    Two return values (`num_returns=2`): the report, which the coordinator fetches, and the
    output table, which only the next stages' tasks fetch (rows never travel to the coordinator);
    a `Failure` in its place when the stage did not finish, None after a writer."""
    worker = _worker(env)
    started_at = time.monotonic()
    recorded = Recorded()
    result = ChainResult(index, started_wall=time.time())
    result.worker = _where()
    result.attempt = _attempt(log, chain[0].step.id, index, result.worker)
    result.started = recorded_now()
    _failpoint(chain[0].step.id, index, result.attempt)
    upstream = next((p for p in payloads if isinstance(p, Failure)), None)
    if upstream is not None:
        own = upstream.step_id == chain[0].step.id  # the exchange into this step's buckets failed
        result.failure = upstream if own else Failure(upstream=upstream.step_id or upstream.upstream)
        return result, result.failure
    temp = Path(tempfile.mkdtemp(prefix=f"osiris-{env.session_id[-6:]}-"))
    current: pa.Table | None = None
    try:
        inputs = _group(layout, payloads, chain[0])
        for position, task in enumerate(chain):
            step_inputs = inputs if position == 0 else {_only_input(task): _as_input(chain[position - 1], current)}
            report, current = _run_step(worker, task, step_inputs, partition if position == 0 else None,
                                        index, temp, recorded)
            result.reports[task.step.id] = report
    except _StepFailed as failed:
        result.failure = failed.failure
    except Exception as error:  # noqa: BLE001 - inputs that cannot be read together: the first step's failure
        result.failure = _failure(worker, chain[0].step.id, error)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
        result.events = worker.masker.mask_data(recorded.events)
        result.metrics = worker.masker.mask_data(recorded.metrics)
        result.duration_ms = int((time.monotonic() - started_at) * 1000)
        result.peak_rss_bytes = current_rss_bytes()
    if result.failure is not None:
        return result, result.failure
    return result, current


def split_buckets(result: Any, keys: Sequence[str], buckets: int, step_id: str = "") -> Any:
    """One upstream partition's table as `buckets` tables by a hash of `keys` (`num_returns`);
    `Failure`s in their place when the upstream stage failed or the split itself fails (a key
    the input does not have), never an exception into Ray."""
    if isinstance(result, Failure):
        parts: list[Any] = [Failure(step_id=result.step_id, upstream=result.upstream) for _ in range(buckets)]
    else:
        from osiris.runtime.ray.exchange import split_by_hash

        try:
            parts = list(split_by_hash(_table(result), list(keys), buckets))
        except Exception as error:  # noqa: BLE001 - the consuming step's failure, as data
            info = describe_error(error)
            parts = [Failure(step_id=step_id or None, error=info) for _ in range(buckets)]
    return tuple(parts) if buckets > 1 else parts[0]  # Ray stores one return value as is


class _StepFailed(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.step_id)
        self.failure = failure


def _run_step(
    worker: _Worker,
    task: StepTask,
    inputs: Mapping[str, TableInput],
    partition: Partition | None,
    index: int,
    temp: Path,
    recorded: Recorded,
) -> tuple[StepReport, pa.Table | None]:
    step = task.step
    policy = step.retry
    report = StepReport()
    attempt = 1
    while True:
        report.attempts = attempt
        try:
            table = _attempt_step(worker, task, inputs, partition, index, temp / f"{step.id}-{attempt}",
                                  recorded, report)
            return report, table
        except TransientError as error:
            if attempt >= policy.max_attempts:
                raise _StepFailed(_failure(worker, step.id, error)) from None
            delay = backoff_delay(policy.backoff_seconds, attempt, policy.max_backoff_seconds)
            report.retries.append({"attempt": attempt, "next_attempt": attempt + 1, "delay_s": round(delay, 3),
                                   "max_attempts": policy.max_attempts,
                                   "error": worker.masker.mask(str(error))})
            time.sleep(delay)
            attempt += 1
        except BaseException as error:  # noqa: BLE001 - the step's failure, reported as data
            raise _StepFailed(_failure(worker, step.id, error)) from None


def _attempt_step(
    worker: _Worker,
    task: StepTask,
    inputs: Mapping[str, TableInput],
    partition: Partition | None,
    index: int,
    temp: Path,
    recorded: Recorded,
    report: StepReport,
) -> pa.Table | None:
    temp.mkdir(parents=True, exist_ok=True)
    ctx = _context(worker, task, temp, recorded, partition)
    driver = worker.registry.create(task.step.component)
    kind = task.step.kind
    report.rows_in = sum(t.num_rows for t in inputs.values()) if kind != "extractor" else 0
    if kind == "extractor":
        table = _collect(driver.extract(ctx), task.step.component)
    elif kind == "transform":
        table = _collect(driver.transform(ctx, dict(inputs)), task.step.component)
    else:
        if len(inputs) != 1:
            raise DriverError(f"a writer needs exactly one input; {task.step.id} has {len(inputs)}",
                              hint="give the writer one upstream step in `needs` or `inputs`")
        data = next(iter(inputs.values()))
        report.schema = data.schema
        if task.staged_token is not None:
            written = driver.stage(ctx, data.reader(), task.staged_token, index)
        else:
            written = driver.write(ctx, data.reader())
        if not isinstance(written, WriteResult):
            raise DriverError(f"{task.step.component} returned {type(written).__name__}, not a WriteResult")
        report.rows_written, report.bytes_written, report.target = int(written.rows), int(written.bytes), str(
            written.target)
        return None
    report.rows_out, report.bytes_out, report.schema = table.num_rows, table.nbytes, table.schema
    return table


def _collect(reader: Any, component: str) -> pa.Table:
    if not isinstance(reader, pa.RecordBatchReader):
        raise DriverError(f"{component} returned {type(reader).__name__}, not a RecordBatchReader")
    try:
        batches = list(iter_batches(reader))
    finally:
        close = getattr(reader, "close", None)
        if close is not None:
            close()
    return pa.Table.from_batches(batches, schema=reader.schema)


def _group(layout: Sequence[tuple[str, int]], payloads: Sequence[Any], first: StepTask) -> dict[str, TableInput]:
    grouped: dict[str, TableInput] = {}
    position = 0
    for name, count in layout:
        tables = tuple(_table(p) for p in payloads[position:position + count])
        position += count
        producer = first.step.inputs[name].step if name in first.step.inputs else name
        schema = tables[0].schema if tables else pa.schema([])
        grouped[name] = TableInput(producer, schema, _conformed(tables, schema))
    return grouped


def _conformed(tables: tuple[pa.Table, ...], schema: pa.Schema) -> tuple[pa.Table, ...]:
    """Partitions of one output with the same schema; a driver that typed one differently
    (an all-NULL column of an empty partition) is cast to the first's, or refused clearly."""
    result = []
    for table in tables:
        if table.schema.equals(schema):
            result.append(table)
            continue
        try:
            result.append(table.cast(schema))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as error:
            raise DriverError(
                f"the partitions of one output have different column types ({error})",
                hint="set `partitions: 1` on the producing step to read it in one task",
            ) from None
    return tuple(result)


def _only_input(task: StepTask) -> str:
    return next(iter(task.step.inputs)) if task.step.inputs else "input"


def _as_input(previous: StepTask, table: pa.Table | None) -> TableInput:
    assert table is not None, "a stage continues only after a step with an output"
    return TableInput(previous.step.id, table.schema, (table,))


def _table(payload: Any) -> pa.Table:
    if isinstance(payload, pa.Table):
        return payload
    raise DriverError(f"a task received {type(payload).__name__} where a table was expected")


def _failure(worker: _Worker, step_id: str, error: BaseException) -> Failure:
    info = describe_error(error)
    text = "".join(traceback.format_exception(error)) if worker.env.debug else None
    return Failure(step_id=step_id, error=worker.masker.mask_data(info),
                   traceback=worker.masker.mask(text) if text else None)


def _where() -> dict[str, Any]:
    import ray

    context = ray.get_runtime_context()
    return {"node": context.get_node_id()[:12], "pid": os.getpid()}


def _attempt(log: Any, step_id: str, index: int, where: Mapping[str, Any]) -> int:
    """The attempt number of this task (Ray does not tell a task): counted by the run's log actor."""
    import ray

    if log is None:
        return 1
    return int(ray.get(log.started.remote(step_id, index, dict(where))))


def recorded_now() -> str:
    from osiris.runtime.events import utc_now

    return utc_now()


def _failpoint(step_id: str, index: int, attempt: int) -> None:
    """`OSIRIS_FAILPOINTS`: die like a lost machine on the first attempt, or hang until killed."""
    wanted = os.environ.get(FAILPOINTS, "").split(",")
    if attempt == 1 and f"kill:{step_id}:{index}" in wanted:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)
    if f"hang:{step_id}:{index}" in wanted:
        while True:
            time.sleep(3600)
