"""Discovery for the chat: what tables and columns exist, through the drivers, with a cache.

Drivers are found by component name through the runtime's registry (`driver_for`), and
connections are resolved by the runtime's own resolver, so chat sees exactly what a run would.

The cache (one JSON file per entry under `.osiris/cache/discovery/`, the same key in memory
and on disk) is keyed by the sha256 of
  - the connection's identity: family, alias, host, port, database, user, schema (parsed out of a
    DSN when there is one), never a secret; for files the absolute path,
  - the options: tables, sample rows, path,
  - the spec fingerprint of the component that discovered it.
Each entry stores its creation time and its TTL, so a restarted process honours the same
expiry. Within the TTL an entry is used only if a cheap *schema fingerprint* still matches:
  - files: (name, size, mtime_ns) of every matching file under the path (a stat, no reads);
  - MySQL/MariaDB: one row over information_schema.COLUMNS (count plus a CRC32 sum over table,
    column, type, nullability, key and position), run through the extractor itself;
  - Postgres (and Supabase with a `dsn`): the same over information_schema.columns and
    key_column_usage, with hashtext();
  - Supabase over REST: no probe; the TTL alone decides.
A probe that fails (the query errors, the server is away) matches no entry: discovery runs
afresh and its result is not cached, since there is no fingerprint to check a later hit against.
ALTER TABLE, CREATE/DROP TABLE or a rewritten file change the fingerprint and force a fresh
discovery. Row counts are as of the discovery (an INSERT alone does not invalidate them).

Paths obey the path policy of hand-written OML (compiler/path_policy.py): a target path, and
every file under a target directory, must really be (symbolic links resolved) inside the project
root or a directory the operator granted in osiris_connections.yaml, else discovery refuses
before any file is read. The cache is private: entries 0600, their folder 0700.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from osiris.compiler.files import private_dir, write_atomic
from osiris.compiler.spec_cache import default_registry
from osiris.llm.families import FILE_COMPONENTS, file_kind
from osiris.oml.source import InputError, read_bytes
from osiris.runtime.driver import ColumnInfo, DiscoveryResult, DriverError, ResolvedConnection, TableInfo
from osiris.spec.registry import Registry

__all__ = [
    "DiscoveryService",
    "component_for",
    "driver_for",
    "result_from_json",
    "result_to_json",
    "schema_probe_sql",
]

CACHE_FORMAT = 1
CACHE_FILE_LIMIT = 64 * 2**20
"""Largest cache entry read back (a cache may have been edited: see oml.source.read_bytes)."""
DEFAULT_TTL_S = 3600.0
MAX_ENTRIES = 256
MAX_SAMPLE_ROWS = 10

_MYSQL_PROBE = (
    "SELECT CAST(COUNT(*) AS CHAR) AS n, CAST(COALESCE(SUM(CRC32(CONCAT_WS('|', TABLE_NAME, COLUMN_NAME, "
    "COLUMN_TYPE, IS_NULLABLE, COLUMN_KEY, ORDINAL_POSITION))), 0) AS CHAR) AS h "
    "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()"
)
_PG_PROBE = (
    "SELECT CAST(count(*) AS text) AS n, CAST(COALESCE(sum(hashtext(concat_ws('|', table_schema, table_name, "
    "column_name, data_type, is_nullable, ordinal_position))::bigint), 0) AS text) AS h, "
    "(SELECT CAST(COALESCE(sum(hashtext(concat_ws('|', table_name, column_name, constraint_name))::bigint), "
    "0) AS text) FROM information_schema.key_column_usage WHERE table_schema NOT IN ('pg_catalog', "
    "'information_schema')) AS k FROM information_schema.columns "
    "WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
)


def schema_probe_sql(family: str, fields: Mapping[str, Any]) -> str | None:
    """The one-row query whose answer changes when the schema does (None: no cheap probe)."""
    if family == "mysql":
        return _MYSQL_PROBE
    if family == "postgres" or (family == "supabase" and fields.get("dsn")):
        return _PG_PROBE
    return None


def driver_for(component: str) -> Any:
    """The driver object for a component, from the runtime's entry-point registry."""
    from osiris.runtime.registry import default_registry as driver_registry

    return driver_registry().create(component)


