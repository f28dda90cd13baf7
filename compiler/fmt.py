"""`omlc fmt`: print an OML file in one canonical style, keeping every comment.

ruamel's round-trip dumper keeps comments only where they were, by column, and loses them
when keys move, so the printer is our own: compiler.fmt_tree indexes the node tree the
compiler's loader composed (oml.yaml_loader.compose) and attaches every comment to an
entry, and this module prints the tree in canonical key order with the comments travelling
with their entries (compiler.fmt_scalars spells each scalar).

Formatting must never change meaning, so `format_text` reloads its output (composed once,
like the input) with the compiler's own loader and refuses (FormatError) unless the data
and the comments are the same. docs/editors.md describes the style.
"""

from __future__ import annotations

import json

from ruamel.yaml.nodes import Node

from osiris.compiler.fmt_scalars import KEEP_TEXT, literal_block, reindent, scalar_text, string_text
from osiris.compiler.fmt_tree import Entry, FormatError, Parser, Tree, attach_comments
from osiris.oml.diagnostics import Diagnostics
from osiris.oml.lower import PARAM_KEYS, TOP_LEVEL_KEYS
from osiris.oml.partitions import PARTITION_KEYS
from osiris.oml.yaml_loader import build_tree, compose_checked, key_text, node_value

__all__ = ["FormatError", "format_text"]

STEP_ORDER = ("id", "component", "mode", "description", "needs", "inputs", "config", "retry", "partitions")
RETRY_ORDER = ("max_attempts", "backoff_seconds", "max_backoff_seconds")
FLOW_WIDTH = 100
"""A list of scalars is written `[a, b]` when its whole line fits in this many characters."""

_ORDERS: dict[str, tuple[str, ...]] = {
    "root": TOP_LEVEL_KEYS, "step": STEP_ORDER, "param": PARAM_KEYS, "retry": RETRY_ORDER,
    "partitions": PARTITION_KEYS,
    "config": ("connection",),
}
_CHILD_CONTEXT = {("root", "steps"): "step", ("root", "params"): "params", ("params", None): "param",
                  ("step", "config"): "config", ("step", "retry"): "retry", ("step", "partitions"): "partitions"}


def _ordered(tree: Tree, context: str | None) -> list[Entry]:
    """Canonical key order; unknown keys follow in the author's order (the sort is stable)."""
    order = _ORDERS.get(context or "")
    if tree.kind != "map" or not order:
        return tree.entries
    rank = {key: i for i, key in enumerate(order)}
    return sorted(tree.entries, key=lambda e: rank.get(e.name or "", len(order)))


def _child_context(context: str | None, entry: Entry) -> str | None:
    if context == "params":
        return "param"
    if entry.key is None:
        return context  # the items of `steps` are steps
    return _CHILD_CONTEXT.get((context or "", entry.name))


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

    def collection(self, tree: Tree, indent: int, context: str | None) -> None:
        for i, entry in enumerate(_ordered(tree, context)):
            self.comments(entry.lead, indent, first=i == 0)
            pad = " " * indent
            head = pad + "-" if entry.key is None else pad + _key_text(entry.key) + ":"
            version = context == "root" and entry.name == "oml_version"  # always "0.1.0"
            self.value(entry, head, indent, _child_context(context, entry), version)
        self.comments(tree.trail, indent)

    def value(self, entry: Entry, head: str, indent: int, context: str | None,
              version: bool = False) -> None:
        tree, eol = entry.value, entry.eol
        suffix = "  " + eol[0] if eol else ""
        if tree.kind == "scalar":
            text = None if tree.block else scalar_text(tree.scalar, flow=False, force_double=version)
            if tree.block is not None:
                header, body = reindent(tree.block, entry.column, indent + 2)
                self.line(f"{head} {header}{suffix}")
                self.out.extend(body)
                self.keep_open = header.endswith("+")
            elif text is None:
                header, body = literal_block(node_value(tree.scalar), indent + 2)
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

    def item_collection(self, tree: Tree, indent: int, context: str | None, eol: list[str]) -> None:
        """`- key: value` / `- - x`: comments that cannot sit after the dash go above it."""
        first = _ordered(tree, context)[0]
        self.comments([*first.lead, *eol], indent, first=True)
        first.lead = []
        inner = _Printer()
        inner.collection(tree, indent + 2, context)
        inner.out[0] = " " * indent + "- " + inner.out[0][indent + 2:]
        self.out.extend(inner.out)
        self.keep_open = inner.keep_open


def _key_text(key: Tree) -> str:
    node = key.scalar
    tag = node.tag or ""
    kind = tag.rsplit(":", 1)[-1] if tag.startswith("tag:yaml.org,2002:") else "str"
    if not node.style and kind in KEEP_TEXT and node.value:  # plain (None, or "" from libyaml)
        return node.value
    return string_text(key_text(node))


def _flow(tree: Tree, head: str) -> str | None:
    """`[a, b]` for a short list of scalars without comments inside."""
    if tree.kind != "seq" or tree.trail:
        return None
    items = []
    for entry in tree.entries:
        if entry.value.kind != "scalar" or entry.lead or entry.eol or entry.value.block \
                or scalar_text(entry.value.scalar, flow=False) is None:
            return None
        items.append(scalar_text(entry.value.scalar, flow=True))
    text = "[" + ", ".join(items) + "]"  # type: ignore[arg-type]
    return text if len(head) + 1 + len(text) <= FLOW_WIDTH else None


def _render(p: Parser) -> str:
    printer = _Printer()
    printer.comments(p.header, 0, first=True)
    root = p.root
    if root is None:
        pass
    elif root.kind == "scalar":
        value = node_value(root.scalar)
        printer.line(string_text(value) if isinstance(value, str) else scalar_text(root.scalar, flow=True) or "")
    else:
        printer.collection(root, 0, "root" if root.kind == "map" else None)
    while printer.out and not printer.out[-1]:
        printer.out.pop()
    return "\n".join(printer.out) + "\n" if printer.out else ""


# --- the entry point ------------------------------------------------------------------------------
def _load(text: str) -> tuple[Node | None, str]:
    """Compose `text` once and return its nodes and its data as canonical JSON; FormatError at
    the first YAML problem.

    The data is read by the compiler's own loader from those nodes, so its limits (depth,
    alias expansion) and its messages apply before the formatter indexes the nodes."""
    diagnostics = Diagnostics()
    root_node = compose_checked(text, "fmt", diagnostics)
    root = build_tree(root_node, "fmt", diagnostics) if root_node is not None else None
    if diagnostics.has_errors:
        first = diagnostics.errors()[0]
        raise FormatError(first.message, first.span.line, first.span.column, first.code)
    return root_node, json.dumps(root.to_data() if root is not None else None, sort_keys=True,
                                 ensure_ascii=False)


def format_text(text: str) -> str:
    """`text` in the canonical style (docs/editors.md); FormatError when it is not valid YAML."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    root_node, before = _load(text)
    parser = Parser(text, root_node)
    comments = attach_comments(parser)
    result = _render(parser)
    try:
        result_node, after = _load(result)
    except FormatError:
        result_node, after = None, None
    if after != before:
        raise FormatError("internal error: formatting would change the data; the file was left as it is")
    check = Parser(result, result_node)
    if sorted(attach_comments(check)) != sorted(comments):
        raise FormatError("internal error: formatting would lose a comment; the file was left as it is")
    return result
