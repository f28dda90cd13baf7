"""One liveness check (tempfiles.pid_alive) decides running vs killed, and finding a session by id
or prefix reads only the status of the session asked for."""

from __future__ import annotations

import json
import os

import pytest


def test_pid_alive_is_the_one_liveness_check():
    from osiris.runtime import status, tempfiles

    assert tempfiles.pid_alive(os.getpid())
    assert not any(tempfiles.pid_alive(p) for p in (None, 0, -1, True, "12", 2**22 + 12345))
    assert not hasattr(status, "_alive") and not hasattr(tempfiles, "_alive")
    assert status.unfinished_state([{"event": "run_start", "pid": os.getpid()}]) == ("running", [])
    assert status.unfinished_state([{"event": "run_start", "pid": 0}]) == ("killed", [])


def test_find_session_reads_only_the_status_of_the_session_asked_for(tmp_path, monkeypatch):
    import osiris.runtime.session as session_module
    for name in ("20250101T000000Z-aaaaaa", "20250102T000000Z-bbbbbb", "20250102T000000Z-bbbbbc"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "events.jsonl").write_text("")
        (tmp_path / name / "status.json").write_text(json.dumps({"started_at": name}))
    read = []
    original = session_module.read_status

    def counting(path):  # noqa: ANN001, ANN202
        read.append(path.name)
        return original(path)

    monkeypatch.setattr(session_module, "read_status", counting)
    info = session_module.find_session(tmp_path, "20250102T000000Z-bbbbbb")
    assert info.id == "20250102T000000Z-bbbbbb" and info.status == {"started_at": info.id}
    assert read == [info.id]
    read.clear()
    assert session_module.find_session(tmp_path, "20250101").id == "20250101T000000Z-aaaaaa"
    assert read == ["20250101T000000Z-aaaaaa"]
    with pytest.raises(session_module.SessionError, match="2 sessions start with it"):
        session_module.find_session(tmp_path, "20250102")
    with pytest.raises(session_module.SessionError):
        session_module.find_session(tmp_path, "../x")
    assert session_module.find_session(tmp_path, "last").id == "20250102T000000Z-bbbbbc"
