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
    def __init__(self, *, interactive: bool, console: Any = None, input_fn: Callable[[str], str] | None = None) -> None:
        from rich.console import Console

        self.interactive = interactive
        self.console = console or Console(stderr=not interactive, highlight=False, soft_wrap=False)
        self._input = input_fn

    # -- talking --
    def say(self, text: str) -> None:
        self.console.print(text, markup=False)

    def note(self, text: str) -> None:
        self.console.print(f"[dim]{_escape(text)}[/dim]")

    def warn(self, text: str) -> None:
        self.console.print(f"[yellow]warning:[/yellow] {_escape(text)}")

    def error(self, text: str, hint: str | None = None) -> None:
        self.console.print(f"[bold red]error:[/bold red] {_escape(text)}")
        if hint:
            self.console.print(f"  [dim]hint:[/dim] {_escape(hint)}")

    # -- asking --
    def ask(self, question: str, default: str = "") -> str:
        if not self.interactive:
            raise RuntimeError("one-shot mode never asks")  # a bug if reached: the CLI checks first
        self.console.print(f"[bold cyan]?[/bold cyan] {_escape(question)}")
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

        if previous and previous != oml:
            diff = "".join(difflib.unified_diff(previous.splitlines(True), oml.splitlines(True),
                                                "previous", "revised", n=2))
            self.console.print(Panel(Syntax(diff, "diff", theme="ansi_dark", word_wrap=True),
                                     title="changes", title_align="left", border_style="yellow"))
        self.console.print(Panel(Syntax(oml, "yaml", theme="ansi_dark", line_numbers=True, word_wrap=True),
                                 title=title, title_align="left", border_style="cyan"))

    def show_diagnostics(self, rendered: str) -> None:
        self.console.print(f"[red]{_escape(rendered.rstrip())}[/red]")

    def show_io(self, reads: Sequence[str], writes: Sequence[str]) -> None:
        self.console.print("[bold]reads:[/bold]  " + _escape(", ".join(reads) or "nothing"))
        self.console.print("[bold]writes:[/bold] " + _escape(", ".join(writes) or "nothing"))

    def result(self, text: str) -> None:
        """The one line a script may want: printed to stdout whatever the mode."""
        if self.interactive:
            self.console.print(text, markup=False)
        else:
            print(text, file=sys.stdout, flush=True)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(str(text))
