"""The compiler's public API: what the CLI, the runtime and `osiris chat` call.

`check` and `compile` are one code path: both run every pass including `emit` (in memory);
`compile` then writes the files. Whatever `check` accepts compiles, and whatever it rejects
never does.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from osiris.compiler.checks.secrets import redact_diagnostics
from osiris.compiler.compiled import Compiled
from osiris.compiler.connections import ConnectionsFile, find_connections_file, load_connections
from osiris.compiler.context import CompileContext
from osiris.compiler.passes import PASSES, emit
from osiris.compiler.spec_cache import default_registry
from osiris.compiler.writer import write_tree
from osiris.oml.diagnostics import Diagnostic, Diagnostics
from osiris.oml.ir import Pipeline
from osiris.oml.lower import parse_pipeline
from osiris.oml.source import InputError, max_input_bytes, read_text
from osiris.oml.span import Span
from osiris.spec.registry import Registry

__all__ = ["CompileOptions", "CompileResult", "Compiled", "SourceError", "compile_path", "compile_text",
           "connections_path", "input_limit", "load_connections_for", "read_source", "write_output"]


@dataclass
class CompileOptions:
    connections: Path | None = None
    """Explicit connections file; when None, ./osiris_connections.yaml is used if present."""
    connections_label: str | None = None
    """How diagnostics name the connections file (default: as given on the command line)."""
    search_connections: bool = True
    params: Mapping[str, str] = field(default_factory=dict)
    profile: str | None = None
    env: Mapping[str, str] | None = None
    """Environment for OSIRIS_PARAM_* and ${VAR} checks; None means os.environ."""
    cwd: Path | None = None
    discovered: Callable[[str, str], Any] | None = None
    """What discovery already knows of a table's columns (compiler/passes/check_cursors.py);
    the compiler itself never connects to anything."""


@dataclass
class CompileResult:
    file: str
    diagnostics: list[Diagnostic]
    artifacts: dict[str, bytes]
    pipeline: Pipeline | None
    connections: ConnectionsFile | None = None
    """The connections file the compile checked against, so a runtime uses it instead of rereading."""
    compiled: Compiled | None = None
    """The compiled pipeline (manifest model, step configs, meta, source map): what `artifacts`
    holds as bytes, for a runtime that runs it without reading the files back."""

    @property
    def ok(self) -> bool:
        return not any(d.severity == "error" for d in self.diagnostics)


def connections_path(options: CompileOptions) -> Path | None:
    """The connections file `options` name: `~` expanded, relative paths against `options.cwd`.

    Compiler and runtime both go through here, so a path that compiles is a path that runs.
    """
    if not options.search_connections and options.connections is None:
        return None
    path = find_connections_file(options.connections, options.cwd)
    if path is None:
        return None
    path = path.expanduser()
    return path if path.is_absolute() or options.cwd is None else options.cwd / path


def load_connections_for(options: CompileOptions, registry: Registry | None,
                         diagnostics: Diagnostics) -> ConnectionsFile | None:
    """The connections file `options` name, parsed against `registry`'s families (default: the shipped specs)."""
    path = connections_path(options)
    if path is None:
        return None
    label = options.connections_label or str(options.connections or path.name)
    if options.connections is not None and not path.exists():  # a FIFO or device: OML014 on reading
        diagnostics.add("OML091", Span.whole_file(label), f"connections file not found: {label}")
        return None
    return load_connections(path, label, registry or default_registry(), diagnostics)


def compile_text(text: str, file: str, options: CompileOptions | None = None,
                 registry: Registry | None = None,
                 connections: ConnectionsFile | None | bool = True) -> CompileResult:
    """Run every pass over OML `text`; `file` is the name diagnostics and artifacts use.

    `connections=True` loads the connections file from `options`; pass a loaded
    ConnectionsFile (or None for "no file") to share one across many pipelines.
    """
    options = options or CompileOptions()
    try:
        max_bytes = input_limit(options)
    except InputError as error:
        return _io_failure(file, error)
    registry = registry or default_registry()
    diagnostics = Diagnostics()
    conns = load_connections_for(options, registry, diagnostics) if connections is True else connections
    ctx = CompileContext(
        registry=registry, connections=conns if isinstance(conns, ConnectionsFile) else None,
        cli_params=dict(options.params), env=os.environ if options.env is None else options.env,
        profile=options.profile, diagnostics=diagnostics, project_root=options.cwd,
        discovered=options.discovered,
    )
    # The IR is acyclic and short-lived: the cyclic garbage collector only rescans it (a third
    # of the time on 10,000-step files), so it is paused while compiling.
    collecting = gc.isenabled()
    gc.disable()
    try:
        pipeline = parse_pipeline(text, file, diagnostics, max_bytes)
        artifacts: dict[str, bytes] = {}
        compiled: Compiled | None = None
        if pipeline is not None:
            for compiler_pass in PASSES:
                pipeline = compiler_pass(pipeline, ctx)
            pipeline, artifacts, compiled = emit(pipeline, ctx)
    finally:
        if collecting:
            gc.enable()
    used = conns if isinstance(conns, ConnectionsFile) else None
    # A diagnostic may quote a value OML080 reports as a secret: shown masked, like its excerpt.
    return CompileResult(file, redact_diagnostics(diagnostics.sorted(), text), artifacts, pipeline, used,
                         compiled if not diagnostics.has_errors else None)


def compile_path(path: Path, options: CompileOptions | None = None, registry: Registry | None = None,
                 connections: ConnectionsFile | None | bool = True, label: str | None = None) -> CompileResult:
    """Read `path` (reporting OML091/OML011/OML014 instead of raising) and compile it."""
    label = label or str(path)
    try:
        text = read_source(path, label, input_limit(options or CompileOptions()))
    except SourceError as error:
        return _io_failure(label, error)
    return compile_text(text, label, options, registry, connections)


SourceError = InputError
"""An OML file that will not be read: its code (OML091, OML011, OML014), message and help."""


def input_limit(options: CompileOptions) -> int:
    """The input cap for this compile: OSIRIS_MAX_INPUT_SIZE in `options.env` (or os.environ)."""
    return max_input_bytes(options.env)


def read_source(path: Path, label: str, max_bytes: int | None = None) -> str:
    """The file's text (UTF-8, bytes as they are: no newline translation), or SourceError.

    Only a regular file within the input cap (default: from the environment) is read; a
    device or FIFO is refused without blocking (oml.source)."""
    return read_text(path, label, max_input_bytes() if max_bytes is None else max_bytes)


def _io_failure(label: str, error: InputError) -> CompileResult:
    diagnostics = Diagnostics()
    diagnostics.add(error.code, Span.whole_file(label), error.message, help=error.help)
    return CompileResult(label, diagnostics.sorted(), {}, None)


class OutputRefused(Exception):
    """The output directory exists and is not a compiled pipeline: we will not replace it."""


def write_output(result: CompileResult, out_dir: Path) -> None:
    """Write `result`'s artifacts to `out_dir` atomically (only when the compile succeeded)."""
    if not result.ok:
        raise ValueError("refusing to write the output of a failed compile")
    out_dir = Path(out_dir)
    if out_dir.exists():
        if not out_dir.is_dir():
            raise OutputRefused(f"{out_dir} exists and is not a directory")
        entries = {p.name for p in out_dir.iterdir()}
        if entries and "manifest.yaml" not in entries:
            raise OutputRefused(f"{out_dir} is not empty and holds no manifest.yaml: "
                                "refusing to replace it (choose an empty or new directory)")
    write_tree(out_dir, result.artifacts)
