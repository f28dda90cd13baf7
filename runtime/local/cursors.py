"""Incremental steps in a local run: each one's keeper, its stored state, its tracker.

The compiler already checked that every incremental extractor feeds exactly one writer that
keeps state (OML047); a manifest from elsewhere is checked again here before any step runs.
The extractor's thread reads the stored state through the keeper's driver when it starts
(`CursorLink.begin`); the keeper's driver asks for the new state inside its transaction, just
before it commits (`StateCommit.records`), which fails unless the extractor read to the end.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from osiris.compiler.checks.incremental import manifest_state_writers
from osiris.compiler.manifest_records import Manifest
from osiris.runtime.driver import DriverError, StepContext
from osiris.runtime.incremental import (
    CursorFilter,
    CursorState,
    CursorTracker,
    IncrementalSpec,
    StateRecord,
    source_label,
    window,
)

__all__ = ["CursorLink", "StateCommit", "keepers", "link_cursors"]


def keepers(manifest: Manifest, cfgs: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Incremental extractor id -> the id of the one writer its rows reach."""
    out: dict[str, str] = {}
    for step_id, writers in manifest_state_writers(manifest, cfgs).items():
        if len(writers) != 1:
            raise DriverError(
                f"incremental step {step_id} feeds {len(writers)} writers ({', '.join(sorted(writers)) or 'none'}); "
                "its state is kept by exactly one",
                hint="recompile the pipeline: `omlc check` reports this as OML047",
            )
        out[step_id] = writers[0]
    return out


@dataclass
class CursorLink:
    """One incremental extractor and the writer that keeps its state."""

    pipeline: str
    step_id: str
    component: str
    spec: IncrementalSpec
    source: str
    read_stored: Callable[[], str | None]
    """Reads the stored state (JSON) through the keeper's driver."""
    stored: str | None = None
    tracker: CursorTracker | None = None

    def begin(self, ctx: StepContext) -> CursorFilter:
        """Read the stored state and decide this attempt's window (events say which)."""
        self.stored = self.read_stored()
        previous = CursorState.from_json(self.stored) if self.stored is not None else None
        if previous is not None and previous.source != self.source:
            raise DriverError(
                f"the stored state of step {self.step_id} is for another read ({previous.source}); "
                f"this one is {self.source}",
                hint=f"start over with `osiris state reset PIPELINE {self.step_id}` once the target is ready for it",
            )
        self.tracker = CursorTracker(self.spec, previous, self.source)
        bound = window(self.spec, previous)
        if self.spec.by_file:
            bound = replace(bound, seen=self.tracker.saw_file)
        ctx.event(
            "incremental_window",
            cursor=self.spec.cursor,
            op=bound.op,
            start=None if bound.value is None else str(bound.value),
            stored=previous is not None,
        )
        return bound

    def record(self) -> StateRecord:
        if self.tracker is None:
            raise DriverError(f"incremental step {self.step_id} did not start before its writer committed")
        state = self.tracker.result()
        return StateRecord(self.pipeline, self.step_id, state.to_json(), self.stored)


@dataclass
class StateCommit:
    """What a keeper writes in its transaction: one record per incremental step it keeps."""

    links: list[CursorLink] = field(default_factory=list)

    def records(self) -> list[StateRecord]:
        return [link.record() for link in self.links]

    def expected(self) -> list[tuple[str, str, str | None]]:
        """(pipeline, step, stored state this run started from): what must still be stored
        when the keeper commits, known before any row is read."""
        return [(link.pipeline, link.step_id, link.stored) for link in self.links]


def link_cursors(
    manifest: Manifest,
    cfgs: Mapping[str, Mapping[str, Any]],
    reader_for: Callable[[str, str], Callable[[], str | None]],
) -> tuple[dict[str, CursorLink], dict[str, StateCommit]]:
    """Links by extractor id and commits by keeper id; `reader_for(keeper_id, extractor_id)`
    returns the function that reads the stored state."""
    links: dict[str, CursorLink] = {}
    commits: dict[str, StateCommit] = {}
    for step_id, keeper in keepers(manifest, cfgs).items():
        step, cfg = manifest.step(step_id), cfgs[step_id]
        spec = IncrementalSpec.from_config(cfg)
        assert spec is not None  # keepers() only returns incremental steps
        link = CursorLink(
            pipeline=manifest.pipeline.name,
            step_id=step_id,
            component=step.component,
            spec=spec,
            source=source_label(step.component, cfg, spec.cursor),
            read_stored=reader_for(keeper, step_id),
        )
        links[step_id] = link
        commits.setdefault(keeper, StateCommit()).links.append(link)
    return links, commits
