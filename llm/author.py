"""The model as an author: one question in, one OML draft (or None) out.

Handles both kinds of model. With tool calling, it runs the model's tool calls (bounded to
`MAX_TOOL_STEPS` rounds) and takes the final ```yaml block, or the last draft `check_oml`
accepted. Without it (mode "text", or "auto" after the endpoint rejected `tools`), the OML
comes back in a fenced yaml block. Every message passes through `guard` before it is stored
or sent, so a secret that slipped into a sample, an error or the user's own words is masked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from osiris.compiler.files import write_atomic
from osiris.llm.client import ChatClient, Reply, ToolsUnsupported
from osiris.llm.repair import extract_oml
from osiris.llm.session import ChatSession
from osiris.llm.tools import TOOL_SCHEMAS, Toolbox

__all__ = ["MAX_TOOL_STEPS", "Author"]

MAX_TOOL_STEPS = 8
_FINAL = "Answer now with the whole pipeline in one ```yaml block."


class Author:
    def __init__(
        self,
        client: ChatClient,
        session: ChatSession,
        toolbox: Toolbox,
        *,
        system_prompt: Callable[[bool], str],
        guard: Callable[[str], str],
        tools: str = "auto",
        notify: Callable[[str], None] | None = None,
    ) -> None:
        self.client = client
        self.session = session
        self.toolbox = toolbox
        self.system_prompt = system_prompt
        self.guard = guard
        self.tools = tools
        self.notify = notify or (lambda _text: None)
        if tools == "off":
            session.data.mode = "text"
        elif tools == "on":
            session.data.mode = "tools"

    @property
    def uses_tools(self) -> bool:
        return self.session.data.mode == "tools"

    def ask(self, text: str) -> str | None:
        """Send `text` as the user's turn and return the OML the model settles on."""
        self._add({"role": "user", "content": text})
        self.toolbox.last_checked = None
        for step in range(MAX_TOOL_STEPS + 1):
            if step == MAX_TOOL_STEPS:
                self._add({"role": "user", "content": _FINAL})
            reply = self._complete(allow_tools=step < MAX_TOOL_STEPS)
            self._add(reply.as_message())
            if not reply.tool_calls:
                oml = extract_oml(reply.content)
                checked = self.toolbox.last_checked
                if oml is None and checked is not None and checked.ok:
                    return checked.text
                return oml
            for call in reply.tool_calls:
                self.notify(f"model called {call.name}")
                self._add({"role": "tool", "tool_call_id": call.id, "content": self.toolbox.run(call)})
        return None  # unreachable: the last step is sent without tools

    def _complete(self, *, allow_tools: bool) -> Reply:
        while True:
            tools = TOOL_SCHEMAS if (self.uses_tools and allow_tools) else None
            system = self.guard(self.system_prompt(self.uses_tools))
            write_atomic(self.session.dir / "system_prompt.md", system, private=True)
            try:
                reply = self.client.complete(
                    [{"role": "system", "content": system}, *self.session.messages], tools
                )
            except ToolsUnsupported:
                if self.tools != "auto" or not self.uses_tools:
                    raise
                self.notify("the model does not take tool calls: asking for a fenced yaml block instead")
                self.session.data.mode = "text"
                self._drop_tool_traffic()
                continue
            self._count(reply)
            return reply

    def _count(self, reply: Reply) -> None:
        """Add the reply's token use to the session's tally, the only one kept (and saved)."""
        tokens, usage = self.session.data.tokens, reply.usage
        tokens["prompt"] = tokens.get("prompt", 0) + usage.prompt_tokens
        tokens["completion"] = tokens.get("completion", 0) + usage.completion_tokens
        tokens["estimated"] = int(bool(tokens.get("estimated", 0)) or usage.estimated)

    def _drop_tool_traffic(self) -> None:
        """A text-only model must not see tool messages it cannot parse."""
        kept = [m for m in self.session.messages if m.get("role") != "tool" and not m.get("tool_calls")]
        self.session.messages[:] = kept

    def _add(self, message: dict[str, Any]) -> None:
        masked = dict(message)
        if isinstance(masked.get("content"), str):
            masked["content"] = self.guard(masked["content"])
        if masked.get("tool_calls"):
            masked["tool_calls"] = [
                {**c, "function": {**c["function"], "arguments": self.guard(c["function"]["arguments"])}}
                for c in masked["tool_calls"]
            ]
        self.session.add_message(masked)
