"""Join a Ray cluster (an address) or start a local one, and leave it as we found it.

The local cluster binds to 127.0.0.1, has no dashboard (nothing to show and one port less
open) and starts with the CPUs asked for (`--ray-cpus`), else all of this machine's. A run
inside a process that already called `ray.init()` (an embedder, the tests) uses that cluster
and does not shut it down.
"""

from __future__ import annotations

import logging
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
        ray.init(address=address, **options)
    else:
        ray.init(num_cpus=cpus, _node_ip_address="127.0.0.1", **options)
    try:
        yield ray
    finally:
        ray.shutdown()


def cluster_cpus(ray: Any) -> int:
    """The CPUs the cluster offers, at least one."""
    return max(1, int(ray.cluster_resources().get("CPU", 1)))
