"""`osiris chat` and `osiris dump-prompts`: argument handling and the mapping of chat outcomes
to the shared exit codes (cli/exits.py: 0 ok, 1 no valid pipeline / the run failed / the
endpoint failed, 2 usage, 130 Ctrl-C). cli/osiris.py calls `main(argv)` and
`dump_prompts_main(argv)` lazily, inside its error guard (cli/guard.py).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from osiris.oml.secrets import SecretMasker

from osiris.cli.exits import ExitCode

__all__ = ["build_parser", "build_dump_prompts_parser", "dump_prompts_main", "main", "make_guard"]

EXIT_USAGE = ExitCode.USAGE


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="osiris chat",
        description="Design a pipeline in conversation with an LLM. The compiler checks "
        "every draft; nothing is written before `omlc check` passes and you (or --yes) confirm.",
        epilog="Endpoint settings: OSIRIS_LLM_BASE_URL, OSIRIS_LLM_MODEL, "
        "OSIRIS_LLM_API_KEY (or OPENAI_API_KEY). See docs/chat.md.",
    )
    p.add_argument("--message", "-m", metavar="TEXT", help="one-shot: the request (no questions with --yes)")
    p.add_argument("--yes", "-y", action="store_true", help="accept the checked pipeline without asking")
    p.add_argument(
        "--out", "-o", type=Path, metavar="FILE", help="where to write the pipeline (default NAME.yaml)"
    )
    p.add_argument("--run", action="store_true", help="run the pipeline after writing it")
    p.add_argument(
        "--resume", metavar="ID", help="continue a chat session (an id, a unique prefix, or 'last')"
    )
    endpoint = p.add_argument_group("endpoint")
    endpoint.add_argument(
        "--base-url", metavar="URL", help="OpenAI-compatible API base, e.g. http://localhost:11434/v1"
    )
    endpoint.add_argument("--model", metavar="NAME", help="model name (default $OSIRIS_LLM_MODEL)")
    endpoint.add_argument(
        "--tools",
        choices=("auto", "on", "off"),
        default="auto",
        help="tool calling: auto falls back to fenced YAML when the model rejects tools",
    )
    endpoint.add_argument(
        "--stream",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="stream replies (default $OSIRIS_LLM_STREAM or off)",
    )
    endpoint.add_argument("--timeout", type=float, metavar="S", help="seconds per request (default 120)")
    data = p.add_argument_group("data")
    data.add_argument(
        "--connections",
        type=Path,
        metavar="FILE",
        help="connections file (default ./osiris_connections.yaml)",
    )
    data.add_argument(
        "--discover",
        action="append",
        default=[],
        metavar="TARGET",
        help="also discover @family.alias or a path (repeatable)",
    )
    data.add_argument(
        "--samples",
        type=int,
        metavar="N",
        help="sample rows per table discovery may read and send "
        "to the model (default: ask; 0 in one-shot mode)",
    )
    data.add_argument("--no-discovery", action="store_true", help="do not look at the data")
    data.add_argument(
        "--cache-ttl", type=float, default=3600.0, metavar="S", help="discovery cache TTL (seconds)"
    )
    p.add_argument(
        "--max-repairs", type=int, default=3, metavar="N", help="repair rounds before giving up (default 3)"
    )
    prompts = p.add_mutually_exclusive_group()
    prompts.add_argument("--prompts", type=Path, metavar="DIR", help="use edited prompt templates from DIR")
    prompts.add_argument(
        "--pro-mode",
        action="store_true",
        help="use edited prompts from .osiris/prompts/ (osiris dump-prompts --export writes them)",
    )
    p.add_argument(
        "--session-dir",
        type=Path,
        default=Path(".osiris") / "chat",
        metavar="DIR",
        help="where chat sessions live (default .osiris/chat)",
    )
    return p


def _usage(message: str, hint: str | None = None) -> int:
    from osiris.oml.secrets import mask_text

    print(mask_text(f"osiris chat: error: {message}"), file=sys.stderr)
    if hint:
        print(mask_text(f"  hint: {hint}"), file=sys.stderr)
    return EXIT_USAGE


def _out_problem(out: Path) -> str | None:
    """Why --out cannot be written (checked before the model is asked), or None."""
    if out.is_dir():
        return f"--out {out} is a directory"
    parent = out.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"--out {out}: {parent} is not a directory"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"--out {out}: {parent} is not writable"
    return None


def make_guard(connections: object, env: Mapping[str, str], settings: object = None) -> SecretMasker:
    """The chat's masker: every connection secret, credential-looking environment variables, the
    API key and the password of the endpoint URL (on top of what it masks by shape)."""
    from osiris.oml.secrets import SecretMasker, secrets_in_value

    masker = SecretMasker()
    masker.add_environment(env)
    if settings is not None:
        masker.add(getattr(settings, "api_key", None) if getattr(settings, "api_key", "") != "not-needed" else None)
        masker.add(*secrets_in_value(getattr(settings, "base_url", "")))
    if connections is not None:
        for family in connections.families():
            for alias in connections.aliases.get(family, {}):
                masker.add_connection(connections.values(family, alias, env)[0], connections.rules(family, alias)[0])
    return masker


def _path_problem(flag: str, path: Path, roots: tuple[str, ...]) -> tuple[str, str] | None:
    """(message, hint) when `path` (from the command line or a saved session) breaks the path
    policy, or None. The session folder is the operator's to place, hidden or not."""
    from osiris.compiler.path_policy import PathRefused, check_path, confine_path

    hidden = flag == "--session-dir"
    problem = check_path(str(path), roots, hidden=hidden)
    if problem is None:
        try:
            confine_path(str(path), roots, hidden=hidden)  # a symbolic link inside the project that leads out
        except PathRefused as refused:
            problem = refused.problem
    return (f"{flag}: {problem.message}", problem.hint) if problem is not None else None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exit_:
        return int(exit_.code or 0)
    tty = sys.stdin.isatty() and sys.stdout.isatty()
    if args.message is None and args.resume is None and not tty:
        return _usage("interactive chat needs a terminal", "pass --message TEXT --yes for one-shot mode")
    if args.message is not None and not args.yes and not tty:
        return _usage("--message without --yes needs a terminal to confirm", "add --yes")
    if args.max_repairs < 0 or (args.samples is not None and args.samples < 0):
        return _usage("--max-repairs and --samples take numbers >= 0")
    return _chat(args, interactive=tty and not (args.message is not None and args.yes))


