"""Resolve a step's connection reference to a `ResolvedConnection` when the step starts.

The file is parsed by `compiler.connections` (one parser for compiler and runtime). Values
are read from the environment at run time; a missing variable fails the step with its name,
never a value. Every secret is registered with the run's masker before anything can print it.
Each `ResolvedConnection` carries what a step may override (the same rule as the compiler's
OML077) and a hook through which drivers report an unencrypted connection to a non-loopback
host: `UnencryptedNotices` turns those into one event and one log line per run and alias.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from osiris.compiler.connections import ConnectionsFile, split_ref
from osiris.oml.diagnostics import Diagnostic, Diagnostics
from osiris.runtime.driver import DriverError, ResolvedConnection
from osiris.runtime.secrets import SecretMasker

__all__ = [
    "ConnectionsUnavailable", "RuntimeConnections", "UnencryptedNotices", "load_connections_file", "parse_ref",
    "step_ref",
]


class ConnectionsUnavailable(Exception):
    """The connections file named on the command line is missing or invalid."""

    def __init__(self, message: str, diagnostics: list[Diagnostic] | None = None) -> None:
        super().__init__(message)
        self.diagnostics = diagnostics or []


def load_connections_file(
    explicit: str | Path | None, cwd: Path, registry: Any = None
) -> ConnectionsFile | None:
    """`--connections F`, else ./osiris_connections.yaml if present, else None.

    The file is found and parsed by the compiler's loader (`compiler.api.load_connections_for`),
    so `~` and relative paths mean the same at run time as when compiling; here its problems
    become ConnectionsUnavailable. `registry` is the spec registry (default: the shipped specs).
    """
    from osiris.compiler.api import CompileOptions, connections_path, load_connections_for

    label = str(explicit) if explicit is not None else None
    options = CompileOptions(
        connections=Path(explicit) if explicit is not None else None, connections_label=label, cwd=cwd
    )
    path = connections_path(options)
    if path is None:
        return None
    if not path.exists():  # a FIFO or device is refused by the loader (OML014), not called missing
        raise ConnectionsUnavailable(f"connections file not found: {explicit}")
    diagnostics = Diagnostics()
    loaded = load_connections_for(options, registry, diagnostics)
    errors = [d for d in diagnostics.sorted() if d.severity == "error"]
    if loaded is None or errors:
        raise ConnectionsUnavailable(f"{label or path.name} has errors", diagnostics.sorted())
    return loaded


def parse_ref(ref: str) -> tuple[str, str]:
    """`@mysql.shop` -> ("mysql", "shop"), by the OML's own rule (`compiler.connections.split_ref`)."""
    parts = split_ref(ref)
    if parts is None:
        raise DriverError(f"invalid connection reference {ref!r}", hint="write it as @family.alias")
    return parts


def step_ref(family: str | None, connection: str | None, connections: Any) -> str | None:
    """The reference a manifest step runs with: its own, else its family's default alias (the
    compiler's rule, `ConnectionsFile.default_alias`, applied when the compile had no connections
    file), else None. `connections` is a RuntimeConnections or the sandbox's stand-in."""
    if connection:
        return connection
    return connections.default_ref(family) if family and connections is not None else None


class UnencryptedNotices:
    """Reports "this connection may travel unencrypted" once per alias: a log line (WARNING,
    logger `osiris.connections`) and, given `emit`, an event `connection_unencrypted`."""

    def __init__(self, emit: Callable[..., Any] | None = None, *, log: bool = True) -> None:
        self.emit = emit
        self.log = log
        self.seen: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()

    def __call__(self, ref: str, host: str, reason: str, step_id: str | None = None) -> None:
        with self._lock:
            if ref in self.seen:
                return
            self.seen[ref] = (host, reason)
        if self.log:
            logging.getLogger("osiris.connections").warning("%s talks to %s %s", ref, host, reason)
        if self.emit is not None:
            self.emit("connection_unencrypted", step_id=step_id, connection=ref, host=host, reason=reason)

    def for_step(self, step_id: str | None) -> Callable[[str, str, str], None]:
        return lambda ref, host, reason: self(ref, host, reason, step_id)


class RuntimeConnections:
    """The run's view of osiris_connections.yaml plus the environment."""

    def __init__(
        self, file: ConnectionsFile | None, masker: SecretMasker, env: Mapping[str, str] | None = None,
        notices: UnencryptedNotices | None = None,
    ) -> None:
        self.file = file
        self.masker = masker
        self.env = os.environ if env is None else env
        self.notices = notices or UnencryptedNotices()

    def register_secrets(self, refs: list[str]) -> None:
        """Resolve every reference up front only to learn its secrets (failures wait for the step)."""
        for ref in refs:
            try:
                self.resolve(ref)
            except DriverError:
                pass

    def default_ref(self, family: str) -> str | None:
        if self.file is None:
            return None
        alias = self.file.default_alias(family)
        return f"@{family}.{alias}" if alias else None

    def resolve(self, ref: str, step_id: str | None = None) -> ResolvedConnection:
        family, alias = parse_ref(ref)
        where = self.file.path if self.file is not None else "osiris_connections.yaml"
        if self.file is None:
            raise DriverError(
                f"connection {ref} cannot be resolved: no connections file",
                hint="create ./osiris_connections.yaml (`osiris init` writes a starter) "
                "or pass --connections",
            )
        if self.file.lookup(family, alias) is None:
            known = ", ".join(f"@{family}.{a}" for a in sorted(self.file.aliases.get(family, {})))
            raise DriverError(
                f"connection {ref} is not defined in {where}",
                hint=f"defined for {family}: {known}"
                if known
                else f"add `{family}: {{{alias}: {{...}}}}` under `connections:`",
            )
        fields, missing = self.file.values(family, alias, self.env)
        secret_fields, may_override, fixed = self.file.rules(family, alias)
        self.masker.add_connection(fields, secret_fields)
        if missing:
            names = ", ".join(missing)
            several = len(missing) > 1
            what = f"variables {names}, which are" if several else f"variable {names}, which is"
            raise DriverError(
                f"connection {ref} needs the environment {what} not set",
                hint=f"export {missing[0]}=... (or put it in a .env file you source) "
                "before running",
            )
        return ResolvedConnection(
            family=family,
            alias=alias,
            fields=fields,
            secret_fields=secret_fields,
            may_override=may_override,
            fixed=fixed,
            on_unencrypted=self.notices.for_step(step_id),
        )
