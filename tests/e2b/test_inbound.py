"""The host's checks of worker messages agree with the documented protocol and the executor's state."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from osiris.runtime.e2b.host import inbound
from osiris.runtime.e2b.protocol import HOST_MESSAGES, WORKER_MESSAGES, ProtocolError, decode
from osiris.runtime.e2b.sandbox.sinks import snapshot
from osiris.runtime.local.context import StepState

DOCS = Path(__file__).resolve().parents[2] / "docs" / "e2b-protocol.md"


def test_every_worker_message_has_a_model_requiring_the_documented_fields():
    union = inbound.WorkerMessage.__origin__.__args__  # type: ignore[attr-defined]
    models = {model.model_fields["type"].annotation.__args__[0]: model for model in union}
    assert set(models) == set(WORKER_MESSAGES)
    for kind, required in WORKER_MESSAGES.items():
        declared = {name for name, field in models[kind].model_fields.items() if field.is_required()} - {"type"}
        assert declared == set(required), kind


def test_the_snapshot_model_carries_every_state_field():
    state_fields = {f.name for f in dataclasses.fields(StepState)} - {"component", "kind", "started", "finished"}
    assert state_fields <= inbound.STATE_MODEL_FIELDS
    state = StepState(
        "s", "c", "writer", status="succeeded", rows_in=3, error={"error_type": "E", "message": "m", "transient": False}
    )
    checked = inbound.validate({"type": "state", "step": snapshot(state)})
    assert checked["step"]["rows_in"] == 3 and checked["step"]["error"]["message"] == "m"


def test_documented_message_types_are_the_tables():
    text = DOCS.read_text(encoding="utf-8")
    worker = text.split("## Worker -> host")[1].split("## Host -> worker")[0]
    host = text.split("## Host -> worker")[1].split("## Where things are")[0]
    assert set(re.findall(r"^\| `(\w+)` \|", worker, re.M)) == set(WORKER_MESSAGES)
    assert set(re.findall(r"^\| `(\w+)` \|", host, re.M)) == set(HOST_MESSAGES)


@pytest.mark.parametrize(
    "line",
    ["[" * 100_000, '{"type":"event","fields":' + "{" * 50_000],
)
def test_nesting_deeper_than_the_stack_is_a_protocol_error(line):
    with pytest.raises(ProtocolError):
        decode(line, WORKER_MESSAGES)


def test_validation_errors_name_the_field_not_the_value():
    hostile = "x" * 10_000
    with pytest.raises(ProtocolError) as caught:
        inbound.validate({"type": "state", "step": {"id": "a", "status": hostile}})
    assert "step.status" in str(caught.value) and hostile not in str(caught.value)
    assert len(str(caught.value)) < 400
