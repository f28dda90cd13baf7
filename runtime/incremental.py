"""Incremental extraction: the window an extractor reads and the cursor state a writer commits.

An extractor step with `incremental: {cursor, initial, strategy, lookback, primary_key}` reads
only rows whose cursor is past the last committed state (`window`); `CursorTracker` watches its
output to learn the new state; the one writer downstream (the step's *keeper*, chosen by the
compiler) writes that state in the same transaction as the rows (`StateCommit`). A failed or
killed run never commits, so the state never runs ahead of the data. docs/incremental.md.

Semantics, all decided here rather than per driver:
- `>`: rows strictly after the last maximum. Rows that later arrive with exactly that value
  are missed; `>=` exists for them.
- `>=`: rows at the last maximum are read again and those already loaded are dropped by a
  digest of the whole row, so a row changed without its cursor moving is loaded again. Only
  the digests of the rows *at* the maximum are kept, so the state is bounded by the ties at
  one value and never accumulates.
- `lookback`: the window starts that far before the maximum, for late data; the rows read
  again are upserted by the keeper (the compiler requires `write_mode: upsert`).
- NULL cursors: such rows cannot be placed after anything, so every run reads them again
  (`OR cursor IS NULL`) and reports how many (`incremental_window` event, `null_cursor_rows`).
  With an upsert keeper they are idempotent; with append they repeat (docs/incremental.md).
- Values are exact: integers and decimals as text, timestamps with microseconds, time zones
  as UTC offsets; 0 and the epoch are values like any other.

`pyarrow.compute` is imported inside the functions that use it, so `osiris run` starts without
it (docs/performance.md) and only an incremental step pays for it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa

from osiris.runtime.driver import DriverError

__all__ = [
    "CursorFilter",
    "CursorState",
    "CursorTracker",
    "IncrementalSpec",
    "StateRecord",
    "cursor_kind",
    "MODIFIED",
    "in_window",
    "source_label",
    "window",
    "window_batches",
]

STATE_TABLE = "_osiris_state"
"""The table a database keeper holds state rows in, next to the target table."""

MODIFIED = "@modified"
"""The cursor of a file extractor that reads whole files changed since the last run (their
modification time), instead of rows by a column's value."""

MAX_BOUNDARY_ROWS = 100_000
"""Rows sharing the maximum cursor value that `>=` will remember; beyond it the run fails
(the state would grow with them) and says how to read such a source instead."""

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class IncrementalSpec:
    """A step's `incremental:` block, checked."""

    cursor: str
    strategy: str = ">"
    initial: Any = None
    lookback: Any = None
    """A number for numeric cursors, a `timedelta` for dates and timestamps."""
    primary_key: tuple[str, ...] = ()

    @property
    def by_file(self) -> bool:
        """Whole files by modification time (`cursor: "@modified"`), not rows by a column."""
        return self.cursor == MODIFIED

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> IncrementalSpec | None:
        block = config.get("incremental")
        if not block:
            return None
        cursor = block.get("cursor")
        if not cursor:
            raise DriverError("`incremental` needs `cursor`, the column that orders changes")
        strategy = str(block.get("strategy") or ">")
        if strategy not in (">", ">="):
            raise DriverError(f"`incremental.strategy` must be '>' or '>=', got {strategy!r}")
        key = block.get("primary_key") or ()
        return cls(
            cursor=str(cursor),
            strategy=strategy,
            initial=block.get("initial"),
            lookback=parse_lookback(block.get("lookback")),
            primary_key=(key,) if isinstance(key, str) else tuple(str(k) for k in key),
        )


