"""YAML -> a positioned tree: every key and value keeps its line, column and style.

We use ruamel.yaml's composer (the node graph with start and end marks) instead of its
constructed CommentedMap, because semantic passes need exact spans for values, sequence
items and keys alike, and because we want repeated keys reported, not silently merged.
Scalars are converted by their resolved tag; timestamps stay strings so configs remain JSON.
"""

from __future__ import annotations

import math
import re
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any, Literal

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from osiris.oml.diagnostics import Diagnostics
from osiris.oml.pointer import join
from osiris.oml.source import InputError, check_size, max_input_bytes
from osiris.oml.span import Span
from osiris.oml.yaml_compose import Limits, TooComplex, compose_events

Kind = Literal["map", "seq", "scalar"]


@dataclass(eq=False)
class YNode:
    """One node of the positioned tree.

    `value` is a list of (key, value) pairs for maps, a list of nodes for sequences and a
    plain Python scalar for scalars. `style` is the YAML scalar style (None for plain,
    '"', "'", '|', '>'), which the expression parser needs to map offsets to columns.
    """

    kind: Kind
    value: Any
    span: Span
    pointer: str
    style: str | None = None
    tag: str = ""
    _data: Any = field(default=None, repr=False)

    def get(self, key: str) -> YNode | None:
        if self.kind != "map":
            return None
        for k, v in self.value:
            if k.value == key:
                return v
        return None

    def key_node(self, key: str) -> YNode | None:
        if self.kind != "map":
            return None
        for k, _ in self.value:
            if k.value == key:
                return k
        return None

    def items(self) -> list[tuple[YNode, YNode]]:
        return self.value if self.kind == "map" else []

    def to_data(self) -> Any:
        """The plain Python value (dict/list/scalar), computed once."""
        if self._data is None:
            if self.kind == "map":
                self._data = {str(k.value): v.to_data() for k, v in self.value}
            elif self.kind == "seq":
                self._data = [item.to_data() for item in self.value]
            else:
                return self.value
        return self._data


_BOOL = {"true": True, "false": False, "yes": True, "no": False, "on": True, "off": False}


def scalar_value(node: ScalarNode, tag: str | None = None) -> Any:
    """The scalar's value by its resolved tag; `tag` is `node.tag or ""` when the caller has it
    (ruamel builds that string on every read)."""
    tag, text = (node.tag or "") if tag is None else tag, node.value
    if tag.endswith(":null"):
        return None
    if tag.endswith(":bool"):
        if text.lower() not in _BOOL:
            raise ValueError(f"`{text}` is not a boolean (true or false)")
        return _BOOL[text.lower()]
    if tag.endswith(":int"):
        cleaned = text.replace("_", "")
        sign, digits = (-1, cleaned[1:]) if cleaned.startswith("-") else (1, cleaned.removeprefix("+"))
        base = next((b for prefix, b in (("0x", 16), ("0o", 8), ("0b", 2)) if digits.lower().startswith(prefix)), 10)
        try:
            return sign * int(digits[2:] if base != 10 else digits, base)
        except ValueError:  # not digits, or more than Python's 4,300-digit limit
            raise ValueError(f"`{text}` is not an integer (or has too many digits)") from None
    if tag.endswith(":float"):
        lowered = text.lower().replace("_", "")
        if lowered in (".nan",):
            return math.nan
        if lowered in (".inf", "+.inf"):
            return math.inf
        if lowered == "-.inf":
            return -math.inf
        try:
            return float(lowered)
        except ValueError:
            raise ValueError(f"`{text}` is not a number") from None
    return text


def node_value(node: ScalarNode, tag: str | None = None) -> Any:
    """A scalar node's value: timestamps stay as written (configs remain JSON), everything
    else is converted by its resolved tag (`scalar_value`, ValueError when it cannot be)."""
    tag = (node.tag or "") if tag is None else tag
    if tag.endswith(":timestamp"):
        return node.value
    value = scalar_value(node, tag)
    if node.style == ">" and isinstance(value, str):
        value = value.replace("\a", "")  # ruamel's round-trip composer marks folds with BEL
    return value


