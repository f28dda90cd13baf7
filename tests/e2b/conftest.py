"""Fixtures of the E2B tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.support.envd import EnvdStandIn


@pytest.fixture
def envd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EnvdStandIn]:
    """The local envd stand-in on 127.0.0.1 (tests/support/envd.py), the SDK pointed at it for
    this test; imported here so only the wire suites need its server (uvicorn, from [mcp])."""
    from tests.support.envd import pointed_at

    with pointed_at(tmp_path / "envd", monkeypatch) as stand_in:
        yield stand_in
