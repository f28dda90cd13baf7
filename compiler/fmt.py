"""`omlc fmt`: print an OML file in one canonical style, keeping every comment.

ruamel's round-trip dumper keeps comments only where they were, by column, and loses them
when keys move, so the printer is our own: ruamel composes the node tree (with positions),
comments are found in the text around the nodes and attached to entries (a full-line
comment to the entry below it, an end-of-line comment to the entry on its line), and the
tree is printed in canonical key order with the comments travelling with their entries.
ruamel's emitter still decides, per string, which quoting styles are legal.

Formatting must never change meaning, so `format_text` reloads its output with the
compiler's own loader and refuses (FormatError) unless the data and the comments are the
same. docs/editors.md describes the style.
"""

from __future__ import annotations

import bisect
import io
import json
import re
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.emitter import Emitter
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode
from ruamel.yaml.resolver import VersionedResolver
from ruamel.yaml.tokens import BlockEntryToken

from oml.diagnostics import Diagnostics
from oml.lower import PARAM_KEYS, TOP_LEVEL_KEYS
from oml.yaml_loader import _scalar, load_yaml

__all__ = ["FormatError", "format_text"]

STEP_ORDER = ("id", "component", "mode", "description", "needs", "inputs", "config", "retry")
RETRY_ORDER = ("max_attempts", "backoff_seconds", "max_backoff_seconds")
FLOW_WIDTH = 100
"""A list of scalars is written `[a, b]` when its whole line fits in this many characters."""
_KEEP_TEXT = ("null", "bool", "int", "float", "timestamp")
_BLOCK_HEADER = re.compile(r"[|>][0-9+-]*")


class FormatError(Exception):
    """The file cannot be formatted (invalid YAML, or formatting would change it)."""

    def __init__(self, message: str, line: int = 1, column: int = 1) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


@dataclass(eq=False)
class _Entry:
    """A mapping pair (`key` set) or a sequence item, with the comments that belong to it."""

    key: _Tree | None
    value: _Tree
    line: int
    column: int
    parent: _Tree
    lead: list[str] = field(default_factory=list)
    eol: list[str] = field(default_factory=list)


@dataclass(eq=False)
class _Tree:
    node: Node
    kind: str  # map | seq | scalar
    entries: list[_Entry] = field(default_factory=list)
    trail: list[str] = field(default_factory=list)
    owner: _Entry | None = None
    block: tuple[str, list[str]] | None = None
    """A block scalar's header and source lines: reprinted re-indented, so folding is kept."""


# --- parsing ------------------------------------------------------------------------------------
class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = text.split("\n")
        yaml = YAML(typ="rt", pure=True)
        try:
            self.root_node = yaml.compose(text)
            dashes = [t.start_mark for t in yaml.scan(text) if isinstance(t, BlockEntryToken)]
        except MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            raise FormatError(f"YAML syntax error: {error.problem or error.context or 'invalid YAML'}",
                              line, column) from None
        except YAMLError as error:
            raise FormatError(f"YAML syntax error: {error}") from None
        self.dash_index = [m.index for m in dashes]
        self.dashes = dashes
        self.entries: list[_Entry] = []  # in source order, outer before inner
        self.anchors: dict[int, list[tuple[int, _Tree]]] = {}  # line -> (end column, tree)
        self.blocked: dict[int, list[tuple[int, int]]] = {}  # line -> [start, end) inside scalars
        self.seen: set[int] = set()
        self.starts: list[tuple[int, int]] = []
        self.header: list[str] = []
        self.root = self.build(self.root_node, None) if self.root_node is not None else None

    def build(self, node: Node, owner: _Entry | None, copy: bool = False) -> _Tree:
        copy = copy or id(node) in self.seen  # an alias: print it again, attach nothing to it
        self.seen.add(id(node))
        if isinstance(node, ScalarNode):
            tree = _Tree(node, "scalar", owner=owner)
            if node.style in ("|", ">"):
                tree.block = self.block_source(node)
            if not copy:
                self.index_scalar(tree)
            return tree
        tree = _Tree(node, "map" if isinstance(node, MappingNode) else "seq", owner=owner)
        if node.flow_style and not copy:
            self.anchors.setdefault(node.end_mark.line, []).append((node.end_mark.column, tree))
        if isinstance(node, MappingNode):
            seen_keys: set[str] = set()
            for key_node, value_node in node.value:
                mark = key_node.start_mark
                if not isinstance(key_node, ScalarNode):
                    raise FormatError("complex mapping keys are not supported", mark.line + 1,
                                      mark.column + 1)
                name = _key_name(key_node)
                if name in seen_keys:
                    raise FormatError(f"key '{name}' is repeated", mark.line + 1, mark.column + 1)
                seen_keys.add(name)
                entry = _Entry(None, tree, mark.line, mark.column, tree)  # type: ignore[arg-type]
                self.register(entry, copy)
                entry.key = self.build(key_node, entry, copy)
                entry.value = self.build(value_node, entry, copy)
                tree.entries.append(entry)
        else:
            for item in node.value:
                line, column = item.start_mark.line, item.start_mark.column
                if not node.flow_style:
                    at = bisect.bisect_right(self.dash_index, item.start_mark.index) - 1
                    if at >= 0:
                        line, column = self.dashes[at].line, self.dashes[at].column
                entry = _Entry(None, tree, line, column, tree)
                self.register(entry, copy)
                entry.value = self.build(item, entry, copy)
                tree.entries.append(entry)
        return tree

    def register(self, entry: _Entry, copy: bool) -> None:
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

    def index_scalar(self, tree: _Tree) -> None:
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


