"""Project settings: one typed model, and where each value came from.

Every setting `osiris` reads (sessions directory, connections file, run budgets, log
retention, sandbox options, validation mode, chat endpoint) is a field here, so the command
line, the environment and osiris.yaml cannot disagree about names, types or defaults.
Precedence is fixed: command line > environment > osiris.yaml > default, and `resolve`
records which of the four supplied each value (`osiris validate` prints it).

The sections are frozen records (oml.records) checked by `_convert` below rather than pydantic
models: every `omlc` and `osiris` command in a project reads them, and importing pydantic
cost each one ~60 ms. Values from the environment arrive as text and are converted to the
field's type (`"600"` -> 600, `"true"` -> True), as a command-line flag's would be.

Secrets are not settings: API keys and passwords stay in the environment (and `${VAR}`
references in the connections file), never in osiris.yaml.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from osiris.cli.setting_names import CLI_FLAGS, ENV_VARS
from osiris.oml.records import Record, record, record_fields
from osiris.oml.source import parse_size

__all__ = ["CLI_FLAGS", "ENV_VARS", "Problem", "Resolved", "Setting", "Settings", "SettingsError", "leaf_keys",
           "resolve"]

MiB = 2**20
DEFAULT_CHAT_URL = "https://api.openai.com/v1"
"""llm.client.DEFAULT_BASE_URL (repeated so reading settings does not import the chat client;
tests/cli/test_project_settings.py checks they agree)."""

ValidationMode = Literal["off", "warn", "strict"]
Kind = Literal["int", "float", "str", "bool", "names"]
_TRUE = frozenset({"1", "true", "yes", "on", "t", "y"})
_FALSE = frozenset({"0", "false", "no", "off", "f", "n"})


@dataclass(frozen=True)
class Setting:
    """What one leaf setting accepts: its type, bounds or choices, and its documentation."""

    kind: Kind
    description: str
    default: Any = None
    optional: bool = False
    """None (YAML `key:` with no value) is allowed and means the default behaviour."""
    ge: float | None = None
    le: float | None = None
    gt: float | None = None
    choices: tuple[Any, ...] | None = None
    before: Callable[[Any], Any] | None = None
    """A conversion applied first (sizes such as `2GiB`)."""


def setting(default: Any, description: str, kind: Kind, **rules: Any) -> Any:  # noqa: ANN401
    """A dataclass field carrying its `Setting` (read by `leaf_keys` and `_convert`)."""
    rule = Setting(kind=kind, description=description, default=default, **rules)
    return field(default=default, metadata={"setting": rule})


def _section(cls: type) -> Any:  # noqa: ANN401 - a field holding a whole section
    return field(default_factory=cls, metadata={"section": cls})


def _size(value: Any) -> Any:  # noqa: ANN401
    if isinstance(value, int) and not isinstance(value, bool):
        return value * MiB  # a bare number is MiB, as `--step-memory 512` always was
    if isinstance(value, str):
        return parse_size(value, default_unit="MiB")
    return value


@record
class RunSettings(Record):
    step_memory: int = setting(512 * MiB, "memory budget per step: a size (512MB, 2GiB; a bare number is MiB)",
                               "int", ge=1, before=_size)
    batch_rows: int = setting(65536, "preferred rows per record batch", "int", ge=1)
    backend: Literal["local", "ray"] = setting("local", "`osiris run` backend: local, or ray (docs/scale-out.md)",
                                               "str", choices=("local", "ray"))


@record
class LogSettings(Record):
    keep: int | None = setting(None, "`osiris logs gc` keeps the newest N sessions", "int", optional=True, ge=0)
    older_than_days: float | None = setting(None, "`osiris logs gc` deletes sessions older than this", "float",
                                            optional=True, ge=0)


@record
class E2BSettings(Record):
    transport: Literal["e2b", "local"] = setting("e2b", "e2b, or local: a worker process (tests, CI)", "str",
                                                 choices=("e2b", "local"))
    timeout_s: int = setting(600, "sandbox lifetime in seconds", "int", ge=1, le=86_400)
    cpu: int | None = setting(None, "least CPUs the sandbox must have", "int", optional=True, ge=1, le=64)
    template: str | None = setting(None, "E2B template (default: E2B's base image)", "str", optional=True)
    env: tuple[str, ...] = setting((), "host variables passed into the sandbox (names only)", "names")


@record
class RaySettings(Record):
    address: str | None = setting(None, "Ray cluster to join (default: start a local one)", "str", optional=True)
    partitions: int | None = setting(None, "partitions per splittable source (default: the cluster's CPUs)", "int",
                                     optional=True, ge=1, le=1024)
    cpus: int | None = setting(None, "CPUs of a local Ray cluster", "int", optional=True, ge=1, le=1024)


@record
class ChatSettings(Record):
    base_url: str = setting(DEFAULT_CHAT_URL, "OpenAI-compatible endpoint of `osiris chat`", "str")
    model: str | None = setting(None, "model name", "str", optional=True)
    timeout_s: float = setting(120.0, "seconds to wait for one reply", "float", gt=0)
    retries: int = setting(3, "retries after the first request", "int", ge=0)
    backoff_s: float = setting(1.0, "first retry delay in seconds (doubles per retry)", "float", ge=0)
    stream: bool = setting(False, "stream replies", "bool")


@record
class Settings(Record):
    """The whole of osiris.yaml; every field has a default, so an empty file is valid."""

    version: Literal[1] = setting(1, "the osiris.yaml format (1)", "int", choices=(1,))
    sessions_dir: str = setting(".osiris/sessions", "where run sessions are written", "str")
    connections: str = setting("osiris_connections.yaml", "the connections file", "str")
    validation: ValidationMode = setting("warn", "`osiris validate`: off, warn, or strict (warnings fail)", "str",
                                         choices=("off", "warn", "strict"))
    run: RunSettings = _section(RunSettings)
    logs: LogSettings = _section(LogSettings)
    e2b: E2BSettings = _section(E2BSettings)
    ray: RaySettings = _section(RaySettings)
    chat: ChatSettings = _section(ChatSettings)


@dataclass(frozen=True)
class Problem:
    """One finding about the setup: `where` is `file:line:col`, `$VAR` or a command-line flag."""

    code: str
    severity: Literal["error", "warning", "note"]
    where: str
    message: str
    help: str | None = None

    def render(self) -> str:
        text = f"{self.where}: {self.severity}[{self.code}]: {self.message}\n"
        return text + (f"  help: {self.help}\n" if self.help else "")


class SettingsError(Exception):
    """osiris.yaml or a setting's value is unusable; `problems` says where and why."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class Resolved:
    settings: Settings
    sources: Mapping[str, str]
    """Dotted key -> `cli`, `env:NAME`, `<osiris.yaml>:LINE` or `default`."""

    def value(self, key: str) -> Any:
        node: Any = self.settings
        for part in key.split("."):
            node = getattr(node, part)
        return node


