"""The words and file names that point chat at a connection family or a file format.

`llm.chat` (what to discover for an intent) and `llm.context` (which specs go in the prompt)
derive from these. The file suffixes are not chat's: they are the runtime's one table
(`runtime.discovery.FILE_SUFFIXES`, which the files driver reads too); here they only become
words and a pattern that finds paths in free text.
"""

from __future__ import annotations

import re

from osiris.runtime.discovery import COMPRESSED_SUFFIXES, FILE_SUFFIXES, file_kind

__all__ = [
    "FAMILY_WORDS",
    "PATH_PATTERN",
    "families_named",
    "file_kind",
    "format_words",
]

FAMILY_WORDS: dict[str, tuple[str, ...]] = {
    "mysql": ("mysql", "mariadb"),
    "postgres": ("postgres", "postgresql", "psql", "pg"),
    "supabase": ("supabase",),
}
"""Connection family -> the words that name it in an intent (the family's own name first)."""

def _alternatives(suffixes: tuple[str, ...]) -> str:
    return "|".join(re.escape(s.lstrip(".")) for s in sorted(suffixes, key=len, reverse=True))


def _path_pattern() -> re.Pattern[str]:
    kinds = []
    for kind, suffixes in FILE_SUFFIXES.items():
        compressed = COMPRESSED_SUFFIXES.get(kind, ())
        tail = rf"(?:\.(?:{_alternatives(compressed)}))?" if compressed else ""
        kinds.append(rf"(?:{_alternatives(suffixes)}){tail}")
    return re.compile(rf"(?<![\w@])((?:[\w.~-]+/)*[\w.-]+\.(?:{'|'.join(kinds)}))\b", re.IGNORECASE)


PATH_PATTERN = _path_pattern()
"""A file path in free text whose name has a discoverable suffix (group 1 is the path)."""


def format_words() -> dict[str, tuple[str, ...]]:
    """File format -> the words that name it in an intent (`csv`, `tsv`, `parquet`, `pq`)."""
    return {kind: tuple(s.lstrip(".") for s in suffixes) for kind, suffixes in FILE_SUFFIXES.items()}


def families_named(words: set[str], families: dict[str, tuple[str, ...]] | None = None) -> set[str]:
    """The keys of `families` (default FAMILY_WORDS) that one of `words` names."""
    table = FAMILY_WORDS if families is None else families
    return {family for family, spelled in table.items() if words & set(spelled)}
