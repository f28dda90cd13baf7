"""Wire a manifest's data edges into channels and spillers before any step starts.

Rule (docs/runtime.md): a writer with exactly one input and no retries streams straight
from a bounded channel; every other consumer (transforms, writers that may retry) gets its
input spilled to Arrow IPC by a drainer thread and starts when the input is complete. All
spilled consumers of one producer share one spill file. A producer pushes each batch to all
of its channels (fan-out), so it runs at the pace of its slowest streaming consumer.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from osiris.compiler.manifest_records import Manifest, ManifestStep
from osiris.runtime.local.channel import Channel
from osiris.runtime.local.spill import Spiller

__all__ = ["Binding", "Wiring", "consumes_streaming", "wire"]


@dataclass
class Binding:
    """One input of a consumer: where it comes from and how it arrives."""

    name: str
    producer: str
    channel: Channel | None = None
    spiller: Spiller | None = None

    @property
    def streaming(self) -> bool:
        return self.channel is not None


@dataclass
class Wiring:
    outputs: dict[str, list[Channel]] = field(default_factory=dict)
    """Producer step id -> the channels it pushes every batch to."""
    inputs: dict[str, list[Binding]] = field(default_factory=dict)
    """Consumer step id -> its inputs, in the manifest's input order."""
    ordering: dict[str, list[str]] = field(default_factory=dict)
    """Consumer step id -> upstream steps it waits for without receiving their data."""
    spillers: list[Spiller] = field(default_factory=list)


def consumes_streaming(step: ManifestStep) -> bool:
    """Only a single-input writer that will not retry and waits for nothing else reads live.

    A writer that also waits for another step (an ordering-only `needs`) must not hold its
    producer back meanwhile: if that other step depends on the same producer, the two would
    wait for each other. Such a writer gets a spilled input.
    """
    if step.kind != "writer" or len(step.inputs) != 1 or step.retry.max_attempts > 1:
        return False
    sources = {source.step for source in step.inputs.values()}
    return set(step.needs) <= sources


def wire(manifest: Manifest, spill_dir: Path, capacity: int, cancel: threading.Event) -> Wiring:
    wiring = Wiring(outputs={step.id: [] for step in manifest.steps})
    spillers: dict[str, Spiller] = {}
    for step in manifest.steps:
        bindings = []
        streaming = consumes_streaming(step)
        for name, source in step.inputs.items():
            if streaming:
                channel = Channel(f"{source.step}->{step.id}", capacity, cancel)
                wiring.outputs[source.step].append(channel)
                bindings.append(Binding(name, source.step, channel=channel))
                continue
            spiller = spillers.get(source.step)
            if spiller is None:
                channel = Channel(f"{source.step}->spill", capacity, cancel)
                wiring.outputs[source.step].append(channel)
                spiller = Spiller(
                    channel,
                    source.step,
                    spill_dir / f"{len(spillers):03d}-{_safe(source.step)}.arrow",
                    cancel,
                )
                spillers[source.step] = spiller
            bindings.append(Binding(name, source.step, spiller=spiller))
        wiring.inputs[step.id] = bindings
        data_sources = {source.step for source in step.inputs.values()}
        wiring.ordering[step.id] = [need for need in step.needs if need not in data_sources]
    wiring.spillers = list(spillers.values())
    return wiring


def _safe(step_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in step_id)
