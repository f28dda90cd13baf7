"""Which pip extra of osiris-oml brings an optional library, and whether it is installed.

`pip install osiris-oml` brings only the compiler's dependencies (omlc); running pipelines,
the database drivers, chat and E2B come with extras (pyproject.toml [project.optional-dependencies]).
A missing extra must be a clear message naming it, never an ImportError: the driver registry and
the CLIs' error guard (cli/extras.py) look the library up here. tests/test_slim_install.py keeps
this table in step with pyproject.toml.
"""

from __future__ import annotations

import importlib.util

__all__ = ["DRIVER_EXTRAS", "EXTRA_MODULES", "extra_for_module", "install_hint", "missing_modules"]

EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "run": ("pyarrow", "duckdb", "rich"),
    "mysql": ("pymysql", "connectorx"),
    "postgres": ("psycopg", "adbc_driver_manager", "adbc_driver_postgresql"),
    "supabase": ("supabase", "postgrest", "httpx"),
    "chat": ("openai",),
    "e2b": ("e2b",),
    "ray": ("ray",),
    "mcp": ("mcp",),
}
"""Top-level modules each extra installs (its own, not those of the extras it includes)."""

INCLUDES: dict[str, tuple[str, ...]] = {"mysql": ("run",), "postgres": ("run",), "supabase": ("postgres",),
                                        "e2b": ("run",), "chat": ("run",), "ray": ("run",),
                                        "mcp": ("run",)}
"""Extras an extra pulls in (`osiris-oml[supabase]` brings `[postgres]`, which brings `[run]`)."""

DRIVER_EXTRAS: dict[str, str] = {"filesystem": "run", "duckdb": "run", "mysql": "mysql",
                                 "postgres": "postgres", "supabase": "supabase"}
"""The extra that installs the drivers of a component family (`mysql.extractor` -> mysql)."""


def extra_for_module(module: str) -> str | None:
    """The extra that installs `module` (a dotted name is looked up by its top level), or None."""
    top = module.partition(".")[0]
    return next((extra for extra, modules in EXTRA_MODULES.items() if top in modules), None)


def install_hint(extra: str) -> str:
    return f"pip install 'osiris-oml[{extra}]'"


def missing_modules(extra: str) -> list[str]:
    """The modules of `extra` (and the extras it includes) that cannot be found; found without importing."""
    missing = []
    for name in EXTRA_MODULES.get(extra, ()):
        try:
            if importlib.util.find_spec(name) is None:
                missing.append(name)
        except (ImportError, ValueError):
            missing.append(name)
    for included in INCLUDES.get(extra, ()):
        missing.extend(missing_modules(included))
    return missing
