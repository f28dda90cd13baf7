"""The terminal side of the chat: readable prompts, the pipeline as highlighted YAML, a diff
on each revision. One class serves both modes: interactive (asks) and one-shot (never asks;
progress goes to stderr, so stdout stays clean for scripts).
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

__all__ = ["ConsoleUI"]


class ConsoleUI:
    def __init__(
        self,
        *,
        interactive: bool,
        console: Any = None,
        input_fn: Callable[[str], str] | None = None,
        stdout: Any = None,
    ) -> None:
        from rich.console import Console

        self.interactive = interactive
        self.console = console or Console(stderr=not interactive, highlight=False, soft_wrap=False)
        self._input = input_fn
        self._stdout = stdout
        self.mask: Callable[[str], str] = lambda text: text
        """Applied to every message shown (the chat sets the secret masker here)."""

    # -- talking --
    def say(self, text: str) -> None:
        self.console.print(self.mask(text), markup=False, soft_wrap=True)

    def note(self, text: str) -> None:
        self.console.print(f"[dim]{self._escape(text)}[/dim]", soft_wrap=True)

    def warn(self, text: str) -> None:
        self.console.print(f"[yellow]warning:[/yellow] {self._escape(text)}", soft_wrap=True)

    def error(self, text: str, hint: str | None = None) -> None:
        self.console.print(f"[bold red]error:[/bold red] {self._escape(text)}", soft_wrap=True)
        if hint:
            self.console.print(f"  [dim]hint:[/dim] {self._escape(hint)}", soft_wrap=True)

    # -- asking --
    def ask(self, question: str, default: str = "") -> str:
        if not self.interactive:
            raise RuntimeError("one-shot mode never asks")  # a bug if reached: the CLI checks first
        self.console.print(f"[bold cyan]?[/bold cyan] {self._escape(question)}", soft_wrap=True)
        try:
            answer = self._input("> ") if self._input else self.console.input("[bold]> [/bold]")
        except EOFError:
            return default
        return answer.strip() or default

    def confirm(self, question: str, default: bool = False) -> bool:
        suffix = "[Y/n]" if default else "[y/N]"
        answer = self.ask(f"{question} {suffix}", "y" if default else "n").lower()
        return answer in ("y", "yes")

    @contextmanager
    def status(self, text: str) -> Iterator[None]:
        if self.interactive and self.console.is_terminal:
            with self.console.status(text):
                yield
        else:
            self.note(text)
            yield

    # -- showing --
    def show_pipeline(self, oml: str, previous: str | None = None, title: str = "pipeline") -> None:
        from rich.panel import Panel
        from rich.syntax import Syntax

        oml, previous = self.mask(oml), self.mask(previous) if previous else previous
        if previous and previous != oml:
            diff = "".join(
                difflib.unified_diff(
                    previous.splitlines(True), oml.splitlines(True), "previous", "revised", n=2
                )
            )
            self.console.print(
                Panel(
                    Syntax(diff, "diff", theme="ansi_dark", word_wrap=True),
                    title="changes",
                    title_align="left",
                    border_style="yellow",
                )
            )
        self.console.print(
            Panel(
                Syntax(oml, "yaml", theme="ansi_dark", line_numbers=True, word_wrap=True),
                title=title,
                title_align="left",
                border_style="cyan",
            )
        )

    def show_diagnostics(self, rendered: str) -> None:
        self.console.print(f"[red]{self._escape(rendered.rstrip())}[/red]", soft_wrap=True)

    def show_io(self, reads: Sequence[str], writes: Sequence[str]) -> None:
        self.console.print("[bold]reads:[/bold]  " + self._escape(", ".join(reads) or "nothing"))
        self.console.print("[bold]writes:[/bold] " + self._escape(", ".join(writes) or "nothing"))

    def result(self, text: str) -> None:
        """The one line a script may want: printed to stdout whatever the mode."""
        if self.interactive:
            self.console.print(self.mask(text), markup=False)
        else:
            print(self.mask(text), file=self._stdout or sys.stdout, flush=True)

    def _escape(self, text: str) -> str:
        from rich.markup import escape

        return escape(self.mask(str(text)))
