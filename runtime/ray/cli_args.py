"""`osiris run --backend ray ...`: the flags, and the executor they ask for.

Imported by `cli/osiris.py` at start-up, so it uses argparse and the standard library only;
Ray itself is imported when the run starts, and a missing `[ray]` extra is a usage error that
names it before any session is created.
"""

from __future__ import annotations

import argparse
from typing import Any

from osiris.runtime.argtypes import whole_number

__all__ = ["add_ray_arguments", "ray_executor_from_args"]

MAX_PARTITIONS = 1024


def add_ray_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Ray", "run the steps as Ray tasks over partitions (docs/scale-out.md)")
    group.add_argument("--backend", choices=("local", "ray"), default=None,
                       help="local (default): threads in this process; ray: tasks on a Ray cluster")
    group.add_argument("--ray-address", metavar="ADDR",
                       help="join this Ray cluster (also RAY_ADDRESS, osiris.yaml ray.address); default: "
                            "start a local one")
    group.add_argument("--partitions", type=whole_number(1, MAX_PARTITIONS), metavar="N",
                       help="partitions per splittable source and buckets per hash exchange "
                            "(default: the cluster's CPUs; a step's `partitions:` wins)")
    group.add_argument("--ray-cpus", type=whole_number(1, 1024), metavar="N",
                       help="CPUs of the local Ray cluster (default: all of this machine's)")


def ray_executor_from_args(args: argparse.Namespace) -> Any:
    """A RayExecutor for `--backend ray`, else None; ValueError for flags that need it or clash."""
    given = [flag for flag, value in (("--ray-address", args.ray_address), ("--partitions", args.partitions),
                                      ("--ray-cpus", args.ray_cpus)) if value is not None]
    if args.backend != "ray":
        if given:
            raise ValueError(f"{given[0]} needs --backend ray")
        return None
    if getattr(args, "e2b", False):
        raise ValueError("--backend ray and --e2b are two backends: choose one")
    if args.ray_address and args.ray_cpus is not None:
        raise ValueError("--ray-cpus sizes a local cluster; an existing cluster (--ray-address) has its own")
    from osiris.runtime.extras import install_hint, missing_modules

    if missing_modules("ray"):
        raise ValueError(f"--backend ray needs the ray extra: {install_hint('ray')}")
    from osiris.runtime.ray.executor import RayExecutor, RayOptions

    return RayExecutor(RayOptions(address=args.ray_address or None, partitions=args.partitions, cpus=args.ray_cpus))
