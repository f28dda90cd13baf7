"""Connections for a sandbox run: resolved on the host, sent to the worker over its stdin.

The connections file is never uploaded: it may hold literal passwords, and the original
Osiris leaked credentials exactly that way. The host resolves every reference the manifest
can use (with the host's environment, as a local run would) and sends the resolved fields
as one `connections` protocol message, after the worker's handshake was accepted and before
any step runs. They are never in the worker's environment or argv (which step code can read
from /proc/self/environ and /proc/self/cmdline) nor in any file of the sandbox. A reference
that fails to resolve travels as its error, so the step fails in the sandbox with the
message a local run would show.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from osiris.compiler.manifest import Manifest
from osiris.runtime.connections import UnencryptedNotices, step_ref
from osiris.runtime.driver import DriverError, ResolvedConnection
from osiris.runtime.secrets import SecretMasker

__all__ = ["PayloadConnections", "build_payload", "refs_needed"]


def refs_needed(manifest: Manifest, connections: Any) -> tuple[list[str], dict[str, str | None]]:
    """Every reference a step may resolve, and the default alias of each family steps fall back on
    (the manifest's `family` of each step without a reference: no component spec is read)."""
    refs: set[str] = set(manifest.connections)
    defaults: dict[str, str | None] = {}
    for step in manifest.steps:
        if step.connection:
            refs.add(step.connection)
        elif step.family and step.family not in defaults:
            defaults[step.family] = step_ref(step.family, None, connections)
            if defaults[step.family]:
                refs.add(str(defaults[step.family]))
    return sorted(refs), defaults


def build_payload(manifest: Manifest, connections: Any, map_base_dir: Callable[[str], str]) -> dict[str, Any]:
    """The JSON the worker gets: {"refs": {ref: fields or error}, "defaults": {family: ref}}."""
    refs, defaults = refs_needed(manifest, connections)
    entries: dict[str, Any] = {}
    for ref in refs:
        try:
            resolved = connections.resolve(ref)
        except DriverError as error:
            entries[ref] = {"error": {"message": str(error), "hint": error.hint}}
            continue
        fields = dict(resolved.fields)
        if resolved.family == "filesystem" and fields.get("base_dir"):
            fields["base_dir"] = map_base_dir(str(fields["base_dir"]))
        entries[ref] = {
            "family": resolved.family,
            "alias": resolved.alias,
            "fields": fields,
            "secret_fields": sorted(resolved.secret_fields),
            "may_override": sorted(resolved.may_override),
            "fixed": sorted(resolved.fixed),
        }
    return {"refs": entries, "defaults": defaults}


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
