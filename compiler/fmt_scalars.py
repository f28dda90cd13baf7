"""Scalars for `omlc fmt`: the shortest spelling YAML reads back as the same value.

ruamel's emitter decides which styles are legal for a string (`analyze_scalar`); the
resolvers of YAML 1.2 and 1.1 decide whether a plain spelling would still be a string.
Numbers, booleans, nulls and dates keep the author's spelling.
"""

from __future__ import annotations

import functools
import io

from ruamel.yaml.emitter import Emitter
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.resolver import VersionedResolver

from osiris.oml.yaml_loader import node_value

__all__ = ["KEEP_TEXT", "literal_block", "reindent", "scalar_text", "string_text"]

KEEP_TEXT = ("null", "bool", "int", "float", "timestamp")
"""Implicit (plain) scalars of these types are printed exactly as written."""

_EMITTER = Emitter(io.StringIO(), allow_unicode=True)
_EMITTER.use_version = (1, 2)  # type: ignore[attr-defined] # analyze_scalar asks its serializer
_RESOLVERS = (VersionedResolver(version=(1, 2)), VersionedResolver(version=(1, 1)))
"""Plain only when YAML 1.2 (omlc, editors) and 1.1 (older tools: `yes`, `on`) both read a string."""
_STR_TAG = "tag:yaml.org,2002:str"


def is_printable(ch: str) -> bool:
    code = ord(ch)
    return (0x20 <= code <= 0x7E or 0xA0 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD
            or 0x10000 <= code <= 0x10FFFF) and code not in (0xFEFF, 0x2028, 0x2029)


_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r", "\0": "\\0"}


def _double_quoted(text: str) -> str:
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif is_printable(ch):
            out.append(ch)
        else:
            code = ord(ch)
            width = 2 if code < 0x100 else 4 if code < 0x10000 else 8
            out.append("\\" + {2: "x", 4: "u", 8: "U"}[width] + f"{code:0{width}X}")
    return '"' + "".join(out) + '"'


@functools.lru_cache(maxsize=4096)  # keys and values repeat: the resolvers are the slow part
def string_text(text: str, flow: bool = False, force_double: bool = False) -> str:
    """One-line YAML for `text`: plain when it reads back as the same string, else quoted."""
    analysis = _EMITTER.analyze_scalar(text)
    # ruamel's emitter allows `?x` plain in flow context, which its own parser then rejects.
    flow_plain = analysis.allow_flow_plain and text[:1] not in ("?", ":", "-")
    if not force_double and not analysis.multiline and text \
            and (flow_plain if flow else analysis.allow_block_plain) \
            and all(r.resolve(ScalarNode, text, (True, False)) == _STR_TAG for r in _RESOLVERS):
        return text
    if all(is_printable(ch) and ch not in '"\\' for ch in text) or not analysis.allow_single_quoted \
            or analysis.multiline or force_double:
        return _double_quoted(text)
    return "'" + text.replace("'", "''") + "'"


def literal_ok(text: str) -> bool:
    """A string with line breaks is a literal block if YAML can hold it exactly that way."""
    if "\n" not in text or not text.strip("\n") or text.endswith(" ") or " \n" in text or "\r" in text:
        return False
    return all(is_printable(ch) or ch in "\n\t" for ch in text) and not text.startswith("\t") \
        and "\n\t" not in text


def scalar_text(node: ScalarNode, flow: bool, force_double: bool = False) -> str | None:
    """The scalar on one line, or None when it is to be a literal block."""
    tag = node.tag or ""
    kind = tag.rsplit(":", 1)[-1] if tag.startswith("tag:yaml.org,2002:") else "str"
    if not node.style and kind in KEEP_TEXT:  # plain: None (pure parser) or "" (libyaml)
        return "null" if flow and node.value == "" else node.value  # keep `~`, `1_000`, `0x1F`
    value = node_value(node)
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
    if not flow and not force_double and literal_ok(text):
        return None
    return string_text(text, flow, force_double)


def reindent(block: tuple[str, list[str]], parent_column: int, indent: int) -> tuple[str, list[str]]:
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


def literal_block(text: str, indent: int) -> tuple[str, list[str]]:
    """Header (`|`, `|-`, `|+`, with `2` when the text starts with a space) and body lines."""
    chomp = "+" if text.endswith("\n\n") else "" if text.endswith("\n") else "-"
    hint = "2" if text[0] in " \n" else ""
    body = text[:-1] if text.endswith("\n") else text
    pad = " " * indent
    return f"|{hint}{chomp}", [pad + line if line else "" for line in body.split("\n")]
