"""Prompt templates: Markdown files with `{{placeholders}}`, shipped in llm/prompts/.

`osiris dump-prompts --export DIR` copies them out; `osiris chat --prompts DIR` (or
`--pro-mode`, which reads `.osiris/prompts/`) uses edited copies. A file missing from DIR
falls back to the shipped one, and a placeholder the code does not fill is an error at load
time, not a silently empty hole in the prompt.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from osiris.compiler.files import write_atomic

__all__ = ["PRO_MODE_DIR", "PromptError", "Templates", "export_prompts"]

BUILTIN_DIR = Path(__file__).resolve().parent / "prompts"
PRO_MODE_DIR = Path(".osiris") / "prompts"
PLACEHOLDERS: dict[str, frozenset[str]] = {
    "system": frozenset({"components", "connections", "specs", "schema", "output_rules"}),
    "output_tools": frozenset(),
    "output_text": frozenset(),
    "repair": frozenset({"diagnostics", "round", "max_rounds"}),
    "revise": frozenset({"request", "oml"}),
    "intent": frozenset({"intent"}),
}
_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")


class PromptError(Exception):
    """An edited prompt directory cannot be used (unknown placeholder, unreadable file)."""


@dataclass(frozen=True)
class Templates:
    texts: dict[str, str]
    source: str = "built-in"

    @classmethod
    def load(cls, directory: Path | None = None) -> Templates:
        texts = {name: (BUILTIN_DIR / f"{name}.md").read_text(encoding="utf-8") for name in PLACEHOLDERS}
        if directory is None:
            return cls(texts)
        if not directory.is_dir():
            raise PromptError(
                f"prompt directory not found: {directory}",
            )
        for name, allowed in PLACEHOLDERS.items():
            path = directory / f"{name}.md"
            if not path.is_file():
                continue
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as error:
                raise PromptError(f"cannot read {path}: {error}") from None
            unknown = sorted(set(_PLACEHOLDER.findall(text)) - allowed)
            if unknown:
                raise PromptError(
                    f"{path}: unknown placeholder {{{{{unknown[0]}}}}}; "
                    f"{name}.md may use: {', '.join(sorted(allowed)) or 'none'}"
                )
            texts[name] = text
        return cls(texts, str(directory))

    def render(self, name: str, **values: object) -> str:
        return _PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), "")), self.texts[name]).strip() + "\n"


def export_prompts(directory: Path, *, force: bool = False) -> list[Path]:
    """Write the shipped templates to `directory` (atomically per file); never overwrite edits
    unless `force`."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name in PLACEHOLDERS:
        target = directory / f"{name}.md"
        if target.exists() and not force:
            raise PromptError(f"{target} exists: pass --force to overwrite edited prompts")
    for name in PLACEHOLDERS:
        target = directory / f"{name}.md"
        write_atomic(target, (BUILTIN_DIR / f"{name}.md").read_text(encoding="utf-8"))
        written.append(target)
    return written
