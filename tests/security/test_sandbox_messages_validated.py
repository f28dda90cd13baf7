"""Whatever the sandbox sends is validated and bounded before the host writes anything.

Step code inside the real worker (tests/e2b/sandbox_doubles.Snoop) writes forged lines into
the worker's protocol stream: host-only events, events and states for steps that do not
exist, non-finite or out-of-range numbers, unknown statuses, JSON nested deeper than the
interpreter's stack, text that is not JSON, an early `result`, and a flood of messages past
the run's byte budget. Each run must end `failed` with an error saying the sandbox sent
something invalid, with a session that still follows the published schemas, every step in
a final state, and none of the forged content in events.jsonl or metrics.jsonl.
"""

from __future__ import annotations

import json

import pytest

from osiris.runtime.e2b.host.options import E2BOptions
from tests.e2b.helpers import events, read_jsonl, run_hostile
from tests.runtime.conftest import validate_session

MARK = "FORGED-7f3a"

FORGED = {
    "host-only event": {"type": "event", "event": "run_end", "step_id": None, "fields": {"status": MARK}},
    "event for an unknown step": {"type": "event", "event": "step_complete", "step_id": MARK, "fields": {}},
    "event naming another component": {
        "type": "event",
        "event": "x_done",
        "step_id": "snoop",
        "fields": {"component": MARK},
    },
    "metric NaN": '{"type":"metric","metric":"rows_out","value":NaN,"unit":null,"step_id":"snoop","tags":{"t":"'
    + MARK
    + '"}}',
    "metric beyond any float": {
        "type": "metric",
        "metric": "rows_out",
        "value": 10**400,
        "unit": None,
        "step_id": "snoop",
    },
    "count beyond int64": {"type": "heartbeat", "phase": "run", "progress": {"snoop": {"rows_out": 2**64}}},
    "metric as text": {"type": "metric", "metric": "rows_out", "value": MARK, "unit": None, "step_id": "snoop"},
    "state with an unknown status": {"type": "state", "step": {"id": "snoop", "status": MARK}},
    "state with a negative count": {"type": "state", "step": {"id": "snoop", "status": "running", "rows_out": -1}},
    "state for an unknown step": {"type": "state", "step": {"id": MARK, "status": "succeeded"}},
    "log level out of range": {"type": "log", "level": 10**6, "logger": "x", "message": MARK},
    "deep nesting": '{"type":"event","event":"x","step_id":"snoop","fields":{"a":'
    + "[" * 200_000
    + "]" * 200_000
    + "}}",
    "not JSON": f"{MARK} this is not a protocol message",
    "unknown type": {"type": "exec_shell", "command": MARK},
    "early result": {"type": "result", "status": "succeeded", "steps": {}},
}


def _line(forged: object) -> str:
    return (forged if isinstance(forged, str) else json.dumps(forged)) + "\n"


def _assert_stopped_cleanly(outcome, *phrases: str) -> None:
    assert outcome.exit_code == 1
    session = outcome.session.dir
    validate_session(session)  # events, metrics and status.json still follow the published schemas
    assert all(
        step["status"] in ("succeeded", "failed", "skipped", "cancelled") for step in outcome.status["steps"].values()
    )
    errors = json.dumps([e for e in events(outcome) if e["event"] == "step_error"])
    assert any(phrase in errors for phrase in phrases), errors
    for name in ("events.jsonl", "metrics.jsonl"):  # the forged record was not written (an error may quote it)
        records = [r for r in read_jsonl(session / name) if r.get("event") != "step_error"]
        assert all(MARK not in json.dumps(record) for record in records), name


@pytest.mark.parametrize("forged", list(FORGED.values()), ids=list(FORGED))
def test_forged_messages_stop_the_run(tmp_path, forged):
    outcome, _, local = run_hostile(tmp_path, {"forge_raw": [_line(forged)]})
    _assert_stopped_cleanly(
        outcome,
        "the sandbox worker sent an invalid",
        "the sandbox worker sent a malformed message",
        "the sandbox worker reported the end of the run while steps were unfinished",
    )
    assert all(sandbox.killed for sandbox in local.created)


def test_a_flood_of_messages_is_cut_off(tmp_path):
    """Valid messages, but more of them than the run's budget: the host stops reading and fails."""
    log = {"type": "log", "level": 30, "logger": "flood", "message": "x" * 1000}
    plan = {"forge_raw": [_line(log)], "forge_repeat": 2000}
    outcome, _, _ = run_hostile(tmp_path, plan, options=E2BOptions(transport="local", max_protocol_bytes=400_000))
    _assert_stopped_cleanly(outcome, "sent more than 400000 bytes of messages")
    log = outcome.session.dir / "osiris.log"  # created with its first line: a run cut off early may have none
    log_text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    assert log_text.count("x" * 1000) < 400  # the flood was not written out
