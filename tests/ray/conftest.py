"""A local Ray cluster for the Ray backend's tests, started once per test session.

`osiris run --backend ray` joins a cluster that the process already started, so the in-process
tests share this one (2 CPUs, loopback only, no dashboard) instead of paying 3-5 s each;
the CLI tests start their own, as users do.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

ray = pytest.importorskip("ray") if not os.environ.get("CI") else __import__("ray")


CANARY = f"canary-{uuid.uuid4().hex}"
"""A password only the cluster's environment holds (`${OSIRIS_RAY_CANARY}` in a connections file):
tests/ray/test_ray_keeps_no_secret.py looks for it in everything Ray stores."""


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[Any]:
    os.environ["OSIRIS_RAY_CANARY"] = CANARY  # the workers inherit the environment the cluster starts with
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False,
                 configure_logging=False)
    yield ray
    ray.shutdown()
