"""Find a component's driver by its canonical name through the `osiris.drivers` entry points.

The runtime never imports `drivers.*`: a driver is whatever object the entry point named
after the component loads to (a class, instantiated without arguments, or a factory).
Tests and embedders pass `overrides` (name -> class, factory or instance) to plug in test
doubles without installing a package; `set_default_overrides` does the same for code that
goes through the CLI (e.g. a test script that calls `runtime.cli.main`).

The shipped drivers are looked up in this package's own entry points first (one small file,
~0.5 ms); the whole environment is scanned (every installed distribution's metadata, ~14 ms
with 160 of them, paid by every `osiris run`) only for a component this package does not ship,
so a plugin adds components but cannot take over a shipped one's name.

The shipped drivers' client libraries come with pip extras (`osiris-oml[mysql]`, ...): a driver
whose library is missing is reported as "not installed: needs extra X", never an ImportError.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Mapping
from importlib.metadata import EntryPoint, PackageNotFoundError, distribution, entry_points
from typing import Any

from osiris.runtime.driver import DriverError
from osiris.runtime.extras import DRIVER_EXTRAS, extra_for_module, install_hint, missing_modules

__all__ = ["DISCOVERY_GROUP", "ENTRY_POINT_GROUP", "DriverRegistry", "default_registry", "set_default_overrides"]

ENTRY_POINT_GROUP = "osiris.drivers"
DISTRIBUTION = "osiris-oml"
"""This package's distribution, whose entry points name the shipped drivers."""
DISCOVERY_GROUP = "osiris.discovery"
"""Connection family -> its discoverer (runtime/discovery.py), e.g. `mysql`, `filesystem`."""

_default_overrides: dict[str, Any] = {}


def set_default_overrides(overrides: Mapping[str, Any]) -> None:
    """Make every registry created afterwards by `default_registry()` use these overrides."""
    _default_overrides.clear()
    _default_overrides.update(overrides)


def default_registry() -> DriverRegistry:
    return DriverRegistry(_default_overrides)


