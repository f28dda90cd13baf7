"""The installed layout of the source folders (`osiris/<package>` -> `<package>/`) as symlinks, for tools
that walk the file system (import-linter, mypy) where the editable install's import hook has no directory."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def namespace_tree(root: Path) -> Path:
    """Lay out `root/osiris/<package>` as links to the repository's folders; returns `root`."""
    mapping = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]["package-dir"]
    for name, folder in mapping.items():
        link = root.joinpath(*name.split("."))
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(REPO / folder, target_is_directory=True)
    return root
