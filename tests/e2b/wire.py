"""Running pipelines through the E2B transport and the unmodified SDK against the envd stand-in.

`wire_transport` is `E2BTransport` as production builds it (no `sandbox_cls`: the SDK's own
`e2b.Sandbox`, which needs `E2B_API_KEY` set), pointed at the stand-in's directories: the
sandbox root inside its home directory, the build cache in its template directory, and this
machine's interpreter (or a shim) as the sandbox's `python`. `tests/support/envd.envd` points
the SDK at the stand-in.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from osiris.runtime.e2b.host.executor import SandboxExecutor
from osiris.runtime.e2b.host.options import E2BOptions
from osiris.runtime.e2b.host.sdk import E2BTransport
from osiris.runtime.run import RunOutcome
from tests.e2b.helpers import run_pipeline
from tests.support.envd import EnvdStandIn

API_KEY = "e2b_wire-test-key-0d1e5c"
"""A made-up key: the SDK needs one to exist; the stand-in has no control plane to check it."""


def wire_transport(envd: EnvdStandIn, monkeypatch: pytest.MonkeyPatch, python: str = sys.executable) -> E2BTransport:
    monkeypatch.setenv("E2B_API_KEY", API_KEY)
    cache_dir = str(envd.templates[0]) if envd.templates else None
    return E2BTransport(root=str(envd.home / "osiris"), python=python, cache_dir=cache_dir)


def run_on_the_wire(
    envd: EnvdStandIn,
    monkeypatch: pytest.MonkeyPatch,
    work_dir: Path,
    pipeline: str,
    *,
    python: str = sys.executable,
    **kwargs: Any,
) -> tuple[RunOutcome, SandboxExecutor]:
    """`run_pipeline` through the E2B transport; `options` default to transport e2b."""
    options = kwargs.pop("options", None) or E2BOptions(transport="e2b")
    outcome, executor = run_pipeline(
        work_dir,
        pipeline,
        sandbox=True,
        options=options,
        local=wire_transport(envd, monkeypatch, python),  # type: ignore[arg-type]  # any Transport works
        **kwargs,
    )
    assert executor is not None
    return outcome, executor


def rpc_paths(envd: EnvdStandIn) -> list[str]:
    return [request.path for request in envd.requests]
