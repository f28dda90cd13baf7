"""What every pass may read: the registry, connections, parameter inputs, the diagnostics bag."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from osiris.compiler.connections import ConnectionsFile
from osiris.oml.diagnostics import Diagnostics
from osiris.spec.registry import Registry


@dataclass
class CompileContext:
    registry: Registry
    connections: ConnectionsFile | None = None
    connections_searched: bool = True
    """False when the caller chose not to look for a connections file at all."""
    cli_params: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    profile: str | None = None
    diagnostics: Diagnostics = field(default_factory=Diagnostics)
    project_root: Path | None = None
    """Where relative config paths resolve and what they must stay inside (compiler/path_policy.py);
    None means the current directory."""
    discovered: Callable[[str, str], Any] | None = None
    """(connection reference, table) -> what discovery knows of its columns, or None
    (compiler/passes/check_cursors.py); None means nothing is known."""
