"""The state machine's table: every state reachable, every live state can finish, and the
side roads the issue names exist as events of their own."""

from __future__ import annotations

import pytest

from osiris.llm.states import TERMINAL, TRANSITIONS, IllegalTransition, State, next_state


def _reachable(start: State) -> set[State]:
    seen, todo = {start}, [start]
    while todo:
        state = todo.pop()
        for (source, _), target in TRANSITIONS.items():
            if source == state and target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def test_every_state_is_reachable_and_every_live_state_can_finish() -> None:
    assert _reachable(State.INIT) == set(State)
    for state in set(State) - TERMINAL:
        assert _reachable(state) & TERMINAL, state


def test_the_main_road() -> None:
    road = [
        "start",
        "intent",
        "discovered",
        "drafted",
        "invalid",
        "revised",
        "valid",
        "confirmed",
        "compiled_run",
        "succeeded",
    ]
    state = State.INIT
    visited = [state]
    for event in road:
        state = next_state(state, event)
        visited.append(state)
    assert [str(s) for s in visited] == [
        "INIT",
        "INTENT",
        "DISCOVERY",
        "SYNTHESIS",
        "VALIDATE",
        "REPAIR",
        "VALIDATE",
        "REVIEW",
        "COMPILE",
        "RUN",
        "DONE",
    ]


@pytest.mark.parametrize(
    ("state", "event", "target"),
    [
        (State.REVIEW, "changed_mind", State.INTENT),  # the user changed their mind
        (State.REVIEW, "change_requested", State.SYNTHESIS),  # ... or asked for a revision
        (State.DISCOVERY, "nothing_found", State.INTENT),  # discovery found nothing (interactive)
        (State.DISCOVERY, "no_schema", State.SYNTHESIS),  # ... (one-shot)
        (State.REPAIR, "gave_up", State.INTENT),  # repair gave up (interactive)
        (State.REPAIR, "abort", State.FAILED),  # ... (one-shot)
        (State.DONE, "resume_review", State.REVIEW),
    ],
)
def test_side_roads(state: State, event: str, target: State) -> None:
    assert next_state(state, event) == target


def test_illegal_events_are_bugs_not_silent_moves() -> None:
    with pytest.raises(IllegalTransition, match="allowed: invalid, valid"):
        next_state(State.VALIDATE, "confirmed")
    with pytest.raises(IllegalTransition):
        next_state(State.DONE, "abort")
