"""The interactive mode driven through a pseudo-terminal, as a person would use it.

`osiris chat` runs as a child process on a pty (pexpect); the test answers its questions and
reads the screen (ANSI styling stripped), while the replay server plays the model.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest

from tests.llm.conftest import GOOD_OML
from tests.support.openai_server import yaml_reply

try:
    import pexpect
except ImportError:  # a dev dependency; CI must have it
    if os.environ.get("CI"):
        raise
    pytest.skip("pexpect is not installed (pip install pexpect)", allow_module_level=True)

REPO = Path(__file__).resolve().parents[2]
CSV_OML = GOOD_OML.replace("filesystem.parquet_writer", "filesystem.csv_writer").replace(
    "out/orders.parquet", "out/orders.csv"
)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


def _spawn(project: Path, endpoint, *args: str):
    env = {
        **os.environ,
        "OSIRIS_LLM_BASE_URL": endpoint.server.url,
        "OSIRIS_LLM_MODEL": "replay-model",
        "OSIRIS_LLM_API_KEY": "k",
        "TERM": "xterm",
        "COLUMNS": "120",
        "LINES": "50",
        "PYTHONPATH": str(REPO),
    }
    child = pexpect.spawn(
        sys.executable,
        ["-m", "osiris.cli.osiris", "chat", "--tools", "off", *args],
        cwd=str(project),
        env=env,
        encoding="utf-8",
        timeout=60,
        dimensions=(50, 120),
    )
    child.logfile_read = screen = _Screen()
    return child, screen


class _Screen:
    def __init__(self) -> None:
        self.raw: list[str] = []

    def write(self, text: str) -> None:
        self.raw.append(text)

    def flush(self) -> None:
        pass

    @property
    def text(self) -> str:
        return _ANSI.sub("", "".join(self.raw))


def test_interactive_session_with_a_revision_and_a_run(project: Path, endpoint) -> None:
    endpoint.server.add(yaml_reply(GOOD_OML), yaml_reply(CSV_OML))
    child, screen = _spawn(project, endpoint)
    child.expect("What should the pipeline do")
    child.sendline("copy data/orders.csv to parquet")
    child.expect("May discovery read up to 3 sample rows")
    child.sendline("y")
    child.expect("Write it to orders-copy.yaml")
    assert "oml_version" in screen.text and "filesystem.parquet_writer" in screen.text
    assert "omlc check: no errors" in screen.text and "writes: out/orders.parquet" in screen.text
    child.sendline("write CSV instead")
    child.expect("Write it to orders-copy.yaml")
    child.sendline("y")
    child.expect("Run it now")
    child.sendline("y")
    child.expect("rows written")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    shown = screen.text
    assert "changes" in shown and "-    component: filesystem.parquet_writer" in shown
    assert "+    component: filesystem.csv_writer" in shown  # the diff of the revision
    assert "wrote orders-copy.yaml" in shown and "2500 rows written" in shown
    assert (project / "orders-copy.yaml").read_text() == CSV_OML
    assert (project / "out" / "orders.csv").is_file()
    first, second = endpoint.server.completions
    assert "sample:" in first.json["messages"][0]["content"]  # samples were allowed
    assert "write CSV instead" in second.json["messages"][-1]["content"]


def test_nothing_found_then_changed_mind_then_quit(project: Path, endpoint) -> None:
    endpoint.server.add(yaml_reply(GOOD_OML))
    child, screen = _spawn(project, endpoint, "--samples", "0")
    child.expect("What should the pipeline do")
    child.sendline("copy the invoices to parquet")
    child.expect("Discovery found nothing. Where is the data")
    child.sendline("they are in data/orders.csv")
    child.expect("Write it to orders-copy.yaml")
    child.sendline("n")  # the user changed their mind: start over
    child.expect("What should the pipeline do")
    child.sendline("")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert not (project / "orders-copy.yaml").exists()
    [request] = endpoint.server.completions
    assert "data/orders.csv (2500 rows)" in request.json["messages"][0]["content"]
    import json

    state = json.loads(next(project.glob(".osiris/chat/*/state.json")).read_text())
    events = [h["event"] for h in state["history"]]
    assert events == [
        "start",
        "intent",
        "nothing_found",
        "intent",
        "discovered",
        "drafted",
        "valid",
        "changed_mind",
        "quit",
    ]
    assert "Discovery found nothing" in screen.text
