"""Discover `@family.alias` or a file path through the family's driver, with the shared cache.

Connections are resolved by the runtime's own resolver and discoverers are found through the
driver registry, so chat, `osiris discover` and a run see the same thing. An entry within its
TTL is served only while the discoverer's fingerprint still matches (ALTER TABLE, CREATE/DROP
TABLE or a rewritten file change it); with no cheap probe the TTL alone decides. A probe that
fails matches no entry: discovery runs afresh and is not cached, since nothing could check a
later hit against it. Row counts are as of the discovery.

Paths obey the path policy of hand-written OML (compiler/path_policy.py): a target, and every
data file under a target directory, must really be (symbolic links resolved) inside the project
root or a directory the connections file grants, else discovery refuses before any file is read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from osiris.compiler.path_policy import STORE_SCHEMES
from osiris.runtime.discovery import DiscoveryResult, TableInfo, file_kind
from osiris.runtime.discovery_cache import DEFAULT_TTL_S, DiscoveryCache, connection_identity, default_cache_dir
from osiris.runtime.driver import DriverError, ResolvedConnection

__all__ = ["MAX_SAMPLE_ROWS", "DiscoveryService"]

MAX_SAMPLE_ROWS = 10


def _registry_discoverer(family: str) -> Any:
    from osiris.runtime.registry import default_registry

    return default_registry().discoverer(family)


@dataclass
class DiscoveryService:
    connections: Any = None
    """A compiler.connections.ConnectionsFile (or None: only file paths can be discovered)."""
    cwd: Path = field(default_factory=Path.cwd)
    env: Mapping[str, str] | None = None
    cache_dir: Path | None = None
    """None: `<cache root>/discovery`, shared by every command (runtime/discovery_cache.py)."""
    ttl_s: float = DEFAULT_TTL_S
    discoverer_for: Callable[[str], Any] = _registry_discoverer
    """Connection family -> its discoverer (default: the driver registry's)."""
    clock: Callable[[], float] | None = None
    roots: tuple[str, ...] = ()
    """Where discovery may read; empty: the project root (`cwd`) and the granted directories."""
    masker: Any = None
    """A runtime.secrets.SecretMasker told each resolved connection's secrets (to mask output)."""
    hits: int = 0
    misses: int = 0

    @property
    def cache(self) -> DiscoveryCache:
        directory = self.cache_dir or default_cache_dir(self.env)
        return DiscoveryCache(directory, self.ttl_s, *([self.clock] if self.clock else []))

    def discover(
        self, target: str, *, tables: list[str] | None = None, sample_rows: int = 0, refresh: bool = False,
        via: str | None = None,
    ) -> DiscoveryResult:
        """`target` is `@family.alias`, a file/directory path (relative to `cwd`) or an object-store
        URI read with the alias `via` (default: its family's default alias); `refresh` skips the
        cached entry (the fresh result replaces it)."""
        sample_rows = max(0, min(int(sample_rows), MAX_SAMPLE_ROWS))
        connection: ResolvedConnection | None = None
        path: str | None = None
        store_family = STORE_SCHEMES.get(target.split("://", 1)[0]) if "://" in target else None
        if store_family is not None:
            ref = via or self._default_ref(store_family)
            connection = self.resolve(ref)
            if connection.family != store_family:
                raise DriverError(f"{target} is read with an @{store_family} alias, not {ref}",
                                  hint=f"pass --via @{store_family}.<alias>")
            path = target
            family = "filesystem"
            identity = {**connection_identity(connection.family, connection.alias, connection.fields), "uri": target}
        elif target.startswith("@"):
            connection = self.resolve(target)
            family, identity = connection.family, connection_identity(
                connection.family, connection.alias, connection.fields)
        else:
            root = self._path(target)
            _confine_files(root, target, self._roots())
            path = str(root)
            family, identity = "filesystem", {"family": "filesystem", "path": path}
        discoverer = self.discoverer_for(family)
        cache = self.cache
        key = cache.key(identity, {"tables": sorted(tables or []), "sample_rows": sample_rows},
                        f"{type(discoverer).__module__}.{type(discoverer).__qualname__}@{_version()}")
        try:
            probe: str | None = discoverer.fingerprint(connection, path=path)
            probed = True
        except Exception:  # noqa: BLE001 - a failed probe only means: discover afresh, cache nothing
            probe, probed = None, False
        cached = None if refresh or not probed else cache.load(key)
        if cached is not None and (probe is None or cached.fingerprint == probe):
            self.hits += 1
            return cached.result
        self.misses += 1
        result = discoverer.discover(connection, tables=tables or None, sample_rows=sample_rows, path=path)
        if store_family is not None:
            result = replace(result, source=target)
        elif path is not None:
            result = _as_given(target, Path(path), result)
        else:  # the reference, whatever the discoverer called it (a filesystem alias: its base_dir)
            result = replace(result, source=connection.ref if connection is not None else target)
        if probed:
            cache.store(key, identity, probe, result)
        return result

    def _default_ref(self, family: str) -> str:
        alias = self.connections.default_alias(family) if self.connections is not None else None
        if not alias:
            raise DriverError(f"no @{family} alias to read this with",
                              hint=f"pass --via @{family}.<alias>, or mark one alias `default: true`")
        return f"@{family}.{alias}"

    def resolve(self, ref: str) -> ResolvedConnection:
        from osiris.runtime.connections import RuntimeConnections
        from osiris.runtime.secrets import SecretMasker

        return RuntimeConnections(self.connections, self.masker or SecretMasker(), self.env).resolve(ref)

    def _roots(self) -> tuple[str, ...]:
        from osiris.compiler.path_policy import path_roots

        if self.roots:
            return self.roots
        granted = getattr(self.connections, "roots", ()) if self.connections is not None else ()
        return path_roots(self.cwd, granted)

    def _path(self, target: str) -> Path:
        """The real location of a target path; DriverError when the path policy refuses it."""
        from osiris.compiler.path_policy import PathRefused, confine_path

        try:
            found = confine_path(target, self._roots(), str(self.cwd))
        except PathRefused as refused:
            raise DriverError(f"cannot discover: {refused}", hint=refused.hint) from None
        if not found.exists():
            raise DriverError(f"path not found: {target}", hint="give an existing file or directory")
        return found


def _confine_files(root: Path, shown: str, roots: tuple[str, ...]) -> None:
    """Every data file under a target directory must really be inside the roots: a symbolic
    link in the project that leads out is refused before the driver reads anything."""
    from osiris.compiler.path_policy import PathRefused, confine_real

    if not root.is_dir():
        return
    for found in root.rglob("*"):
        relative = found.relative_to(root)
        if file_kind(found.name) is None or any(part.startswith((".", "_")) for part in relative.parts):
            continue  # the files driver skips it too
        try:
            confine_real(found, f"{shown.rstrip('/')}/{relative.as_posix()}", roots)
        except PathRefused as refused:
            raise DriverError(f"cannot discover: {refused}", hint=refused.hint) from None


def _as_given(shown: str, root: Path, result: DiscoveryResult) -> DiscoveryResult:
    """Name file tables by the path a pipeline should use (relative, as the user wrote it)."""

    def named(table: TableInfo) -> TableInfo:
        return replace(table, name=shown if root.is_file() else f"{shown.rstrip('/')}/{table.name}")

    return DiscoveryResult(tables=tuple(named(t) for t in result.tables), source=shown)


def _version() -> str:
    try:
        return version("osiris-oml")
    except PackageNotFoundError:
        return "source"