def parse_lookback(value: Any) -> Any:
    """`2h` / `30m` / `90s` / `1d` -> timedelta; a number stays a number; None stays None."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise DriverError(f"`incremental.lookback` must be a number or a duration such as 2h, got {value!r}")
    if isinstance(value, (int, float, Decimal)):
        return value
    match = _DURATION.match(str(value))
    if not match:
        raise DriverError(f"`incremental.lookback` must be a number or a duration such as 2h, got {value!r}")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


# -- the committed state -------------------------------------------------------------------------

def cursor_kind(kind: pa.DataType) -> str:
    """The state kind of an Arrow cursor type; other types cannot order changes."""
    if pa.types.is_integer(kind):
        return "int"
    if pa.types.is_decimal(kind):
        return "decimal"
    if pa.types.is_floating(kind):
        return "float"
    if pa.types.is_date(kind):
        return "date"
    if pa.types.is_timestamp(kind):
        # nanoseconds do not fit a datetime: they are kept as integers (files written by pandas)
        return ("timestamptz" if kind.tz else "timestamp") + ("_ns" if kind.unit == "ns" else "")
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return "string"
    raise DriverError(
        f"a cursor column of type {kind} cannot order changes",
        hint="use an integer, decimal, date, timestamp or text column as `incremental.cursor`",
    )


def _encode(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind in ("int", "float", "string") or kind.endswith("_ns"):
        return value
    if kind == "decimal":
        return format(value, "f")
    if kind == "timestamptz":
        return value.astimezone(UTC).isoformat()
    return value.isoformat()  # date, timestamp (naive)


def _decode(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "int" or kind.endswith("_ns"):
        return int(value)
    if kind == "float":
        return float(value)
    if kind == "decimal":
        return Decimal(str(value))
    if kind == "date":
        return date.fromisoformat(value)
    if kind in ("timestamp", "timestamptz"):
        return datetime.fromisoformat(value)
    return str(value)


@dataclass(frozen=True)
class CursorState:
    """What a committed run leaves for the next: the highest cursor value loaded, and the
    identities of the rows at exactly that value (for `>=`)."""

    cursor: str
    kind: str
    value: Any
    source: str
    boundary: frozenset[str] = frozenset()
    null_rows: int = 0
    """NULL-cursor rows the run that wrote this state read (they are read by every run)."""
    rows: int = 0
    """Rows that run passed downstream."""

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": 1,
                "cursor": self.cursor,
                "kind": self.kind,
                "value": _encode(self.kind, self.value),
                "source": self.source,
                "boundary": sorted(self.boundary),
                "null_rows": self.null_rows,
                "rows": self.rows,
            },
            sort_keys=True,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> CursorState:
        try:
            data = json.loads(text)
            kind = str(data["kind"])
            return cls(
                cursor=str(data["cursor"]),
                kind=kind,
                value=_decode(kind, data["value"]),
                source=str(data["source"]),
                boundary=frozenset(str(h) for h in data.get("boundary") or ()),
                null_rows=int(data.get("null_rows") or 0),
                rows=int(data.get("rows") or 0),
            )
        except (ValueError, KeyError, TypeError) as error:
            raise DriverError(
                f"the stored incremental state cannot be read ({error})",
                hint="inspect it with `osiris state show`, or start over with `osiris state reset`",
            ) from None


@dataclass(frozen=True)
class StateRecord:
    """One state row a keeper writes: `previous` is the row it must replace (None: no row yet),
    so a concurrent run that committed first makes this one fail instead of overwriting it."""

    pipeline: str
    step: str
    state: str
    previous: str | None


def source_label(component: str, config: Mapping[str, Any], cursor: str) -> str:
    """What a state is about, readable in `osiris state show`; a different label means the
    state belongs to another read and must not be applied to this one."""
    if config.get("table"):
        what = f"table {config['table']}"
    elif config.get("path"):
        what = f"path {config['path']}"
    else:
        digest = hashlib.sha256(str(config.get("query") or "").strip().encode()).hexdigest()[:16]
        what = f"query sha256:{digest}"
    return f"{component} {what} cursor {cursor}"


# -- the window to read --------------------------------------------------------------------------

@dataclass(frozen=True)
class CursorFilter:
    """The rows an incremental extractor reads: `column op value`, plus every NULL cursor.
    `value` None means no lower bound (the first run without `initial`)."""

    column: str
    op: str
    value: Any
    loaded: frozenset[str] = frozenset()
    """With `@modified`: digests of the files at the last maximum already loaded (for `>=`)."""
    seen: Any = field(default=None, compare=False, repr=False)
    """With `@modified`: `seen(name, size, mtime_ns)`, called by the driver for each file it reads."""

    @property
    def by_file(self) -> bool:
        return self.column == MODIFIED

    def wants_file(self, name: str, size: int, mtime_ns: int) -> bool:
        """With `@modified`: whether a file belongs to this run's window."""
        if self.value is None:
            return True
        if self.op == ">":
            return mtime_ns > self.value
        return mtime_ns >= self.value and file_digest(name, size, mtime_ns) not in self.loaded

    def where(self, column_sql: str, literal: Any) -> str | None:
        """The SQL predicate, given the quoted column and a driver's literal renderer."""
        if self.value is None:
            return None
        return f"({column_sql} {self.op} {literal(self.value)} OR {column_sql} IS NULL)"


