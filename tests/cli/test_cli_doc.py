"""docs/cli.md lists every command, sub-command, argument and exit code of omlc and osiris, and
nothing else: the argparse parsers are walked and compared with the page in both directions."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from osiris.cli import chat, omlc, osiris
from osiris.cli.exits import ExitCode

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
OWN_PARSERS = {"osiris chat": chat.build_parser, "osiris dump-prompts": chat.build_dump_prompts_parser}
"""Commands that hand their arguments to a parser of their own."""


def _walk(parser: argparse.ArgumentParser, path: str, out: dict[str, argparse.ArgumentParser]) -> None:
    if path in OWN_PARSERS:
        parser = OWN_PARSERS[path]()
    out[path] = parser
    for action in parser._actions:  # noqa: SLF001 - argparse has no public walk
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for name, sub in action.choices.items():
                _walk(sub, f"{path} {name}", out)


def _parsers() -> dict[str, argparse.ArgumentParser]:
    found: dict[str, argparse.ArgumentParser] = {}
    _walk(omlc._parser(), "omlc", found)  # noqa: SLF001
    _walk(osiris.build_parser(), "osiris", found)
    return found


def _arguments(parser: argparse.ArgumentParser) -> tuple[set[str], set[str]]:
    """(option strings, positional names) of one parser, without -h/--help and sub-commands."""
    options: set[str] = set()
    positionals: set[str] = set()
    for action in parser._actions:  # noqa: SLF001
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):  # noqa: SLF001
            continue
        if action.option_strings:
            options.update(action.option_strings)
        else:
            positionals.add(str(action.metavar or action.dest))
    return options, positionals


def _doc_sections() -> dict[str, tuple[set[str], set[str]]]:
    """Each `### \\`command\\`` section's (options, positionals), from its table's first column."""
    sections: dict[str, tuple[set[str], set[str]]] = {}
    current: str | None = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        heading = re.fullmatch(r"### `([a-z][\w -]*)`", line)
        if heading:
            current = heading.group(1)
            sections[current] = (set(), set())
        elif line.startswith("## "):
            current = None
        elif current and (cell := re.match(r"\| `([^`]+)` \|", line)):
            text = cell.group(1)
            if text.startswith("-"):
                sections[current][0].update(re.findall(r"(?<![\w-])(--?[A-Za-z0-9][\w-]*)", text))
            else:
                sections[current][1].add(text.split()[0].removesuffix("..."))
    return sections


def test_every_command_in_the_parsers_has_a_section_and_no_section_is_invented() -> None:
    assert set(_parsers()) == set(_doc_sections())


def test_every_option_and_positional_is_documented_under_its_command_and_none_is_invented() -> None:
    sections = _doc_sections()
    for path, parser in _parsers().items():
        options, positionals = _arguments(parser)
        documented_options, documented_positionals = sections[path]
        assert documented_options == options, path
        assert documented_positionals == positionals, path


def test_the_exit_code_table_is_the_enum() -> None:
    text = DOC.read_text(encoding="utf-8")
    table = text[text.index("## Exit codes"):].split("\n## ")[0]
    rows = re.findall(r"^\| (\d+) \| `(\w+)` \|", table, re.MULTILINE)
    assert [(int(code), name) for code, name in rows] == [(int(c), c.name) for c in ExitCode]


def test_the_doc_walk_notices_an_undocumented_option(monkeypatch) -> None:
    """The comparison can fail: an option added to a parser and not to the page is caught."""
    build = omlc._parser  # noqa: SLF001

    def with_extra() -> argparse.ArgumentParser:
        parser = build()
        parser.add_argument("--not-in-the-doc", action="store_true")
        return parser

    monkeypatch.setattr(omlc, "_parser", with_extra)
    documented_options, _ = _doc_sections()["omlc"]
    options, _ = _arguments(_parsers()["omlc"])
    assert "--not-in-the-doc" in options - documented_options
