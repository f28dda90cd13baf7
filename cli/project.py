"""The project: its root (the nearest osiris.yaml above a file) and its settings.

Relative paths in a pipeline, the connections file and the sessions directory resolve
against the project root, so a pipeline runs the same from any directory inside the
project. Without an osiris.yaml the root is the current directory, as before.

osiris.yaml is read like every other input (oml.source: regular files only, within the
input cap) and reported like one: `file:line:col`, a code (OML097 for a bad setting) and a
hint, never a traceback; an unknown key names the nearest known one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from osiris.cli.settings import Problem, Resolved, Settings

__all__ = ["CONFIG_NAME", "Project", "command_line_only", "find_root", "load_project", "read_config", "shown_path"]

CONFIG_NAME = "osiris.yaml"
_SECRET_WORDS = ("password", "secret", "token", "api_key", "apikey", "key")


@dataclass(frozen=True)
class Project:
    root: Path
    """Absolute; where relative paths resolve."""
    config: Path | None
    """The osiris.yaml in use, or None (root is then the current directory)."""
    resolved: Resolved

    @property
    def settings(self) -> Settings:
        return self.resolved.settings

    def path(self, key: str) -> Path:
        """A path setting made absolute: a command-line value against the current directory,
        any other against the project root."""
        value = Path(str(self.resolved.value(key))).expanduser()
        base = Path.cwd() if self.resolved.sources[key] == "cli" else self.root
        return value if value.is_absolute() else base / value


def find_root(start: Path) -> Path | None:
    """The nearest directory at or above `start` holding osiris.yaml (of any file type: a FIFO
    there is refused when read, not skipped), or None."""
    here = start.resolve()
    for directory in (here, *here.parents):
        if os.path.lexists(directory / CONFIG_NAME):
            return directory
    return None


def load_project(start: Path | None = None, *, env: Mapping[str, str] | None = None,
                 cli: Mapping[str, Any] | None = None) -> Project:
    """The project `start` (a file or directory; default the current directory) belongs to,
    with its settings resolved; SettingsError for an unreadable or invalid osiris.yaml."""
    from osiris.cli.settings import SettingsError, resolve

    start = Path.cwd() if start is None else Path(start)
    if not start.is_dir():
        start = start.parent if str(start.parent) else Path(".")
    root = find_root(start)
    config = root / CONFIG_NAME if root is not None else None
    values, problems = read_config(config, shown_path(config)) if config is not None else ({}, [])
    try:
        resolved = resolve(values, os.environ if env is None else env, cli or {})
    except SettingsError as error:
        problems += error.problems
    if problems:
        raise SettingsError(problems)
    return Project((root or Path.cwd()).resolve(), config, resolved)


@dataclass(frozen=True)
class CommandLineOnly:
    """What `load_project` would settle for a compile when only the command line sets anything."""

    root: Path
    """The current directory, absolute (no osiris.yaml above)."""
    connections: Path | None
    """The `--connections` file made absolute against the current directory, or None (not given)."""


def command_line_only(start: Path, connections: str | None,
                      env: Mapping[str, str] | None = None) -> CommandLineOnly | None:
    """The project root and connections file `load_project(start, cli={"connections": ...})` gives
    when no osiris.yaml is at or above `start` and no setting's environment variable is set, or
    None (then call `load_project`: only it reports a bad setting).

    In that case every setting but `connections` is its default and cannot be invalid, so the
    compilers skip building the settings model (~20 ms at every start)."""
    from osiris.cli.setting_names import ENV_VARS

    env = os.environ if env is None else env
    if any(env.get(name, "").strip() for name in ENV_VARS.values()):
        return None
    start = Path(start)
    if not start.is_dir():
        start = start.parent if str(start.parent) else Path(".")
    if find_root(start) is not None:
        return None
    cwd = Path.cwd()
    path = None if connections is None else Path(connections).expanduser()
    return CommandLineOnly(cwd.resolve(), None if path is None else path if path.is_absolute() else cwd / path)


def read_config(path: Path, label: str) -> tuple[dict[str, tuple[Any, str]], list[Problem]]:
    """osiris.yaml as dotted key -> (value, `label:line:col`) for the known keys, and the
    problems met (unknown keys, a YAML error); SettingsError when the file cannot be read."""
    from osiris.cli.settings import Problem, SettingsError
    from osiris.oml.diagnostics import Diagnostics
    from osiris.oml.source import InputError, max_input_bytes, read_text
    from osiris.oml.yaml_loader import load_yaml

    try:
        text = read_text(path, label, max_input_bytes())
    except InputError as error:
        raise SettingsError([Problem(error.code, "error", f"{label}:1:1", error.message, error.help)]) from None
    diagnostics = Diagnostics()
    tree = load_yaml(text, label, diagnostics)
    problems = [
        Problem(d.code, "error", f"{label}:{d.span.line}:{d.span.column}", d.message, d.help)
        for d in diagnostics.sorted()
    ]
    values: dict[str, tuple[Any, str]] = {}
    if tree is not None and not (tree.kind == "scalar" and tree.value is None):  # empty: all defaults
        if tree.kind != "map":
            problems.append(Problem("OML097", "error", f"{label}:{tree.span.line}:{tree.span.column}",
                                    f"{CONFIG_NAME} must be a mapping of settings",
                                    "write `key: value` lines, e.g. `sessions_dir: .osiris/sessions`"))
        else:
            _walk(tree, "", label, values, problems)
    return values, problems


def _walk(node: Any, prefix: str, label: str, values: dict[str, tuple[Any, str]], problems: list[Problem]) -> None:
    from osiris.cli.settings import Problem, leaf_keys

    leaves = dict(leaf_keys())
    sections = {key.split(".")[0] for key in leaves if "." in key}
    for key_node, value_node in node.items():
        key = str(key_node.value)
        dotted = prefix + key
        where = f"{label}:{key_node.span.line}:{key_node.span.column}"
        if not prefix and key in sections:
            if value_node.kind == "map":
                _walk(value_node, dotted + ".", label, values, problems)
            elif not (value_node.kind == "scalar" and value_node.value is None):
                problems.append(Problem("OML097", "error", where, f"'{key}' holds settings, not a value",
                                        f"write its settings indented below it, e.g. `{key}:` then "
                                        f"`  {_first(leaves, key)}: ...`"))
            continue
        if dotted not in leaves:
            problems.append(_unknown(key, dotted, prefix, leaves, where))
            continue
        values[dotted] = (value_node.to_data(), where)


def _unknown(key: str, dotted: str, prefix: str, leaves: Mapping[str, Any], where: str) -> Problem:
    from osiris.cli.settings import Problem
    from osiris.oml.suggest import closest

    lowered = key.lower()
    if any(word in lowered for word in _SECRET_WORDS):
        return Problem("OML097", "error", where, f"unknown setting '{dotted}': secrets do not belong in {CONFIG_NAME}",
                       "set it in the environment (the chat key: OSIRIS_LLM_API_KEY or OPENAI_API_KEY; "
                       "connection passwords: ${VAR} in osiris_connections.yaml)")
    here = [name.removeprefix(prefix) for name in leaves if name.startswith(prefix)
            and "." not in name.removeprefix(prefix)]
    if not prefix:
        here += sorted({name.split(".")[0] for name in leaves if "." in name})
    near = closest(key, here, cutoff=0.6)
    if near is None:  # `model:` at the top is chat.model; `sessions:` in run is sessions_dir
        by_leaf = {name.rsplit(".", 1)[-1]: name for name in leaves}
        found = closest(key, by_leaf)
        near = by_leaf[found] if found else None
        shown = near
    else:
        shown = prefix + near
    hint = f"did you mean '{shown}'?" if near else "see docs/project.md for every setting"
    return Problem("OML097", "error", where, f"unknown setting '{dotted}'", hint)


def _first(leaves: Mapping[str, Any], section: str) -> str:
    return next(name.split(".", 1)[1] for name in leaves if name.startswith(section + "."))


def shown_path(path: Path | None) -> str:
    """`path` relative to the current directory (`../osiris.yaml` from a sub-directory), or
    absolute when that is shorter: messages stay short and machine-independent."""
    if path is None:
        return ""
    try:
        relative = os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return str(path)
    return Path(relative).as_posix() if len(relative) <= len(str(path)) else str(path)
