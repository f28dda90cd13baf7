"""The component registry: loads specs once, validates them, fingerprints each.

Parsing eleven YAML specs costs about 100 ms in pure Python, which alone would break
`omlc check`'s start-up budget. So the parsed, validated specs are cached as JSON under the
user's cache directory, keyed by the SHA-256 of the spec files' bytes: an edited spec misses
the cache and is parsed and validated again. The cache is an optimisation only; deleting it
changes nothing but speed.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from spec.models import ComponentSpec, Family

SPEC_DIR = Path(__file__).resolve().parent
COMPONENT_DIR = SPEC_DIR / "components"
FAMILIES_FILE = SPEC_DIR / "families.yaml"
SCHEMA_DIR = SPEC_DIR / "schema"
CACHE_FORMAT = 1


class SpecError(Exception):
    """A spec file is invalid: a bug in the spec, reported with its file and problem."""


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "osiris"


def _spec_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.yaml"))


def _parse_and_validate(files: list[Path], families_file: Path) -> dict[str, Any]:
    from jsonschema import Draft202012Validator
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    component_schema = Draft202012Validator(json.loads((SCHEMA_DIR / "component.schema.json").read_text()))
    families_schema = Draft202012Validator(json.loads((SCHEMA_DIR / "families.schema.json").read_text()))
    components = []
    for path in files:
        data = yaml.load(path.read_text(encoding="utf-8"))
        errors = sorted(component_schema.iter_errors(data), key=lambda e: list(e.absolute_path))
        if errors:
            first = errors[0]
            where = "/" + "/".join(str(p) for p in first.absolute_path)
            raise SpecError(f"{path.name}: {where}: {first.message}")
        Draft202012Validator.check_schema(data["config_schema"])
        components.append(data)
    families = yaml.load(families_file.read_text(encoding="utf-8"))
    errors = list(families_schema.iter_errors(families))
    if errors:
        raise SpecError(f"{families_file.name}: {errors[0].message}")
    return {"format": CACHE_FORMAT, "components": components, "families": families["families"]}


def _load_raw(directory: Path, families_file: Path) -> dict[str, Any]:
    files = _spec_files(directory)
    digest = hashlib.sha256()
    for path in [*files, families_file]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    cache = _cache_dir() / f"specs-{CACHE_FORMAT}-{digest.hexdigest()[:32]}.json"
    try:
        return json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    raw = _parse_and_validate(files, families_file)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache.parent, prefix=".specs-")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(raw, handle)
        os.replace(tmp, cache)
    except OSError:
        pass  # a read-only home only costs speed
    return raw


class Registry:
    """Component specs by canonical name and alias, plus connection families."""

    def __init__(self, components: list[ComponentSpec], families: dict[str, Family]) -> None:
        self.components = {c.name: c for c in components}
        self.families = families
        self._by_alias = {alias: c for c in components for alias in (c.name, *c.aliases)}

    def get(self, name: str) -> ComponentSpec | None:
        """Look up by canonical name or alias (`duckdb.transform` -> duckdb.processor)."""
        return self._by_alias.get(name)

    def names(self) -> list[str]:
        return sorted(self._by_alias)

    def canonical_names(self) -> list[str]:
        return sorted(self.components)

    def family(self, name: str) -> Family | None:
        return self.families.get(name)

    @classmethod
    def from_raw(cls, raw: dict[str, Any]) -> Registry:
        components = []
        for data in raw["components"]:
            fp = "sha256:" + hashlib.sha256(_canonical(data)).hexdigest()
            components.append(ComponentSpec.model_validate({**data, "fingerprint": fp}))
        families = {name: Family.model_validate({"name": name, **body})
                    for name, body in raw["families"].items()}
        return cls(components, families)

    @classmethod
    def load(cls, directory: Path = COMPONENT_DIR, families_file: Path = FAMILIES_FILE) -> Registry:
        return cls.from_raw(_load_raw(directory, families_file))


@lru_cache(maxsize=1)
def default_registry() -> Registry:
    """The registry of the specs shipped in this package, loaded once per process."""
    return Registry.load()
