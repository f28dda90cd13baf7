"""A name for this machine that Osiris counts as another machine (drivers.common.transport.is_local).

Tests of what happens on a link to a remote host run a fake server on 127.0.0.1 and reach it
through a name that is not loopback by its spelling: the machine's own host name (which
resolves to 127.0.0.1 here; names are never resolved to decide), or else the machine's
non-loopback interface address.
"""

from __future__ import annotations

import ipaddress
import socket

import pytest

from osiris.drivers.common.transport import is_local

__all__ = ["remote_name"]


def remote_name() -> tuple[str, str]:
    """(a host name or address that is not loopback, the local address it reaches)."""
    name = socket.gethostname()
    try:
        if ipaddress.ip_address(socket.gethostbyname(name)).is_loopback and not is_local(name):
            return name, socket.gethostbyname(name)
    except OSError:
        pass
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the outgoing interface
        address = probe.getsockname()[0]
    except OSError:
        pytest.fail("this machine has neither a host name for itself nor a non-loopback interface")
    finally:
        probe.close()
    return address, address
