"""Source positions. Every IR node and every diagnostic carries one."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Span:
    """A range in a source file: 1-based lines and columns, end exclusive.

    `file` is the path as the user gave it (never made absolute), so diagnostics and
    artifacts do not depend on the machine they were produced on. A plain dataclass rather
    than a pydantic model: a large pipeline has tens of thousands of spans.
    """

    file: str
    line: int
    column: int
    end_line: int
    end_column: int
    file_level: bool = False
    """The span stands for the whole file (a missing key, an unreadable or empty file), not
    for its first character: renderers show no source excerpt for it."""

    @classmethod
    def whole_file(cls, file: str) -> Span:
        """The file as a whole, reported at 1:1 (what JSON, SARIF and the text header show)."""
        return cls(file=file, line=1, column=1, end_line=1, end_column=2, file_level=True)

    @classmethod
    def point(cls, file: str, line: int = 1, column: int = 1) -> Span:
        return cls(file=file, line=line, column=column, end_line=line, end_column=column + 1)

    def shifted(self, line_offset: int, column: int, length: int) -> Span:
        """A sub-span `line_offset` lines below this span's start, at `column`, `length` wide."""
        line = self.line + line_offset
        return Span(file=self.file, line=line, column=column, end_line=line, end_column=column + length)

    def sort_key(self) -> tuple[str, int, int]:
        return (self.file, self.line, self.column)
