"""The conversation as an explicit state machine: every move is a named event in one table.

    INIT -> INTENT -> DISCOVERY -> SYNTHESIS -> VALIDATE -> REVIEW -> COMPILE -> RUN -> DONE
                                                   |   ^
                                          invalid  v   | revised      (at most N rounds)
                                                  REPAIR

Side roads, each an event of its own so the session log says what happened:
  - "the user changed their mind": REVIEW --changed_mind--> INTENT (start over) and
    REVIEW --change_requested--> SYNTHESIS (revise the draft);
  - "discovery found nothing": DISCOVERY --nothing_found--> INTENT (interactive: ask where
    the data is) or DISCOVERY --no_schema--> SYNTHESIS (one-shot: go on from the intent);
  - "repair gave up": REPAIR --gave_up--> INTENT (interactive: say what is wrong, ask again)
    or REPAIR --abort--> FAILED (one-shot, exit 1).
A finished session can be resumed: DONE/FAILED --resume--> REVIEW (a valid pipeline exists)
or INTENT.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["TERMINAL", "TRANSITIONS", "IllegalTransition", "State", "next_state"]


class State(StrEnum):
    INIT = "INIT"
    INTENT = "INTENT"
    DISCOVERY = "DISCOVERY"
    SYNTHESIS = "SYNTHESIS"
    VALIDATE = "VALIDATE"
    REPAIR = "REPAIR"
    REVIEW = "REVIEW"
    COMPILE = "COMPILE"
    RUN = "RUN"
    DONE = "DONE"
    FAILED = "FAILED"


S = State
TRANSITIONS: dict[tuple[State, str], State] = {
    (S.INIT, "start"): S.INTENT,
    (S.INTENT, "intent"): S.DISCOVERY,
    (S.INTENT, "skip_discovery"): S.SYNTHESIS,
    (S.INTENT, "quit"): S.DONE,
    (S.DISCOVERY, "discovered"): S.SYNTHESIS,
    (S.DISCOVERY, "nothing_found"): S.INTENT,
    (S.DISCOVERY, "no_schema"): S.SYNTHESIS,
    (S.SYNTHESIS, "drafted"): S.VALIDATE,
    (S.VALIDATE, "valid"): S.REVIEW,
    (S.VALIDATE, "invalid"): S.REPAIR,
    (S.REPAIR, "revised"): S.VALIDATE,
    (S.REPAIR, "gave_up"): S.INTENT,
    (S.REVIEW, "confirmed"): S.COMPILE,
    (S.REVIEW, "change_requested"): S.SYNTHESIS,
    (S.REVIEW, "changed_mind"): S.INTENT,
    (S.REVIEW, "quit"): S.DONE,
    (S.COMPILE, "compiled"): S.DONE,
    (S.COMPILE, "compiled_run"): S.RUN,
    (S.RUN, "succeeded"): S.DONE,
    (S.RUN, "failed"): S.FAILED,
    (S.DONE, "resume_review"): S.REVIEW,
    (S.DONE, "resume"): S.INTENT,
    (S.FAILED, "resume_review"): S.REVIEW,
    (S.FAILED, "resume"): S.INTENT,
}
TERMINAL = frozenset({S.DONE, S.FAILED})


class IllegalTransition(Exception):
    """A bug: the conversation fired an event its current state does not have."""


def next_state(state: State, event: str) -> State:
    """The state after `event`; `abort` leads any live state to FAILED."""
    if event == "abort" and state not in TERMINAL:
        return S.FAILED
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        allowed = sorted(e for (s, e) in TRANSITIONS if s == state)
        raise IllegalTransition(f"{state} has no event {event!r} (allowed: {', '.join(allowed)})") from None