def leaf_keys(model: type = Settings, prefix: str = "") -> Iterator[tuple[str, Setting]]:
    """Every setting as (dotted key, its `Setting`), in declaration order."""
    for item in record_fields(model):
        if "section" in item.metadata:
            yield from leaf_keys(item.metadata["section"], f"{prefix}{item.name}.")
        else:
            yield f"{prefix}{item.name}", item.metadata["setting"]


def resolve(file_values: Mapping[str, tuple[Any, str]], env: Mapping[str, str],
            cli: Mapping[str, Any]) -> Resolved:
    """Merge the four levels into checked Settings; SettingsError names each bad value's source.

    `file_values` maps dotted keys to (value, `file:line:col`); `cli` holds only flags given.
    """
    chosen: dict[str, tuple[Any, str, str]] = {}  # key -> (value, source, where)
    for key, (value, where) in file_values.items():
        chosen[key] = (value, where.rsplit(":", 1)[0], where)
    for key, name in ENV_VARS.items():
        raw = env.get(name, "").strip()
        if raw:
            chosen[key] = (raw, f"env:{name}", f"${name}")
    for key, value in cli.items():
        if value is not None and value != [] and value != ():
            chosen[key] = (value, "cli", CLI_FLAGS.get(key, key))
    leaves = dict(leaf_keys())
    converted: dict[str, Any] = {}
    problems: list[Problem] = []
    for key, (value, _, where) in chosen.items():
        try:
            converted[key] = _convert(value, leaves[key])
        except (ValueError, KeyError) as error:
            message = str(error) if isinstance(error, ValueError) else "unknown setting"
            shown = "" if value is None else f" {value!r}"
            problems.append(Problem("OML097", "error", where, f"setting '{key}'{shown}: {message}", _hint(key)))
    if problems:
        raise SettingsError(problems)
    sources = {key: chosen[key][1] if key in chosen else "default" for key in leaves}
    return Resolved(_build(Settings, converted, ""), sources)


def _build(model: type, values: Mapping[str, Any], prefix: str) -> Any:  # noqa: ANN401 - a settings section
    given: dict[str, Any] = {}
    for item in record_fields(model):
        key = prefix + item.name
        if "section" in item.metadata:
            given[item.name] = _build(item.metadata["section"], values, key + ".")
        elif key in values:
            given[item.name] = values[key]
    return model(**given)


def _convert(value: Any, rule: Setting) -> Any:  # noqa: ANN401, C901 - one branch per kind
    """`value` as the setting's type, within its bounds; ValueError says why not."""
    if value is None:
        if rule.optional:
            return None
        raise ValueError("a value is required")
    if rule.before is not None:
        value = rule.before(value)
    if rule.kind == "int":
        result: Any = _integer(value)
    elif rule.kind == "float":
        result = _number(value)
    elif rule.kind == "bool":
        result = _boolean(value)
    elif rule.kind == "names":
        if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
            raise ValueError("should be a list of names")
        result = tuple(value)
    else:
        if not isinstance(value, str):
            raise ValueError("should be text")
        result = value
    if rule.choices is not None and result not in rule.choices:
        raise ValueError(f"should be {' or '.join(repr(choice) for choice in rule.choices)}")
    if rule.ge is not None and result < rule.ge:
        raise ValueError(f"should be at least {rule.ge:g}")
    if rule.gt is not None and result <= rule.gt:
        raise ValueError(f"should be greater than {rule.gt:g}")
    if rule.le is not None and result > rule.le:
        raise ValueError(f"should be at most {rule.le:g}")
    return result


def _integer(value: Any) -> int:  # noqa: ANN401
    if isinstance(value, bool):
        raise ValueError("should be a whole number")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip().replace("_", ""))
        except ValueError:
            pass
    raise ValueError("should be a whole number")


def _number(value: Any) -> float:  # noqa: ANN401
    if not isinstance(value, bool) and isinstance(value, int | float | str):
        try:
            number = float(value)
        except ValueError:
            pass
        else:
            if math.isfinite(number):
                return number
    raise ValueError("should be a finite number")


def _boolean(value: Any) -> bool:  # noqa: ANN401
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if isinstance(value, int | str) else None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("should be true or false")


def _hint(key: str) -> str:
    rule = dict(leaf_keys()).get(key)
    if rule is None:
        return "see docs/project.md for every setting"
    return f"{rule.description}; default {rule.default!r} (docs/project.md)"
