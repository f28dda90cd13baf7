"""What `osiris run --e2b ...` asks for: the sandbox, its lifetime and what may enter it."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

__all__ = [
    "DEFAULT_TEMPLATE",
    "MAX_CPU",
    "MAX_TIMEOUT_S",
    "E2BOptions",
    "TransportName",
    "check_env_name",
    "transport_from_env",
]

TransportName = Literal["e2b", "local"]
DEFAULT_TEMPLATE = "osiris"
"""The custom template docs/e2b.md builds (dependencies preinstalled); see `--e2b-template`."""

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_TIMEOUT_S = 86_400
"""The longest sandbox lifetime E2B grants (24 hours); `--e2b-timeout` is 1..this."""
MAX_CPU = 64
"""`--e2b-cpu` is 1..this: more than any sandbox template offers."""


def check_env_name(name: str) -> str | None:
    """Why `--e2b-env NAME` is refused, or None. Step code can read the worker's environment,
    so nothing that looks like a credential goes there (connections get theirs over stdin)."""
    from osiris.runtime.secrets import is_credential_env

    if not _ENV_NAME.match(name):
        return f"--e2b-env expects a variable name, got {name!r}"
    if is_credential_env(name):  # E2B_API_KEY, PGPASSWORD, AWS_SECRET_ACCESS_KEY, GITHUB_TOKEN...
        return (
            f"--e2b-env {name}: looks like a credential, and step code in the sandbox can read its "
            "environment; a connection's secrets reach the sandbox only through osiris_connections.yaml"
        )
    return None


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

    max_protocol_bytes: int = 256 * 2**20
    """What the worker may send in all (events, metrics, logs...); more ends the run."""

    def __post_init__(self) -> None:
        for name in self.env_names:
            problem = check_env_name(name)
            if problem:
                raise ValueError(problem)
        _whole("--e2b-timeout", self.timeout_s, 1, MAX_TIMEOUT_S, "seconds")
        if self.cpu is not None:
            _whole("--e2b-cpu", self.cpu, 1, MAX_CPU, "CPUs")
        _whole("retries", self.retries, 1, 100, "attempts")
        _whole("max_protocol_bytes", self.max_protocol_bytes, 1, 2**62, "bytes")
        for label, value in (
            ("heartbeat_s", self.heartbeat_s),
            ("heartbeat_timeout_s", self.heartbeat_timeout_s),
            ("backoff_s", self.backoff_s),
            ("shutdown_grace_s", self.shutdown_grace_s),
        ):
            # `not 0 < x <= max` also refuses NaN and infinities
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= MAX_TIMEOUT_S:
                raise ValueError(f"{label} must be a number of seconds above 0 and at most {MAX_TIMEOUT_S}")
        self.env_names = tuple(dict.fromkeys(self.env_names))


def _whole(flag: str, value: object, low: int, high: int, unit: str) -> None:
    """Refuse anything but a whole number in [low, high] (a bool, a float, NaN, 1e38...)."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{flag} must be a whole number of {unit} from {low} to {high}, got {value!r}")
