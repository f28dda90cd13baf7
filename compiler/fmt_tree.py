"""The parsed side of `omlc fmt`: the composed node tree, and every comment attached to an entry.

A full-line comment belongs to the entry below it (so it moves with that entry when keys
are reordered), unless it is indented deeper than that entry: then it closes the block it is
indented into. An end-of-line comment belongs to the entry whose scalar (or flow collection)
ends last before it on its line. Comments before the first key are the file's header.
Comments are found in the text, outside the ranges the scalars occupy, so a `#` inside a
string or a block scalar is never taken for one. So the tree needs no comment-keeping parser:
it indexes the nodes oml.yaml_loader composed (with libyaml when it can) by their marks.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml.nodes import MappingNode, Node, ScalarNode

from osiris.oml.yaml_loader import key_text

__all__ = ["Entry", "FormatError", "Parser", "Tree", "attach_comments"]

_BLOCK_HEADER = re.compile(r"[|>][0-9+-]*")


class FormatError(Exception):
    """The file cannot be formatted (invalid YAML, or formatting would change it)."""

    def __init__(self, message: str, line: int = 1, column: int = 1, code: str = "OML001") -> None:
        super().__init__(message)
        self.line = line
        self.column = column
        self.code = code
        """The diagnostic code the CLI should print (OML009 for a repeated key)."""


@dataclass(eq=False)
class Entry:
    """A mapping pair (`key` set) or a sequence item, with the comments that belong to it."""

    key: Tree | None
    value: Tree
    line: int
    column: int
    parent: Tree
    lead: list[str] = field(default_factory=list)
    eol: list[str] = field(default_factory=list)
    name: str | None = None
    """The key as OML names it (oml.yaml_loader.key_text); None for a sequence item."""


@dataclass(eq=False)
class Tree:
    """A node: a mapping or sequence (with its entries and trailing comments) or a scalar."""

    node: Node
    kind: str  # map | seq | scalar
    entries: list[Entry] = field(default_factory=list)
    trail: list[str] = field(default_factory=list)
    owner: Entry | None = None
    block: tuple[str, list[str]] | None = None
    """A block scalar's header and source lines: reprinted re-indented, so folding is kept."""

    @property
    def scalar(self) -> ScalarNode:
        """The node of a scalar tree (callers check `kind` first)."""
        assert isinstance(self.node, ScalarNode), self.kind
        return self.node


class Parser:
    """Index a composed document: entries in source order, scalar ranges, line anchors.

    `root_node` is `text` as oml.yaml_loader.compose composed it (None for an empty document)."""

    def __init__(self, text: str, root_node: Node | None) -> None:
        self.text = text
        self.lines = text.split("\n")
        self.root_node = root_node
        self.entries: list[Entry] = []  # in source order, outer before inner
        self.anchors: dict[int, list[tuple[int, Tree]]] = {}  # line -> (end column, tree)
        self.blocked: dict[int, list[tuple[int, int]]] = {}  # line -> [start, end) inside scalars
        self.seen: set[int] = set()
        self.starts: list[tuple[int, int]] = []
        self.header: list[str] = []
        self.root = self.build(root_node, None) if root_node is not None else None

    def build(self, node: Node, owner: Entry | None, copy: bool = False) -> Tree:
        copy = copy or id(node) in self.seen  # an alias: print it again, attach nothing to it
        self.seen.add(id(node))
        if isinstance(node, ScalarNode):
            tree = Tree(node, "scalar", owner=owner)
            if node.style in ("|", ">"):
                tree.block = self.block_source(node)
            if not copy:
                self.index_scalar(tree)
            return tree
        tree = Tree(node, "map" if isinstance(node, MappingNode) else "seq", owner=owner)
        if getattr(node, "flow_style", None) and not copy:
            self.anchors.setdefault(node.end_mark.line, []).append((node.end_mark.column, tree))
        if isinstance(node, MappingNode):
            seen_keys: set[str] = set()
            for key_node, value_node in node.value:
                mark = key_node.start_mark
                if not isinstance(key_node, ScalarNode):
                    raise FormatError("complex mapping keys are not supported", mark.line + 1,
                                      mark.column + 1)
                name = key_text(key_node)
                if name in seen_keys:
                    raise FormatError(f"key '{name}' is repeated", mark.line + 1, mark.column + 1, "OML009")
                seen_keys.add(name)
                entry = Entry(None, tree, mark.line, mark.column, tree, name=name)  # type: ignore[arg-type]
                self.register(entry, copy)
                entry.key = self.build(key_node, entry, copy)
                entry.value = self.build(value_node, entry, copy)
                tree.entries.append(entry)
        else:
            for item in node.value:
                line, column = item.start_mark.line, item.start_mark.column
                if not getattr(node, "flow_style", None):
                    line, column = self.dash(item.start_mark)
                entry = Entry(None, tree, line, column, tree)
                self.register(entry, copy)
                entry.value = self.build(item, entry, copy)
                tree.entries.append(entry)
        return tree

    def dash(self, mark: Any) -> tuple[int, int]:
        """(line, column) of the `-` that introduces the block sequence item starting at `mark`.

        Only blanks and comments can stand between the two (an anchor or tag is part of the
        item), and a comment there cannot hold a scalar, so walking back over blanks, and over
        a comment to the first `#` of its line, reaches the dash."""
        text, at = self.text, mark.index - 1
        while at >= 0:
            ch = text[at]
            if ch == "-":
                break
            if ch in " \t\n":
                at -= 1
                continue
            hash_at = text.find("#", text.rfind("\n", 0, at) + 1, at + 1)
            if hash_at < 0:
                return mark.line, mark.column  # not reached for a composed item: keep its own start
            at = hash_at - 1
        if at < 0:
            return mark.line, mark.column
        line = mark.line - text.count("\n", at, mark.index)
        return line, at - (text.rfind("\n", 0, at) + 1)

    def register(self, entry: Entry, copy: bool) -> None:
        if not copy:
            self.entries.append(entry)

    def block_source(self, node: ScalarNode) -> tuple[str, list[str]]:
        start, end = node.start_mark, node.end_mark
        header = _BLOCK_HEADER.match(self.lines[start.line], start.column)
        indicator = header.group() if header else node.style
        last = end.line if end.column > 0 else end.line - 1
        if "+" not in indicator:
            while last > start.line and not self.lines[last].strip():
                last -= 1  # trailing blank lines are not content unless kept (`|+`)
        return indicator, self.lines[start.line + 1:last + 1]

    def index_scalar(self, tree: Tree) -> None:
        start, end = tree.node.start_mark, tree.node.end_mark
        if tree.block is not None:
            header_end = start.column + len(tree.block[0])
            self.block(start.line, start.column, header_end)
            self.anchors.setdefault(start.line, []).append((header_end, tree))
            for line in range(start.line + 1, start.line + 1 + len(tree.block[1])):
                self.block(line, 0, len(self.lines[line]) + 1)
            return
        self.anchors.setdefault(end.line, []).append((end.column, tree))
        if start.line == end.line:
            self.block(start.line, start.column, end.column)
            return
        self.block(start.line, start.column, len(self.lines[start.line]) + 1)
        for line in range(start.line + 1, end.line):
            self.block(line, 0, len(self.lines[line]) + 1)
        self.block(end.line, 0, end.column)

    def block(self, line: int, start: int, end: int) -> None:
        self.blocked.setdefault(line, []).append((start, end))


