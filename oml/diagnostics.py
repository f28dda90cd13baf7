"""Diagnostics are data: a stable code, a severity, a span, a message, help and a pointer.

Passes collect them in a `Diagnostics` bag instead of raising at the first problem, so one
run reports every error in a file. Rendering (text, JSON, SARIF) lives in compiler.render.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from osiris.oml.codes import CATALOG, Severity
from osiris.oml.span import Span


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

    def sort_key(self) -> tuple[str, int, int, str, str, str, str, str, int, int]:
        """Output order: file, line, column, code, message. The other fields only break ties,
        so the order never depends on which pass happened to report first."""
        span = self.span
        return (*span.sort_key(), self.code, self.message, self.pointer, self.help or "", self.severity,
                span.end_line, span.end_column)


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
        self.extend((diagnostic,))
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
        """Every diagnostic in output order (`Diagnostic.sort_key`); nothing is dropped.

        Two problems at one position are two diagnostics, and both are shown. One problem
        reported twice is a bug in the pass that reports it: the tests look for it
        (tests/oml/test_diagnostic_order.py) rather than this method hiding it.
        """
        return sorted(self._items, key=Diagnostic.sort_key)
