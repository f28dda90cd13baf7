"""Join a Ray cluster (an address) or start a local one, and leave it as we found it.

The local cluster binds to 127.0.0.1, has no dashboard (nothing to show and one port less
open) and starts with the CPUs asked for (`--ray-cpus`), else all of this machine's. A run
inside a process that already called `ray.init()` (an embedder, the tests) uses that cluster
and does not shut it down.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from osiris.runtime.driver import DriverError
from osiris.runtime.extras import install_hint

__all__ = ["cluster_cpus", "connected", "import_ray"]


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise DriverError(
            "the Ray backend needs Ray, which is not installed",
            hint=f"install the ray extra: {install_hint('ray')}",
        ) from None
    return ray


@contextmanager
def connected(address: str | None, cpus: int | None) -> Iterator[Any]:
    """`ray` connected to `address` (or a new local cluster) for the duration of the block."""
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    logging.getLogger("ray").setLevel(logging.ERROR)
    options: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "configure_logging": False,
    }
    if address:
        _probe(address)
        try:
            ray.init(address=address, **options)
        except Exception as error:  # noqa: BLE001 - Ray's errors vary by release; the user needs one message
            raise DriverError(f"could not join the Ray cluster at {address}: {error}", hint=JOIN_HINT) from None
    else:
        ray.init(num_cpus=cpus, _node_ip_address="127.0.0.1", **options)
    try:
        yield ray
    finally:
        ray.shutdown()


JOIN_HINT = ("check --ray-address / RAY_ADDRESS (host:port of the head's GCS, default port 6379), that the "
             "cluster runs Ray 2.60.0, and its token (RAY_AUTH_TOKEN); leave the address unset for a local cluster")
PROBE_TIMEOUT_S = 5.0


def _probe(address: str) -> None:
    """Fail in seconds when nothing answers at `host:port`: Ray itself waits minutes for a GCS
    that is not there. Other forms (`auto`, `ray://...`) are left to Ray."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or "://" in address:
        return
    try:
        socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=PROBE_TIMEOUT_S).close()
    except OSError as error:
        raise DriverError(f"no Ray cluster answers at {address}: {error.strerror or error}", hint=JOIN_HINT) from None


def cluster_cpus(ray: Any) -> int:
    """The CPUs the cluster offers, at least one."""
    return max(1, int(ray.cluster_resources().get("CPU", 1)))
