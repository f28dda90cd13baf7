"""The discovery cache shared by `osiris chat`, `osiris discover` and `osiris connections doctor`.

One JSON file per entry in a private directory (0700, entries 0600) under the cache root
(`$OSIRIS_CACHE_DIR`, else `$XDG_CACHE_HOME/osiris`, else `~/.cache/osiris`): `<root>/discovery/`.
The key is the sha256 of the connection's identity (family, alias, host, port, database, user,
schema, url; a DSN is parsed and its password dropped; for files the absolute path), the options
(tables, sample rows) and the discoverer with the Osiris version: never a secret, so the same
key is computed in memory and on disk. Each entry stores its creation time, its TTL and the
schema fingerprint it was discovered under, so a restarted process honours the same expiry (a
reader asking for a shorter TTL gets that) and
an entry is served only while the discoverer's fingerprint still matches.
Writes are atomic (a reader never sees half an entry); the directory keeps at most
`MAX_ENTRIES` entries, the oldest going first.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from osiris.compiler.checks.incremental import DiscoveredTable
from osiris.compiler.files import cache_root, private_dir, write_atomic
from osiris.runtime.discovery import DiscoveryResult, result_from_json, result_to_json

__all__ = ["DEFAULT_TTL_S", "CachedEntry", "DiscoveryCache", "cached_table", "connection_identity",
           "default_cache_dir"]

CACHE_FORMAT = 2
CACHE_FILE_LIMIT = 64 * 2**20
"""Largest entry read back (a cache may have been edited: see _read_own)."""
DEFAULT_TTL_S = 3600.0
MAX_ENTRIES = 256
_IDENTITY_KEYS = ("host", "port", "database", "user", "schema", "url", "project_id", "base_dir")


def default_cache_dir(env: Mapping[str, str] | None = None) -> Path:
    return cache_root(dict(env) if env is not None else None) / "discovery"


def connection_identity(family: str, alias: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Who and where, never how to authenticate: the DSN is parsed and its password dropped."""
    identity: dict[str, Any] = {"family": family, "alias": alias}
    identity.update({k: fields.get(k) for k in _IDENTITY_KEYS if fields.get(k) is not None})
    dsn = fields.get("dsn")
    if dsn:
        try:
            parts = urlsplit(str(dsn))
            found = {"host": parts.hostname, "port": parts.port, "user": parts.username,
                     "database": parts.path.lstrip("/") or None}
            identity.update({k: v for k, v in found.items() if v is not None})
        except ValueError:  # a malformed DSN: the alias alone identifies it (never the DSN's text)
            identity["dsn"] = "unparsed"
    return identity


@dataclass(frozen=True)
class CachedEntry:
    result: DiscoveryResult
    created_at: float
    ttl_s: float
    fingerprint: str | None


@dataclass
class DiscoveryCache:
    directory: Path = field(default_factory=default_cache_dir)
    ttl_s: float = DEFAULT_TTL_S
    clock: Callable[[], float] = time.time

    @staticmethod
    def key(identity: Mapping[str, Any], options: Mapping[str, Any], discoverer: str) -> str:
        text = json.dumps({"format": CACHE_FORMAT, "identity": identity, "options": options,
                           "discoverer": discoverer}, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def load(self, key: str) -> CachedEntry | None:
        """The entry for `key` within its TTL, or None (missing, expired, damaged, not an entry).
        The TTL is the shorter of the entry's own and this cache's: a caller may ask for fresher."""
        try:
            entry = json.loads(_read_own(self.directory / f"{key}.json"))
            if entry.get("format") != CACHE_FORMAT or entry.get("key") != key:
                return None
            created, ttl = float(entry["created_at"]), min(float(entry["ttl_s"]), self.ttl_s)
            if self.clock() > created + ttl:
                return None
            return CachedEntry(result_from_json(entry["result"]), created, ttl, entry.get("fingerprint"))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):  # a miss, never a crash
            return None

    def store(self, key: str, identity: Mapping[str, Any], fingerprint: str | None,
              result: DiscoveryResult) -> None:
        entry = {"format": CACHE_FORMAT, "key": key, "identity": dict(identity), "created_at": self.clock(),
                 "ttl_s": self.ttl_s, "fingerprint": fingerprint, "result": result_to_json(result)}
        try:
            private_dir(self.directory)
            text = json.dumps(entry, default=str, ensure_ascii=False)
            write_atomic(self.directory / f"{key}.json", text, private=True)
            self._prune()
        except OSError:
            pass  # a read-only cache only costs speed

    def entries_for(self, family: str, alias: str) -> list[CachedEntry]:
        """Live entries discovered for `@family.alias`, newest first (for connections doctor)."""
        found = []
        for path in self._files():
            try:
                identity = json.loads(_read_own(path)).get("identity") or {}
            except (OSError, ValueError, AttributeError):
                continue
            if identity.get("family") == family and identity.get("alias") == alias:
                entry = self.load(path.stem)
                if entry is not None:
                    found.append(entry)
        return sorted(found, key=lambda e: e.created_at, reverse=True)

    def _files(self) -> list[Path]:
        try:
            return sorted(self.directory.glob("*.json"), key=lambda p: p.stat().st_mtime)
        except OSError:
            return []

    def _prune(self) -> None:
        files = self._files()
        for stale in files[:-MAX_ENTRIES] if len(files) > MAX_ENTRIES else []:
            stale.unlink(missing_ok=True)


def _read_own(path: Path) -> bytes:
    """An entry's bytes, only from a regular file (not a link, FIFO or device) that this user
    owns and no one else may write: an entry another user planted or could edit is a miss
    (OSError), since chat and `osiris discover` would trust its tables and samples."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o022:
            raise OSError(f"{path.name} is not a private entry of this user")
        if info.st_size > CACHE_FILE_LIMIT:
            raise OSError(f"{path.name} is larger than {CACHE_FILE_LIMIT} bytes")
        with os.fdopen(os.dup(fd), "rb") as handle:
            return handle.read(CACHE_FILE_LIMIT + 1)
    finally:
        os.close(fd)


def cached_table(ref: str, table: str, directory: Path | None = None) -> DiscoveredTable | None:
    """What the live cache entries of `ref` know of `table` (plain or schema-qualified), for the
    compiler's cursor check; never connects. None when no entry holds the table."""
    family, _, alias = ref.removeprefix("@").partition(".")
    wanted = table.replace('"', "").replace("`", "")
    cache = DiscoveryCache(directory or default_cache_dir())
    for entry in cache.entries_for(family, alias):
        for info in entry.result.tables:
            names = {info.name, f"{info.schema}.{info.name}" if info.schema else info.name}
            if wanted in names:
                minutes = max(0, int((cache.clock() - entry.created_at) // 60))
                return DiscoveredTable({c.name: (c.arrow_type or "", c.nullable) for c in info.columns},
                                       f"the discovery cache of {ref}, {minutes} min old")
    return None
