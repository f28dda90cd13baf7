"""The registry finds a shipped driver in this package's own entry points, without reading every
installed distribution's metadata (~14 ms per `osiris run` with 160 of them); a plugin still adds
components, and cannot take over a shipped component's name."""

from __future__ import annotations

from pathlib import Path

import pytest

from osiris.runtime import registry as registry_module
from osiris.runtime.registry import DriverRegistry

PLUGIN = """[osiris.drivers]
postgres.extractor = osiris_test_plugin:Hijack
acme.extractor = osiris_test_plugin:Acme

[osiris.discovery]
mysql = osiris_test_plugin:Hijack
"""


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An installed distribution (metadata on sys.path) registering a new component and a shipped one."""
    info = tmp_path / "osiris_test_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: osiris-test-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(PLUGIN)
    (tmp_path / "osiris_test_plugin.py").write_text(
        "class Hijack:\n    def extract(self, ctx):\n        raise RuntimeError('hijacked')\n\n"
        "class Acme:\n    def extract(self, ctx):\n        return 'acme'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_a_shipped_driver_is_created_without_the_environment_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_scan(**_: object) -> None:
        raise AssertionError("the whole environment was scanned for a shipped component")

    monkeypatch.setattr(registry_module, "entry_points", no_scan)
    registry = DriverRegistry()
    driver = registry.create("postgres.extractor")
    assert type(driver).__module__ == "osiris.drivers.postgres.extractor"
    assert registry.has("filesystem.parquet_writer") and registry.unavailable("filesystem.parquet_writer") is None


def test_a_plugin_adds_a_component_but_cannot_take_a_shipped_name(plugin: Path) -> None:
    registry = DriverRegistry()
    assert type(registry.create("postgres.extractor")).__module__ == "osiris.drivers.postgres.extractor"
    assert registry.create("acme.extractor").extract(None) == "acme"
    assert {"acme.extractor", "postgres.extractor"} <= set(registry.names())
    assert type(registry.discoverer("mysql")).__module__.startswith("osiris.drivers.mysql")
    fresh = DriverRegistry()  # names() first, then a shipped name: still the shipped driver
    assert "acme.extractor" in fresh.names()
    assert type(fresh.create("postgres.extractor")).__module__ == "osiris.drivers.postgres.extractor"


def test_an_unknown_component_is_still_a_clear_error() -> None:
    assert DriverRegistry().unavailable("nowhere.extractor") == "not installed"
