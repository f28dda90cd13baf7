"""`osiris run --e2b ...`: the flags, and the executor they ask for.

Imported by `cli/osiris.py` at start-up, so it uses argparse and the standard library
only; the host proxy (pyarrow and all) is imported when `--e2b` is actually given.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from osiris.runtime.argtypes import (
    whole_number,  # the bounds repeat options.MAX_TIMEOUT_S / MAX_CPU (tests/e2b/test_options.py)
)

__all__ = ["add_e2b_arguments", "executor_from_args"]


def add_e2b_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("E2B sandbox", "run the steps in an E2B cloud sandbox (docs/e2b.md)")
    group.add_argument("--e2b", action="store_true", help="run in an E2B sandbox (API key from E2B_API_KEY)")
    group.add_argument(
        "--e2b-timeout",
        type=whole_number(1, 86_400),
        metavar="S",
        help="sandbox lifetime in seconds, 1-86400 (default 600)",
    )
    group.add_argument(
        "--e2b-cpu", type=whole_number(1, 64), metavar="N", help="require at least N CPUs in the sandbox (1-64)"
    )
    group.add_argument("--e2b-template", metavar="NAME", help="E2B template (default: E2B's base image)")
    group.add_argument("--e2b-keep", action="store_true", help="leave the sandbox up after the run")
    group.add_argument(
        "--e2b-env",
        action="append",
        default=[],
        metavar="NAME",
        help="pass this host environment variable into the sandbox (repeatable; nothing else is)",
    )
    group.add_argument(
        "--e2b-transport",
        choices=("e2b", "local"),
        help="e2b (default) or local: a worker process in a temporary directory (also OSIRIS_E2B_TRANSPORT=local)",
    )


def executor_from_args(args: argparse.Namespace) -> Any:
    """A SandboxExecutor when --e2b is given, else None; ValueError for inconsistent flags."""
    given = [
        flag
        for flag, value in (
            ("--e2b-timeout", args.e2b_timeout),
            ("--e2b-cpu", args.e2b_cpu),
            ("--e2b-template", args.e2b_template),
            ("--e2b-keep", args.e2b_keep),
            ("--e2b-env", args.e2b_env),
            ("--e2b-transport", args.e2b_transport),
        )
        if value not in (None, False, [])
    ]
    if not args.e2b:
        if given:
            raise ValueError(f"{given[0]} needs --e2b")
        return None
    from osiris.runtime.e2b.host.executor import SandboxExecutor
    from osiris.runtime.e2b.host.options import E2BOptions, transport_from_env

    transport = args.e2b_transport or transport_from_env()
    options = E2BOptions(
        transport=transport,
        template=args.e2b_template,
        keep=args.e2b_keep,
        env_names=tuple(args.e2b_env),
        cpu=args.e2b_cpu,
        **({"timeout_s": args.e2b_timeout} if args.e2b_timeout is not None else {}),
    )
    quiet = getattr(args, "quiet", False) or getattr(args, "json", False)
    options.announce = None if quiet else _announce
    return SandboxExecutor(options)


def _announce(text: str) -> None:
    sys.stderr.write(f"osiris: {text}\n")
    sys.stderr.flush()
