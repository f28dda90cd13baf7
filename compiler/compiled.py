"""One compiled pipeline in memory, as a runtime takes it, and the manifest format's version.

Free of pydantic on purpose: `omlc` builds this and writes its files, and `osiris run` executes
it, without importing the pydantic models of compiler.manifest (~80 ms of a process's start-up):
a runtime reads the frozen records of compiler.manifest_records.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from osiris.compiler.manifest_records import Manifest, SourceMap

MANIFEST_VERSION = "3"
"""Version 3: every step's config in one file, cfg.json, keyed by step id (version 2 wrote a
cfg/<id>.json per step: a 1,000-step pipeline was 1,004 files to fsync, half its compile time).
Version 2: each step carries its connection `family` and its one connection reference (version
1 also copied the reference into every cfg file, and runtimes read the component specs to learn
the family). A runtime reads nothing but the manifest directory."""


class Compiled:
    """What `omlc compile` writes, in memory: the manifest, each step's config by step id
    (cfg.json's data), meta.json's data and the source map (sourcemap.json, which only ever
    improves error messages).

    The compiler passes the manifest and the source map as the files' plain data, and the
    records are built from it, without validation, on first use: the passes that built the data
    enforced the same rules. A runtime that loaded a manifest directory passes the records of
    what it verified."""

    __slots__ = ("_manifest", "_sources", "cfgs", "meta")

    def __init__(self, manifest: Manifest | dict[str, Any], cfgs: dict[str, dict[str, Any]],
                 meta: dict[str, Any], sources: SourceMap | dict[str, Any] | None = None) -> None:
        self._manifest = manifest
        self.cfgs = cfgs
        self.meta = meta
        self._sources = sources

    @property
    def manifest_data(self) -> dict[str, Any]:
        """manifest.yaml's data, without building the model when the compiler made it."""
        return self._manifest if isinstance(self._manifest, dict) else self._manifest.to_data()

    @property
    def manifest(self) -> Manifest:
        if isinstance(self._manifest, dict):
            from osiris.compiler.manifest_records import manifest_from_data

            self._manifest = manifest_from_data(self._manifest)
        return self._manifest

    @property
    def sources(self) -> SourceMap | None:
        if isinstance(self._sources, dict):
            from osiris.compiler.manifest_records import sources_from_data

            self._sources = sources_from_data(self._sources)
        return self._sources
