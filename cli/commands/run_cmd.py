"""`osiris run`: argument handling, Ctrl-C, live progress and the final summary.

Everything printed goes through the run's SecretMasker. Under `--debug` the tracebacks of
failed steps are printed too, masked; without it a failure is one line naming the step, the
component and the cause, plus a hint. An unexpected exception is left to `runtime.cli.main`,
which prints it as one masked line (the traceback under `--debug`).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from osiris.cli.commands.output import render_summary
from osiris.cli.signals import exit_code, on_stop_signals
from osiris.compiler.render import terminal_safe

__all__ = ["run_command"]


def run_command(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from osiris.runtime.local.executor import ExecOptions
    from osiris.runtime.run import EXIT_CANCELLED, EXIT_USAGE, RunRequest, UsageError, run
    from osiris.runtime.session import SessionError

    # The CLI's wording of run._check_request's first rule (which embedders get as UsageError).
    if args.pipeline and args.manifest:
        return _usage("give a pipeline file or --manifest DIR, not both")
    if not args.pipeline and not args.manifest:
        return _usage("give a pipeline file (osiris run PIPELINE.yaml) or --manifest DIR")
    session_root = Path(args.session_dir).expanduser().absolute()  # the run works in the project root
    if session_root.exists() and not session_root.is_dir():
        return _usage(f"--session-dir {args.session_dir} is not a directory")
    from osiris.runtime.e2b.host.cli_args import executor_from_args
    from osiris.runtime.ray.cli_args import ray_executor_from_args

    try:
        executor = ray_executor_from_args(args) or executor_from_args(args)
    except ValueError as error:
        return _usage(str(error))
    work_dir = getattr(args, "project_root", None) or Path.cwd()  # the project root (cli/project.py)
    options = ExecOptions(work_dir=work_dir, debug=args.debug, keep_spill=args.keep_spill)
    if args.step_memory is not None:
        options.step_memory_bytes = args.step_memory
    if args.batch_rows is not None:
        options.batch_rows = args.batch_rows
    request = RunRequest(
        pipeline=Path(args.pipeline) if args.pipeline else None,
        manifest_dir=Path(args.manifest) if args.manifest else None,
        params=dict(args.param),
        profile=args.profile,
        connections=args.connections,
        run_id=args.run_id,
        session_root=session_root,
        work_dir=work_dir,
        exec_options=options,
    )
    cancel = threading.Event()
    live = _wants_live(args)
    display = None

    def on_cancel(signum: int) -> None:
        cancel.set()
        what = "terminated (SIGTERM)" if signum == signal.SIGTERM else "cancelling"
        if display is not None:
            display.note(f"{what}: waiting for steps to stop (Ctrl-C again to stop at once)")
        elif not (args.quiet or args.json):
            sys.stderr.write(f"\nosiris: {what}, waiting for steps to stop (Ctrl-C again to stop at once)...\n")

    # Ctrl-C and SIGTERM both set the cancel event (a second one exits at once, 130/143).
    restore = on_stop_signals(on_cancel)

    def on_session(session) -> None:  # noqa: ANN001
        nonlocal display
        if live:
            from osiris.runtime.progress import LiveProgress

            display = LiveProgress(session.masker)
            display.start()

    def on_change(state) -> None:  # noqa: ANN001
        if display is not None:
            display.update(state)

    try:
        outcome = run(request, cancel=cancel, on_session=on_session, on_change=on_change, executor=executor)
    except (UsageError, SessionError) as error:
        return _usage(str(error), code=EXIT_USAGE)
    finally:  # any other exception is a bug: runtime.cli.main reports it (masked)
        if display is not None:
            display.stop()
        restore()
    code = _report(outcome, args)
    return exit_code() if code == EXIT_CANCELLED else code  # 143 after SIGTERM, 130 after Ctrl-C


def _report(outcome: Any, args: argparse.Namespace) -> int:
    mask = outcome.masker.mask
    session_dir = _shown_path(outcome.session.dir)
    if args.json:
        body = dict(outcome.status)
        body["session_dir"] = session_dir
        body["exit_code"] = outcome.exit_code
        from osiris.compiler.render import diagnostic_json

        body["diagnostics"] = [diagnostic_json(d) for d in outcome.diagnostics]
        print(mask(json.dumps(outcome.masker.mask_data(body), indent=2, ensure_ascii=False, sort_keys=True)))
        return outcome.exit_code
    if outcome.diagnostics and (not args.quiet or outcome.exit_code != 0):
        sys.stderr.write(mask(_render_diagnostics(outcome)))
    if args.debug:
        for runner in outcome.result.runners.values() if outcome.result else ():
            if runner.traceback:
                sys.stderr.write(f"--- traceback of step {runner.step.id} (secrets masked) ---\n")
                sys.stderr.write(terminal_safe(mask(runner.traceback)))
    text = render_summary(outcome.status, session_dir, quiet=args.quiet)
    stream = sys.stdout if outcome.exit_code == 0 else sys.stderr
    if text:
        stream.write(terminal_safe(mask(text)))
    return outcome.exit_code


def _render_diagnostics(outcome: Any) -> str:
    from osiris.compiler.render import render_text

    diagnostics = outcome.diagnostics
    result = outcome.compile_result
    label = result.file if result is not None else (diagnostics[0].span.file if diagnostics else "")
    sources = (
        {result.file: result.pipeline.text} if result is not None and result.pipeline is not None else {}
    )
    colour = sys.stderr.isatty() and "NO_COLOR" not in os.environ
    return render_text([(label, diagnostics)], sources, colour=colour)


def _wants_live(args: argparse.Namespace) -> bool:
    return not (args.json or args.quiet) and sys.stderr.isatty() and os.environ.get("TERM") != "dumb"


def _usage(message: str, code: int = 2) -> int:
    sys.stderr.write(f"osiris run: error: {message}\n")
    return code


def _shown_path(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
