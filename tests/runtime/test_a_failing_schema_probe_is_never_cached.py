"""A failing schema probe is a cache miss: it never serves a stale entry and is not cached."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from osiris.runtime.discovery_service import DiscoveryService
from osiris.runtime.driver import ColumnInfo, DiscoveryResult, DriverError, ResolvedConnection, TableInfo


class FakeDatabase:
    """A MySQL discoverer stand-in: the schema probe is `fingerprint`, discovery is `discover`."""

    def __init__(self) -> None:
        self.columns = ["id"]
        self.probe_fails = False
        self.discover_calls = 0

    def __call__(self, family: str) -> FakeDatabase:
        return self

    def fingerprint(self, connection: Any, *, path: str | None = None) -> str:
        if self.probe_fails:
            raise DriverError("information_schema is not readable")
        return "sha256:" + "|".join(self.columns)

    def discover(self, connection: Any, **kwargs: Any) -> DiscoveryResult:
        self.discover_calls += 1
        columns = tuple(ColumnInfo(c, "int") for c in self.columns)
        return DiscoveryResult(tables=(TableInfo("orders", columns),), source=connection.ref)


def _fake_service(tmp_path: Path, db: FakeDatabase) -> DiscoveryService:
    service = DiscoveryService(cwd=tmp_path, env={}, cache_dir=tmp_path / "cache", discoverer_for=db)
    connection = ResolvedConnection("mysql", "shop", {"host": "db", "database": "shop", "user": "u"})
    service.resolve = lambda ref: connection  # type: ignore[method-assign]
    return service


def _columns(result: DiscoveryResult) -> list[str]:
    return [c.name for c in result.tables[0].columns]


def test_a_probe_that_keeps_failing_never_serves_a_stale_schema(tmp_path: Path) -> None:
    db = FakeDatabase()
    db.probe_fails = True
    service = _fake_service(tmp_path, db)
    assert _columns(service.discover("@mysql.shop")) == ["id"]
    assert not list((tmp_path / "cache").glob("*.json"))  # nothing cached without a fingerprint
    db.columns = ["id", "total"]  # ALTER TABLE while the probe still fails
    assert _columns(service.discover("@mysql.shop")) == ["id", "total"]
    assert db.discover_calls == 2 and service.hits == 0 and service.misses == 2

    db.probe_fails = False  # the probe works again: cached, then hit
    service.discover("@mysql.shop")
    assert _columns(service.discover("@mysql.shop")) == ["id", "total"] and db.discover_calls == 3
    entries = [json.loads(p.read_text()) for p in (tmp_path / "cache").glob("*.json")]
    assert [e["fingerprint"].startswith("sha256:") for e in entries] == [True]


def test_a_failing_probe_ignores_an_entry_cached_when_it_worked(tmp_path: Path) -> None:
    db = FakeDatabase()
    service = _fake_service(tmp_path, db)
    service.discover("@mysql.shop")
    db.probe_fails, db.columns = True, ["id", "note"]
    assert _columns(service.discover("@mysql.shop")) == ["id", "note"] and db.discover_calls == 2


def test_an_old_unavailable_entry_is_never_a_hit(tmp_path: Path) -> None:
    db = FakeDatabase()
    service = _fake_service(tmp_path, db)
    service.discover("@mysql.shop")
    (entry,) = (tmp_path / "cache").glob("*.json")
    data = json.loads(entry.read_text())
    entry.write_text(json.dumps({**data, "fingerprint": "unavailable"}))  # what older versions stored
    for fails in (True, False):
        db.probe_fails = fails
        service.discover("@mysql.shop")
    assert db.discover_calls == 3 and service.hits == 0
