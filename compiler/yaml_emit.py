"""A small, deterministic block-YAML emitter for artifacts (dicts, lists, scalars only).

ruamel's emitter is general and slow on 10,000-step manifests; artifacts need neither
comments nor anchors. Strings are written plain when that is unambiguous and as JSON
double-quoted scalars (which are valid YAML) otherwise, so any YAML 1.2 reader returns
exactly the data that was written.
"""

from __future__ import annotations

import json
import re
from typing import Any

_PLAIN = re.compile(r"[A-Za-z_/][A-Za-z0-9_./@-]*")
_NON_PRINTABLE = re.compile("[\x7f-\x9f\ud800-\udfff\ufffe\uffff\u2028\u2029\ufeff]")
"""Characters YAML does not allow (or folds) inside a double-quoted scalar; json.dumps leaves them."""
_RESERVED = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return json.dumps(value, allow_nan=False)
    text = str(value)
    if _PLAIN.fullmatch(text) and text.lower() not in _RESERVED:
        return text
    quoted = json.dumps(text, ensure_ascii=False)
    return _NON_PRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", quoted)


def _flow(value: Any) -> str | None:
    """Short lists of scalars and empty containers are written inline, like `[a, b]`."""
    if isinstance(value, dict) and not value:
        return "{}"
    if isinstance(value, list):
        if not value:
            return "[]"
        if all(not isinstance(v, (dict, list)) for v in value):
            text = "[" + ", ".join(_scalar(v) for v in value) + "]"
            return text if len(text) <= 100 else None
    return None


def _emit(value: Any, indent: int, out: list[str]) -> None:
    pad = " " * indent
    if isinstance(value, dict):
        for key, item in value.items():
            flow = _flow(item)
            if flow is not None:
                out.append(f"{pad}{_scalar(key)}: {flow}\n")
            elif isinstance(item, (dict, list)):
                out.append(f"{pad}{_scalar(key)}:\n")
                _emit(item, indent + (2 if isinstance(item, dict) else 0), out)
            else:
                out.append(f"{pad}{_scalar(key)}: {_scalar(item)}\n")
    elif isinstance(value, list):
        for item in value:
            flow = _flow(item)
            if flow is not None:
                out.append(f"{pad}- {flow}\n")
            elif isinstance(item, dict):
                inner: list[str] = []
                _emit(item, indent + 2, inner)
                first = inner[0][indent + 2:]
                out.append(f"{pad}- {first}")
                out.extend(inner[1:])
            elif isinstance(item, list):
                out.append(f"{pad}-\n")
                _emit(item, indent + 2, out)
            else:
                out.append(f"{pad}- {_scalar(item)}\n")
    else:
        out.append(f"{pad}{_scalar(value)}\n")


def dump_yaml(data: dict[str, Any]) -> bytes:
    """UTF-8, LF, keys in the order given (callers build dicts in a documented order)."""
    out: list[str] = []
    _emit(data, 0, out)
    return "".join(out).encode("utf-8")
