"""Diagnostics come out in one order, (file, line, column, code, message), and none is lost.

What "duplicate" means: two diagnostics equal in every field (code, severity, span, message,
help, pointer) are one problem reported twice, a bug in the pass that reports it; the golden
corpus and the property tests look for it. Anything else is a different problem, even at the
same position, and is shown. `Diagnostics.sorted` therefore drops nothing.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from osiris.oml.diagnostics import Diagnostic, Diagnostics
from osiris.oml.span import Span
from tests.compiler.golden_harness import compile_invalid, invalid_cases
from tests.support.diagnostic_checks import assert_well_formed, positions


def _span(line: int, column: int, file: str = "p.yaml", end: tuple[int, int] | None = None) -> Span:
    end_line, end_column = end or (line, column + 1)
    return Span(file, line, column, end_line, end_column)


def _diag(code: str, line: int, column: int, message: str = "m", *, file: str = "p.yaml", **fields) -> Diagnostic:
    end = fields.pop("end", None)
    return Diagnostic(code=code, severity=fields.pop("severity", "error"), span=_span(line, column, file, end),
                      message=message, **fields)


def _sorted_from(items: list[Diagnostic]) -> list[Diagnostic]:
    return Diagnostics(items).sorted()


EXPECTED_ORDER = [
    _diag("OML050", 1, 1, file="a.yaml"),
    _diag("OML042", 2, 9, file="a.yaml"),
    _diag("OML042", 2, 30, file="a.yaml"),  # columns on one line: left to right
    _diag("OML040", 2, 44, file="a.yaml"),
    _diag("OML023", 10, 3, "a", file="a.yaml"),  # line 10 after line 2 (numbers, not text)
    _diag("OML031", 10, 3, "a", file="a.yaml"),  # one position, two codes: lower code first
    _diag("OML031", 10, 3, "b", file="a.yaml"),  # one position, one code: by message
    _diag("OML001", 1, 1, file="b.yaml"),
]


def test_output_order_is_file_line_column_code_message() -> None:
    for seed in range(20):
        shuffled = EXPECTED_ORDER[:]
        random.Random(seed).shuffle(shuffled)
        assert _sorted_from(shuffled) == EXPECTED_ORDER
    assert _sorted_from(EXPECTED_ORDER[::-1]) == EXPECTED_ORDER


def test_three_on_one_line_come_out_left_to_right_whatever_their_codes_and_messages() -> None:
    line = [_diag("OML046", 4, 7, "z", severity="warning"), _diag("OML044", 4, 20, "y"), _diag("OML042", 4, 41, "x")]
    for order in (line, line[::-1], [line[1], line[2], line[0]]):
        assert positions(_sorted_from(order)) == [(4, 7, "OML046"), (4, 20, "OML044"), (4, 41, "OML042")]


@pytest.mark.parametrize("field, low, high", [
    ("pointer", "/steps/0", "/steps/1"),
    ("help", None, "A hint"),  # no help sorts before any help text
    ("help", "a", "b"),
    ("severity", "error", "warning"),
    ("end", (3, 9), (3, 12)),
    ("end", (3, 20), (4, 1)),
])
def test_ties_beyond_the_message_are_broken_by_the_other_fields(field: str, low, high) -> None:
    """Equal up to the message, the order still does not depend on which pass spoke first."""
    first, second = _diag("OML042", 3, 5, **{field: low}), _diag("OML042", 3, 5, **{field: high})
    assert _sorted_from([second, first]) == _sorted_from([first, second]) == [first, second]


def test_different_problems_at_one_position_are_all_kept() -> None:
    """Two codes, two messages, two pointers (one YAML alias used by two steps): five problems."""
    same_place = [
        _diag("OML023", 7, 9, "invalid step id"),
        _diag("OML031", 7, 9, "defined twice"),
        _diag("OML042", 7, 9, "unknown key 'a'"),
        _diag("OML042", 7, 9, "unknown key 'b'"),
        _diag("OML042", 7, 9, "unknown key 'a'", pointer="/steps/1/config/a"),
    ]
    assert Counter(_sorted_from(same_place[::-1])) == Counter(same_place)


def test_a_problem_reported_twice_is_not_hidden() -> None:
    """The bag keeps both copies, so the corpus checks below can see (and fail on) the repeat."""
    twice = [_diag("OML042", 2, 3), _diag("OML042", 2, 3)]
    assert _sorted_from(twice) == twice
    with pytest.raises(AssertionError, match="reported twice"):
        assert_well_formed(twice, {})


def test_add_takes_the_severity_from_the_catalog_unless_told() -> None:
    bag = Diagnostics()
    error = bag.add("OML042", _span(1, 1), "unknown key")
    warning = bag.add("OML046", _span(2, 1), "renamed key", help="rename it", pointer="/steps/0/config/mode")
    lowered = bag.add("OML042", _span(3, 1), "told", severity="warning")
    assert error == Diagnostic("OML042", "error", _span(1, 1), "unknown key", None, "")
    assert warning == Diagnostic("OML046", "warning", _span(2, 1), "renamed key", "rename it", "/steps/0/config/mode")
    assert lowered.severity == "warning" and error.name == "unknown_config_key"
    assert list(bag) == [error, warning, lowered] and len(bag) == 3
    assert bag.errors() == [error] and bag.error_count == 1 and bag.has_errors


def test_error_count_follows_add_and_extend() -> None:
    bag = Diagnostics([_diag("OML046", 1, 1, severity="warning")])
    assert bag.error_count == 0 and not bag.has_errors and bag.errors() == []
    bag.extend([_diag("OML042", 2, 1), _diag("OML043", 3, 1), _diag("OML046", 4, 1, severity="warning")])
    assert bag.error_count == 2 and bag.has_errors
    bag.add("OML031", _span(5, 1), "twice")
    assert bag.error_count == 3 and [d.code for d in bag.errors()] == ["OML042", "OML043", "OML031"]


# The golden corpus: every invalid case is well formed, and the corpus keeps cases that pin the
# order down (several diagnostics on one line and at one position, in an order no other key gives).


def _sources(path: Path) -> dict[str, str]:
    sources = {path.name: path.read_text(encoding="utf-8")}
    connections = path.with_name(path.stem + ".connections.yaml")
    if connections.is_file():
        sources[connections.name] = connections.read_text(encoding="utf-8")
    return sources


@pytest.mark.parametrize("path", invalid_cases(), ids=lambda p: p.stem)
def test_golden_diagnostics_are_well_formed(path: Path) -> None:
    result, rendered = compile_invalid(path)
    assert_well_formed(result.diagnostics, _sources(path))
    assert compile_invalid(path)[1] == rendered


def _corpus() -> dict[str, list[Diagnostic]]:
    return {path.stem: list(compile_invalid(path)[0].diagnostics) for path in invalid_cases()}


def _lines(diagnostics: list[Diagnostic]) -> list[list[Diagnostic]]:
    by_line: dict[tuple[str, int], list[Diagnostic]] = {}
    for d in diagnostics:
        by_line.setdefault((d.span.file, d.span.line), []).append(d)
    return list(by_line.values())


def test_the_golden_corpus_pins_the_order_down() -> None:
    corpus = _corpus()
    lines = [line for diagnostics in corpus.values() for line in _lines(diagnostics)]

    def columns(line: list[Diagnostic]) -> set[int]:
        return {d.span.column for d in line}

    assert sum(len(d) >= 2 for d in corpus.values()) >= 10, "few goldens with several diagnostics"
    assert any(len(columns(line)) >= 3 for line in lines), "no golden with three diagnostics on one line"
    # On one line, the column order differs from the order of codes, of messages, of severities.
    assert any([d.code for d in line] != sorted(d.code for d in line) for line in lines)
    assert any([d.message for d in line] != sorted(d.message for d in line) for line in lines)
    assert any(len({d.severity for d in line}) > 1 for line in lines)
    # Two codes at one position.
    at = Counter((d.span.file, d.span.line, d.span.column, d.code) for ds in corpus.values() for d in ds)
    places = Counter((file, line, column) for file, line, column, _ in at)
    assert any(n >= 2 for n in places.values()), "no golden with two codes at one position"
