"""`osiris validate`: is this project set up to run? (The original Osiris's verb.)

Checks osiris.yaml, the connections file, the environment variables it references (set or
not; values are never printed), that a driver loads for every connection family in use, and
with `--doctor` that each connection answers. Prints every setting with its value and where
it came from. Modes: `off` (only the settings), `warn` (warnings are shown, errors fail),
`strict` (warnings fail too); `--mode`, else OSIRIS_VALIDATION, else osiris.yaml, else warn.

Exit codes (cli/exits.py): 0 passed, 1 a check failed, 2 usage error.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from typing import Any

from osiris.cli.exits import ExitCode

__all__ = ["add_validate_parser", "validate_command"]

MODES = ("off", "warn", "strict")


def add_validate_parser(sub: Any) -> None:
    """Register `osiris validate` on the `osiris` subparsers (argparse only: cheap at start-up)."""
    validate = sub.add_parser(
        "validate",
        help="check the project setup: osiris.yaml, connections, variables, drivers",
        description="Check that this project is set up to run, and show every setting with its source.",
    )
    validate.add_argument("--mode", choices=MODES, help="off, warn or strict (warnings fail); default "
                          "$OSIRIS_VALIDATION, else validation in osiris.yaml, else warn")
    validate.add_argument("--doctor", action="store_true", help="also connect to each server")
    validate.add_argument("--timeout", type=float, default=5.0, metavar="S", help="--doctor's wait per connection")
    validate.add_argument("--connections", metavar="FILE", help="connections file (default: from the settings)")
    validate.add_argument("--json", action="store_true", help="print one machine-readable JSON result")


def validate_command(args: argparse.Namespace) -> int:
    from osiris.cli.project import load_project, shown_path
    from osiris.cli.settings import Problem, SettingsError, leaf_keys
    from osiris.runtime.secrets import SecretMasker

    if not args.timeout > 0 or args.timeout != args.timeout:
        sys.stderr.write(f"osiris validate: error: --timeout expects a positive number, got {args.timeout}\n")
        return ExitCode.USAGE
    masker = SecretMasker()
    masker.add_environment(os.environ)
    problems: list[Problem] = []
    try:
        project = load_project(cli={"validation": args.mode, "connections": args.connections})
    except SettingsError as error:
        project = None
        problems += error.problems
    mode = project.settings.validation if project else (args.mode or _env_mode() or "warn")
    report: dict[str, Any] = {"mode": mode, "settings": [], "checks": []}
    if project is not None:
        report["project_root"] = shown_path(project.root) or "."
        report["config_file"] = shown_path(project.config) if project.config else None
        report["settings"] = [
            {"name": key, "value": _plain(project.resolved.value(key)), "source": project.resolved.sources[key]}
            for key, _ in leaf_keys()
        ]
        if mode != "off":
            problems += _checks(project, args)
    errors = sum(p.severity == "error" for p in problems)
    warnings = sum(p.severity == "warning" for p in problems)
    failed = errors > 0 or (mode == "strict" and warnings > 0)
    report["checks"] = [vars(p) for p in problems]
    code = ExitCode.FAILED if failed else ExitCode.OK
    report.update(ok=not failed, errors=errors, warnings=warnings, exit_code=int(code))
    _print(report, problems, masker, as_json=args.json)
    return report["exit_code"]


def _env_mode() -> str | None:
    value = os.environ.get("OSIRIS_VALIDATION", "").strip()
    return value if value in MODES else None


def _checks(project: Any, args: argparse.Namespace) -> list[Any]:
    from osiris.cli.settings import Problem

    problems: list[Problem] = []
    if project.config is None:
        problems.append(Problem("OML097", "note", "osiris.yaml", "no osiris.yaml: the project root is the "
                                "current directory", "`osiris init` writes one (it never overwrites a file)"))
    file = _connections(project, problems)
    if file is not None:
        problems += _environment(file)
        problems += _drivers(file)
        if args.doctor:
            with contextlib.chdir(project.root):  # a relative base_dir means the project root, as in a run
                problems += _doctor(file, args.timeout)
    return problems


def _connections(project: Any, problems: list[Any]) -> Any:
    """The connections file the settings name, with its problems added; None when absent or broken."""
    from osiris.cli.project import shown_path
    from osiris.cli.settings import Problem
    from osiris.compiler.api import CompileOptions, load_connections_for
    from osiris.oml.diagnostics import Diagnostics

    path = project.path("connections")
    source = project.resolved.sources["connections"]
    label = shown_path(path)
    if not os.path.lexists(path):
        if source == "default":
            problems.append(Problem("OML070", "warning", label, f"no connections file ({label})",
                                    "pipelines that name a connection will not compile; "
                                    "`osiris init` writes a starter"))
        else:
            problems.append(Problem("OML091", "error", label, f"connections file not found: {label} (set by {source})",
                                    "fix the path, or create the file"))
        return None
    diagnostics = Diagnostics()
    file = load_connections_for(CompileOptions(connections=path, connections_label=label, cwd=project.root),
                                None, diagnostics)
    for d in diagnostics.sorted():
        if d.code == "OML076":
            continue  # reported by _environment, once per variable
        where = f"{d.span.file}:{d.span.line}:{d.span.column}"
        problems.append(Problem(d.code, "error" if d.severity == "error" else "warning", where, d.message, d.help))
    return file if file is not None and not diagnostics.has_errors else None


def _environment(file: Any) -> list[Any]:
    """Each `${VAR}` the connections file uses: set, defaulted, or missing (names only, never values)."""
    from osiris.cli.settings import Problem

    problems = []
    seen: set[str] = set()
    for family in file.families():
        for alias, decl in sorted(file.aliases[family].items()):
            for field, refs in sorted(decl.env_refs.items()):
                for ref in refs:
                    if ref.name in seen or os.environ.get(ref.name) is not None or ref.default is not None:
                        continue
                    seen.add(ref.name)
                    where = f"{ref.span.file}:{ref.span.line}:{ref.span.column}"
                    problems.append(Problem("OML076", "warning", where,
                                            f"${{{ref.name}}} is not set (@{family}.{alias} {field})",
                                            f"export {ref.name}=... before running, or write "
                                            f"${{{ref.name}:-default}}"))
    return problems


def _drivers(file: Any) -> list[Any]:
    """A family with no loadable driver cannot run: name the extra that brings it."""
    from osiris.cli.settings import Problem
    from osiris.compiler.spec_cache import default_registry as specs
    from osiris.runtime.registry import default_registry as drivers

    registry, catalog = drivers(), specs()
    problems = []
    for family in file.families():
        names = [name for name in catalog.canonical_names() if catalog.components[name].family == family]
        failures = []
        for name in names:
            try:
                registry.create(name)
            except Exception as error:  # noqa: BLE001 - an ImportError or DriverError is the finding
                failures.append(f"{name}: {error}")
        if names and len(failures) == len(names):
            problems.append(Problem("OML097", "error", f"@{family}", f"no {family} driver loads ({failures[0]})",
                                    f"install it: pip install 'osiris-oml[{family}]' (or [all])"))
        elif failures:
            problems.append(Problem("OML097", "warning", f"@{family}", f"some {family} drivers do not load: "
                                    + "; ".join(failures), f"pip install 'osiris-oml[{family}]' (or [all])"))
    return problems


def _doctor(file: Any, timeout: float) -> list[Any]:
    from osiris.cli.commands.connections_cmd import doctor_results
    from osiris.cli.settings import Problem
    from osiris.runtime.logsetup import masked_logging
    from osiris.runtime.secrets import SecretMasker

    masker = SecretMasker()
    masker.add_environment(os.environ)
    with masked_logging(masker):
        results = doctor_results(file, masker, timeout)
    problems = []
    for r in results:
        if r["ok"] is False:
            problems.append(Problem("doctor", "error", r["ref"], r["message"], r.get("hint")))
        elif r["ok"] is None:
            problems.append(Problem("doctor", "note", r["ref"], r["message"]))
        else:
            problems.append(Problem("doctor", "note", r["ref"], f"answers ({r.get('latency_ms') or 0:.0f} ms)"))
        if r.get("warning"):
            problems.append(Problem("doctor", "warning", r["ref"], r["warning"]))
    return problems


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _print(report: dict[str, Any], problems: list[Any], masker: Any, *, as_json: bool) -> None:
    if as_json:
        # No value here is a secret (settings hold none; checks name variables, never their values);
        # the text is masked all the same, in case a message quotes one.
        print(masker.mask(json.dumps(report, indent=2, ensure_ascii=False, sort_keys=True)))
        return
    out = []
    if report["settings"]:
        where = report.get("config_file") or "none (the current directory is the project root)"
        out.append(f"project: {report['project_root']} (osiris.yaml: {where})")
        width = max(len(s["name"]) for s in report["settings"])
        values = [json.dumps(s["value"], ensure_ascii=False) if not isinstance(s["value"], str) else s["value"]
                  for s in report["settings"]]
        vwidth = max(len(v) for v in values)
        for setting, value in zip(report["settings"], values, strict=True):
            out.append(f"  {setting['name']:<{width}}  {value:<{vwidth}}  {setting['source']}")
        out.append("")
    text = "\n".join(out) + "".join(p.render() for p in problems)
    verdict = "passed" if report["ok"] else "FAILED"
    text += (f"{'' if not problems else chr(10)}validate ({report['mode']}): {verdict}: "
             f"{report['errors']} error(s), {report['warnings']} warning(s)\n")
    sys.stdout.write(masker.mask(text))
