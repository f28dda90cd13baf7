"""The words and file names that point chat at a connection family or a file format.

One table each; `llm.chat` (what to discover for an intent), `llm.context` (which specs go in
the prompt) and `llm.discovery` (which extractor discovers a file) all derive from these.
The file suffixes follow the file drivers (drivers/files/discovery.py): CSV and TSV files,
optionally compressed, and Parquet files.
"""

from __future__ import annotations

import re

__all__ = [
    "COMPRESSED_SUFFIXES",
    "FAMILY_WORDS",
    "FILE_COMPONENTS",
    "FILE_SUFFIXES",
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

FILE_SUFFIXES: dict[str, tuple[str, ...]] = {
    "csv": (".csv", ".tsv"),
    "parquet": (".parquet", ".pq"),
}
"""File format (the `filesystem.<format>_extractor` kind) -> its file name suffixes."""

COMPRESSED_SUFFIXES: dict[str, tuple[str, ...]] = {
    "csv": (".gz", ".bz2", ".zst", ".zstd", ".lz4"),
    "parquet": (),
}
"""Compression suffixes a format may carry after its own (`orders.tsv.gz` is a CSV-family file)."""

FILE_COMPONENTS: dict[str, str] = {kind: f"filesystem.{kind}_extractor" for kind in FILE_SUFFIXES}
"""File format -> the extractor that discovers it."""


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


def file_kind(name: str) -> str | None:
    """The format of a file name ("csv" for `a.TSV.gz`, "parquet" for `b.pq`), or None."""
    lowered = name.lower()
    for kind, suffixes in FILE_SUFFIXES.items():
        stem = lowered
        for compressed in COMPRESSED_SUFFIXES.get(kind, ()):
            if stem.endswith(compressed):
                stem = stem.removesuffix(compressed)
                break
        if stem.endswith(suffixes):
            return kind
    return None


def format_words() -> dict[str, tuple[str, ...]]:
    """File format -> the words that name it in an intent (`csv`, `tsv`, `parquet`, `pq`)."""
    return {kind: tuple(s.lstrip(".") for s in suffixes) for kind, suffixes in FILE_SUFFIXES.items()}


def families_named(words: set[str], families: dict[str, tuple[str, ...]] | None = None) -> set[str]:
    """The keys of `families` (default FAMILY_WORDS) that one of `words` names."""
    table = FAMILY_WORDS if families is None else families
    return {family for family, spelled in table.items() if words & set(spelled)}
