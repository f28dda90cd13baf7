"""The one error guard of `omlc`, `osiris` and `osiris chat`: the same conventions in both programs.

Bad input is each command's business (message, code, hint, exit 1 or 2). What escapes a command
lands here: Ctrl-C/SIGTERM (130/143), a closed stdout (141, quietly), a missing optional
dependency (a message naming the pip extra, exit 2) and bugs (one masked line, exit 3; the
traceback, masked and without local variables, only with `--debug` or OSIRIS_DEBUG=1).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from osiris.cli.exits import ExitCode

__all__ = ["DEBUG_ENV", "debug_requested", "guarded", "parse_command_line", "unknown_command"]

DEBUG_ENV = "OSIRIS_DEBUG"


def debug_requested(argv: Sequence[str]) -> bool:
    """`--debug` anywhere before `--`, or OSIRIS_DEBUG set to anything but '' or '0'."""
    options = list(argv)[: list(argv).index("--")] if "--" in argv else argv
    return "--debug" in options or os.environ.get(DEBUG_ENV, "") not in ("", "0")


def guarded(prog: str, command: Callable[[], int], *, debug: bool) -> int:
    """Run `command` and turn whatever escapes it into the shared exit codes."""
    from osiris.cli.signals import exit_code, terminate_as_interrupt

    terminate_as_interrupt()  # SIGTERM takes the Ctrl-C path (no half-written output), exit 143
    try:
        return int(command())
    except BrokenPipeError:
        return _broken_pipe()
    except KeyboardInterrupt:
        code = exit_code()
        _say(f"\n{prog}: " + ("terminated" if code == ExitCode.TERMINATED else "interrupted") + "\n")
        return code
    except ModuleNotFoundError as error:
        from osiris.cli.extras import missing_extra

        message = missing_extra(error)
        if message is None:
            return _internal_error(prog, error, debug)
        _say(f"{prog}: error: {message}\n")
        return ExitCode.USAGE
    except Exception as error:  # noqa: BLE001 - the one place a bug becomes one line
        return _internal_error(prog, error, debug)


def parse_command_line(parser: argparse.ArgumentParser, argv: Sequence[str], prog: str) -> argparse.Namespace | int:
    """The parsed arguments, or the exit code when the command line is refused: an unknown
    command word names the nearest one; argparse's own errors (and --help) end as it says."""
    code = unknown_command(parser, [a for a in argv if a != "--debug"], prog)
    if code is not None:
        return code
    try:
        return parser.parse_args(list(argv))
    except SystemExit as exit_:
        return int(exit_.code or 0)


def unknown_command(parser: argparse.ArgumentParser, argv: Sequence[str], prog: str) -> int | None:
    """Exit 2 with "did you mean ...?" when a command word is not one of the parser's choices.

    Walks the sub-commands as far as the leading words go (`osiris logs bundel` is caught too);
    None when every word is known, so argparse goes on as usual.
    """
    from osiris.oml.suggest import did_you_mean, one_of

    words: list[str] = []
    current = parser
    for token in argv:
        if token.startswith("-"):
            return None
        choices = _choices(current)
        if choices is None:
            return None
        if token not in choices:
            hint = did_you_mean(token, choices) or f"choose {one_of(choices, limit=30)}"
            where = " ".join([prog, *words])
            _say(f"{where}: error: unknown command {token!r}; {hint}\n  help: {where} --help\n")
            return ExitCode.USAGE
        words.append(token)
        current = choices[token]
    return None


def _choices(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser] | None:
    for action in parser._actions:  # noqa: SLF001 - argparse has no public walk of sub-commands
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            return dict(action.choices)
    return None


def _say(text: str) -> None:
    try:
        sys.stderr.write(text)
    except (OSError, ValueError):  # stderr is gone too: the exit code is all that is left
        pass


def _broken_pipe() -> int:
    """The reader of stdout went away: stop quietly, like other CLIs (141 = 128 + SIGPIPE).

    stdout is pointed at /dev/null so the interpreter's final flush does not fail again.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):  # stdout is not a file (tests, embedding)
        pass
    return ExitCode.BROKEN_PIPE


def _internal_error(prog: str, error: BaseException, debug: bool) -> int:
    """A bug, not bad input: one masked line; the masked traceback (no locals) under debug."""
    import traceback

    from osiris.oml.secrets import SecretMasker

    masker = SecretMasker()
    masker.add_environment(os.environ)
    if debug:
        _say(masker.mask("".join(traceback.format_exception(error))))
    hint = "" if debug else f" (this is a bug; rerun with --debug or {DEBUG_ENV}=1 for the traceback)"
    _say(masker.mask(f"{prog}: internal error[OML090]: {type(error).__name__}: {error}") + hint + "\n")
    return ExitCode.INTERNAL
