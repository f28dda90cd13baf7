"""The run's log actor: tasks tell it when they start; the coordinator drains it.

Ray does not tell a task which attempt it is, and a worker that dies takes its task's result
with it. The actor counts starts per (step, partition), so a retried task knows it is attempt
2 and the coordinator can report `partition_start` (and a lost worker's retry) while the run
goes on, not only when the task's result arrives. It holds no data and no secret: step ids,
partition numbers, node ids and process ids.
"""

from __future__ import annotations

from typing import Any

__all__ = ["RunLog"]


class RunLog:
    """Plain class; the executor wraps it with `ray.remote(num_cpus=0)`."""

    def __init__(self) -> None:
        self._attempts: dict[tuple[str, int], int] = {}
        self._pending: list[dict[str, Any]] = []

    def started(self, step_id: str, partition: int, worker: dict[str, Any]) -> int:
        key = (step_id, partition)
        attempt = self._attempts.get(key, 0) + 1
        self._attempts[key] = attempt
        self._pending.append({"step_id": step_id, "partition": partition, "attempt": attempt, **worker})
        return attempt

    def drain(self) -> list[dict[str, Any]]:
        pending, self._pending = self._pending, []
        return pending