def _chat(args: argparse.Namespace, *, interactive: bool) -> int:
    from osiris.cli.extras import require_extra

    require_extra("chat")  # before llm's imports, so a bare install is told [chat] (not [run], for rich)
    from osiris.cli.project_args import chat_environment
    from osiris.cli.settings import SettingsError
    from osiris.compiler.path_policy import path_roots
    from osiris.compiler.spec_cache import default_registry
    from osiris.llm.chat import ChatOptions, Conversation
    from osiris.llm.client import ChatClient, LLMError, LLMSettings
    from osiris.llm.session import ChatSession, SessionDamaged, SessionNotFound
    from osiris.llm.templates import PRO_MODE_DIR, PromptError, Templates
    from osiris.llm.ui import ConsoleUI
    from osiris.runtime.connections import ConnectionsUnavailable, load_connections_file
    from osiris.runtime.discovery_service import DiscoveryService

    try:
        cwd, env = Path.cwd(), chat_environment(os.environ)  # osiris.yaml's chat: settings
    except SettingsError as error:
        sys.stderr.write("".join(problem.render() for problem in error.problems))
        return _usage("the project settings are invalid (see above)", "osiris validate shows them all")
    try:
        templates = Templates.load(args.prompts or (PRO_MODE_DIR if args.pro_mode else None))
    except PromptError as error:
        return _usage(str(error), "osiris dump-prompts --export DIR writes a fresh set")
    try:
        connections = load_connections_file(args.connections, cwd)
    except ConnectionsUnavailable as error:
        details = "; ".join(f"line {d.span.line}: {d.message}" for d in error.diagnostics[:3])
        return _usage(f"{error}" + (f" ({details})" if details else ""))
    # Chat stays in the project: the same roots as hand-written OML (compiler/path_policy.py).
    roots = path_roots(cwd, getattr(connections, "roots", ()) if connections is not None else ())
    for flag, path in (("--out", args.out), ("--session-dir", args.session_dir)):
        if path is not None and (problem := _path_problem(flag, path, roots)):
            return _usage(*problem)
    saved: ChatSession | None = None
    if args.resume:
        try:
            saved = ChatSession.load(args.session_dir, args.resume)
        except SessionDamaged as error:
            return _usage(str(error), "start a new chat, or repair or remove that directory")
        except SessionNotFound as error:
            return _usage(str(error), "osiris chat --resume last continues the newest session")
    try:
        # On --resume the session's model applies unless a flag or env overrides it; its endpoint
        # is only compared with the operator's (the key never follows a saved URL).
        settings = LLMSettings.resolve(
            model=args.model or env.get("OSIRIS_LLM_MODEL") or (saved.data.model if saved else None),
            base_url=args.base_url,
            stream=args.stream,
            timeout_s=args.timeout,
            env=env,
            saved_base_url=saved.data.base_url if saved else None,
        )
    except LLMError as error:
        return _usage(str(error), error.hint)
    if args.out is not None and (problem := _out_problem(args.out)):
        return _usage(problem, "name a pipeline file in a writable directory, e.g. --out pipeline.yaml")
    try:
        session = saved or ChatSession.create(args.session_dir)
    except OSError as error:
        return _usage(
            f"cannot create a chat session in {args.session_dir}: {error.strerror or error}",
            "pass --session-dir DIR with a writable directory",
        )
    options = ChatOptions(
        message=args.message,
        yes=args.yes,
        out=args.out,
        run=args.run,
        connections=args.connections,
        discover=args.discover,
        samples=args.samples,
        discovery=not args.no_discovery,
        max_repairs=args.max_repairs,
        tools=args.tools,
        cwd=cwd,
        env=env,
        roots=roots,
    )
    guard = make_guard(connections, env, settings)
    ui = ConsoleUI(interactive=interactive)
    ui.mask = guard.mask  # before the first line is shown
    discovery = DiscoveryService(connections, cwd=cwd, env=env, ttl_s=args.cache_ttl, roots=roots)
    client = ChatClient(settings, on_retry=ui.note)
    if not interactive:
        ui.note(f"session {session.id}; model {settings.model} at {client.shown_url}")
    try:
        conversation = Conversation(
            session,
            options,
            client,
            ui,
            templates=templates,
            registry=default_registry(),
            connections=connections,
            discovery=discovery,
            guard=guard,
        )
        return conversation.run()
    finally:
        client.close()


