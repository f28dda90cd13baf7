"""Live progress on stderr while a run works: rows and rows/s per step (rich, TTY only).

The display reads the steps' live states; it never sees an exception or a traceback, and
every string it shows is masked. No rich traceback handler is installed anywhere.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from osiris.runtime.local.context import StepState
from osiris.runtime.secrets import SecretMasker

__all__ = ["LiveProgress"]

_STYLE = {
    "running": "cyan",
    "waiting": "dim",
    "succeeded": "green",
    "failed": "bold red",
    "skipped": "yellow",
    "cancelled": "yellow",
    "pending": "dim",
}


class LiveProgress:
    def __init__(self, masker: SecretMasker) -> None:
        self.masker = masker
        self._states: dict[str, StepState] = {}
        self._lock = threading.Lock()
        self._t0 = time.monotonic()
        self._note: str | None = None
        self._live = Live(
            get_renderable=self._render,
            console=Console(stderr=True),
            refresh_per_second=4,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )

    def start(self) -> None:
        self._live.start()

    def stop(self) -> None:
        self._live.stop()

    def note(self, text: str) -> None:
        """Replace the caption (e.g. while cancelling), instead of printing under the live table."""
        self._note = text

    def update(self, state: StepState) -> None:
        with self._lock:
            self._states[state.id] = state

    def _render(self) -> Any:
        table = Table(box=None, show_header=True, header_style="bold", pad_edge=False)
        for column, justify in (
            ("step", "left"),
            ("component", "left"),
            ("status", "left"),
            ("rows", "right"),
            ("rows/s", "right"),
            ("time", "right"),
        ):
            table.add_column(column, justify=justify)  # type: ignore[arg-type]
        with self._lock:
            states = list(self._states.values())
        for state in states:
            seconds = state.duration_ms / 1000
            rows = state.live_rows
            rate = f"{rows / seconds:,.0f}" if seconds > 0.05 and rows else ""
            table.add_row(
                Text(self.masker.mask(state.id)),
                Text(state.component),
                Text(state.status, style=_STYLE.get(state.status, "")),
                f"{rows:,}",
                rate,
                f"{seconds:.1f}s",
            )
        elapsed = time.monotonic() - self._t0
        table.caption = self._note or f"running for {elapsed:.1f}s, Ctrl-C to cancel"
        return table
