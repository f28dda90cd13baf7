"""Connections for a sandbox run, host side: resolved here, sent to the worker over its stdin.

The connections file is never uploaded: it may hold literal passwords, and the original
Osiris leaked credentials exactly that way. The host resolves every reference the manifest
can use (with the host's environment, as a local run would) and sends the resolved fields
as one `connections` protocol message, after the worker's handshake was accepted and before
any step runs. They are never in the worker's environment or argv (which step code can read
from /proc/self/environ and /proc/self/cmdline) nor in any file of the sandbox. A reference
that fails to resolve travels as its error, so the step fails in the sandbox with the
message a local run would show. The worker reads the payload with
`runtime.e2b.sandbox.connections.PayloadConnections`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from osiris.compiler.manifest_records import Manifest
from osiris.runtime.connections import step_ref
from osiris.runtime.driver import DriverError

__all__ = ["build_payload", "refs_needed"]


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
