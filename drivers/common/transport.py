"""Is a connection encrypted? The one rule drivers use to warn about plaintext to a remote host.

A driver calls `note_transport` when it has settled where it connects and with which TLS
setting; for a host that is not this machine and a setting that does not guarantee TLS, the
connection's `report_unencrypted` hook tells the run (one event and one log line per run and
alias, see runtime/connections.py). Only literal loopback addresses, `localhost` and Unix
socket paths count as local: a name is not resolved (DNS could say anything).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from osiris.runtime.driver import ResolvedConnection

__all__ = ["is_local", "note_transport"]


def is_local(host: str) -> bool:
    """True for this machine: `localhost`, 127.0.0.0/8, ::1, and Unix socket paths (`/...`, `@...`)."""
    host = host.strip()
    if not host or host.startswith(("/", "@")) or host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def note_transport(connection: ResolvedConnection | None, hosts: Iterable[str], problem: str | None) -> None:
    """Report `problem` (why the link may be plaintext; None when TLS is guaranteed) if any of
    `hosts` is remote."""
    if problem is None or connection is None:
        return
    remote = [h for h in hosts if not is_local(h)]
    if remote:
        connection.report_unencrypted(", ".join(remote), problem)
