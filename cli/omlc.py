"""omlc: the OML compiler's command line.

Exit codes (cli/exits.py, shared with `osiris`): 0 no errors, 1 the input has errors, 2 usage
error, 3 internal error (one line; `--debug` or OSIRIS_DEBUG=1 shows the traceback), 130 Ctrl-C,
141 stdout closed early, 143 SIGTERM. Heavy or rarely used modules are imported inside the
commands so `omlc --help` and `omlc check` start fast. `osiris compile` and `osiris oml validate`
are `compile` and `check` from here (same arguments, same code).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from osiris.cli.exits import ExitCode
from osiris.cli.guard import debug_requested, guarded, parse_command_line
from osiris.compiler import __version__

EXIT_OK, EXIT_INPUT, EXIT_USAGE = ExitCode.OK, ExitCode.FAILED, ExitCode.USAGE


def _param(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name.strip(), value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="omlc", description="Check, compile and inspect OML pipelines.")
    parser.add_argument("--version", action="version", version=f"omlc {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback (secrets masked) when omlc fails unexpectedly")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    check_arguments(sub.add_parser("check", help="report every problem in OML files (no output written)"))
    compile_arguments(sub.add_parser("compile", help="compile an OML file into a manifest directory"))

    schema = sub.add_parser("schema", help="print the JSON Schema of OML (for editors)")
    schema.add_argument("--out", type=Path, metavar="FILE", help="write to FILE instead of stdout")

    fmt = sub.add_parser("fmt", help="format OML files canonically, keeping comments")
    fmt.add_argument("files", nargs="+", type=Path, metavar="FILE", help="OML files, rewritten in place")
    fmt.add_argument("--check", action="store_true", help="only report files that would change (exit 1)")

    graph = sub.add_parser("graph", help="print the step graph (exit 1, no graph, when the file has errors)")
    graph.add_argument("file", type=Path, metavar="FILE", help="the OML pipeline file")
    graph.add_argument("--format", choices=("mermaid", "dot", "json"), default="mermaid",
                       help="Mermaid, Graphviz DOT, or the steps and edges as JSON (default mermaid)")
    graph.add_argument("--json", action="store_const", dest="format", const="json", help="same as --format json")
    _inputs(graph)

    diff = sub.add_parser("diff", help="what changed between two versions of a pipeline, and whether it is breaking")
    diff.add_argument("old", type=Path, metavar="OLD", help="an OML file or a compiled directory")
    diff.add_argument("new", type=Path, metavar="NEW", help="an OML file or a compiled directory")
    diff.add_argument("--format", choices=("text", "json", "markdown"), default="text",
                      help="text, JSON, or Markdown for a pull-request comment (default text)")
    diff.add_argument("--json", action="store_const", dest="format", const="json", help="same as --format json")
    diff.add_argument("--exit-code", action="store_true",
                      help="as `git diff --exit-code`: 1 when they differ, 0 when not, 2 when they cannot be compared")
    _inputs(diff)

    explain = sub.add_parser("explain", help="explain a diagnostic code, e.g. `omlc explain OML031`")
    explain.add_argument("code", metavar="CODE", nargs="?", help="a code (OML031) or its name")
    explain.add_argument("--markdown", action="store_true", help="print every code as Markdown (docs/diagnostics.md)")
    explain.add_argument("--json", action="store_true", help="print the code's catalog entry (or all) as JSON")
    return parser


def _inputs(p: argparse.ArgumentParser) -> None:
    p.add_argument("--connections", type=Path, metavar="FILE",
                   help="osiris_connections.yaml (default: the one in the project root, if present)")
    p.add_argument("--param", type=_param, action="append", default=[], metavar="NAME=VALUE",
                   help="set a parameter (highest precedence); repeatable")
    p.add_argument("--profile", help="apply a profile's parameter values")


def check_arguments(check: argparse.ArgumentParser) -> None:
    """`omlc check` and `osiris oml validate`."""
    check.add_argument("files", nargs="+", type=Path, metavar="FILE", help="OML pipeline files")
    check.add_argument("--format", choices=("text", "json", "sarif"), default="text",
                       help="how to print diagnostics")
    check.add_argument("--json", action="store_const", dest="format", const="json", help="same as --format json")
    _inputs(check)
    check.set_defaults(handler=cmd_check)


def compile_arguments(comp: argparse.ArgumentParser) -> None:
    """`omlc compile` and `osiris compile`."""
    comp.add_argument("file", type=Path, metavar="FILE", help="the OML pipeline file")
    comp.add_argument("--out", type=Path, required=True, metavar="DIR", help="output directory (replaced atomically)")
    comp.add_argument("--format", choices=("text", "json", "sarif"), default="text",
                      help="how to print diagnostics")
    comp.add_argument("--json", action="store_const", dest="format", const="json", help="same as --format json")
    _inputs(comp)
    comp.set_defaults(handler=cmd_compile)


def _options(args: argparse.Namespace, first: str, search_connections: bool = True):  # noqa: ANN202 - CompileOptions
    """Compile options as `osiris run` settles them: relative paths in the pipeline and the connections
    file resolve against the project root (the nearest osiris.yaml above `first`, else the current
    directory), and osiris.yaml or OSIRIS_CONNECTIONS may name the connections file. A bad osiris.yaml
    is printed with its positions and ends the command with exit 2."""
    from osiris.cli.project import command_line_only, load_project, shown_path
    from osiris.compiler.api import CompileOptions

    given = None if args.connections is None else str(args.connections)
    quick = command_line_only(Path(first).expanduser(), given)
    if quick is not None:  # no osiris.yaml, no setting in the environment: no settings model to build
        return CompileOptions(connections=quick.connections, connections_label=given, params=dict(args.param),
                              profile=args.profile, search_connections=search_connections, cwd=quick.root,
                              discovered=_cached_table)
    from osiris.cli.settings import SettingsError

    try:
        project = load_project(Path(first).expanduser(), cli={"connections": given})
    except SettingsError as error:
        sys.stderr.write("".join(problem.render() for problem in error.problems))
        sys.stderr.write(f"omlc {args.command}: error: the project settings are invalid (see above)\n")
        raise SystemExit(EXIT_USAGE) from None
    connections = label = None
    if project.resolved.sources["connections"] != "default":
        connections = project.path("connections")
        label = str(args.connections) if args.connections is not None else shown_path(connections)
    return CompileOptions(connections=connections, connections_label=label, params=dict(args.param),
                          profile=args.profile, search_connections=search_connections, cwd=project.root,
                          discovered=_cached_table)


def _cached_table(ref: str, table: str) -> object:
    """What `osiris discover` cached of a table, for the cursor check (imported only when asked)."""
    from osiris.runtime.discovery_cache import cached_table

    return cached_table(ref, table)


def _print_diagnostics(results: list, fmt: str) -> None:  # noqa: ANN001
    from osiris.compiler.render import render_json, render_sarif, render_text

    files = [(r.file, r.diagnostics) for r in results]
    if fmt == "json":
        sys.stdout.write(render_json(files))
    elif fmt == "sarif":
        sys.stdout.write(render_sarif(files))
    else:
        sources = {r.file: r.pipeline.text for r in results if r.pipeline is not None}
        text = render_text(files, sources, colour=sys.stderr.isatty() and "NO_COLOR" not in os.environ)
        sys.stderr.write(text)


def cmd_check(args: argparse.Namespace) -> int:
    from osiris.compiler.api import compile_path, load_connections_for
    from osiris.compiler.spec_cache import default_registry
    from osiris.oml.diagnostics import Diagnostics

    options = _options(args, args.files[0])
    registry = default_registry()
    shared = Diagnostics()
    connections = load_connections_for(options, registry, shared)
    results = [compile_path(f, options, registry, connections) for f in args.files]
    if len(shared):
        from osiris.compiler.api import CompileResult

        results.insert(0, CompileResult(str(args.connections or "osiris_connections.yaml"), shared.sorted(), {}, None))
    _print_diagnostics(results, args.format)
    if args.format == "text" and not any(r.diagnostics for r in results):
        sys.stderr.write(f"checked {len(results)} file{'s' if len(results) != 1 else ''}: no problems\n")
    return EXIT_INPUT if any(not r.ok for r in results) else EXIT_OK


def cmd_compile(args: argparse.Namespace) -> int:
    from osiris.compiler.api import OutputRefused, compile_path, write_output

    result = compile_path(args.file, _options(args, args.file))
    problem = None
    if result.ok:
        try:
            write_output(result, args.out)
        except OutputRefused as error:
            problem = str(error)
        except OSError as error:
            problem = f"cannot write {args.out}: {error.strerror or error}"
    if problem is not None:  # a diagnostic like any other, so --format json/sarif carry it too
        import dataclasses

        from osiris.oml.diagnostics import Diagnostics
        from osiris.oml.span import Span

        extra = Diagnostics()
        extra.add("OML091", Span.whole_file(str(args.out)), problem)
        result = dataclasses.replace(result, diagnostics=[*result.diagnostics, *extra])
    _print_diagnostics([result], args.format)
    if not result.ok or problem is not None:
        return EXIT_INPUT
    if args.format == "text":
        fps = __import__("json").loads(result.artifacts["meta.json"])["fingerprints"]
        sys.stderr.write(f"compiled {args.file} -> {args.out}/ ({len(result.artifacts)} files, "
                         f"manifest_fp {fps['manifest_fp'][:19]})\n")
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    from osiris.compiler.jsonschema_export import oml_json_schema
    from osiris.oml.canonical import pretty_json

    data = pretty_json(oml_json_schema())
    if args.out:
        from osiris.compiler.writer import write_file

        try:
            write_file(args.out, data)
        except OSError as error:
            sys.stderr.write(f"{args.out}:1:1: error[OML091]: cannot write: {error.strerror or error}\n")
            return EXIT_INPUT
    else:
        sys.stdout.write(data.decode("utf-8"))
    return EXIT_OK


def cmd_fmt(args: argparse.Namespace) -> int:
    from osiris.compiler.api import SourceError, read_source
    from osiris.compiler.fmt import FormatError, format_text
    from osiris.compiler.writer import write_file

    changed = failed = 0
    for path in args.files:
        try:
            original = read_source(path, str(path))
            formatted = format_text(original)
        except SourceError as error:
            sys.stderr.write(f"{path}:1:1: error[{error.code}]: {error}\n"
                             + (f"  help: {error.help}\n" if error.help else ""))
            failed += 1
            continue
        except FormatError as error:
            sys.stderr.write(f"{path}:{error.line}:{error.column}: error[{error.code}]: {error}\n")
            failed += 1
            continue
        if formatted != original:
            changed += 1
            if args.check:
                sys.stderr.write(f"would reformat {path}\n")
            else:
                try:
                    write_file(path, formatted.encode("utf-8"))
                except OSError as error:
                    sys.stderr.write(f"{path}:1:1: error[OML091]: cannot write: {error.strerror or error}\n")
                    failed += 1
                    continue
                sys.stderr.write(f"reformatted {path}\n")
    return EXIT_INPUT if failed or (args.check and changed) else EXIT_OK


def cmd_graph(args: argparse.Namespace) -> int:
    """The graph of a pipeline that checks; otherwise its diagnostics and exit 1, like `check`
    (connection references are checked only when --connections is given)."""
    from osiris.compiler.api import compile_path
    from osiris.compiler.graph import render_graph

    result = compile_path(args.file, _options(args, args.file, search_connections=False))
    if not result.ok or result.pipeline is None:
        _print_diagnostics([result], "text")
        return EXIT_INPUT
    if args.format == "json":
        sys.stdout.write(_json(_graph_data(result.pipeline)))
        return EXIT_OK
    sys.stdout.write(render_graph(result.pipeline, args.format))
    return EXIT_OK


def cmd_diff(args: argparse.Namespace) -> int:
    """Compile (or verify) both sides, then classify each change (compiler/diff.py). A side that
    does not compile prints its diagnostics; the command then exits 1, or 2 with --exit-code
    (1 there means "they differ")."""
    from osiris.compiler.diff import diff
    from osiris.compiler.diff_render import RENDERERS
    from osiris.compiler.spec_cache import default_registry

    registry = default_registry()
    sides = [_diff_side(path, args, registry) for path in (args.old, args.new)]
    if sides[0] is None or sides[1] is None:
        sys.stderr.write("omlc diff: error: cannot compare (see above)\n")
        return EXIT_USAGE if args.exit_code else EXIT_INPUT
    result = diff(sides[0], sides[1], registry)
    sys.stdout.write(RENDERERS[args.format](result))
    return EXIT_INPUT if args.exit_code and not result.identical else EXIT_OK


def _diff_side(path: Path, args: argparse.Namespace, registry):  # noqa: ANN001, ANN202 - a compiler.diff.Side or None
    from osiris.compiler.diff import side_from_compile, side_from_directory

    label = str(path)
    if path.is_dir():
        from osiris.compiler.manifest import ManifestError, load_manifest, read_regular, read_sources
        from osiris.compiler.render import render_text

        try:
            manifest, cfgs, meta = load_manifest(path, label=label, registry=registry)
        except ManifestError as error:
            sys.stderr.write(render_text([(label, error.diagnostics)], {}, colour=False))
            return None
        try:
            sources = read_sources(read_regular(path / "sourcemap.json", f"{label}/sourcemap.json"))
        except (ManifestError, OSError):
            sources = None
        return side_from_directory(label, manifest, cfgs, meta, sources, _diff_source(path, sources, args, registry))
    from osiris.compiler.api import compile_path

    result = compile_path(path, _options(args, str(path)), registry)
    if not result.ok or result.compiled is None:
        _print_diagnostics([result], "text")
        return None
    return side_from_compile(label, result)


def _diff_source(directory: Path, sources, args: argparse.Namespace, registry):  # noqa: ANN001, ANN202
    """The OML file a compiled directory's sourcemap.json names, beside the directory or in the
    working directory, compiled for its config lines (compiler/diff.py keeps it only if unedited)."""
    from osiris.compiler.api import compile_path

    if sources is None:
        return None
    for base in (directory.parent, Path()):
        candidate = base / sources.file
        if candidate.is_file():
            return compile_path(candidate, _options(args, str(candidate)), registry)
    return None


def cmd_explain(args: argparse.Namespace) -> int:
    from osiris.oml.codes import catalog_markdown, lookup

    if args.markdown:
        sys.stdout.write(catalog_markdown())
        return EXIT_OK
    if args.json and args.code is None:
        from osiris.oml.codes import CATALOG

        sys.stdout.write(_json([code_json(c) for c in CATALOG.values()]))
        return EXIT_OK
    if args.code is None:
        sys.stderr.write("omlc explain: give a code such as OML031, or --markdown\n")
        return EXIT_USAGE
    code = lookup(args.code)
    if code is None:
        from osiris.oml.codes import CATALOG
        from osiris.oml.suggest import did_you_mean

        hint = did_you_mean(args.code.upper(), CATALOG)
        sys.stderr.write(f"omlc: unknown code {args.code!r}" + (f"; {hint}" if hint else "") + "\n")
        return EXIT_USAGE
    if args.json:
        sys.stdout.write(_json(code_json(code)))
        return EXIT_OK
    sys.stdout.write(f"{code.code} ({code.name}, {code.severity}): {code.summary}\n\n")
    import textwrap

    sys.stdout.write(textwrap.fill(code.explanation, 88) + "\n")
    return EXIT_OK


def _graph_data(pipeline) -> dict[str, object]:  # noqa: ANN001 - oml.ir.Pipeline, imported lazily
    """The graph `render_graph` draws, as data: steps in file order, data and order-only edges."""
    steps = sorted(pipeline.steps, key=lambda s: s.index)
    data = sorted({(i.step, s.id, i.name) for s in steps for i in s.data_inputs})
    order = sorted({(d, s.id) for s in steps for d in s.depends_on} - {(a, b) for a, b, _ in data})
    return {"pipeline": pipeline.name,
            "steps": [{"id": s.id, "component": s.component, "kind": s.kind} for s in steps],
            "edges": [{"from": a, "to": b, "input": name} for a, b, name in data]
            + [{"from": a, "to": b, "input": None} for a, b in order]}


def code_json(code) -> dict[str, str]:  # noqa: ANN001 - oml.codes.Code, imported lazily
    return {"code": code.code, "name": code.name, "severity": code.severity, "summary": code.summary,
            "explanation": code.explanation}


def _json(data: object) -> str:
    import json

    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


COMMANDS = {"check": cmd_check, "compile": cmd_compile, "schema": cmd_schema, "fmt": cmd_fmt,
            "graph": cmd_graph, "explain": cmd_explain, "diff": cmd_diff}


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:  # the console script: skip the interpreter's teardown at exit (cli/quick_exit.py)
        import gc

        from osiris.cli import quick_exit

        quick_exit.arm()
        # One short process: the cyclic collector would only rescan what the imports create (~8 ms of
        # `omlc compile`'s ~150); the compile runs without it anyway (compiler/api.py), its IR is acyclic.
        gc.disable()
        return quick_exit.leave_with(main(sys.argv[1:]))
    argv = list(argv)
    return guarded("omlc", lambda: _main(argv), debug=debug_requested(argv))


def _main(argv: list[str]) -> int:
    args = parse_command_line(_parser(), argv, "omlc")
    return args if isinstance(args, int) else COMMANDS[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
