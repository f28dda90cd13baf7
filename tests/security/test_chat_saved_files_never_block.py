"""Saved chat files and `--out` may have been edited: a FIFO in their place never blocks chat.

A named pipe read with a plain `read_text` waits forever for a writer. Sessions and caches are
untrusted input (docs/security.md, threat model), so they are read through
`oml.source.read_bytes` (regular files only, bounded), like pipelines.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from osiris.runtime.discovery import DiscoveryResult
from osiris.runtime.discovery_cache import DiscoveryCache
from tests.llm.conftest import GOOD_OML, chat
from tests.llm.test_chat_bad_input_is_a_clear_error import _session
from tests.llm.test_conversation import _conversation
from tests.support.openai_server import yaml_reply

pytestmark = pytest.mark.timeout(60)


def test_a_fifo_for_state_json_is_a_damaged_session(project: Path, endpoint, capsys) -> None:  # noqa: ANN001
    session = _session(project / ".osiris" / "chat")
    (session.dir / "state.json").unlink()
    os.mkfifo(session.dir / "state.json")
    assert chat("--resume", session.id, "-y", "--tools", "off") == 2
    err = capsys.readouterr().err
    assert f"chat session {session.id} is damaged" in err and "named pipe (FIFO)" in err, err
    assert endpoint.server.completions == []


def test_a_fifo_for_the_transcript_is_a_damaged_session(project: Path, endpoint, capsys) -> None:  # noqa: ANN001
    """Reading it would block, and so would the next append to it."""
    session = _session(project / ".osiris" / "chat")
    (session.dir / "transcript.jsonl").unlink(missing_ok=True)
    os.mkfifo(session.dir / "transcript.jsonl")
    assert chat("--resume", session.id, "-y", "--tools", "off") == 2
    err = capsys.readouterr().err
    assert f"chat session {session.id} is damaged" in err and "named pipe (FIFO)" in err, err
    assert endpoint.server.completions == []


def test_a_fifo_in_the_discovery_cache_is_a_miss(tmp_path: Path) -> None:
    cache = DiscoveryCache(tmp_path / "cache")
    (tmp_path / "cache").mkdir()
    os.mkfifo(tmp_path / "cache" / "k.json")
    assert cache.load("k") is None


def test_a_fifo_at_the_out_path_is_asked_about_and_replaced(project: Path, endpoint) -> None:  # noqa: ANN001
    os.mkfifo(project / "orders-copy.yaml")
    endpoint.server.add(yaml_reply(GOOD_OML))
    conversation, screen = _conversation(project, endpoint, ["copy data/orders.csv to parquet", "n", "y", "y", "n"])
    assert conversation.run() == 0
    assert "orders-copy.yaml exists. Overwrite it?" in screen.getvalue()
    assert (project / "orders-copy.yaml").read_text() == GOOD_OML


def _planted(tmp_path: Path) -> DiscoveryCache:
    """A cache holding one live entry for key `k`, as store() writes it."""
    cache = DiscoveryCache(tmp_path / "cache")
    identity = {"family": "filesystem", "alias": "x", "path": "/p"}
    cache.store("k", identity, None, DiscoveryResult(tables=(), source="/p"))
    assert cache.load("k") is not None and len(cache.entries_for("filesystem", "x")) == 1
    return cache


def test_a_discovery_cache_entry_others_may_write_is_a_miss(tmp_path: Path) -> None:
    cache = _planted(tmp_path)
    os.chmod(tmp_path / "cache" / "k.json", 0o666)
    assert cache.load("k") is None


def test_a_discovery_cache_entry_that_is_a_link_is_a_miss(tmp_path: Path) -> None:
    cache = _planted(tmp_path)
    entry = tmp_path / "cache" / "k.json"
    entry.rename(tmp_path / "elsewhere.json")
    entry.symlink_to(tmp_path / "elsewhere.json")
    assert cache.load("k") is None


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user needs root")
def test_a_discovery_cache_entry_another_user_owns_is_a_miss(tmp_path: Path) -> None:
    cache = _planted(tmp_path)
    os.chown(tmp_path / "cache" / "k.json", 65534, -1)
    assert cache.load("k") is None
    assert cache.entries_for("filesystem", "x") == []
