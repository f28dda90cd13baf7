"""Diagnostics are data: a stable code, a severity, a span, a message, help and a pointer.

Passes collect them in a `Diagnostics` bag instead of raising at the first problem, so one
run reports every error in a file. Rendering (text, JSON, SARIF) lives in compiler.render.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from oml.codes import CATALOG, Severity
from oml.span import Span


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: str
    severity: Severity
    span: Span
    message: str
    help: str | None = None
    pointer: str = ""
    """JSON Pointer (RFC 6901) to the offending node in the OML document."""

    @property
    def name(self) -> str:
        return CATALOG[self.code].name

    def sort_key(self) -> tuple[str, int, int, str, str]:
        return (*self.span.sort_key(), self.code, self.message)


class Diagnostics:
    """An append-only bag of diagnostics with one helper per severity.

    The helpers fill in the severity from the catalog's default unless told otherwise, so
    a call site only states what is specific to it.
    """

    def __init__(self, items: Iterable[Diagnostic] = ()) -> None:
        self._items: list[Diagnostic] = []
        self.error_count = 0
        """Errors so far: passes compare it before and after a check (counting on demand was
        quadratic in the number of diagnostics)."""
        self.extend(items)

    def add(
        self,
        code: str,
        at: Span,
        message: str,
        *,
        help: str | None = None,
        pointer: str = "",
        severity: Severity | None = None,
    ) -> Diagnostic:
        diagnostic = Diagnostic(
            code=code,
            severity=severity or CATALOG[code].severity,
            span=at,
            message=message,
            help=help,
            pointer=pointer,
        )
        self._items.append(diagnostic)
        self.error_count += diagnostic.severity == "error"
        return diagnostic

    def extend(self, other: Iterable[Diagnostic]) -> None:
        for diagnostic in other:
            self._items.append(diagnostic)
            self.error_count += diagnostic.severity == "error"

    def __iter__(self) -> Iterator[Diagnostic]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    @property
    def has_errors(self) -> bool:
        return self.error_count > 0

    def errors(self) -> list[Diagnostic]:
        return [d for d in self._items if d.severity == "error"]

    def sorted(self) -> list[Diagnostic]:
        """Stable order for output: (file, line, column, code, message), duplicates dropped."""
        unique = {(d.sort_key(), d.pointer, d.help, d.severity): d for d in self._items}
        return [unique[k] for k in sorted(unique, key=lambda k: (k[0], k[1], k[2] or "", k[3]))]


class CompileError(Exception):
    """Raised by API entry points that cannot return diagnostics (none of the passes raise)."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        super().__init__(f"{len(diagnostics)} diagnostic(s)")
        self.diagnostics = diagnostics
