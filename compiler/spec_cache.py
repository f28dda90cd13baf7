"""The shipped component specs, loaded once per process and cached on disk between processes.

Parsing eleven YAML specs costs about 100 ms in pure Python, which alone would break
`omlc check`'s start-up budget. So the parsed, validated specs (`spec.registry.parse_specs`) are
cached as JSON under the user's cache directory, keyed by the SHA-256 of the spec files' bytes:
an edited spec misses the cache and is parsed and validated again. The cache is an optimisation
only; deleting it changes nothing but speed. It lives here, not in spec/, so the spec package
stays pure data and models and the file utilities stay in the compiler.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from osiris.compiler.files import cache_root, private_dir, write_atomic
from osiris.spec.registry import COMPONENT_DIR, FAMILIES_FILE, RAW_FORMAT, Registry, parse_specs, spec_files

__all__ = ["default_registry", "load_registry"]


def _cache_path(files: list[Path]) -> Path:
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return cache_root() / f"specs-{RAW_FORMAT}-{digest.hexdigest()[:32]}.json"


def _load_raw(directory: Path, families_file: Path) -> dict[str, Any]:
    files = spec_files(directory)
    cache = _cache_path([*files, families_file])
    try:
        return json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    raw = parse_specs(files, families_file)
    try:
        private_dir(cache.parent)  # cache_root: 0700, like every Osiris cache and state folder
        write_atomic(cache, json.dumps(raw), private=True)
    except OSError:
        pass  # a read-only home only costs speed
    return raw


def load_registry(directory: Path = COMPONENT_DIR, families_file: Path = FAMILIES_FILE) -> Registry:
    """The registry of the specs in `directory`, through the disk cache."""
    return Registry.from_raw(_load_raw(directory, families_file))


@lru_cache(maxsize=1)
def default_registry() -> Registry:
    """The registry of the specs shipped in this package, loaded once per process."""
    return load_registry()