def _comment_start(line: str, blocked: list[tuple[int, int]]) -> int | None:
    """Column where a comment starts on `line`, skipping `#` inside scalars."""
    at = line.find("#")
    while at >= 0:
        inside = any(start <= at < end for start, end in blocked)
        if not inside and (at == 0 or line[at - 1] in " \t"):
            return at
        at = line.find("#", at + 1)
    return None


def attach_comments(p: Parser) -> list[str]:
    """Give every comment and blank line to an entry (lead, eol) or a block (trail)."""
    starts = p.starts = [(e.line, e.column) for e in p.entries]
    header: list[str] = []
    pending: list[str] = []
    found: list[str] = []

    def next_entry(line: int, inclusive: bool = False) -> Entry | None:
        at = bisect.bisect_left(starts, (line if inclusive else line + 1, -1))
        return p.entries[at] if at < len(p.entries) else None

    for number, line in enumerate(p.lines):
        blocked = p.blocked.get(number, [])
        fully_blocked = any(start == 0 and end > len(line) for start, end in blocked)
        if fully_blocked:
            continue
        if not line.strip():
            pending.append("")
            continue
        column = _comment_start(line, blocked)
        content = line[:column] if column is not None else line
        if column is not None:
            comment = line[column:].rstrip()
            found.append(comment)
            owner = _eol_owner(p, number, column) if content.strip() else None
            if owner is not None:
                owner.eol.append(comment)
            else:
                target = _full_line_target(p, number, column, next_entry(number), header)
                target.extend(pending)
                target.append(comment)
                pending = []
        if content.strip():
            entry = next_entry(number, inclusive=True)
            if pending and entry is not None and entry.line == number:
                entry.lead.extend(pending)
            pending = []
    if p.root is not None and p.root.entries:
        first = p.root.entries[0]
        header.extend(first.lead)  # blank lines between the header and the first key
        first.lead = []
    p.header = header
    return found


def _eol_owner(p: Parser, line: int, column: int) -> Entry | None:
    candidates = [(end, tree) for end, tree in p.anchors.get(line, []) if end <= column]
    if not candidates:
        return None
    tree = max(candidates, key=lambda c: c[0])[1]
    return tree.owner


def _full_line_target(p: Parser, line: int, column: int, following: Entry | None,
                      header: list[str]) -> list[str]:
    if p.root is not None and p.root.entries and following is p.root.entries[0]:
        return header  # before the first key: the file's header stays at the top
    at = bisect.bisect_left(p.starts, (line, -1))
    previous = p.entries[at - 1] if at > 0 else None
    if following is not None and (previous is None or column <= following.column):
        return following.lead
    # Deeper than what follows: the comment closes the innermost block it is indented into.
    block = previous.parent if previous is not None else p.root
    chosen = None
    while block is not None:
        outer = block.owner.parent if block.owner is not None else None
        if block.entries and block.entries[0].column <= column:
            # A sequence written flush with its key (`steps:` / `- id`) shares its parent's
            # column; the comment then belongs to the parent.
            same = outer is not None and outer.entries[0].column == block.entries[0].column
            chosen = outer if same else block
            break
        block = outer
    if chosen is None:
        chosen = p.root
    if following is not None and _contains(chosen, following):
        return following.lead
    return chosen.trail if chosen is not None else header


def _contains(tree: Tree | None, entry: Entry) -> bool:
    block: Tree | None = entry.parent
    while block is not None:
        if block is tree:
            return True
        block = block.owner.parent if block.owner is not None else None
    return False