def key_text(node: ScalarNode) -> str:
    """A mapping key as the text OML names it by (`null` for an empty or `~` key)."""
    value = node_value(node)
    return "null" if value is None else str(value)


MAX_DEPTH = Limits.max_depth
"""How deep a document may nest, aliases expanded (the composer checks what is written, the
tree builder what aliases add); the node and alias limits are in oml.yaml_compose."""


def limits_for(max_bytes: int) -> Limits:
    """The document limits that go with an input cap: one value per 8 bytes of it."""
    return Limits(max_nodes=max(max_bytes // 8, 1_000))


class BadCharacter(Exception):
    """A `\\uD800`-style escape produced a lone surrogate, which is not text (not UTF-8)."""


class BadScalar(Exception):
    """A scalar its tag cannot hold (`!!int abc`, a 5,000-digit integer): (span, message)."""


_SURROGATE = re.compile("[\ud800-\udfff]")


class _Builder:
    def __init__(self, file: str, diagnostics: Diagnostics) -> None:
        self.file = file
        self.diagnostics = diagnostics

    def span(self, node: Node) -> Span:
        start, end = node.start_mark, node.end_mark
        line, column = start.line + 1, start.column + 1
        if isinstance(node, ScalarNode) and node.style and node.style in "|>":
            # A block scalar ends on a later line; point at its indicator instead.
            return Span(file=self.file, line=line, column=column, end_line=line, end_column=column + 1)
        return Span(file=self.file, line=line, column=column, end_line=end.line + 1,
                    end_column=end.column + 1)

    def build(self, node: Node, pointer: str, depth: int = 0) -> YNode:
        span = self.span(node)
        if depth > MAX_DEPTH:  # an alias used deep down: the composer saw only what is written
            raise TooComplex("OML013", span, f"the document nests more than {MAX_DEPTH} levels deep "
                             "once its aliases are expanded", "use the alias nearer the top, or "
                             "write the values out")
        if isinstance(node, MappingNode):
            pairs: list[tuple[YNode, YNode]] = []
            seen: dict[Any, YNode] = {}
            for key_node, value_node in node.value:
                key = self.build(key_node, pointer, depth + 1)
                if key.kind != "scalar":
                    self.diagnostics.add("OML007", key.span, "mapping keys must be plain scalars",
                                         pointer=pointer)
                    continue
                key.value = "null" if key.value is None else str(key.value)  # key_text(key_node), already read
                child_pointer = join(pointer, key.value)
                if key.value in seen:
                    first = seen[key.value].span
                    self.diagnostics.add(
                        "OML009", key.span, f"key '{key.value}' is repeated",
                        help=f"first defined at line {first.line}; YAML would silently keep only one",
                        pointer=child_pointer,
                    )
                    continue
                key.pointer = child_pointer
                seen[key.value] = key
                pairs.append((key, self.build(value_node, child_pointer, depth + 1)))
            return YNode("map", pairs, span, pointer, tag=node.tag or "")
        if isinstance(node, SequenceNode):
            items = [self.build(item, join(pointer, i), depth + 1) for i, item in enumerate(node.value)]
            return YNode("seq", items, span, pointer, tag=node.tag or "")
        assert isinstance(node, ScalarNode)
        tag = node.tag or ""
        try:
            value = node_value(node, tag)
        except ValueError as error:
            raise BadScalar(span, str(error)) from None
        if isinstance(value, str) and _SURROGATE.search(value):
            raise BadCharacter(span)
        return YNode("scalar", value, span, pointer, style=node.style or None, tag=tag)


def compose(text: str, limits: Limits | None = None) -> Node | None:
    """Compose with ruamel.yaml's libyaml-based parser (ruamel.yaml.clib), about 6x faster than
    its pure-Python parser, with the same nodes, marks and YAML 1.2 tags (a plain scalar's
    style is "" instead of None: test it with `not node.style`). libyaml is stricter in a few
    YAML 1.2 corners (a `:` inside a flow scalar), so anything it rejects is parsed again by
    the pure parser, whose verdict and messages are the ones reported (for documents up to
    PURE_FALLBACK_MAX_CHARS). Either parser's events
    go through oml.yaml_compose, which enforces `limits` as it goes (TooComplex). Comments are
    not kept: callers that need them (omlc fmt) find them in the text, using the nodes' marks."""
    limits = limits or Limits()
    try:
        fast = YAML(typ="safe", pure=False)
    except Exception:  # noqa: BLE001 - no C extension: the pure parser is the only one
        fast = None
    if fast is not None:
        try:
            return _compose_with(fast, text, limits)
        except YAMLError:
            if len(text) > PURE_FALLBACK_MAX_CHARS:
                raise
    return _compose_with(YAML(typ="rt", pure=True), text, limits)


PURE_FALLBACK_MAX_CHARS = 256 * 1024
"""Above this size libyaml's verdict is final: the pure parser costs about 4 s per MB, so a
near-cap file with an error at its end took a minute to reject. Only small documents get the
second opinion that admits YAML 1.2's corners libyaml refuses (`[a:b]`)."""


def _compose_with(yaml: YAML, text: str, limits: Limits) -> Node | None:
    with closing(yaml.parse(text)) as events:  # closing disposes of the parser when we stop early
        return compose_events(events, yaml.resolver, limits)


def syntax_error(error: YAMLError, text: str) -> tuple[int, int, str]:
    """(line, column, message) of a YAML error, 1-based; the end of the text for `end of stream`."""
    if not isinstance(error, MarkedYAMLError):
        return 1, 1, f"YAML syntax error: {error}"
    mark = error.problem_mark or error.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    lines = text.splitlines()
    if lines and line > len(lines):  # "found end of stream": point at the end of the last line
        line, column = len(lines), len(lines[-1]) + 1
    return line, column, f"YAML syntax error: {error.problem or error.context or 'invalid YAML'}"


def compose_checked(text: str, file: str, diagnostics: Diagnostics,
                    max_bytes: int | None = None) -> Node | None:
    """`compose` within the input cap (`max_bytes`, default oml.source.max_input_bytes()), with
    a syntax error reported as OML001 and an exceeded limit as OML011-OML013 (None returned)."""
    try:
        limit = max_input_bytes() if max_bytes is None else max_bytes
        if len(text) * 4 > limit:  # a character is at most 4 bytes: encode only when it matters
            check_size(len(text.encode("utf-8", "surrogatepass")), file, limit)
        return compose(text, limits_for(limit))
    except InputError as error:
        diagnostics.add(error.code, Span.whole_file(file), error.message, help=error.help)
    except TooComplex as error:
        mark = error.mark
        at = Span.point(file, mark.line + 1, mark.column + 1) if mark is not None else Span.whole_file(file)
        diagnostics.add(error.code, at, error.message, help=error.help)
    except YAMLError as error:
        line, column, message = syntax_error(error, text)
        diagnostics.add("OML001", Span.point(file, line, column), message)
    except RecursionError:
        diagnostics.add("OML001", Span.whole_file(file), "the document nests too deeply to parse")
    return None


def load_yaml(text: str, file: str, diagnostics: Diagnostics, max_bytes: int | None = None) -> YNode | None:
    """Parse `text`; on a syntax error (OML001) or an exceeded limit (OML011-OML013) add the
    diagnostic and return None."""
    root = compose_checked(text, file, diagnostics, max_bytes)
    return build_tree(root, file, diagnostics) if root is not None else None


def build_tree(root: Node, file: str, diagnostics: Diagnostics) -> YNode | None:
    """The positioned tree of a composed document, within the depth and alias limits; on a
    value that cannot be read add OML001 and return None."""
    try:
        return _Builder(file, diagnostics).build(root, "")
    except BadCharacter as error:
        diagnostics.add("OML001", error.args[0], "the string holds an escaped lone surrogate (not a character)",
                        help="remove the \\uD800-\\uDFFF escape or pair it correctly")
        return None
    except BadScalar as error:
        diagnostics.add("OML001", error.args[0], f"cannot read the value: {error.args[1]}",
                        help="quote it to make it a string, or fix the value its tag (!!int, !!float, !!bool) asks for")
        return None
    except TooComplex as error:
        diagnostics.add(error.code, error.mark, error.message, help=error.help)
        return None
