"""A chat session on disk: `.osiris/chat/<id>/state.json` plus `transcript.jsonl`.

state.json holds the state machine's position and everything needed to continue (intent,
current draft, discovered schema, repair rounds, token use) and is replaced atomically after
every transition, so a crash or Ctrl-C leaves the last complete state; `osiris chat --resume
ID` (or `last`) picks it up. transcript.jsonl holds the model conversation exactly as sent
(after secret masking), one message per line, append-only. Ids use the runtime's session id
format; the API key is never stored, nor the endpoint URL's password.

Sessions are private: folders 0700 and files 0600 from their creation (chat sessions hold the
conversation, discovered schemas and sample rows); folders older versions left 0755 are
tightened when a session is created or resumed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from osiris.compiler.files import PRIVATE_DIR, open_private, private_dir, tighten_subdirs, write_atomic
from osiris.llm.states import State, next_state
from osiris.oml.source import InputError, read_bytes

SAVED_FILE_LIMIT = 64 * 2**20
"""Largest state.json or transcript.jsonl read back: a saved session may have been edited, so a
FIFO or device in its place is refused (never blocks) and a huge file is not loaded whole."""

__all__ = ["ChatSession", "SessionDamaged", "SessionData", "SessionNotFound"]

DEFAULT_ROOT = Path(".osiris") / "chat"


class SessionNotFound(Exception):
    """`--resume` named a session that does not exist (or not exactly one)."""


class SessionDamaged(SessionNotFound):
    """The session exists but its files cannot be read back: `--resume` reports it (exit 2)."""


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
    def from_json(cls, data: Any, *, session_id: str | None = None) -> SessionData:
        """Rebuild from state.json; ValueError (one line, naming the field) when it is damaged."""
        if not isinstance(data, dict):
            raise ValueError(f"state.json holds {type(data).__name__}, not an object")
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if session_id is not None:
            known["id"] = session_id  # the directory is what --resume addresses
        if not isinstance(known.get("id"), str):
            raise ValueError("'id' is missing")
        state = known.get("state", "INIT")
        if state not in State.__members__.values():
            raise ValueError(f"'state' is {state!r}, not one of {', '.join(State)}")
        known["state"] = State(state)
        for name, expected in _FIELD_TYPES.items():
            if name in known and not isinstance(known[name], expected):
                raise ValueError(f"{name!r} is {_kind(known[name])}, not {_expected(expected)}")
        for name in ("discovered", "diagnostics", "history"):
            for index, item in enumerate(known.get(name, ())):
                if not isinstance(item, dict):
                    raise ValueError(f"{name}[{index}] is {_kind(item)}, not an object")
        for index, move in enumerate(known.get("history", ())):
            if not all(isinstance(move.get(k), str) for k in ("from", "event", "to")):
                raise ValueError(f"history[{index}] lacks from/event/to")
        tokens = known.get("tokens", {})
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in tokens.values()):
            raise ValueError("'tokens' holds a value that is not a whole number")
        if known["state"] in _NEEDS_HISTORY and not known.get("history"):
            raise ValueError(f"'history' is empty but the session is at {known['state']}")
        if known["state"] in _NEEDS_PIPELINE and not known.get("valid_oml"):
            raise ValueError(f"'valid_oml' is empty but the session is at {known['state']}")
        _check_discovered(known.get("discovered", ()))
        return cls(**known)


_STR, _OPT_STR = (str,), (str, type(None))
_FIELD_TYPES: dict[str, tuple[type, ...]] = {
    "created_at": _STR,
    "updated_at": _STR,
    "intent": _STR,
    "oml": _OPT_STR,
    "valid_oml": _OPT_STR,
    "out": _OPT_STR,
    "targets": (list,),
    "discovered": (list,),
    "sample_rows": (int, type(None)),
    "repair_rounds": (int,),
    "revision": _OPT_STR,
    "diagnostics": (list,),
    "mode": _STR,
    "model": _STR,
    "base_url": _STR,
    "tokens": (dict,),
    "run": (dict,),
    "history": (list,),
    "outcome": _STR,
}
_NEEDS_HISTORY = frozenset(State) - {State.INIT}
_NEEDS_PIPELINE = frozenset({State.REVIEW, State.COMPILE, State.RUN})


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _expected(types: tuple[type, ...]) -> str:
    return " or ".join("null" if t is type(None) else t.__name__ for t in types)


def _check_discovered(items: Any) -> None:
    from osiris.runtime.discovery import result_from_json

    for index, item in enumerate(items):
        try:
            result_from_json(item)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            why = f"missing {error.args[0]!r}" if isinstance(error, KeyError) else str(error)
            raise ValueError(f"discovered[{index}] is not a discovery result ({why})") from None


class ChatSession:
    def __init__(self, directory: Path, data: SessionData, messages: list[dict[str, Any]]) -> None:
        self.dir = directory
        self.data = data
        self.messages = messages
        self.mask: Callable[[str], str] = lambda text: text
        """Applied to every line of text written (the chat sets the secret masker here)."""
        self.mask_data: Callable[[Any], Any] | None = None
        """Applied to data before it is written as JSON (the masker's `mask_data`), if set."""

    @property
    def id(self) -> str:
        return self.data.id

    @property
    def state(self) -> State:
        return self.data.state

    @classmethod
    def create(cls, root: Path = DEFAULT_ROOT) -> ChatSession:
        from osiris.runtime.session import new_session_id

        session_id = new_session_id()
        private_dir(root)
        tighten_subdirs(root)
        directory = root / session_id
        directory.mkdir(mode=PRIVATE_DIR)
        session = cls(directory, SessionData(id=session_id), [])
        session.save()
        return session

    @classmethod
    def load(cls, root: Path, session_id: str) -> ChatSession:
        from osiris.runtime.session import SessionError, validate_session_id

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
            matches = sorted(p.parent.name for p in root.glob(f"{session_id}*/state.json"))
            if not matches:
                raise SessionNotFound(f"no chat session {session_id!r} in {root}")
            if len(matches) > 1:
                shown = ", ".join(matches[:5]) + (", ..." if len(matches) > 5 else "")
                raise SessionNotFound(
                    f"chat session prefix {session_id!r} is ambiguous: {len(matches)} sessions match ({shown})"
                )
            directory = root / matches[0]
        private_dir(root)
        private_dir(directory)
        try:
            raw = json.loads(read_bytes(directory / "state.json", "state.json", SAVED_FILE_LIMIT))
            data = SessionData.from_json(raw, session_id=directory.name)
        except json.JSONDecodeError as error:
            raise _damaged(directory, f"state.json is not valid JSON ({error.msg}, line {error.lineno})") from None
        except InputError as error:
            raise _damaged(directory, str(error)) from None
        except (OSError, ValueError) as error:
            raise _damaged(directory, str(error) if isinstance(error, ValueError) else f"state.json: {error}") from None
        return cls(directory, data, _read_transcript(directory))

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
        with open_private(self.dir / "transcript.jsonl", "a") as handle:
            handle.write(self._json(message) + "\n")

    def reset_messages(self) -> None:
        """Start a new model conversation (the user started over); the old transcript is kept."""
        self.messages = []
        transcript = self.dir / "transcript.jsonl"
        if transcript.exists():
            os.replace(transcript, self.dir / f"transcript-{len(self.data.history)}.jsonl")

    def save(self) -> None:
        self.data.updated_at = _now()
        write_atomic(self.dir / "state.json", self._json(asdict(self.data), indent=2) + "\n", private=True)

    def _json(self, data: Any, indent: int | None = None) -> str:
        """Masked JSON: as data when a masker is set (masking serialised JSON could not tell
        where a string ends), else the text masked."""
        if self.mask_data is not None:
            return json.dumps(self.mask_data(data), indent=indent, ensure_ascii=False, default=str)
        return self.mask(json.dumps(data, indent=indent, ensure_ascii=False, default=str))


def _damaged(directory: Path, why: str) -> SessionDamaged:
    return SessionDamaged(f"chat session {directory.name} is damaged: {why} (in {directory})")


def _read_transcript(directory: Path) -> list[dict[str, Any]]:
    """The messages of transcript.jsonl. A torn last line (a crash mid-append) is dropped, and
    the file rewritten without it so later appends start on a fresh line; damage anywhere else
    is SessionDamaged: a conversation with a hole in it would mislead the model."""
    transcript = directory / "transcript.jsonl"
    if not os.path.lexists(transcript):
        return []  # anything else in its place (a FIFO would block the next append) is damage
    try:
        data = read_bytes(transcript, "transcript.jsonl", SAVED_FILE_LIMIT)
    except InputError as error:
        raise _damaged(directory, str(error)) from None
    lines = data.decode("utf-8", errors="replace").split("\n")
    numbered = [(n, line) for n, line in enumerate(lines, 1) if line.strip()]
    messages: list[dict[str, Any]] = []
    for position, (number, line) in enumerate(numbered):
        try:
            message = json.loads(line)
        except ValueError:
            message = None
        if isinstance(message, dict) and isinstance(message.get("role"), str):
            messages.append(message)
            continue
        if position == len(numbered) - 1:
            kept = "".join(text + "\n" for _, text in numbered[:-1])
            try:
                write_atomic(transcript, kept, private=True)
            except OSError as error:
                raise _damaged(directory, f"cannot repair transcript.jsonl: {error}") from None
            break
        raise _damaged(directory, f"transcript.jsonl line {number} is not a message")
    return messages
