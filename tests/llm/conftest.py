"""Fixtures for the chat tests: a project directory with the demo data, endpoint settings
pointing at a local replay server, and a helper that runs `osiris chat` in process."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.openai_server import ReplayServer

REPO = Path(__file__).resolve().parents[2]
DEMO_DATA = REPO / "examples" / "quickstart" / "data"

GOOD_OML = """oml_version: "0.1.0"
name: orders-copy
steps:
  - id: extract-orders
    component: filesystem.csv_extractor
    config:
      path: data/orders.csv
  - id: write-orders
    component: filesystem.parquet_writer
    needs: [extract-orders]
    config:
      path: out/orders.parquet
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory holding data/ (the demo CSV and Parquet files); the cwd of the test."""
    shutil.copytree(DEMO_DATA, tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    for name in (
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "OSIRIS_LLM_BASE_URL",
        "OSIRIS_LLM_MODEL",
        "OSIRIS_LLM_API_KEY",
        "OSIRIS_LLM_STREAM",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OSIRIS_LLM_BACKOFF", "0.01")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / ".cache"))
    return tmp_path


@dataclass
class Endpoint:
    server: ReplayServer
    monkeypatch: pytest.MonkeyPatch

    def use(self, *, key: str = "test-key", model: str = "replay-model") -> None:
        self.monkeypatch.setenv("OSIRIS_LLM_BASE_URL", self.server.url)
        self.monkeypatch.setenv("OSIRIS_LLM_MODEL", model)
        self.monkeypatch.setenv("OSIRIS_LLM_API_KEY", key)


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[Endpoint]:
    with ReplayServer() as server:
        found = Endpoint(server, monkeypatch)
        found.use()
        yield found


def chat(*argv: str) -> int:
    from osiris.cli.chat import main

    return main(list(argv))