class DriverRegistry:
    """Component name -> driver instance, one instance per call to `create`."""

    def __init__(
        self, overrides: Mapping[str, Any] | None = None, *, discoverers: Mapping[str, Any] | None = None
    ) -> None:
        self._overrides = dict(overrides or {})
        self._discoverers = dict(discoverers or {})
        self._lock = threading.Lock()
        self._shipped: dict[str, EntryPoint] | None = None
        self._entry_points: dict[str, EntryPoint] | None = None
        self._loaded: dict[str, Any] = {}

    @property
    def overrides(self) -> dict[str, Any]:
        """The embedder's drivers by component (tests' doubles); a distributed backend ships them to its workers."""
        return dict(self._overrides)

    def names(self) -> list[str]:
        """Every component name a driver is registered for (entry points and overrides)."""
        return sorted({*self._eps(), *self._overrides})

    def has(self, component: str) -> bool:
        return component in self._overrides or self._entry(component) is not None

    def installed(self, component: str) -> bool:
        return self.unavailable(component) is None

    def unavailable(self, component: str) -> str | None:
        """Why `component`'s driver cannot run here, or None when it can; checked without importing
        the driver: "not installed: needs extra mysql (pip install 'osiris-oml[mysql]')"."""
        if component in self._overrides:
            return None
        entry = self._entry(component)
        if entry is None:
            return "not installed"
        extra = DRIVER_EXTRAS.get(component.partition(".")[0]) if _shipped(entry) else None
        if extra is not None and missing_modules(extra):
            return f"not installed: needs extra {extra} ({install_hint(extra)})"
        try:
            found = importlib.util.find_spec(entry.module) is not None
        except (ImportError, ValueError):
            found = False
        return None if found else "not installed"

    def create(self, component: str) -> Any:
        """A fresh driver object for `component`; a clear DriverError when there is none."""
        target = self._target(component)
        if isinstance(target, type) or (callable(target) and not _is_driver(target)):
            try:
                return target()
            except Exception as error:  # noqa: BLE001 - a broken plugin must not crash the run
                raise DriverError(
                    f"the driver for {component} could not be created: {type(error).__name__}: {error}"
                ) from None
        return target

    def discoverer(self, family: str) -> Any:
        """A fresh discoverer for a connection family (`osiris.discovery` entry points); a clear
        DriverError when none is registered or its library is missing."""
        if family in self._discoverers:
            target = self._discoverers[family]
            return target() if isinstance(target, type) else target
        entry = _shipped_entry_points(DISCOVERY_GROUP).get(family) or _every_entry_point(DISCOVERY_GROUP).get(family)
        if entry is None:
            raise DriverError(f"no installed driver can discover {family} connections",
                              hint=f"a driver registers its discoverer in the `{DISCOVERY_GROUP}` entry-point group")
        try:
            target = entry.load()
        except ImportError as error:
            extra = extra_for_module(getattr(error, "name", None) or "") if _shipped(entry) else None
            if extra is not None:
                raise DriverError(f"the {family} driver is not installed: needs extra {extra}",
                                  hint=install_hint(extra)) from None
            raise DriverError(f"the {family} discoverer cannot be imported ({entry.value}): {error}",
                              hint="install the package that provides it, or reinstall osiris") from None
        try:
            return target() if isinstance(target, type) else target
        except Exception as error:  # noqa: BLE001 - a broken plugin must not crash the caller
            raise DriverError(
                f"the {family} discoverer could not be created: {type(error).__name__}: {error}"
            ) from None

    def _target(self, component: str) -> Any:
        if component in self._overrides:
            return self._overrides[component]
        with self._lock:
            if component in self._loaded:
                return self._loaded[component]
        entry = self._entry(component)
        if entry is None:
            raise DriverError(
                f"no driver is installed for component {component}",
                hint=f"installed: {', '.join(self.names()) or 'none'}; "
                f"a driver registers in the `{ENTRY_POINT_GROUP}` entry-point group",
            )
        try:
            loaded = entry.load()
        except ModuleNotFoundError as error:
            extra = extra_for_module(error.name or "") if _shipped(entry) else None
            if extra is None:
                raise DriverError(
                    f"the driver for {component} cannot be imported ({entry.value}): {error}",
                    hint="install the package that provides it, or reinstall osiris",
                ) from None
            raise DriverError(f"the driver for {component} is not installed: needs extra {extra}",
                              hint=install_hint(extra)) from None
        except ImportError as error:
            raise DriverError(
                f"the driver for {component} cannot be imported ({entry.value}): {error}",
                hint="install the package that provides it, or reinstall osiris",
            ) from None
        with self._lock:
            self._loaded[component] = loaded
        return loaded

    def _entry(self, component: str) -> EntryPoint | None:
        """The shipped driver's entry point, else a plugin's (the environment scanned once)."""
        return self._shipped_eps().get(component) or self._eps().get(component)

    def _shipped_eps(self) -> dict[str, EntryPoint]:
        with self._lock:
            if self._shipped is None:
                self._shipped = _shipped_entry_points(ENTRY_POINT_GROUP)
            return self._shipped

    def _eps(self) -> dict[str, EntryPoint]:
        with self._lock:
            if self._entry_points is None:
                self._entry_points = _every_entry_point(ENTRY_POINT_GROUP)
            return self._entry_points


def _shipped_entry_points(group: str) -> dict[str, EntryPoint]:
    """This package's own entry points in `group`, read from its metadata alone."""
    try:
        found = distribution(DISTRIBUTION).entry_points.select(group=group)
    except PackageNotFoundError:  # not installed as a distribution: the scan finds what there is
        return {}
    return {ep.name: ep for ep in found}


def _every_entry_point(group: str) -> dict[str, EntryPoint]:
    """Every entry point in `group` in the environment (all installed distributions scanned);
    a name this package ships keeps the shipped one."""
    return {**{ep.name: ep for ep in entry_points(group=group)}, **_shipped_entry_points(group)}


def _shipped(entry: EntryPoint) -> bool:
    """A driver of this package (its extras apply), not a plugin of another distribution."""
    return entry.module.startswith("osiris.drivers.")


def _is_driver(obj: Any) -> bool:
    return any(hasattr(obj, method) for method in ("extract", "transform", "write", "health_check"))
