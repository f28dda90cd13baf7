"""`osiris`: run pipelines, inspect sessions, components and connections.

A composition root: this module imports only argparse and the standard library at start-up
(`osiris --help` must not import pyarrow, duckdb or a driver); each command's module is
imported when that command runs. Exit codes: 0 success, 1 a step or the compile failed,
2 usage error, 130 cancelled (Ctrl-C).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

__all__ = ["build_parser", "main"]

EXIT_USAGE = 2


def _param(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _size(text: str) -> int:
    import re

    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)?\s*", text, re.IGNORECASE)
    if not match:
        raise argparse.ArgumentTypeError(f"expected a size like 512MB or 2GiB, got {text!r}")
    units = {"b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "kib": 1024, "mib": 1024**2, "gib": 1024**3}
    return int(float(match.group(1)) * units[(match.group(2) or "MiB").lower()])


def _session_dir_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--session-dir",
        default=".osiris/sessions",
        metavar="DIR",
        help="where sessions live (default: .osiris/sessions)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="osiris",
        description="Run OML data pipelines locally and inspect their sessions.",
        epilog="Compile-only checks: omlc check PIPELINE.yaml. Docs: docs/architecture.md.",
    )
    parser.add_argument("--version", action="version", version=f"osiris {_version()}")
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
        "--connections", metavar="FILE", help="connections file (default: ./osiris_connections.yaml)"
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
    from runtime.e2b.cli_args import add_e2b_arguments  # argparse only; the proxy loads with --e2b

    add_e2b_arguments(run)

    init = sub.add_parser("init", help="write a starter project (never overwrites)")
    init.add_argument("directory", nargs="?", default=".", help="where to write (default: .)")

    conns = sub.add_parser("connections", help="list and check connections")
    conns_sub = conns.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, text in (
        ("list", "list the aliases in the connections file"),
        ("doctor", "check that each connection answers"),
    ):
        action = conns_sub.add_parser(name, help=text)
        action.add_argument("--connections", metavar="FILE")
        action.add_argument("--json", action="store_true")
        if name == "doctor":
            action.add_argument("--timeout", type=float, default=5.0, metavar="S")

    comps = sub.add_parser("components", help="list components and show their configuration")
    comps_sub = comps.add_subparsers(dest="action", metavar="ACTION", required=True)
    comps_list = comps_sub.add_parser("list", help="list every component")
    comps_list.add_argument("--json", action="store_true")
    comps_show = comps_sub.add_parser("show", help="show one component's config keys and examples")
    comps_show.add_argument("name")
    comps_show.add_argument("--json", action="store_true")

    logs = sub.add_parser("logs", help="list, show and clean up run sessions")
    logs_sub = logs.add_subparsers(dest="action", metavar="ACTION", required=True)
    logs_list = logs_sub.add_parser("list", help="list sessions, newest first")
    _session_dir_arg(logs_list)
    logs_list.add_argument("--limit", type=_positive_int, default=20)
    logs_list.add_argument("--json", action="store_true")
    logs_show = logs_sub.add_parser("show", help="show one session (ID, a unique prefix, or 'last')")
    logs_show.add_argument("session_id", metavar="ID")
    _session_dir_arg(logs_show)
    logs_show.add_argument("--events", action="store_true", help="also print every event")
    logs_show.add_argument("--json", action="store_true")
    logs_gc = logs_sub.add_parser("gc", help="delete old sessions")
    _session_dir_arg(logs_gc)
    logs_gc.add_argument("--keep", type=int, metavar="N", help="keep the newest N sessions")
    logs_gc.add_argument("--older-than", type=float, metavar="DAYS", help="delete sessions older than DAYS")
    logs_gc.add_argument("--dry-run", action="store_true")
    logs_gc.add_argument("--json", action="store_true")

    report = sub.add_parser("report", help="write a self-contained HTML report of a session")
    report.add_argument("session_id", metavar="ID")
    _session_dir_arg(report)
    report.add_argument(
        "--out", metavar="FILE", help="output file (default: <session>/artifacts/report.html)"
    )

    chat = sub.add_parser("chat", help="design a pipeline in conversation with an LLM", add_help=False)
    chat.add_argument("args", nargs=argparse.REMAINDER)
    prompts = sub.add_parser("dump-prompts", help="export the chat prompt templates for editing",
                             add_help=False)
    prompts.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["chat"]:  # everything after `chat` belongs to llm.cli, options included
        return _chat(argv[1:])
    if argv[:1] == ["dump-prompts"]:
        return _chat(argv[1:], dump_prompts=True)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    if args.command == "run":
        from runtime.commands.run_cmd import run_command

        return run_command(args, parser)
    if args.command == "init":
        from runtime.commands.init_cmd import init_command

        return init_command(args)
    if args.command == "connections":
        from runtime.commands.connections_cmd import connections_command

        return connections_command(args)
    if args.command == "components":
        from runtime.commands.components_cmd import components_command

        return components_command(args)
    if args.command == "logs":
        from runtime.commands.logs_cmd import logs_command

        return logs_command(args)
    if args.command == "report":
        from runtime.commands.report_cmd import report_command

        return report_command(args)
    if args.command == "chat":
        return _chat(args.args)
    if args.command == "dump-prompts":
        return _chat(args.args, dump_prompts=True)
    parser.error(f"unknown command {args.command}")
    return EXIT_USAGE


def _chat(argv: list[str], dump_prompts: bool = False) -> int:
    try:
        from llm import cli as llm_cli  # type: ignore[attr-defined]
    except ImportError as error:
        if getattr(error, "name", "") in ("llm.cli", "llm"):
            print("osiris chat is not available yet", file=sys.stderr)
            return EXIT_USAGE
        raise
    if dump_prompts:
        return int(llm_cli.dump_prompts_main(argv) or 0)
    return int(llm_cli.main(argv) or 0)


def _version() -> str:
    from compiler import __version__

    return __version__


if __name__ == "__main__":
    sys.exit(main())
