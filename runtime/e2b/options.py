"""What `osiris run --e2b ...` asks for: the sandbox, its lifetime and what may enter it."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

__all__ = ["DEFAULT_TEMPLATE", "E2BOptions", "TransportName", "transport_from_env"]

TransportName = Literal["e2b", "local"]
DEFAULT_TEMPLATE = "osiris"
"""The custom template docs/e2b.md builds (dependencies preinstalled); see `--e2b-template`."""

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def transport_from_env(env: Mapping[str, str] | None = None) -> TransportName:
    """`OSIRIS_E2B_TRANSPORT=local` selects the local transport (tests and CI); default `e2b`."""
    value = (env if env is not None else os.environ).get("OSIRIS_E2B_TRANSPORT", "e2b").strip().lower()
    if value not in get_args(TransportName):
        raise ValueError(f"OSIRIS_E2B_TRANSPORT={value!r}: expected one of {', '.join(get_args(TransportName))}")
    return value  # type: ignore[return-value]


@dataclass
class E2BOptions:
    transport: TransportName = "e2b"
    timeout_s: int = 600
    """Sandbox lifetime; the sandbox is killed by E2B when it elapses (`--e2b-timeout`)."""
    cpu: int | None = None
    """Minimum CPUs the sandbox must have (`--e2b-cpu`); CPUs are fixed when a template is built."""
    template: str | None = None
    """E2B template name or id (`--e2b-template`); None uses E2B's `base` image and installs on start."""
    keep: bool = False
    """Leave the sandbox (or the local sandbox directory) up after the run, for debugging."""
    env_names: tuple[str, ...] = ()
    """Host environment variables passed to the worker (`--e2b-env NAME`); nothing else goes in."""
    heartbeat_s: float = 2.0
    heartbeat_timeout_s: float = 30.0
    """No message from the worker for this long means the connection is gone."""
    retries: int = 3
    """Attempts for sandbox creation, uploads and downloads that fail transiently."""
    backoff_s: float = 0.5
    """First retry delay; it doubles on every further attempt."""
    shutdown_grace_s: float = 10.0
    """How long a cancelled or finished worker gets to exit before it is killed."""
    wheel: Path | None = None
    """A prebuilt wheel of this project to upload instead of building one from the source tree."""
    metadata: dict[str, str] = field(default_factory=dict)
    """E2B sandbox metadata (the session id is always added)."""
    announce: Callable[[str], None] | None = None
    """Where to tell the user about a kept sandbox (the CLI prints to stderr)."""

    def __post_init__(self) -> None:
        bad = [name for name in self.env_names if not _ENV_NAME.match(name)]
        if bad:
            raise ValueError(f"--e2b-env expects variable names, got {', '.join(map(repr, bad))}")
        if self.timeout_s < 1:
            raise ValueError("--e2b-timeout must be at least 1 second")
        if self.cpu is not None and self.cpu < 1:
            raise ValueError("--e2b-cpu must be at least 1")
        self.env_names = tuple(dict.fromkeys(self.env_names))