def component_for(family: str, registry: Registry | None = None) -> str:
    """The extractor that discovers a connection family (the spec says which can)."""
    registry = registry or default_registry()
    for name in registry.canonical_names():
        spec = registry.components[name]
        if spec.family == family and spec.kind == "extractor" and spec.capabilities.get("discover"):
            return name
    raise DriverError(f"no component can discover {family} connections")


@dataclass
class DiscoveryService:
    """Discover connection aliases and file paths, caching results as described above."""

    connections: Any = None
    """A compiler.connections.ConnectionsFile (or None: only file paths can be discovered)."""
    cwd: Path = field(default_factory=Path.cwd)
    env: Mapping[str, str] | None = None
    cache_dir: Path | None = None
    ttl_s: float = DEFAULT_TTL_S
    driver_factory: Callable[[str], Any] = driver_for
    registry: Registry = field(default_factory=default_registry)
    clock: Callable[[], float] = time.time
    roots: tuple[str, ...] = ()
    """Where discovery may read (compiler/path_policy.py); empty: the project root (`cwd`) and
    the directories the connections file grants."""
    hits: int = 0
    misses: int = 0

    def discover(
        self, target: str, *, tables: list[str] | None = None, sample_rows: int = 0
    ) -> DiscoveryResult:
        """`target` is `@family.alias` or a file/directory path (relative to `cwd`)."""
        sample_rows = max(0, min(int(sample_rows), MAX_SAMPLE_ROWS))
        if target.startswith("@"):
            connection = self.resolve(target)
            components = [component_for(connection.family, self.registry)]
            identity: dict[str, Any] = _identity(connection)
            path = None
        else:
            connection, path = None, target
            root = self._path(target)
            components = _file_components(root)
            _confine_files(root, target, self._roots())
            identity = {"path": str(root)}
        key = _key(
            identity,
            {"tables": sorted(tables or []), "sample_rows": sample_rows, "path": path},
            [self.registry.components[c].fingerprint for c in components],
        )
        cached = self._load(key)
        probe = self._probe(connection, target, components)
        if cached is not None and _still_valid(cached.get("schema_fp"), probe):
            self.hits += 1
            return result_from_json(cached["result"])
        self.misses += 1
        result = self._discover(components, connection, tables, sample_rows, path)
        if not isinstance(probe, _Unavailable):  # else nothing to check a later hit against: not cached
            self._store(key, probe, result)
        return result

    def resolve(self, ref: str) -> ResolvedConnection:
        from osiris.runtime.connections import RuntimeConnections
        from osiris.runtime.secrets import SecretMasker

        return RuntimeConnections(self.connections, SecretMasker(), self.env).resolve(ref)

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
            return confine_path(target, self._roots(), str(self.cwd))
        except PathRefused as refused:
            raise DriverError(f"cannot discover: {refused}", hint=refused.hint) from None

    def _discover(
        self,
        components: list[str],
        connection: ResolvedConnection | None,
        tables: list[str] | None,
        sample_rows: int,
        path: str | None,
    ) -> DiscoveryResult:
        found: list[TableInfo] = []
        source = connection.ref if connection is not None else (path or "")
        for component in components:
            driver = self.driver_factory(component)
            kwargs: dict[str, Any] = {"tables": tables or None, "sample_rows": sample_rows}
            if path is not None:
                kwargs["path"] = str(self._path(path))
            result = driver.discover(connection, **kwargs)
            found.extend(
                _as_given(path, self._path(path), t) if path is not None else t for t in result.tables
            )
        return DiscoveryResult(tables=tuple(found), source=source)

    def _probe(
        self, connection: ResolvedConnection | None, target: str, components: list[str]
    ) -> str | None | _Unavailable:
        """The schema fingerprint; None when there is no cheap probe (the TTL alone decides);
        `_UNAVAILABLE` when the probe failed (a miss, and the result is not cached)."""
        if connection is None:
            return _files_fingerprint(self._path(target))
        sql = schema_probe_sql(connection.family, connection.fields)
        if sql is None:
            return None
        try:
            rows = _run_query(
                self.driver_factory(components[0]), self.registry, components[0], connection, sql, self.cwd
            )
        except Exception:  # noqa: BLE001 - a probe must never break chat: discover afresh instead
            return _UNAVAILABLE
        return _sha(rows)

    # -- the cache: one file per key; the TTL travels with the entry --
    def _dir(self) -> Path:
        return self.cache_dir or (self.cwd / ".osiris" / "cache" / "discovery")

    def _load(self, key: str) -> dict[str, Any] | None:
        try:
            entry = json.loads(read_bytes(self._dir() / f"{key}.json", f"{key}.json", CACHE_FILE_LIMIT))
        except (InputError, ValueError):  # missing, edited into a FIFO or a device, too big, not JSON: a miss
            return None
        if entry.get("format") != CACHE_FORMAT or entry.get("key") != key:
            return None
        if self.clock() > float(entry.get("created_at", 0)) + float(entry.get("ttl_s", 0)):
            return None
        return entry

    def _store(self, key: str, schema_fp: str | None, result: DiscoveryResult) -> None:
        entry = {
            "format": CACHE_FORMAT,
            "key": key,
            "created_at": self.clock(),
            "ttl_s": self.ttl_s,
            "schema_fp": schema_fp,
            "result": result_to_json(result),
        }
        directory = self._dir()
        try:
            if self.cache_dir is None:
                private_dir(directory.parent)  # .osiris/cache, as an older version may have left it
            private_dir(directory)
            write_atomic(directory / f"{key}.json", json.dumps(entry, default=str, ensure_ascii=False), private=True)
            self._prune(directory)
        except OSError:
            pass  # a read-only directory only costs speed

    def _prune(self, directory: Path) -> None:
        entries = sorted(directory.glob("*.json"), key=lambda p: p.stat().st_mtime)
        for stale in entries[:-MAX_ENTRIES] if len(entries) > MAX_ENTRIES else []:
            stale.unlink(missing_ok=True)