def _key_name(node: ScalarNode) -> str:
    value = node.value if node.tag.endswith(":timestamp") else _scalar(node)
    return "null" if value is None else str(value)


def _comment_start(line: str, blocked: list[tuple[int, int]]) -> int | None:
    """Column where a comment starts on `line`, skipping `#` inside scalars."""
    at = line.find("#")
    while at >= 0:
        inside = any(start <= at < end for start, end in blocked)
        if not inside and (at == 0 or line[at - 1] in " \t"):
            return at
        at = line.find("#", at + 1)
    return None


def _attach_comments(p: _Parser) -> list[str]:
    """Give every comment and blank line to an entry (lead, eol) or a block (trail)."""
    starts = p.starts = [(e.line, e.column) for e in p.entries]
    header: list[str] = []
    pending: list[str] = []
    found: list[str] = []

    def next_entry(line: int, inclusive: bool = False) -> _Entry | None:
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


def _eol_owner(p: _Parser, line: int, column: int) -> _Entry | None:
    candidates = [(end, tree) for end, tree in p.anchors.get(line, []) if end <= column]
    if not candidates:
        return None
    tree = max(candidates, key=lambda c: c[0])[1]
    return tree.owner


def _full_line_target(p: _Parser, line: int, column: int, following: _Entry | None,
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


def _contains(tree: _Tree | None, entry: _Entry) -> bool:
    block: _Tree | None = entry.parent
    while block is not None:
        if block is tree:
            return True
        block = block.owner.parent if block.owner is not None else None
    return False


# --- scalars ------------------------------------------------------------------------------------
_EMITTER = Emitter(io.StringIO(), allow_unicode=True)
_EMITTER.use_version = (1, 2)  # type: ignore[attr-defined] # analyze_scalar asks its serializer
_RESOLVERS = (VersionedResolver(version=(1, 2)), VersionedResolver(version=(1, 1)))
"""Plain only when YAML 1.2 (omlc, editors) and 1.1 (older tools: `yes`, `on`) both read a string."""
_STR_TAG = "tag:yaml.org,2002:str"


def _is_printable(ch: str) -> bool:
    code = ord(ch)
    return (0x20 <= code <= 0x7E or 0xA0 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD
            or 0x10000 <= code <= 0x10FFFF) and code not in (0xFEFF, 0x2028, 0x2029)


_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"}


def _double_quoted(text: str) -> str:
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif _is_printable(ch):
            out.append(ch)
        else:
            code = ord(ch)
            width = 2 if code < 0x100 else 4 if code < 0x10000 else 8
            out.append("\\" + {2: "x", 4: "u", 8: "U"}[width] + f"{code:0{width}X}")
    return '"' + "".join(out) + '"'


def _string(text: str, flow: bool = False, force_double: bool = False) -> str:
    """One-line YAML for `text`: plain when it reads back as the same string, else quoted."""
    analysis = _EMITTER.analyze_scalar(text)
    # ruamel's emitter allows `?x` plain in flow context, which its own parser then rejects.
    flow_plain = analysis.allow_flow_plain and text[:1] not in ("?", ":", "-")
    if not force_double and not analysis.multiline and text \
            and (flow_plain if flow else analysis.allow_block_plain) \
            and all(r.resolve(ScalarNode, text, (True, False)) == _STR_TAG for r in _RESOLVERS):
        return text
    if all(_is_printable(ch) and ch not in '"\\' for ch in text) or not analysis.allow_single_quoted \
            or analysis.multiline or force_double:
        return _double_quoted(text)
    return "'" + text.replace("'", "''") + "'"


def _literal_ok(text: str) -> bool:
    """A string with line breaks is a literal block if YAML can hold it exactly that way."""
    if "\n" not in text or not text.strip("\n") or text.endswith(" ") or " \n" in text or "\r" in text:
        return False
    return all(_is_printable(ch) or ch in "\n\t" for ch in text) and not text.startswith("\t") \
        and "\n\t" not in text


def _value_of(node: ScalarNode) -> Any:
    if node.tag.endswith(":timestamp"):
        return node.value
    value = _scalar(node)
    if node.style == ">" and isinstance(value, str):
        value = value.replace("\a", "")
    return value


def _scalar_text(node: ScalarNode, flow: bool, force_double: bool = False) -> str | None:
    """The scalar on one line, or None when it is to be a literal block."""
    kind = node.tag.rsplit(":", 1)[-1] if node.tag.startswith("tag:yaml.org,2002:") else "str"
    if node.style is None and kind in _KEEP_TEXT:
        return "null" if flow and node.value == "" else node.value  # keep `~`, `1_000`, `0x1F`
    value = _value_of(node)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return ".nan"
        if value in (float("inf"), float("-inf")):
            return ".inf" if value > 0 else "-.inf"
        return repr(value)
    text = str(value)
    if not flow and not force_double and _literal_ok(text):
        return None
    return _string(text, flow, force_double)


def _reindent(block: tuple[str, list[str]], parent_column: int, indent: int) -> tuple[str, list[str]]:
    """A source block scalar at a new indentation: same style, chomping and relative layout."""
    indicator, source = block
    digits = "".join(ch for ch in indicator if ch.isdigit())
    first = next((line for line in source if line.strip()), "")
    base = parent_column + int(digits) if digits else len(first) - len(first.lstrip(" "))
    body = ["" if not line[base:] else line[base:] for line in source]
    lead = next((line for line in body if line), "")
    chomp = "+" if "+" in indicator else "-" if "-" in indicator else ""
    pad = " " * indent
    header = indicator[0] + ("2" if lead.startswith(" ") else "") + chomp
    return header, [pad + line if line else "" for line in body]


def _literal(text: str, indent: int) -> tuple[str, list[str]]:
    """Header (`|`, `|-`, `|+`, with `2` when the text starts with a space) and body lines."""
    chomp = "+" if text.endswith("\n\n") else "" if text.endswith("\n") else "-"
    hint = "2" if text[0] in " \n" else ""
    body = text[:-1] if text.endswith("\n") else text
    pad = " " * indent
    return f"|{hint}{chomp}", [pad + line if line else "" for line in body.split("\n")]


# --- printing -----------------------------------------------------------------------------------
_ORDERS: dict[str, tuple[str, ...]] = {
    "root": TOP_LEVEL_KEYS, "step": STEP_ORDER, "param": PARAM_KEYS, "retry": RETRY_ORDER,
    "config": ("connection",),
}
_CHILD_CONTEXT = {("root", "steps"): "step", ("root", "params"): "params", ("params", None): "param",
                  ("step", "config"): "config", ("step", "retry"): "retry"}


def _name(entry: _Entry) -> str | None:
    return _key_name(entry.key.node) if entry.key is not None else None  # type: ignore[arg-type]


def _ordered(tree: _Tree, context: str | None) -> list[_Entry]:
    """Canonical key order; unknown keys follow in the author's order (the sort is stable)."""
    order = _ORDERS.get(context or "")
    if tree.kind != "map" or not order:
        return tree.entries
    rank = {key: i for i, key in enumerate(order)}
    return sorted(tree.entries, key=lambda e: rank.get(_name(e) or "", len(order)))


def _child_context(context: str | None, entry: _Entry) -> str | None:
    if context == "params":
        return "param"
    if entry.key is None:
        return context  # the items of `steps` are steps
    return _CHILD_CONTEXT.get((context or "", _name(entry)))


class _Printer:
    def __init__(self) -> None:
        self.out: list[str] = []
        self.keep_open = False
        """The last value was a `|+` block: a blank line now would become part of it."""

    def line(self, text: str) -> None:
        if not text:
            if not self.keep_open and self.out and self.out[-1]:
                self.out.append("")
            return
        self.keep_open = False
        self.out.append(text)

    def comments(self, lines: list[str], indent: int, first: bool = False) -> None:
        started = not first
        for text in lines:
            if text or started:
                self.line(" " * indent + text if text else "")
                started = True

    def collection(self, tree: _Tree, indent: int, context: str | None) -> None:
        for i, entry in enumerate(_ordered(tree, context)):
            self.comments(entry.lead, indent, first=i == 0)
            pad = " " * indent
            head = pad + "-" if entry.key is None else pad + _key_text(entry.key) + ":"
            version = context == "root" and _name(entry) == "oml_version"  # always "0.1.0"
            self.value(entry, head, indent, _child_context(context, entry), version)
        self.comments(tree.trail, indent)

    def value(self, entry: _Entry, head: str, indent: int, context: str | None,
              version: bool = False) -> None:
        tree, eol = entry.value, entry.eol
        suffix = "  " + eol[0] if eol else ""
        if tree.kind == "scalar":
            text = None if tree.block else _scalar_text(tree.node, flow=False, force_double=version)
            if tree.block is not None:
                header, body = _reindent(tree.block, entry.column, indent + 2)
                self.line(f"{head} {header}{suffix}")
                self.out.extend(body)
                self.keep_open = header.endswith("+")
            elif text is None:
                header, body = _literal(_value_of(tree.node), indent + 2)
                self.line(f"{head} {header}{suffix}")
                self.out.extend(body)
                self.keep_open = header.endswith("+")
            else:
                self.line(f"{head} {text}{suffix}" if text else head + suffix)
        elif not tree.entries:
            self.line(head + (" {}" if tree.kind == "map" else " []") + suffix)
        elif (flow := _flow(tree, head)) is not None:
            self.line(f"{head} {flow}{suffix}")
        elif entry.key is not None:
            self.line(head + suffix)
            self.collection(tree, indent + 2, context)
        else:
            self.item_collection(tree, indent, context, eol)
            eol = []
        for extra in eol[1:]:
            self.line(" " * indent + extra)

    def item_collection(self, tree: _Tree, indent: int, context: str | None, eol: list[str]) -> None:
        """`- key: value` / `- - x`: comments that cannot sit after the dash go above it."""
        first = _ordered(tree, context)[0]
        self.comments([*first.lead, *eol], indent, first=True)
        first.lead = []
        inner = _Printer()
        inner.collection(tree, indent + 2, context)
        inner.out[0] = " " * indent + "- " + inner.out[0][indent + 2:]
        self.out.extend(inner.out)
        self.keep_open = inner.keep_open


def _key_text(key: _Tree) -> str:
    node = key.node
    kind = node.tag.rsplit(":", 1)[-1] if node.tag.startswith("tag:yaml.org,2002:") else "str"
    if node.style is None and kind in _KEEP_TEXT and node.value:
        return node.value
    return _string(_key_name(node))


def _flow(tree: _Tree, head: str) -> str | None:
    """`[a, b]` for a short list of scalars without comments inside."""
    if tree.kind != "seq" or tree.trail:
        return None
    items = []
    for entry in tree.entries:
        if entry.value.kind != "scalar" or entry.lead or entry.eol or entry.value.block \
                or _scalar_text(entry.value.node, flow=False) is None:
            return None
        items.append(_scalar_text(entry.value.node, flow=True))
    text = "[" + ", ".join(items) + "]"  # type: ignore[arg-type]
    return text if len(head) + 1 + len(text) <= FLOW_WIDTH else None


def _render(p: _Parser) -> str:
    printer = _Printer()
    printer.comments(p.header, 0, first=True)
    root = p.root
    if root is None:
        pass
    elif root.kind == "scalar":
        printer.line(_string(str(_value_of(root.node))) if isinstance(_value_of(root.node), str)
                     else _scalar_text(root.node, flow=True) or "")
    else:
        printer.collection(root, 0, "root" if root.kind == "map" else None)
    while printer.out and not printer.out[-1]:
        printer.out.pop()
    return "\n".join(printer.out) + "\n" if printer.out else ""


# --- the entry point ------------------------------------------------------------------------------
def _data(text: str) -> str | None:
    diagnostics = Diagnostics()
    root = load_yaml(text, "fmt", diagnostics)
    if diagnostics.has_errors:
        return None
    return json.dumps(root.to_data() if root is not None else None, sort_keys=True, ensure_ascii=False)


def format_text(text: str) -> str:
    """`text` in the canonical style (docs/editors.md); FormatError when it is not valid YAML."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    parser = _Parser(text)
    comments = _attach_comments(parser)
    result = _render(parser)
    before, after = _data(text), _data(result)
    if before is None:
        raise FormatError("the file has repeated keys or other YAML errors; run `omlc check`")
    if after != before:
        raise FormatError("internal error: formatting would change the data; the file was left as it is")
    check = _Parser(result)
    if sorted(_attach_comments(check)) != sorted(comments):
        raise FormatError("internal error: formatting would lose a comment; the file was left as it is")
    return result
