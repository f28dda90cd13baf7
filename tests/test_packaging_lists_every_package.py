"""The wheel's package list names every folder of the six source trees under `osiris.`, so nothing
the code imports (or a data folder it reads) is left out of an installed Osiris."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SETUPTOOLS = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]


def _folders() -> set[str]:
    found = set()
    for name, folder in SETUPTOOLS["package-dir"].items():
        root = REPO / folder
        for directory in [root, *root.rglob("*")]:
            if directory.is_dir() and directory.name != "__pycache__" and any(directory.iterdir()):
                found.add(".".join([name, *directory.relative_to(root).parts]))
    return found


def test_every_source_folder_is_a_listed_package() -> None:
    assert sorted(SETUPTOOLS["packages"]) == sorted(_folders())


def test_every_package_lives_under_the_osiris_namespace() -> None:
    assert all(name.startswith("osiris.") for name in SETUPTOOLS["packages"])