class _Unavailable:
    """The schema probe failed: the fingerprint is unknown, so no cache entry can be trusted."""

    def __repr__(self) -> str:
        return "<schema probe unavailable>"


_UNAVAILABLE = _Unavailable()


def _still_valid(stored: Any, probe: str | None | _Unavailable) -> bool:
    """May a cached entry (within its TTL) be used, given its stored fingerprint and this probe?

    No cheap probe (None): the TTL alone decides. A failed probe matches nothing, so a probe
    that keeps failing never serves a result cached before the schema changed. Otherwise the
    fingerprints must be equal (a string never equals a stored None, nor the "unavailable"
    that older versions stored after a failed probe: a probe no longer returns that)."""
    if isinstance(probe, _Unavailable):
        return False
    return probe is None or stored == probe


def _as_given(path: str, root: Path, table: TableInfo) -> TableInfo:
    """Name a file table by the path a pipeline should use (relative as the user wrote it)."""
    if root.is_file():
        return replace(table, name=path)
    return replace(table, name=f"{path.rstrip('/')}/{table.name}")


def _identity(connection: ResolvedConnection) -> dict[str, Any]:
    """Who and where, never how to authenticate: the DSN is parsed and its password dropped."""
    fields = connection.fields
    keys = ("host", "port", "database", "user", "schema", "url", "project_id", "base_dir")
    identity: dict[str, Any] = {"family": connection.family, "alias": connection.alias}
    identity.update({k: fields.get(k) for k in keys if fields.get(k) is not None})
    dsn = fields.get("dsn")
    if dsn:
        try:
            parts = urlsplit(str(dsn))
            identity.update(
                {
                    "host": parts.hostname,
                    "port": parts.port,
                    "user": parts.username,
                    "database": parts.path.lstrip("/") or None,
                }
            )
        except ValueError:  # a malformed DSN: the alias alone identifies it (never the DSN's text)
            identity["dsn"] = "unparsed"
    return identity


