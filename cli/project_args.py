"""Fill a parsed `osiris` command line from the project's settings, once, before dispatch.

The commands keep reading their argparse namespace; what the user did not give on the
command line comes from the environment, osiris.yaml or the default (cli.settings), and
paths are made absolute against the project root, so a command means the same from any
directory of the project. Every command also gets `project_root`: `run` works there, and
`connections doctor` checks a relative `base_dir` there.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from osiris.cli.exits import ExitCode
from osiris.cli.project import Project, load_project, shown_path
from osiris.cli.settings import SettingsError

__all__ = ["apply_project_settings", "chat_environment", "rebased"]

_RAY = {"ray.address": "ray_address", "ray.partitions": "partitions", "ray.cpus": "ray_cpus"}
_E2B = {"e2b.timeout_s": "e2b_timeout", "e2b.cpu": "e2b_cpu", "e2b.template": "e2b_template",
        "e2b.env": "e2b_env", "e2b.transport": "e2b_transport"}


def apply_project_settings(args: argparse.Namespace) -> int | None:
    """Settle `args` for its command; an exit code (2) after printing the problems of a bad
    osiris.yaml or setting, else None."""
    command = getattr(args, "command", None)
    if command not in ("run", "logs", "report", "connections"):
        return None  # init writes the project; validate reports problems itself
    cli: dict[str, Any] = {"sessions_dir": getattr(args, "session_dir", None),
                           "connections": getattr(args, "connections", None)}
    start: Path | None = None
    if command == "run":
        start = Path(args.pipeline or args.manifest or ".").expanduser()
        memory = f"{args.step_memory}B" if args.step_memory is not None else None  # parsed to bytes already
        cli.update({"run.step_memory": memory, "run.batch_rows": args.batch_rows})
        cli.update({key: getattr(args, name) for key, name in _E2B.items()})
        cli.update({key: getattr(args, name, None) for key, name in _RAY.items()})
        cli["run.backend"] = getattr(args, "backend", None)
    if command == "logs" and args.action == "gc":
        cli.update({"logs.keep": args.keep, "logs.older_than_days": args.older_than})
    try:
        project = load_project(start, cli=cli)
    except SettingsError as error:
        sys.stderr.write("".join(problem.render() for problem in error.problems))
        sys.stderr.write(f"osiris {command}: error: the project settings are invalid (see above)\n")
        return ExitCode.USAGE
    _fill(args, command, project)
    return None


def _fill(args: argparse.Namespace, command: str, project: Project) -> None:
    settings, sources = project.settings, project.resolved.sources
    if hasattr(args, "session_dir"):
        args.session_dir = shown_path(project.path("sessions_dir"))
    if hasattr(args, "connections"):
        if sources["connections"] not in ("default", "cli"):  # a flag stays as typed (run rebases it)
            args.connections = shown_path(project.path("connections"))
        elif project.config is not None and command != "run":  # run looks in its work dir, the root
            found = project.root / settings.connections
            args.connections = shown_path(found) if found.exists() else None
    if command == "logs" and args.action == "gc":
        args.keep, args.older_than = settings.logs.keep, settings.logs.older_than_days
    args.project_root = project.root
    if command != "run":
        return
    for key, name in (("run.step_memory", "step_memory"), ("run.batch_rows", "batch_rows")):
        if sources[key] != "default":
            setattr(args, name, project.resolved.value(key))
    if not args.e2b and (getattr(args, "backend", None) or project.resolved.value("run.backend")) == "ray":
        args.backend = "ray"  # the Ray values are filled only for a Ray run, as the sandbox's for --e2b
        for key, name in _RAY.items():
            setattr(args, name, project.resolved.value(key))
    if args.e2b:  # the sandbox flags are refused without --e2b, so they are filled only with it
        for key, name in _E2B.items():
            value = project.resolved.value(key)
            setattr(args, name, list(value) if key == "e2b.env" else value)
    if args.connections is not None:
        args.connections = rebased(Path(args.connections), project.root)
    if args.pipeline:
        args.pipeline = rebased(Path(args.pipeline), project.root)
    if args.manifest:
        args.manifest = rebased(Path(args.manifest), project.root)


def rebased(path: Path, root: Path) -> str:
    """`path` (as given, relative to the current directory) relative to `root` when inside it,
    else absolute: what the run, whose working directory is `root`, resolves to the same file."""
    absolute = Path(os.path.abspath(path.expanduser()))
    absolute = Path(os.path.realpath(absolute.parent)) / absolute.name  # root is a real path too
    try:
        return absolute.relative_to(root).as_posix()
    except ValueError:
        return str(absolute)


def chat_environment(env: Mapping[str, str]) -> dict[str, str]:
    """`env` plus the chat settings osiris.yaml sets, as the OSIRIS_LLM_* variables the chat
    client reads (a variable already set wins: environment > osiris.yaml); SettingsError for a
    bad osiris.yaml."""
    from osiris.cli.settings import ENV_VARS

    project = load_project(env={})  # the chat client reads (and checks) its variables itself
    merged = dict(env)
    for key, source in project.resolved.sources.items():
        if not key.startswith("chat.") or source == "default" or env.get(ENV_VARS[key], "").strip():
            continue
        if key == "chat.base_url" and env.get("OPENAI_BASE_URL"):
            continue  # an endpoint in the environment beats the file, under either name
        value = project.resolved.value(key)
        merged[ENV_VARS[key]] = ("1" if value else "0") if isinstance(value, bool) else str(value)
    return merged
