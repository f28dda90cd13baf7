"""`osiris test validation FILE|DIR...`: the chat's check-and-repair loop over scenario files, offline.

A scenario is a request and the model's scripted replies; the real chat (compiler check, repair
prompts, the HTTP client) runs against a loopback replay endpoint in a scratch directory, and
the outcome is compared with the scenario's `expect`. No network, no model, no run. Exit 0 when
every scenario meets its expectation, 1 when one does not, 2 for a bad scenario file.

    name: repair-unknown-key          # optional, default: the file name
    request: Copy data/orders.csv to out/orders.csv
    max_repairs: 2                    # optional, default 3
    replies: ["...```yaml ... ```", "..."]
    expect: {valid: true, repair_rounds: 1}
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["Scenario", "ScenarioError", "load_scenario", "test_command", "validation_arguments"]

_KEYS = {"name", "request", "replies", "expect", "max_repairs"}
_EXPECT = {"valid", "repair_rounds"}


class ScenarioError(ValueError):
    """A scenario file that cannot be used (the message names the file and the problem)."""


@dataclass(frozen=True)
class Scenario:
    name: str
    request: str
    replies: tuple[str, ...]
    expect: dict[str, Any]
    max_repairs: int = 3


@dataclass
class Outcome:
    name: str
    passed: bool
    valid: bool
    repair_rounds: int
    requests: int
    problems: list[str]


def validation_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="scenario files, or directories of *.yaml files")
    parser.add_argument("--json", action="store_true", help="print the outcomes as JSON")


def test_command(args: argparse.Namespace) -> int:
    try:
        scenarios = [load_scenario(path) for path in _files(args.paths)]
    except ScenarioError as error:
        sys.stderr.write(f"osiris test validation: error: {error}\n")
        return 2
    outcomes = [run_scenario(scenario) for scenario in scenarios]
    if args.json:
        print(json.dumps([asdict(o) for o in outcomes], indent=2, ensure_ascii=False))
    else:
        for o in outcomes:
            detail = "; ".join(o.problems) if o.problems else f"valid={o.valid}, repair rounds {o.repair_rounds}"
            print(f"{'PASS' if o.passed else 'FAIL'}  {o.name}  ({detail})")
        print(f"{sum(o.passed for o in outcomes)}/{len(outcomes)} scenarios passed")
    return 0 if all(o.passed for o in outcomes) else 1


def _files(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for text in paths:
        path = Path(text)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
            if not found:
                raise ScenarioError(f"{text}: no scenario files (*.yaml) in this directory")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise ScenarioError(f"{text}: no such file or directory")
    return files


def load_scenario(path: Path) -> Scenario:
    """Read and check one scenario file; ScenarioError names what is wrong."""
    from ruamel.yaml import YAML, YAMLError

    try:
        data = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, YAMLError) as error:
        raise ScenarioError(f"{path}: cannot read: {error}") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: expected a mapping with request, replies and expect")
    unknown = set(data) - _KEYS
    if unknown:
        from osiris.oml.suggest import did_you_mean

        key = sorted(map(str, unknown))[0]
        hint = did_you_mean(key, _KEYS)
        raise ScenarioError(f"{path}: unknown key {key!r}" + (f"; {hint}" if hint else ""))
    request, replies, expect = data.get("request"), data.get("replies"), data.get("expect")
    if not isinstance(request, str) or not request.strip():
        raise ScenarioError(f"{path}: 'request' must be the user's request as text")
    if not isinstance(replies, list) or not replies or not all(isinstance(r, str) for r in replies):
        raise ScenarioError(f"{path}: 'replies' must be a list of the model's replies as text")
    if not isinstance(expect, dict) or not expect or set(expect) - _EXPECT:
        raise ScenarioError(f"{path}: 'expect' must map some of {sorted(_EXPECT)} to values")
    max_repairs = data.get("max_repairs", 3)
    if not isinstance(max_repairs, int) or isinstance(max_repairs, bool) or max_repairs < 0:
        raise ScenarioError(f"{path}: 'max_repairs' must be a whole number (0 or more)")
    return Scenario(str(data.get("name") or path.stem), request, tuple(replies), dict(expect), max_repairs)


def run_scenario(scenario: Scenario) -> Outcome:
    """One scenario through the real chat, against a replay endpoint, in a scratch directory."""
    import io

    from rich.console import Console

    from osiris.cli.commands.replay_endpoint import ReplayEndpoint
    from osiris.compiler.spec_cache import default_registry
    from osiris.llm.chat import ChatOptions, Conversation
    from osiris.llm.client import ChatClient, LLMSettings
    from osiris.llm.session import ChatSession
    from osiris.llm.templates import Templates
    from osiris.llm.ui import ConsoleUI

    with tempfile.TemporaryDirectory(prefix="osiris-test-validation-") as scratch, \
            ReplayEndpoint(scenario.replies) as endpoint:
        work = Path(scratch).resolve()
        env = {"OSIRIS_LLM_API_KEY": "replay"}
        settings = LLMSettings.resolve(model="replay", base_url=endpoint.url, env={**env, "OSIRIS_LLM_RETRIES": "0"})
        console = Console(file=io.StringIO(), width=120)
        ui = ConsoleUI(interactive=False, console=console, stdout=console.file)
        options = ChatOptions(message=scenario.request, yes=True, out=Path("pipeline.yaml"), samples=0,
                              discovery=False, max_repairs=scenario.max_repairs, tools="off", cwd=work, env=env,
                              run_session_root=work / ".osiris" / "sessions")
        session = ChatSession.create(work / ".osiris" / "chat")
        client = ChatClient(settings, on_retry=ui.note)
        try:
            Conversation(session, options, client, ui, templates=Templates.load(None),
                         registry=default_registry()).run()
        finally:
            client.close()
        data = session.data
        valid, rounds, requests = data.valid_oml is not None, data.repair_rounds, endpoint.requests
    got = {"valid": valid, "repair_rounds": rounds}
    problems = [f"expected {key} {want!r}, got {got[key]!r}" for key, want in scenario.expect.items()
                if got[key] != want]
    return Outcome(scenario.name, not problems, valid, rounds, requests, problems)
