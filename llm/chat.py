"""The conversation: one handler per state of llm.states, driving the author, the compiler,
discovery and the runtime. Nothing the model writes reaches a file before the compiler
accepted it and the user (or `--yes`) confirmed it; nothing runs before it is written.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from osiris.compiler.connections import split_ref
from osiris.compiler.files import write_atomic
from osiris.llm.author import Author
from osiris.llm.client import LLMError
from osiris.llm.context import alias_names, build_system_prompt
from osiris.llm.families import FAMILY_WORDS, PATH_PATTERN
from osiris.llm.repair import CheckResult, check_oml, no_draft, repair_request, unresolved_message
from osiris.llm.session import ChatSession
from osiris.llm.states import TERMINAL, State
from osiris.llm.templates import Templates
from osiris.llm.tools import Toolbox
from osiris.oml.secrets import SecretMasker, strip_userinfo
from osiris.oml.source import InputError, max_input_bytes, read_text
from osiris.runtime.discovery import DiscoveryResult, result_from_json, result_to_json
from osiris.runtime.driver import DriverError

__all__ = ["ChatOptions", "Conversation", "infer_targets", "pipeline_io"]

EXIT_OK, EXIT_FAILED, EXIT_CANCELLED = 0, 1, 130
DEFAULT_SAMPLE_ROWS = 3
_REF = re.compile(r"@([a-z][a-z0-9_]*)\.([A-Za-z0-9_-]+)")


@dataclass
class ChatOptions:
    message: str | None = None
    yes: bool = False
    out: Path | None = None
    run: bool = False
    connections: Path | None = None
    discover: list[str] = field(default_factory=list)
    samples: int | None = None
    """Sample rows per table discovery may read; None: ask (interactive) or none (one-shot)."""
    discovery: bool = True
    max_repairs: int = 3
    tools: str = "auto"
    cwd: Path = field(default_factory=Path.cwd)
    env: Mapping[str, str] | None = None
    run_session_root: Path = Path(".osiris") / "sessions"
    roots: tuple[str, ...] = ()
    """Where the chat may write (compiler/path_policy.py): the project root first, then the
    directories the operator granted; empty means the project root (`cwd`) alone."""

    def path_roots(self) -> tuple[str, ...]:
        from osiris.compiler.path_policy import path_roots

        return self.roots or path_roots(self.cwd)


def infer_targets(intent: str, connections: Any, cwd: Path) -> list[str]:
    """What to discover for an intent: aliases it names (or its families' defaults) and paths."""
    targets: list[str] = []
    words = set(re.findall(r"[a-z0-9_-]+", intent.lower()))
    refs = alias_names(connections)
    named = {f"@{f}.{a}" for f, a in _REF.findall(intent)}
    for ref, default in refs:
        parsed = split_ref(ref)
        if parsed is None:
            continue
        family, alias = parsed
        siblings = [r for r, _ in refs if r.startswith(f"@{family}.")]
        family_named = bool(words & set(FAMILY_WORDS.get(family, (family,))))
        if ref in named or alias.lower() in words or (family_named and (default or len(siblings) == 1)):
            targets.append(ref)
    for match in PATH_PATTERN.findall(intent):
        if (cwd / match).exists() or Path(match).is_absolute():
            targets.append(match)
    for token in re.findall(r"(?<![\w@])((?:\./)?[\w.-]+/[\w./-]*)", intent):
        if (cwd / token).is_dir() and token not in targets:
            targets.append(token.rstrip("/"))
    return list(dict.fromkeys(targets))


def pipeline_io(text: str, registry: Any) -> tuple[list[str], list[str]]:
    """What a valid pipeline reads and writes, for the review screen."""
    from ruamel.yaml import YAML

    data = YAML(typ="safe", pure=True).load(text) or {}
    reads, writes = [], []
    for step in data.get("steps") or []:
        spec = registry.get(str(step.get("component", "")))
        config = step.get("config") or {}
        where = config.get("connection", "")
        what = config.get("path") or config.get("table") or (config.get("query") and "query") or ""
        label = " ".join(str(p) for p in (where, what) if p) or step.get("id", "?")
        if spec is not None and spec.kind == "extractor":
            reads.append(label)
        elif spec is not None and spec.kind == "writer":
            mode = config.get("write_mode")
            writes.append(label + (f" ({mode})" if mode else ""))
    return reads, writes


class Conversation:
    def __init__(
        self,
        session: ChatSession,
        options: ChatOptions,
        client: Any,
        ui: Any,
        *,
        templates: Templates,
        registry: Any,
        connections: Any = None,
        discovery: Any = None,
        guard: SecretMasker | Callable[[str], str] = lambda text: text,
    ) -> None:
        self.session, self.options, self.client, self.ui = session, options, client, ui
        if isinstance(guard, SecretMasker):
            session.mask_data = guard.mask_data
            guard = guard.mask
        session.mask = guard
        ui.mask = guard
        self.templates, self.registry, self.connections, self.discovery = (
            templates,
            registry,
            connections,
            discovery,
        )
        self.toolbox = Toolbox(
            registry,
            self.check,
            discovery.discover if discovery is not None else None,
            allowed_samples=session.data.sample_rows or 0,
        )
        self.author = Author(
            client,
            session,
            self.toolbox,
            system_prompt=self._system_prompt,
            guard=guard,
            tools=options.tools,
            notify=ui.note,
        )
        self.last: CheckResult | None = None
        data = session.data
        data.model, data.base_url = client.settings.model, strip_userinfo(client.settings.base_url)
        if options.out is not None:
            data.out = str(options.out)

    @property
    def data(self) -> Any:
        return self.session.data

    # -- the loop --
    def run(self) -> int:
        try:
            self._enter()
            while self.session.state not in TERMINAL:
                getattr(self, f"_{self.session.state.lower()}")()
        except LLMError as error:
            self.ui.error(str(error), error.hint)
            self.ui.note(f"the session is saved: osiris chat --resume {self.session.id}")
            return EXIT_FAILED
        except KeyboardInterrupt:
            self.ui.note(f"stopped; the session is saved: osiris chat --resume {self.session.id}")
            return EXIT_CANCELLED
        finally:
            self.session.save()
        return EXIT_OK if self.session.state == State.DONE else EXIT_FAILED

    def _enter(self) -> None:
        state = self.session.state
        if state == State.INIT:
            self.session.fire("start")
        elif state in TERMINAL:
            self.ui.note(f"resuming session {self.session.id} ({state.lower()})")
            self.session.fire("resume_review" if self.data.valid_oml else "resume")
            if self.options.message and self.data.valid_oml:
                self.data.revision = self.options.message
        else:
            self.ui.note(f"resuming session {self.session.id} at {state}")
        if self.session.state == State.REVIEW and self.data.revision:
            self.session.fire("change_requested")

    def check(self, text: str) -> CheckResult:
        return check_oml(
            text, connections=self.options.connections, cwd=self.options.cwd, env=self.options.env
        )

    def _discovered(self) -> list[DiscoveryResult]:
        return [result_from_json(d) for d in self.data.discovered] + self.toolbox.discovered

    def _system_prompt(self, tools: bool) -> str:
        prompt = build_system_prompt(
            self.templates,
            self.registry,
            connections=self.connections,
            intent=self.data.intent,
            discovered=self._discovered(),
            tools=tools,
        )
        return prompt.text

    # -- one handler per state --
    def _intent(self) -> None:
        history = self.data.history
        nothing_found = bool(history) and history[-1]["event"] == "nothing_found"
        if self.options.message and not self.data.intent:
            text = self.options.message
        elif not self.ui.interactive:
            self.session.fire("abort")  # one-shot never loops back to ask
            return
        elif nothing_found:
            text = self.ui.ask(
                "Discovery found nothing. Where is the data (a file path or @family.alias)? "
                "Or rephrase; press Enter to go on without a schema."
            )
        else:
            text = self.ui.ask("What should the pipeline do? (empty to quit)")
        if text.lower() in ("q", "quit", "exit"):
            text = ""
        if not text:
            self.data.outcome = "nothing written"
            self.session.fire("skip_discovery" if nothing_found else "quit")
            return
        if nothing_found:
            self.data.intent = f"{self.data.intent}\n{text}"
        else:
            self._start_over(text)
        self.session.fire("intent")

    def _start_over(self, intent: str) -> None:
        if self.session.messages:
            self.session.reset_messages()
        self.data.intent, self.data.oml, self.data.valid_oml = intent, None, None
        self.data.repair_rounds, self.data.revision, self.data.diagnostics = 0, None, []

    def _discovery(self) -> None:
        targets = list(
            dict.fromkeys(
                [*self.options.discover, *infer_targets(self.data.intent, self.connections, self.options.cwd)]
            )
        )
        if not self.options.discovery or self.discovery is None:
            self.session.fire("no_schema")
            return
        if targets and self.data.sample_rows is None:
            self.data.sample_rows = self._sample_permission()
            self.toolbox.allowed_samples = self.data.sample_rows
        found: list[DiscoveryResult] = []
        for target in targets:
            try:
                with self.ui.status(f"discovering {target}"):
                    result = self.discovery.discover(target, sample_rows=self.data.sample_rows or 0)
            except DriverError as error:
                self.ui.warn(
                    f"cannot discover {target}: {error}" + (f" ({error.hint})" if error.hint else "")
                )
                continue
            except Exception as error:  # noqa: BLE001 - a driver bug must not end the conversation
                self.ui.warn(f"cannot discover {target}: {type(error).__name__}: {error}")
                continue
            self.ui.note(f"{target}: {len(result.tables)} table(s)")
            found.append(result)
        known = {d.get("source") for d in self.data.discovered}
        self.data.discovered += [result_to_json(r) for r in found if r.source not in known]
        self.data.targets = list(dict.fromkeys([*self.data.targets, *targets]))
        if any(r.tables for r in self._discovered()):
            self.session.fire("discovered")
        elif self.ui.interactive:
            self.session.fire("nothing_found")
        else:
            self.ui.warn("discovery found nothing: the model writes from the request alone")
            self.session.fire("no_schema")

    def _sample_permission(self) -> int:
        if self.options.samples is not None:
            return max(0, self.options.samples)
        if not self.ui.interactive:
            return 0
        allowed = self.ui.confirm(
            f"May discovery read up to {DEFAULT_SAMPLE_ROWS} sample rows per table? "
            "(they are sent to the model)"
        )
        return DEFAULT_SAMPLE_ROWS if allowed else 0

    def _synthesis(self) -> None:
        if self.data.revision:
            text = self.templates.render(
                "revise", request=self.data.revision, oml=self.data.valid_oml or self.data.oml or ""
            )
            self.data.revision = None
        else:
            text = self.templates.render("intent", intent=self.data.intent)
        with self.ui.status("the model is writing the pipeline"):
            oml = self.author.ask(text)
        self._show_draft(oml)
        self.data.repair_rounds = 0
        self.session.fire("drafted")

    def _show_draft(self, oml: str | None) -> None:
        previous = self.data.oml or self.data.valid_oml
        self.data.oml = oml
        if oml is None:
            self.ui.warn("the model answered without a pipeline")
        else:
            self.ui.show_pipeline(oml, previous, title="draft")

    def _validate(self) -> None:
        oml = self.data.oml
        result = self.check(oml) if oml else no_draft("the answer contained no ```yaml block")
        self.last = result
        self.data.diagnostics = result.as_json()
        if result.ok:
            self.data.valid_oml = oml
            self.ui.note("omlc check: no errors")
            self.session.fire("valid")
        else:
            if result.text:
                self.ui.show_diagnostics(result.rendered())
            self.session.fire("invalid")

    def _repair(self) -> None:
        result = self.last or (self.check(self.data.oml) if self.data.oml else no_draft("no pipeline"))
        limit = self.options.max_repairs
        if self.data.repair_rounds >= limit:
            self.ui.error(unresolved_message(result, self.data.repair_rounds))
            if self.ui.interactive:
                self.ui.say("Repair gave up. Rephrase the request to start again, or press Enter to quit.")
                self.session.fire("gave_up")
            else:
                self.data.outcome = "invalid"
                self.session.fire("abort")
            return
        self.data.repair_rounds += 1
        count = len(result.errors) or 1
        self.ui.note(f"repair round {self.data.repair_rounds}/{limit}: {count} error(s) back to the model")
        with self.ui.status("the model is fixing the pipeline"):
            oml = self.author.ask(repair_request(self.templates, result, self.data.repair_rounds, limit))
        self._show_draft(oml)
        self.session.fire("revised")

    def _review(self) -> None:
        oml = self.data.valid_oml or ""
        reads, writes = pipeline_io(oml, self.registry)
        out = self._out_path(oml)
        history = self.data.history
        if not history or history[-1].get("event") != "valid":
            self.ui.show_pipeline(oml, title="pipeline")
        self.ui.show_io(reads, writes)
        if self.options.yes or not self.ui.interactive:
            self.session.fire("confirmed" if self.options.yes else "abort")
            return
        answer = self.ui.ask(
            f"Write it to {out}? [y]es, [n]o to start over, [q]uit, or describe a change", "y"
        )
        word = answer.lower()
        if word in ("y", "yes"):
            self.session.fire("confirmed")
        elif word in ("n", "no"):
            self.session.fire("changed_mind")
        elif word in ("q", "quit", "exit"):
            self.data.outcome = "nothing written"
            self.session.fire("quit")
        else:
            self.data.revision = answer
            self.session.fire("change_requested")

    def _out_path(self, oml: str) -> Path:
        if self.options.out is not None:
            return self.options.out
        if self.data.out:
            return Path(self.data.out)
        name = re.search(r"(?m)^name:\s*['\"]?([A-Za-z0-9][\w.-]*)", oml)
        return Path(f"{name.group(1) if name else 'pipeline'}.yaml")

    def _compile(self) -> None:
        oml = self.data.valid_oml or ""
        result = self.check(oml)  # again: the connections file may have changed since (e.g. on resume)
        if not result.ok:
            self.ui.error(unresolved_message(result, self.data.repair_rounds))
            self.session.fire("abort")
            return
        out = self._out_path(oml)
        target = self._confined(out)
        if target is None:
            return
        if (
            target.exists()
            and not self.options.yes
            and self.ui.interactive
            and _existing_text(target) != oml
        ):
            if not self.ui.confirm(f"{out} exists. Overwrite it?"):
                out = Path(self.ui.ask("Write it where instead?", str(out.with_suffix(".new.yaml"))))
                target = self._confined(out)
                if target is None:
                    return
        try:
            write_atomic(target, oml, durable=True)
        except OSError as error:
            # The checked pipeline stays in the session (valid_oml): resuming with another --out
            # writes it without asking the model again.
            self.ui.error(
                f"cannot write {out}: {error.strerror or error}",
                hint=f"osiris chat --resume {self.session.id} --yes --out FILE writes the checked pipeline",
            )
            self.data.outcome = "not written"
            self.session.fire("abort")
            return
        self.data.out = str(out)
        self.data.outcome = "written"
        self.ui.result(f"wrote {out}")
        wants_run = self.options.run or (
            self.ui.interactive and not self.options.yes and self.ui.confirm("Run it now?")
        )
        self.session.fire("compiled_run" if wants_run else "compiled")

    def _confined(self, out: Path) -> Path | None:
        """Where `out` really is, when the path policy lets the chat write there (`out` may come
        from a saved session or an answer); otherwise the session ends with an error."""
        from osiris.compiler.path_policy import PathRefused, confine_path

        try:
            return confine_path(str(out), self.options.path_roots(), str(self.options.cwd))
        except PathRefused as refused:
            self.ui.error(f"cannot write the pipeline: {refused}", hint=refused.hint)
            self.data.outcome = "not written"
            self.session.fire("abort")
            return None

    def _run(self) -> None:
        from osiris.runtime.run import RunRequest, UsageError, run
        from osiris.runtime.session import SessionError

        out = Path(self.data.out or "")
        request = RunRequest(
            pipeline=out,
            connections=str(self.options.connections) if self.options.connections else None,
            session_root=self.options.run_session_root,
            work_dir=self.options.cwd,
            env=self.options.env,
        )
        try:
            with self.ui.status(f"running {out}"):
                outcome = run(request)
        except (UsageError, SessionError) as error:
            self.ui.error(f"cannot run {out}: {error}")
            self.session.fire("failed")
            return
        status = outcome.status
        totals = status.get("totals", {})
        self.data.run = {
            "session_id": outcome.session.id,
            "exit_code": outcome.exit_code,
            "rows_written": totals.get("rows_written"),
        }
        if outcome.exit_code == 0:
            self.data.outcome = "ran"
            self.ui.result(
                f"run {outcome.session.id} succeeded: {totals.get('rows_written', 0)} rows written"
            )
            self.session.fire("succeeded")
        else:
            self.data.outcome = "run failed"
            self.ui.error(
                f"run {outcome.session.id} failed: {_run_error(status, outcome)}",
                hint=f"osiris logs show {outcome.session.id}",
            )
            self.session.fire("failed")


def _run_error(status: Mapping[str, Any], outcome: Any) -> str:
    error = status.get("error") or {}
    for step_id, step in (status.get("steps") or {}).items():
        if step.get("error"):
            error = {**step["error"], "step": step_id}
            break
    if not error and outcome.diagnostics:
        first = outcome.diagnostics[0]
        return f"{first.code} {first.message}"
    message = error.get("message") or error.get("cause") or "see the session log"
    return f"step {error['step']}: {message}" if error.get("step") else str(message)


def _existing_text(target: Path) -> str | None:
    """What `--out` holds now, or None when it is no regular text file of a pipeline's size (a
    FIFO there would block the read forever): then it differs, and the user is asked."""
    try:
        return read_text(target, str(target), max_input_bytes())
    except InputError:
        return None
