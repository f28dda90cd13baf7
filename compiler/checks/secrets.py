"""Find secrets written inline in OML, and keep them out of every diagnostic that is shown.

The original's key-name heuristic had loopholes (length limits, values starting with `${`).
Here any non-empty value of a secret field is rejected, whatever it looks like (a parameter
reference would carry the secret into the compiled cfg just the same), and any string holding
a URL with a password (`scheme://user:pass@host`) is rejected wherever it appears.

Reporting a secret must not print it: `redact_diagnostics` masks the values OML080 found in
every message (a schema error may quote the value), and `redact_line` replaces them, and any
other credential-shaped text, in the source excerpt under a diagnostic. What counts as a
credential key or a URL password, and how text is masked, is `oml.secrets`: the same code the
runtime and the chat use.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from osiris.oml.diagnostics import Diagnostic
from osiris.oml.pointer import join
from osiris.oml.secrets import (
    CREDENTIAL_KEY_PATTERN,
    MASK,
    URL_PASSWORD,
    SecretMasker,
    has_signed_url,
    has_url_password,
    is_credential_key,
    mask_text,
    merge_ranges,
    pattern_redactions,
    replacement,
    splice,
)

__all__ = [
    "CREDENTIAL_KEY",
    "URL_WITH_PASSWORD",
    "find_inline_secrets",
    "Cut",
    "redact_diagnostics",
    "redact_line",
    "secret_cuts",
    "secret_values_in",
]

CREDENTIAL_KEY = re.compile(rf"^(?:{CREDENTIAL_KEY_PATTERN})$", re.IGNORECASE)
"""Credential-looking key names (`.match` is a whole-name match); `oml.secrets.is_credential_key`."""
URL_WITH_PASSWORD = URL_PASSWORD
"""A URL with a password in its userinfo (`.search`): what OML080 rejects in any string."""

SECRET_CODE = "OML080"


def find_inline_secrets(config: dict[str, Any], secret_keys: frozenset[str],
                        base: str) -> Iterator[tuple[str, str]]:
    """Yield (pointer, reason) for each inline secret in a step config."""
    for key, value in config.items():
        pointer = join(base, key)
        if key in secret_keys and value not in (None, ""):
            yield pointer, f"`{key}` is a secret field of this component"
            continue
        yield from _walk(value, pointer, key)


def _walk(value: Any, pointer: str, key: str | None) -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, join(pointer, k), str(k))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _walk(item, join(pointer, i), None)
    elif isinstance(value, str) and value:
        if key is not None and key != "connection" and is_credential_key(key):
            yield pointer, f"`{key}` looks like a credential"
        elif "://" in value and has_url_password(value):  # the `in` test first: most values hold no URL
            yield pointer, "the value is a URL with a password in it"
        elif "://" in value and has_signed_url(value):
            yield pointer, "the value is a signed URL (its signature or token is a credential)"


def secret_values_in(config: dict[str, Any], secret_keys: frozenset[str]) -> list[str]:
    """Every string value `find_inline_secrets` would flag (used to keep them out of messages)."""
    found: list[str] = []
    lookup: Callable[[str], Any] = lambda p: _get(config, p)  # noqa: E731
    for pointer, _ in find_inline_secrets(config, secret_keys, ""):
        value = lookup(pointer)
        if isinstance(value, str):
            found.append(value)
    return found


def _get(config: Any, pointer: str) -> Any:
    target = config
    for token in pointer.split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        target = target[int(token)] if isinstance(target, list) else target[token]
    return target


# -- keeping reported secrets out of what is shown --------------------------------------------

Cut = tuple[int, int | None]
"""Columns [start, end) of one source line (1-based; end None: to the end of the line)."""


def secret_cuts(diagnostics: Iterable[Diagnostic]) -> dict[tuple[str, int], list[Cut]]:
    """(file, line) -> the columns of that line holding a value OML080 reported."""
    cuts: dict[tuple[str, int], list[Cut]] = {}
    for d in diagnostics:
        if d.code != SECRET_CODE or d.span.file_level:
            continue
        span = d.span
        for line in range(span.line, span.end_line + 1):
            start = span.column if line == span.line else 0  # 0: from the first non-blank
            end = span.end_column if line == span.end_line else None
            if line == span.end_line and line != span.line and span.end_column <= 1:
                break  # the span ends at the start of this line: nothing of it is here
            cuts.setdefault((span.file, line), []).append((start, end))
    return cuts


def redact_line(text: str, cuts: Sequence[Cut] = ()) -> tuple[str, Callable[[int, bool], int]]:
    """`text` with the `cuts` and every credential-shaped value replaced by `***`, and a function
    mapping a column of `text` (1-based; `end=True` for an exclusive end) to the same place in
    the result, so carets stay under what they point at."""
    ranges = []
    for start, end in cuts:
        first = start - 1 if start else len(text) - len(text.lstrip())
        last = len(text) if end is None else min(end - 1, len(text))
        if last > first:
            ranges.append((first, last))
    ranges = merge_ranges([*ranges, *pattern_redactions(text)])
    if not ranges:
        return text, lambda column, end=False: column
    moved = []  # (old start, old end, new start, new end)
    shift = 0
    for first, last in ranges:
        width = len(replacement(text, first, last))
        moved.append((first, last, first + shift, first + shift + width))
        shift += width - (last - first)

    def column_of(column: int, end: bool = False) -> int:
        index, delta = column - 1, 0
        for first, last, new_first, new_last in moved:
            if index < first or (end and index == first):
                break
            if index < last or (end and index == last):
                return (new_last if end else new_first) + 1
            delta = new_last - last
        return index + delta + 1

    return splice(text, ranges), column_of


def redact_diagnostics(diagnostics: list[Diagnostic], source: str) -> list[Diagnostic]:
    """`diagnostics` with the values OML080 found in `source`, and any credential-shaped text,
    masked in every message and help (a schema error may quote the value it rejects)."""
    cuts = secret_cuts(diagnostics)
    if not cuts and not any(_shaped(d) for d in diagnostics):
        return diagnostics
    masker = SecretMasker(_values_at(cuts, source.splitlines()))
    out = []
    for d in diagnostics:
        message, help_ = masker.mask(d.message), masker.mask(d.help) if d.help else d.help
        out.append(d if (message, help_) == (d.message, d.help) else replace(d, message=message, help=help_))
    return out


def _shaped(d: Diagnostic) -> bool:
    return mask_text(d.message) != d.message or bool(d.help and mask_text(d.help) != d.help)


def _values_at(cuts: dict[tuple[str, int], list[Cut]], lines: list[str]) -> list[str]:
    """The text under the cuts, line by line and as a whole, and the scalars it holds once
    YAML quoting is undone (a schema error quotes `['a', 'b']` for `[a, b]`)."""
    values: list[str] = []
    pieces: list[str] = []
    for (_, number), line_cuts in sorted(cuts.items(), key=lambda item: item[0][1]):
        if not 1 <= number <= len(lines):
            continue
        text = lines[number - 1]
        for start, end in line_cuts:
            first = start - 1 if start else len(text) - len(text.lstrip())
            raw = text[first:(None if end is None else end - 1)].strip()
            if raw and raw != MASK:
                values.append(raw)
                pieces.append(raw)
    for raw in pieces:
        values += _scalars(raw)
    return values


def _scalars(raw: str) -> list[str]:
    """The scalar leaves of a YAML fragment (a quoted string, a flow list), or its words."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        data = YAML(typ="safe", pure=True).load(raw)
    except (YAMLError, ValueError):
        return re.findall(r"[^\s\[\]{},'\"]+", raw)
    leaves: list[str] = []
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack += [*item.keys(), *item.values()]
        elif isinstance(item, list):
            stack += item
        elif item is not None and not isinstance(item, bool):
            leaves.append(str(item))
    return leaves
