"""A chat session on disk: `.osiris/chat/<id>/state.json` plus `transcript.jsonl`.

state.json holds the state machine's position and everything needed to continue (intent,
current draft, discovered schema, repair rounds, token use) and is replaced atomically after
every transition, so a crash or Ctrl-C leaves the last complete state; `osiris chat --resume
ID` (or `last`) picks it up. transcript.jsonl holds the model conversation exactly as sent
(after secret masking), one message per line, append-only. Ids use the runtime's session id
format; the API key is never stored.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from llm.states import State, next_state
from oml.files import write_atomic

__all__ = ["ChatSession", "SessionData", "SessionNotFound"]

DEFAULT_ROOT = Path(".osiris") / "chat"


class SessionNotFound(Exception):
    """`--resume` named a session that does not exist."""


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class SessionData:
    id: str
    state: State = State.INIT
    created_at: str = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)
    intent: str = ""
    oml: str | None = None
    """The latest draft (valid or not)."""
    valid_oml: str | None = None
    out: str | None = None
    targets: list[str] = field(default_factory=list)
    discovered: list[dict[str, Any]] = field(default_factory=list)
    sample_rows: int | None = None
    """Rows per table the user allowed discovery to read (None: not asked yet)."""
    repair_rounds: int = 0
    revision: str | None = None
    diagnostics: list[dict[str, Any]] = field(default_factory=list)
    mode: str = "tools"
    model: str = ""
    base_url: str = ""
    tokens: dict[str, int] = field(default_factory=lambda: {"prompt": 0, "completion": 0, "estimated": 0})
    run: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, str]] = field(default_factory=list)
    outcome: str = ""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SessionData:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["state"] = State(known.get("state", "INIT"))
        return cls(**known)


class ChatSession:
    def __init__(self, directory: Path, data: SessionData, messages: list[dict[str, Any]]) -> None:
        self.dir = directory
        self.data = data
        self.messages = messages
        self.mask: Callable[[str], str] = lambda text: text
        """Applied to everything written (the chat sets the secret masker here)."""

    @property
    def id(self) -> str:
        return self.data.id

    @property
    def state(self) -> State:
        return self.data.state

    @classmethod
    def create(cls, root: Path = DEFAULT_ROOT) -> ChatSession:
        from runtime.session import new_session_id

        session_id = new_session_id()
        directory = root / session_id
        directory.mkdir(parents=True, exist_ok=False)
        session = cls(directory, SessionData(id=session_id), [])
        session.save()
        return session

    @classmethod
    def load(cls, root: Path, session_id: str) -> ChatSession:
        from runtime.session import SessionError, validate_session_id

        if session_id == "last":
            found = sorted((p for p in root.glob("*/state.json")), key=lambda p: p.parent.name)
            if not found:
                raise SessionNotFound(f"no chat sessions in {root}")
            session_id = found[-1].parent.name
        try:
            validate_session_id(session_id)
        except SessionError as error:
            raise SessionNotFound(str(error)) from None
        directory = root / session_id
        if not (directory / "state.json").is_file():
            matches = [p.parent for p in root.glob(f"{session_id}*/state.json")]
            if len(matches) != 1:
                raise SessionNotFound(f"no chat session {session_id!r} in {root}")
            directory = matches[0]
        data = SessionData.from_json(json.loads((directory / "state.json").read_text(encoding="utf-8")))
        messages = []
        transcript = directory / "transcript.jsonl"
        if transcript.is_file():
            for line in transcript.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    messages.append(json.loads(line))
        return cls(directory, data, messages)

    def fire(self, event: str) -> State:
        """Move the state machine and persist the move."""
        before = self.data.state
        after = next_state(before, event)
        self.data.state = after
        self.data.history.append({"from": str(before), "event": event, "to": str(after), "at": _now()})
        self.save()
        return after

    def add_message(self, message: dict[str, Any]) -> None:
        self.messages.append(message)
        with (self.dir / "transcript.jsonl").open("a", encoding="utf-8") as handle:
            handle.write(self.mask(json.dumps(message, ensure_ascii=False)) + "\n")

    def reset_messages(self) -> None:
        """Start a new model conversation (the user started over); the old transcript is kept."""
        self.messages = []
        transcript = self.dir / "transcript.jsonl"
        if transcript.exists():
            os.replace(transcript, self.dir / f"transcript-{len(self.data.history)}.jsonl")

    def save(self) -> None:
        self.data.updated_at = _now()
        body = self.mask(json.dumps(asdict(self.data), indent=2, ensure_ascii=False, default=str)) + "\n"
        write_atomic(self.dir / "state.json", body)
