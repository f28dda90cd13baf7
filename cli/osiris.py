"""`osiris`: run pipelines, inspect sessions, components and connections.

A composition root: this module imports only argparse and the standard library at start-up
(`osiris --help` must not import pyarrow, duckdb or a driver); each command's module is
imported when that command runs. Exit codes (cli/exits.py, shared with `omlc`): 0 success,
1 a step or the compile failed (or a session's files are damaged), 2 usage error (an unknown
command names the nearest one; a missing optional dependency names its pip extra), 3 internal
error, 130 cancelled (Ctrl-C), 143 stopped by SIGTERM (handled like Ctrl-C: `run` ends its
session `cancelled`, `chat` saves its session), 141 stdout closed early (`osiris logs list | head`).

`main` runs every command inside cli/guard.py: an unexpected exception is one masked line (the
traceback only under `--debug` or OSIRIS_DEBUG=1), never a raw traceback.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence

from osiris.cli.exits import ExitCode

__all__ = ["build_parser", "main"]

EXIT_USAGE = ExitCode.USAGE


def _param(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value


def _number(what: str, *, integer: bool, minimum: float, strict: bool) -> Callable[[str], float]:
    """An argparse type: a finite number at least (`strict`: above) `minimum`, else a usage error."""

    def parse(text: str) -> float:
        try:
            value: float = int(text) if integer else float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < minimum or (strict and value == minimum):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return parse


_positive_int = _number("a positive integer", integer=True, minimum=1, strict=False)
_count = _number("a whole number (0 or more)", integer=True, minimum=0, strict=False)
_days = _number("a number of days (0 or more)", integer=False, minimum=0, strict=False)
_seconds = _number("a positive number of seconds", integer=False, minimum=0, strict=True)


def _size(text: str) -> int:
    import re

    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)?\s*", text, re.IGNORECASE)
    if not match:
        raise argparse.ArgumentTypeError(f"expected a size like 512MB or 2GiB, got {text!r}")
    units = {"b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "kib": 1024, "mib": 1024**2, "gib": 1024**3}
    value = int(float(match.group(1)) * units[(match.group(2) or "MiB").lower()])
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a size above zero, like 512MB or 2GiB, got {text!r}")
    return value


def _session_dir_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--session-dir",
        metavar="DIR",
        help="where sessions live (default: sessions_dir of osiris.yaml, else .osiris/sessions)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="osiris",
        description="Run OML data pipelines locally and inspect their sessions.",
        epilog="Compile-only checks: omlc check PIPELINE.yaml. Every command, flag and exit code: docs/cli.md.",
    )
    parser.add_argument("--version", action="version", version=f"osiris {_version()}")
    parser.add_argument(
        "--debug",
        dest="global_debug",
        action="store_true",
        help="show the traceback (secrets masked) when a command fails unexpectedly",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="compile and run a pipeline (or run a compiled manifest)",
        description="Compile PIPELINE into the session directory, then run it.",
    )
    run.add_argument("pipeline", nargs="?", help="OML pipeline file")
    run.add_argument("--manifest", metavar="DIR", help="run an already compiled manifest directory instead")
    run.add_argument(
        "--param",
        action="append",
        type=_param,
        default=[],
        metavar="KEY=VALUE",
        help="set a pipeline parameter (repeatable)",
    )
    run.add_argument("--profile", help="parameter profile to apply")
    run.add_argument(
        "--connections", metavar="FILE", help="connections file (default: osiris_connections.yaml in the project root)"
    )
    run.add_argument("--run-id", metavar="ID", help="session id to use instead of a generated one")
    _session_dir_arg(run)
    run.add_argument("--json", action="store_true", help="print one machine-readable JSON result")
    run.add_argument("--debug", action="store_true", help="show tracebacks (secrets masked) and debug logs")
    run.add_argument("--quiet", "-q", action="store_true", help="print only errors")
    run.add_argument("--keep-spill", action="store_true", help="keep spill and temp files in the session")
    run.add_argument(
        "--step-memory",
        type=_size,
        metavar="SIZE",
        help="memory budget per step, e.g. 512MB (default 512MiB)",
    )
    run.add_argument("--batch-rows", type=_positive_int, metavar="N", help="preferred rows per batch")
    from osiris.runtime.e2b.host.cli_args import add_e2b_arguments  # argparse only; the proxy loads with --e2b

    add_e2b_arguments(run)
    from osiris.runtime.ray.cli_args import add_ray_arguments  # argparse only; Ray loads with --backend ray

    add_ray_arguments(run)

    from osiris.cli.omlc import check_arguments, compile_arguments  # argparse only

    compile_arguments(sub.add_parser("compile", help="compile a pipeline into a manifest directory (omlc compile)"))
    oml = sub.add_parser("oml", help="the OML language: validate pipeline files")
    oml_sub = oml.add_subparsers(dest="action", metavar="ACTION", required=True)
    check_arguments(oml_sub.add_parser("validate", help="report every problem in OML files (omlc check)"))
    test = sub.add_parser("test", help="test harnesses (validation: chat repair scenarios, offline)")
    test_sub = test.add_subparsers(dest="action", metavar="ACTION", required=True)
    from osiris.cli.commands.test_cmd import validation_arguments  # argparse only

    validation_arguments(test_sub.add_parser(
        "validation", help="replay chat repair scenarios against a recorded endpoint (offline)"))

    init = sub.add_parser("init", help="write a starter project (never overwrites)")
    init.add_argument("directory", nargs="?", default=".", help="where to write (default: .)")
    init.add_argument("--json", action="store_true", help="print the files created and kept as JSON")

    from osiris.cli.commands.validate_cmd import add_validate_parser  # argparse only

    add_validate_parser(sub)
    from osiris.cli.commands.discover_cmd import add_discover_parser  # argparse only

    add_discover_parser(sub)
    from osiris.cli.commands.mcp_cmd import add_mcp_parser  # argparse only

    add_mcp_parser(sub)
    from osiris.cli.commands.state_cmd import add_state_parser  # argparse only

    add_state_parser(sub, _param)
    conns = sub.add_parser("connections", help="list and check connections")
    conns_sub = conns.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, text in (
        ("list", "list the aliases in the connections file"),
        ("doctor", "check that each connection answers"),
    ):
        action = conns_sub.add_parser(name, help=text)
        action.add_argument("--connections", metavar="FILE", help="connections file (default: from the settings)")
        action.add_argument("--json", action="store_true", help="print the result as JSON")
        if name == "doctor":
            action.add_argument("--timeout", type=_seconds, default=5.0, metavar="S",
                                help="seconds to wait per connection (default 5)")

    comps = sub.add_parser("components", help="list components and show their configuration")
    comps_sub = comps.add_subparsers(dest="action", metavar="ACTION", required=True)
    comps_list = comps_sub.add_parser("list", help="list every component")
    comps_list.add_argument("--json", action="store_true", help="print the result as JSON")
    comps_show = comps_sub.add_parser("show", help="show one component's config keys and examples")
    comps_show.add_argument("name", help="a component, e.g. filesystem.csv_extractor")
    comps_show.add_argument("--json", action="store_true", help="print the result as JSON")

    logs = sub.add_parser("logs", help="list, show, clean up and bundle run sessions")
    logs_sub = logs.add_subparsers(dest="action", metavar="ACTION", required=True)
    logs_list = logs_sub.add_parser("list", help="list sessions, newest first")
    _session_dir_arg(logs_list)
    logs_list.add_argument("--limit", type=_positive_int, default=20, metavar="N",
                           help="show at most N sessions (default 20)")
    logs_list.add_argument("--json", action="store_true", help="print the result as JSON")
    logs_show = logs_sub.add_parser("show", help="show one session (ID, a unique prefix, or 'last')")
    logs_show.add_argument("session_id", metavar="ID", help="a session id, a unique prefix, or 'last'")
    _session_dir_arg(logs_show)
    logs_show.add_argument("--events", action="store_true", help="also print every event")
    logs_show.add_argument("--json", action="store_true", help="print the result as JSON")
    logs_gc = logs_sub.add_parser("gc", help="delete old sessions")
    _session_dir_arg(logs_gc)
    logs_gc.add_argument("--keep", type=_count, metavar="N", help="keep the newest N sessions")
    logs_gc.add_argument("--older-than", type=_days, metavar="DAYS", help="delete sessions older than DAYS")
    logs_gc.add_argument("--dry-run", action="store_true", help="only say what would be deleted")
    logs_gc.add_argument("--json", action="store_true", help="print the result as JSON")
    logs_bundle = logs_sub.add_parser("bundle", help="zip one session's files, secrets masked")
    logs_bundle.add_argument("session_id", metavar="ID", help="a session id, a unique prefix, or 'last'")
    _session_dir_arg(logs_bundle)
    logs_bundle.add_argument("-o", "--out", required=True, metavar="FILE", help="the zip to write (never overwritten)")
    logs_bundle.add_argument("--connections", metavar="FILE",
                             help="mask this connections file's secrets too (default: from the settings)")
    logs_bundle.add_argument("--json", action="store_true", help="print what was bundled as JSON")

    report = sub.add_parser("report", help="write a self-contained HTML report of a session")
    report.add_argument("session_id", metavar="ID", nargs="?", help="a session id, a unique prefix, or 'last'")
    report.add_argument("--index", action="store_true",
                        help="instead of ID: one page listing every session, newest first, linking their reports")
    _session_dir_arg(report)
    report.add_argument(
        "--out", metavar="FILE",
        help="output file (default: <session>/artifacts/report.html; with --index <session dir>/index.html)",
    )
    report.add_argument("--json", action="store_true", help="print the report's path as JSON")

    chat = sub.add_parser("chat", help="design a pipeline in conversation with an LLM", add_help=False)
    chat.add_argument("args", nargs=argparse.REMAINDER)
    prompts = sub.add_parser("dump-prompts", help="export the chat prompt templates for editing",
                             add_help=False)
    prompts.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:  # the console script: skip the interpreter's teardown at exit (cli/quick_exit.py)
        from osiris.cli import quick_exit

        quick_exit.arm()
        return quick_exit.leave_with(main(sys.argv[1:]))
    from osiris.cli.guard import debug_requested, guarded

    argv = list(argv)
    return guarded("osiris", lambda: _main(argv), debug=debug_requested(argv))


def _main(argv: list[str]) -> int:
    if argv[:1] == ["chat"]:  # everything after `chat` belongs to cli/chat.py, options included
        return _chat(argv[1:])
    if argv[:1] == ["dump-prompts"]:
        return _chat(argv[1:], dump_prompts=True)
    parser = build_parser()
    from osiris.cli.guard import parse_command_line

    args = parse_command_line(parser, argv, "osiris")
    if isinstance(args, int):
        return args
    if hasattr(args, "debug"):
        from osiris.cli.guard import debug_requested  # OSIRIS_DEBUG=1 is --debug

        args.debug = bool(args.global_debug or args.debug or debug_requested(()))  # `osiris --debug run` too
    from osiris.cli.project_args import apply_project_settings  # osiris.yaml, environment, defaults

    code = apply_project_settings(args)
    return code if code is not None else _dispatch(parser, args)


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    if args.command in ("compile", "oml"):  # omlc's own commands, shared
        return int(args.handler(args))
    if args.command == "test":
        from osiris.cli.commands.test_cmd import test_command

        return test_command(args)
    if args.command == "run":
        from osiris.cli.commands.run_cmd import run_command

        return run_command(args, parser)
    if args.command == "init":
        from osiris.cli.commands.init_cmd import init_command

        return init_command(args)
    if args.command == "discover":
        from osiris.cli.commands.discover_cmd import discover_command

        return discover_command(args)
    if args.command == "validate":
        from osiris.cli.commands.validate_cmd import validate_command

        return validate_command(args)
    if args.command == "connections":
        from osiris.cli.commands.connections_cmd import connections_command

        return connections_command(args)
    if args.command == "components":
        from osiris.cli.commands.components_cmd import components_command

        return components_command(args)
    if args.command == "logs":
        from osiris.cli.commands.logs_cmd import logs_command

        return logs_command(args)
    if args.command == "state":
        from osiris.cli.commands.state_cmd import state_command

        return state_command(args)
    if args.command == "mcp":
        from osiris.cli.commands.mcp_cmd import mcp_command

        return mcp_command(args)
    if args.command == "report":
        from osiris.cli.commands.report_cmd import report_command

        return report_command(args)
    if args.command == "chat":
        return _chat(args.args)
    if args.command == "dump-prompts":
        return _chat(args.args, dump_prompts=True)
    parser.error(f"unknown command {args.command}")
    return EXIT_USAGE


def _chat(argv: list[str], dump_prompts: bool = False) -> int:
    from osiris.cli import chat as llm_cli

    if dump_prompts:
        return int(llm_cli.dump_prompts_main(argv) or 0)
    code = int(llm_cli.main(argv) or 0)
    from osiris.cli.signals import exit_code

    return exit_code() if code == ExitCode.CANCELLED else code  # chat returns 130 for SIGTERM too


def _version() -> str:
    from osiris.compiler import __version__

    return __version__


if __name__ == "__main__":
    sys.exit(main())