def _key(identity: Mapping[str, Any], options: Mapping[str, Any], spec_fps: list[str]) -> str:
    return hashlib.sha256(
        json.dumps(
            {"format": CACHE_FORMAT, "identity": identity, "options": options, "specs": spec_fps},
            sort_keys=True,
            default=str,
        ).encode()
    ).hexdigest()


def _sha(value: Any) -> str:
    return "sha256:" + hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def _confine_files(root: Path, shown: str, roots: tuple[str, ...]) -> None:
    """Every data file under a target directory must really be inside the roots: a symbolic
    link in the project that leads out is refused before the driver reads anything."""
    from osiris.compiler.path_policy import PathRefused, confine_real

    if not root.is_dir():
        return
    for found in root.rglob("*"):
        relative = found.relative_to(root)
        if file_kind(found.name) is None or any(part.startswith((".", "_")) for part in relative.parts):
            continue  # the file drivers skip it too (drivers/files/discovery.py)
        try:
            confine_real(found, f"{shown.rstrip('/')}/{relative.as_posix()}", roots)
        except PathRefused as refused:
            raise DriverError(f"cannot discover: {refused}", hint=refused.hint) from None


def _file_components(root: Path) -> list[str]:
    if root.is_file():
        kind = file_kind(root.name)
        if kind is None:
            raise DriverError(f"cannot discover {root.name}: not a CSV or Parquet file")
        return [FILE_COMPONENTS[kind]]
    if not root.is_dir():
        raise DriverError(f"path not found: {root}", hint="give an existing file or directory")
    return sorted(set(FILE_COMPONENTS.values()))


def _files_fingerprint(root: Path) -> str | None:
    if root.is_file():
        files = [root]
    elif root.is_dir():
        files = sorted(p for p in root.rglob("*") if p.is_file())
    else:
        return None
    stats = [(p.relative_to(root.parent).as_posix(), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    return _sha(stats)


@dataclass
class _ProbeContext:
    """The smallest StepContext an extractor needs to run the one-row probe query."""

    config: Mapping[str, Any]
    connection: ResolvedConnection | None
    work_dir: Path
    temp_dir: Path
    step_id: str = "chat-schema-probe"
    component: str = ""
    mode: str = "extract"
    batch_rows: int = 1024
    memory_limit_bytes: int = 64 * 1024 * 1024

    def event(self, name: str, **fields: Any) -> None:
        pass

    def metric(self, name: str, value: float, unit: str | None = None, **tags: Any) -> None:
        pass

    def progress(self, rows: int, nbytes: int) -> None:
        pass

    def check_cancelled(self) -> None:
        pass

    def resolve_path(self, path: str) -> Path:
        candidate = Path(path)
        return candidate if candidate.is_absolute() else self.work_dir / candidate


def _run_query(
    driver: Any, registry: Registry, component: str, connection: ResolvedConnection, sql: str, cwd: Path
) -> list[dict[str, Any]]:
    """Run `sql` through the component's own extractor (no database client in llm/)."""
    schema = registry.components[component].config_schema
    config = {k: v["default"] for k, v in schema.get("properties", {}).items() if "default" in v}
    config.update({"query": sql, "connection": connection.ref})
    if "fetch_mode" in config:
        config["fetch_mode"] = "stream"
    with tempfile.TemporaryDirectory(prefix="osiris-probe-") as tmp:
        ctx = _ProbeContext(config, connection, cwd, Path(tmp), component=component)
        return driver.extract(ctx).read_all().to_pylist()


def result_to_json(result: DiscoveryResult) -> dict[str, Any]:
    return asdict(result)


def result_from_json(data: Mapping[str, Any]) -> DiscoveryResult:
    tables = tuple(
        TableInfo(
            name=t["name"],
            columns=tuple(ColumnInfo(**c) for c in t["columns"]),
            row_count=t.get("row_count"),
            schema=t.get("schema"),
            sample=tuple(t.get("sample") or ()),
        )
        for t in data.get("tables", ())
    )
    return DiscoveryResult(tables=tables, source=data.get("source", ""))