def build_dump_prompts_parser() -> argparse.ArgumentParser:
    from osiris.llm.templates import PRO_MODE_DIR

    parser = argparse.ArgumentParser(
        prog="osiris dump-prompts",
        description="Write the chat's prompt templates to a directory for editing; "
        "`osiris chat --prompts DIR` (or --pro-mode) uses them.",
    )
    parser.add_argument(
        "--export",
        type=Path,
        nargs="?",
        const=PRO_MODE_DIR,
        default=PRO_MODE_DIR,
        metavar="DIR",
        help="target directory (default .osiris/prompts, what --pro-mode reads)",
    )
    parser.add_argument("--force", action="store_true", help="overwrite templates already there")
    parser.add_argument("--json", action="store_true", help="print the files written as JSON")
    return parser


def dump_prompts_main(argv: Sequence[str] | None = None) -> int:
    """`osiris dump-prompts --export DIR`: write the prompt templates for editing."""
    from osiris.llm.templates import PromptError, export_prompts

    parser = build_dump_prompts_parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exit_:
        return int(exit_.code or 0)
    try:
        written = export_prompts(args.export, force=args.force)
    except PromptError as error:
        print(f"osiris dump-prompts: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as error:
        print(f"osiris dump-prompts: error: cannot write {args.export}: {error.strerror}", file=sys.stderr)
        return ExitCode.FAILED
    if args.json:
        import json

        print(json.dumps({"written": [str(path) for path in written]}, indent=2))
        return ExitCode.OK
    for path in written:
        print(path)
    return ExitCode.OK


if __name__ == "__main__":
    from osiris.cli.guard import debug_requested, guarded

    sys.exit(guarded("osiris chat", main, debug=debug_requested(sys.argv[1:])))
