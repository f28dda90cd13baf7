"""Connections for a sandbox run, sandbox side: the payload the host resolved and sent over stdin.

The host (`runtime.e2b.host.payload.build_payload`) resolves every reference the manifest can
use; the worker keeps the result in memory only (never in its environment, argv or a file).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from osiris.runtime.connections import UnencryptedNotices
from osiris.runtime.driver import DriverError, ResolvedConnection
from osiris.runtime.secrets import SecretMasker

__all__ = ["PayloadConnections"]


class PayloadConnections:
    """The worker's stand-in for `runtime.connections.RuntimeConnections` (same three methods)."""

    def __init__(self, payload: Mapping[str, Any], masker: SecretMasker) -> None:
        self.masker = masker
        self.notices = UnencryptedNotices()
        """Its `emit` is set to the run's event sink when the run starts."""
        self._refs: Mapping[str, Any] = payload.get("refs", {})
        self._defaults: Mapping[str, str | None] = payload.get("defaults", {})
        for entry in self._refs.values():
            if "fields" in entry:
                masker.add_connection(entry["fields"], entry.get("secret_fields", ()))

    def register_secrets(self, refs: list[str]) -> None:
        """Already done in __init__: every secret arrived with the payload."""

    def default_ref(self, family: str) -> str | None:
        return self._defaults.get(family)

    def resolve(self, ref: str, step_id: str | None = None) -> ResolvedConnection:
        entry = self._refs.get(ref)
        if entry is None:
            raise DriverError(
                f"connection {ref} was not resolved by the host",
                hint="the manifest names a connection the host did not expect; recompile it",
            )
        if "error" in entry:
            raise DriverError(entry["error"]["message"], hint=entry["error"].get("hint"))
        return ResolvedConnection(
            family=entry["family"],
            alias=entry["alias"],
            fields=dict(entry["fields"]),
            secret_fields=frozenset(entry.get("secret_fields", ())),
            may_override=frozenset(entry.get("may_override", ())),
            fixed=frozenset(entry.get("fixed", ())),
            on_unencrypted=self.notices.for_step(step_id),
        )
