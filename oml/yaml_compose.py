"""YAML events -> ruamel nodes, iteratively, counting before anything is expanded.

ruamel.yaml's composers (libyaml's in C, the pure one in Python) recurse once per nesting
level (a few thousand `[` crash the C one with a segfault) and know nothing of what aliases
cost: the positioned tree built from their nodes expands every alias, so a 500-byte
"billion laughs" document (`&a [x, x]`, `&b [*a, *a]`, ...; the same through merge keys)
was only noticed after millions of nodes had been built. This composer reads the parser's
events with an explicit stack and keeps, for every anchor, the number of nodes and of scalar
characters it stands for; each alias adds those to running totals. So depth, size and alias
expansion (in values and in text) are known the moment they are exceeded, without building a
single expanded node, and the document is refused then (`TooComplex`, OML012/OML013).

The nodes are ruamel's own (ScalarNode, SequenceNode, MappingNode with tags and marks), so
the tree builder and `omlc fmt` read them as before; comments are not kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ruamel.yaml.composer import ComposerError
from ruamel.yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.tag import Tag

__all__ = ["Limits", "TooComplex", "compose_events"]

STR_TAG = Tag(suffix="tag:yaml.org,2002:str")
SEQ_TAG = Tag(suffix="tag:yaml.org,2002:seq")
MAP_TAG = Tag(suffix="tag:yaml.org,2002:map")
"""Shared by every node that gets them (a Tag is never changed after it is made)."""


@dataclass(frozen=True)
class Limits:
    """What one document may hold. `max_nodes` counts every node as often as aliases repeat
    it; `alias_floor` is how many nodes aliases may add to any document, beyond which they may
    add at most as many nodes as the document writes out (a bomb multiplies, reuse does not).
    `alias_floor_chars` is the same for the text of scalars: a 1 MB string repeated by 5,000
    aliases is 5 GB of config to fingerprint and write, in 10,000 values."""

    max_depth: int = 100
    max_nodes: int = 500_000
    alias_floor: int = 10_000
    alias_floor_chars: int = 256 * 1024


class TooComplex(Exception):
    """A limit was exceeded: (code, mark, message, help); the mark is where it happened."""

    def __init__(self, code: str, mark: Any, message: str, help: str) -> None:  # noqa: A002
        super().__init__(code, mark, message, help)
        self.code, self.mark, self.message, self.help = code, mark, message, help


class _Frame:
    """An open collection: its node, where the running total stood before it, its key."""

    __slots__ = ("anchor", "chars_before", "key", "node", "total_before")

    def __init__(self, node: Node, anchor: str | None, total_before: int, chars_before: int) -> None:
        self.node, self.anchor, self.total_before, self.chars_before = node, anchor, total_before, chars_before
        self.key: Node | None = None


def compose_events(events: Iterable[Any], resolver: Any, limits: Limits) -> Node | None:
    """The single document of `events` as nodes (None for an empty stream).

    ComposerError (a YAMLError) for a second document or an undefined alias, with ruamel's
    own wording; TooComplex when a limit is exceeded."""
    stream = iter(events)
    event = next(stream)
    if isinstance(event, StreamStartEvent):
        event = next(stream)
    if isinstance(event, StreamEndEvent):
        return None
    assert isinstance(event, DocumentStartEvent), event
    implicit_tag = _TagCache(resolver)
    root = _Composer(stream, implicit_tag, limits).document()
    event = next(stream)
    assert isinstance(event, DocumentEndEvent), event
    event = next(stream)
    if not isinstance(event, StreamEndEvent):
        raise ComposerError("expected a single document in the stream", root.start_mark,
                            "but found another document", event.start_mark)
    return root


class _TagCache:
    """Implicit tags of plain scalars, memoised by text: ruamel's resolver re-derives its
    version table on every call (catching an AttributeError each time), which was most of the
    composing time; the table cannot change within a document."""

    def __init__(self, resolver: Any) -> None:
        self.table: dict[Any, list[tuple[str, Any]]] = resolver.versioned_resolver
        self.any_first: list[tuple[str, Any]] = list(self.table.get(None, []))
        self.memo: dict[str, Tag] = {}
        self.made: dict[str, Tag] = {}

    def plain(self, value: str) -> Tag:
        tag = self.memo.get(value)
        if tag is None:
            tag = STR_TAG
            for candidate, regexp in [*self.table.get(value[:1], []), *self.any_first]:
                if regexp.match(value):
                    tag = self.made.setdefault(candidate, Tag(suffix=candidate))
                    break
            if len(self.memo) < 100_000:
                self.memo[value] = tag
        return tag


class _Composer:
    def __init__(self, events: Iterator[Any], tags: _TagCache, limits: Limits) -> None:
        self.events, self.tags, self.limits = events, tags, limits
        self.anchors: dict[str, tuple[Node, int, int]] = {}
        """anchor -> (its node, the nodes and scalar characters it stands for, aliases expanded)"""
        self.open_anchors: set[str] = set()
        self.total = self.chars = 0
        """Nodes and scalar characters in the document with every alias expanded, so far."""
        self.written = self.written_chars = 0
        """Nodes and scalar characters the text spells out (no alias counted)."""

    def document(self) -> Node:
        stack: list[_Frame] = []
        limits = self.limits
        for event in self.events:
            kind = type(event)
            if kind is ScalarEvent:
                node: Node = ScalarNode(self._scalar_tag(event), event.value, event.start_mark,
                                        event.end_mark, style=event.style)
                self._count(1, event)
                self.chars += len(event.value)
                self.written_chars += len(event.value)
                if event.anchor is not None:
                    self.anchors[event.anchor] = (node, 1, len(event.value))
            elif kind is AliasEvent:
                entry = self.anchors.get(event.anchor)
                if entry is None:
                    if event.anchor in self.open_anchors:
                        raise TooComplex("OML012", event.start_mark,
                                         f"the alias *{event.anchor} refers to a node that contains it",
                                         "a recursive anchor expands without end; copy the values instead")
                    raise ComposerError(None, None, f"found undefined alias {event.anchor!r}",
                                        event.start_mark)
                node, size, chars = entry
                self.total += size
                self.chars += chars
                self._check_aliases(event)
            elif kind is SequenceStartEvent or kind is MappingStartEvent:
                if len(stack) >= limits.max_depth:
                    raise TooComplex("OML013", event.start_mark,
                                     f"the document nests more than {limits.max_depth} levels deep",
                                     "flatten the structure; OML itself needs fewer than ten levels")
                is_seq = kind is SequenceStartEvent
                tag = self._collection_tag(event, SEQ_TAG if is_seq else MAP_TAG)
                cls = SequenceNode if is_seq else MappingNode
                node = cls(tag, [], event.start_mark, None, flow_style=event.flow_style)
                frame = _Frame(node, event.anchor, self.total, self.chars)
                self._count(1, event)
                if event.anchor is not None:
                    self.open_anchors.add(event.anchor)
                    self.anchors.pop(event.anchor, None)  # a redefinition starts now
                stack.append(frame)
                continue
            else:  # SequenceEndEvent or MappingEndEvent
                frame = stack.pop()
                node = frame.node
                node.end_mark = event.end_mark
                if frame.anchor is not None:
                    self.open_anchors.discard(frame.anchor)
                    self.anchors[frame.anchor] = (node, self.total - frame.total_before,
                                                  self.chars - frame.chars_before)
            if not stack:
                return node
            self._add(stack[-1], node)
        raise ComposerError(None, None, "the document ended inside a collection", None)

    @staticmethod
    def _add(parent: _Frame, node: Node) -> None:
        if isinstance(parent.node, SequenceNode):
            parent.node.value.append(node)
        elif parent.key is None:
            parent.key = node
        else:
            parent.node.value.append((parent.key, node))
            parent.key = None

    def _count(self, nodes: int, event: Any) -> None:
        self.total += nodes
        self.written += nodes
        if self.total > self.limits.max_nodes:
            self._too_many(event)

    def _check_aliases(self, event: Any) -> None:
        if self.total > self.limits.max_nodes:
            self._too_many(event)
        expanded = self.total - self.written
        if expanded > self.limits.alias_floor and expanded > self.written:
            raise TooComplex(
                "OML012", event.start_mark,
                f"aliases expand the document to {self.total:,} values and counting "
                f"({self.written:,} written out)",
                "an alias may repeat a value, not multiply the document (a \"billion laughs\" "
                "bomb); write the values out or use fewer nested aliases")
        repeated = self.chars - self.written_chars
        if repeated > self.limits.alias_floor_chars and repeated > self.written_chars:
            raise TooComplex(
                "OML012", event.start_mark,
                f"aliases repeat {repeated:,} characters of text and counting "
                f"({self.written_chars:,} written out)",
                "an alias may repeat a value, not multiply the document's text; write the "
                "value out where it is needed, or use fewer aliases of long strings")

    def _too_many(self, event: Any) -> None:
        raise TooComplex(
            "OML013", event.start_mark,
            f"the document has more than {self.limits.max_nodes:,} values"
            + (" once its aliases are expanded" if self.total > self.written else ""),
            "split the pipeline, or raise OSIRIS_MAX_INPUT_SIZE (values are limited to one per "
            "8 bytes of it)")

    def _scalar_tag(self, event: Any) -> Any:
        tag = event.ctag
        if tag is None or str(tag) == "!":
            return self.tags.plain(event.value) if event.implicit[0] else STR_TAG
        return tag

    @staticmethod
    def _collection_tag(event: Any, default: Tag) -> Any:
        tag = event.ctag
        return default if tag is None or str(tag) == "!" else tag
