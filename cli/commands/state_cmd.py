"""`osiris state list|show|reset PIPELINE`: the incremental state a pipeline's keepers hold.

The pipeline is compiled as `osiris run` would (same params, profile and connections file),
so the state shown is the one the next run starts from. `reset` deletes the state of the
named steps (all incremental steps when none is named); it asks first on a terminal and
needs `--yes` otherwise. Secrets never reach the output (masked like every other command).

Exit codes (cli/exits.py): 0 done, 1 the pipeline does not compile or a target cannot be
reached, 2 usage error (unknown step, reset without confirmation).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from osiris.cli.exits import ExitCode

__all__ = ["add_state_parser", "state_command"]


def add_state_parser(sub: Any, param_type: Any) -> None:
    """Register `osiris state` (argparse only: cheap at start-up)."""
    state = sub.add_parser("state", help="show or reset the incremental state of a pipeline's steps",
                           description="The cursor state each incremental step's writer keeps next to its "
                           "target (docs/incremental.md).")
    actions = state.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, text in (("list", "one line per incremental step: cursor, stored value, keeper"),
                       ("show", "everything stored for the named steps (default all)"),
                       ("reset", "delete the stored state, so the next run starts from `initial`")):
        action = actions.add_parser(name, help=text)
        action.add_argument("pipeline", metavar="PIPELINE", help="OML pipeline file")
        if name != "list":
            action.add_argument("steps", nargs="*", metavar="STEP", help="incremental step ids (default all)")
        action.add_argument("--param", action="append", type=param_type, default=[], metavar="KEY=VALUE",
                            help="set a pipeline parameter (repeatable), as for `osiris run`")
        action.add_argument("--profile", help="parameter profile to apply")
        action.add_argument("--connections", metavar="FILE", help="connections file (default: the project's)")
        action.add_argument("--json", action="store_true", help="print JSON")
        if name == "reset":
            action.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def state_command(args: argparse.Namespace) -> int:
    from osiris.runtime.driver import DriverError
    from osiris.runtime.secrets import SecretMasker

    masker = SecretMasker()
    masker.add_environment(os.environ)
    admin = _admin(args, masker)
    if isinstance(admin, int):
        return admin
    steps = getattr(args, "steps", None) or None
    try:
        if args.action == "reset":
            return _reset(args, admin, steps, masker)
        states = admin.show(steps)
    except DriverError as error:
        return _failed(masker, str(error), error.hint, ExitCode.USAGE if "not an incremental step" in str(error)
                       else ExitCode.FAILED)
    if args.json:
        print(masker.mask(json.dumps({"pipeline": admin.manifest.pipeline.name,
                                      "steps": [s.to_json() for s in states]}, indent=2)))
        return ExitCode.OK
    if not states:
        print(f"{admin.manifest.pipeline.name}: no incremental steps")
        return ExitCode.OK
    for line in _text(states, detailed=args.action == "show"):
        print(masker.mask(line))
    return ExitCode.OK


def _admin(args: argparse.Namespace, masker: Any) -> Any:
    from osiris.compiler.api import CompileOptions, compile_path
    from osiris.compiler.render import render_text
    from osiris.runtime.registry import default_registry
    from osiris.runtime.state_admin import StateAdmin

    options = CompileOptions(connections=Path(args.connections) if args.connections else None,
                             connections_label=args.connections, params=dict(args.param), profile=args.profile,
                             env=os.environ, cwd=Path.cwd())
    result = compile_path(Path(args.pipeline), options, label=args.pipeline)
    if not result.ok or result.compiled is None:
        sources = {result.file: result.pipeline.text} if result.pipeline is not None else {}
        sys.stderr.write(render_text([(result.file, result.diagnostics)], sources, colour=False))
        return ExitCode.FAILED
    return StateAdmin.for_compiled(result.compiled, result.connections, os.environ, masker, default_registry(),
                                   Path.cwd())


def _reset(args: argparse.Namespace, admin: Any, steps: list[str] | None, masker: Any) -> int:
    targets = admin._check(steps)
    if not targets:
        print(f"{admin.manifest.pipeline.name}: no incremental steps")
        return ExitCode.OK
    if not args.yes:
        if not sys.stdin.isatty():
            return _failed(masker, f"reset would delete the state of {', '.join(targets)}",
                           "pass --yes to confirm (stdin is not a terminal)", ExitCode.USAGE)
        answer = input(f"delete the incremental state of {', '.join(targets)}? the next run reloads "
                       "from `initial` [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing deleted")
            return ExitCode.OK
    removed = admin.reset(targets)
    if args.json:
        print(json.dumps({"pipeline": admin.manifest.pipeline.name, "steps": targets, "deleted": removed}))
    else:
        print(f"deleted {removed} state row(s) of {', '.join(targets)}")
    return ExitCode.OK


def _text(states: list[Any], *, detailed: bool) -> list[str]:
    from osiris.cli.commands.output import format_table

    cells = []
    for kept in states:
        state = kept.state
        value = "(no run committed yet)" if state is None else str(state.value)
        cells.append([kept.step, f"{kept.spec.cursor} {kept.spec.strategy}", value, f"kept by {kept.keeper} "
                      f"({kept.target})"])
    lines = format_table(cells)
    if detailed:
        for kept in states:
            state = kept.state
            if state is None:
                continue
            lines += [f"\n{kept.step}:", f"  source: {state.source}", f"  cursor type: {state.kind}",
                      f"  rows at the maximum remembered: {len(state.boundary)}",
                      f"  last run: {state.rows} row(s) passed on, {state.null_rows} with a NULL cursor"]
    return lines


def _failed(masker: Any, message: str, hint: str | None, code: int) -> int:
    sys.stderr.write(masker.mask(f"osiris state: error: {message}\n" + (f"  hint: {hint}\n" if hint else "")))
    return code