def window(spec: IncrementalSpec, previous: CursorState | None) -> CursorFilter:
    """Where this run starts: after the last state (less `lookback`), else at `initial`."""
    if previous is None or previous.value is None:
        initial = _as_ns(spec.initial) if spec.by_file and spec.initial is not None else spec.initial
        return CursorFilter(spec.cursor, ">=", initial)
    value, op = previous.value, spec.strategy
    if spec.lookback is not None:
        value, op = _minus(previous.kind, value, spec.lookback), ">="
    loaded = previous.boundary if spec.by_file and op == ">=" and value == previous.value else frozenset()
    return CursorFilter(spec.cursor, op, value, loaded)


def file_digest(name: str, size: int, mtime_ns: int) -> str:
    """A file as `@modified` remembers it: rewritten with another size, it is new."""
    return hashlib.blake2b(f"{name}\x1f{size}\x1f{mtime_ns}".encode(), digest_size=16).hexdigest()


def _as_ns(value: Any) -> int:
    """`initial` of a `@modified` cursor (an ISO timestamp, UTC unless it says) in nanoseconds."""
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise DriverError(f"`initial` {value!r} of a `@modified` cursor is not an ISO timestamp") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


def _minus(kind: str, value: Any, lookback: Any) -> Any:
    if kind.endswith("_ns"):
        if not isinstance(lookback, timedelta):
            raise DriverError("`incremental.lookback` for a timestamp or `@modified` cursor is a duration such as 2h")
        return value - round(lookback.total_seconds() * 1_000_000_000)
    if kind in ("timestamp", "timestamptz"):
        if not isinstance(lookback, timedelta):
            raise DriverError("`incremental.lookback` for a timestamp cursor is a duration such as 2h")
        return value - lookback
    if kind == "date":
        if not isinstance(lookback, timedelta):
            raise DriverError("`incremental.lookback` for a date cursor is a duration in days such as 3d")
        return value - timedelta(days=-(-lookback.total_seconds() // 86400))
    if isinstance(lookback, timedelta):
        raise DriverError(f"`incremental.lookback` for a {kind} cursor is a number, not a duration")
    if kind == "int":
        return value - int(lookback)
    if kind == "decimal":
        return value - Decimal(str(lookback))
    if kind == "float":
        return value - float(lookback)
    raise DriverError("`incremental.lookback` needs a numeric, date or timestamp cursor")


def _bound_scalar(value: Any, kind: pa.DataType) -> pa.Scalar:
    """The window's value as a scalar of the cursor's Arrow type (`initial` may be ISO text)."""
    import pyarrow.compute as pc
    try:
        return pa.scalar(value, kind)
    except (pa.ArrowException, TypeError, ValueError):
        pass
    try:
        return pc.cast(pa.scalar(str(value)), kind)
    except (pa.ArrowException, TypeError, ValueError):
        raise DriverError(
            f"the incremental bound {value!r} is not a value of the cursor's type {kind}",
            hint="write `initial` as the cursor's type (an ISO date or timestamp, a number)",
        ) from None


def in_window(batch: pa.RecordBatch, bound: CursorFilter) -> pa.RecordBatch:
    """The rows of `batch` inside the window: for sources that cannot filter as they read (files)."""
    import pyarrow.compute as pc
    if bound.value is None or bound.by_file:  # `@modified`: the driver chose whole files
        return batch
    index = batch.schema.get_field_index(bound.column)
    if index < 0:
        raise DriverError(
            f"the incremental cursor {bound.column!r} is not a column of the data",
            hint=f"columns: {', '.join(batch.schema.names)}",
        )
    column = batch.column(index)
    compare = pc.greater if bound.op == ">" else pc.greater_equal
    keep = pc.or_kleene(compare(column, _bound_scalar(bound.value, column.type)), pc.is_null(column))
    return batch.filter(pc.fill_null(keep, False))


def value_in_window(value: Any, bound: CursorFilter | None, kind: pa.DataType) -> bool:
    """Whether one cursor value (a hive partition's, say) can hold rows inside the window."""
    if bound is None or bound.value is None or value is None:
        return True
    mask = in_window(pa.record_batch([pa.array([value], kind)], names=[bound.column]), bound)
    return mask.num_rows == 1


def window_batches(batches: Iterator[pa.RecordBatch], bound: CursorFilter | None) -> Iterator[pa.RecordBatch]:
    """`batches` narrowed to the window (all of them when there is none)."""
    for batch in batches:
        yield batch if bound is None else in_window(batch, bound)


# -- watching what was read ----------------------------------------------------------------------

def _identity(batch: pa.RecordBatch, rows: Sequence[int]) -> set[str]:
    """Stable digests of whole rows: a row that changed without its cursor moving differs."""
    columns = batch.columns
    out = set()
    for row in rows:
        values = tuple(repr(column[row].as_py()) for column in columns)
        out.add(hashlib.blake2b("\x1f".join(values).encode(), digest_size=16).hexdigest())
    return out


@dataclass
class CursorTracker:
    """Wraps an incremental extractor's output: drops rows at the boundary already loaded,
    and learns the new maximum, its ties and the NULL-cursor count."""

    spec: IncrementalSpec
    previous: CursorState | None
    source: str
    complete: bool = False
    kind: str | None = None
    maximum: Any = None
    ties: set[str] = field(default_factory=set)
    null_rows: int = 0
    dropped: int = 0
    rows: int = 0

    def reset(self) -> None:
        """A new attempt reads from the start."""
        self.complete, self.kind, self.maximum = False, None, None
        self.ties, self.null_rows, self.dropped, self.rows = set(), 0, 0, 0

    def wrap(self, reader: pa.RecordBatchReader) -> pa.RecordBatchReader:
        """The reader's batches, watched. Not reset here: a `@modified` driver already reported
        its files while it opened the reader (a new attempt gets a new tracker)."""
        return pa.RecordBatchReader.from_batches(reader.schema, self._watch(reader))

    def _watch(self, reader: pa.RecordBatchReader) -> Iterator[pa.RecordBatch]:
        for batch in reader:
            batch = self._observe(batch)
            if batch.num_rows:
                yield batch
        self.complete = True

    def saw_file(self, name: str, size: int, mtime_ns: int) -> None:
        """A driver read this whole file (`@modified`): it may be the new maximum or a tie."""
        self.kind = "file_mtime_ns"
        if self.maximum is None or mtime_ns > self.maximum:
            self.maximum, self.ties = mtime_ns, set()
        if mtime_ns == self.maximum:
            self.ties.add(file_digest(name, size, mtime_ns))

    def _observe(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        import pyarrow.compute as pc

        if self.spec.by_file:  # the driver chose the files; their rows all pass
            self.rows += batch.num_rows
            return batch
        index = batch.schema.get_field_index(self.spec.cursor)
        if index < 0:
            raise DriverError(
                f"the incremental cursor {self.spec.cursor!r} is not a column of the extractor's output",
                hint=f"columns: {', '.join(batch.schema.names)}",
            )
        column = batch.column(index)
        if self.kind is None:
            self.kind = cursor_kind(column.type)
            if self.previous is not None and self.previous.kind != self.kind:
                raise DriverError(
                    f"the cursor {self.spec.cursor!r} was a {self.previous.kind} when the state was "
                    f"recorded and is a {self.kind} now",
                    hint="reset the state with `osiris state reset` to load from the start",
                )
        batch = self._drop_loaded(batch, column)
        column = batch.column(index)
        self.null_rows += column.null_count
        self.rows += batch.num_rows
        top = _top(column, self.kind)
        if top is not None and (self.maximum is None or top > self.maximum):
            self.maximum, self.ties = top, set()
        if top is not None and top == self.maximum and (self.spec.strategy == ">=" or self.spec.lookback):
            at_top = pc.equal(column, pa.scalar(top, column.type))
            self.ties |= _identity(batch, _true_rows(at_top))
            if len(self.ties) > MAX_BOUNDARY_ROWS:
                raise DriverError(
                    f"more than {MAX_BOUNDARY_ROWS:,} rows share the cursor value {top!r}; `>=` would keep "
                    "a digest of each in the state",
                    hint="use `strategy: \">\"` with a writer that upserts (and `lookback` for late rows), "
                    "or a finer cursor",
                )
        return batch

    def _drop_loaded(self, batch: pa.RecordBatch, column: pa.Array) -> pa.RecordBatch:
        import pyarrow.compute as pc
        previous = self.previous
        if previous is None or previous.value is None or not previous.boundary:
            return batch
        at_boundary = _true_rows(pc.equal(column, pa.scalar(previous.value, column.type)))
        if not at_boundary:
            return batch
        seen = [
            row for row in at_boundary
            if _identity(batch, [row]) <= previous.boundary
        ]
        if not seen:
            return batch
        keep = pa.array([True] * batch.num_rows)
        mask = keep.to_pylist()
        for row in seen:
            mask[row] = False
        self.dropped += len(seen)
        return batch.filter(pa.array(mask))

    def result(self) -> CursorState:
        """The state to commit; only after the whole window was read."""
        if not self.complete:
            raise DriverError(
                f"the incremental read of cursor {self.spec.cursor!r} did not reach its end before "
                "the writer committed, so its state cannot advance",
                hint="a step between the extractor and the writer stopped reading early (a LIMIT?)",
            )
        previous = self.previous
        kind = self.kind or (previous.kind if previous else "file_mtime_ns" if self.spec.by_file else "int")
        value, ties = self.maximum, set(self.ties)
        if previous is not None and previous.value is not None:
            if value is None or value < previous.value:
                value, ties = previous.value, set(previous.boundary)
            elif value == previous.value:
                ties |= previous.boundary
        return CursorState(
            cursor=self.spec.cursor,
            kind=kind,
            value=value,
            source=self.source,
            boundary=frozenset(ties),
            null_rows=self.null_rows,
            rows=self.rows,
        )


def _top(column: pa.Array, kind: str) -> Any:
    """The column's maximum as a state value (nanosecond timestamps as integers)."""
    import pyarrow.compute as pc
    if kind.endswith("_ns"):
        return pc.max(column.cast(pa.int64())).as_py()
    return pc.max(column).as_py()


def _true_rows(mask: pa.Array) -> list[int]:
    import pyarrow.compute as pc
    return pc.indices_nonzero(pc.fill_null(mask, False)).to_pylist()


def mtime_ns(moment: Any) -> int:
    """A file's modification time (a datetime from pyarrow.fs, or ns already) in nanoseconds."""
    if isinstance(moment, int):
        return moment
    return _as_ns(moment)
