"""Project settings: one typed model, and where each value came from.

Every setting `osiris` reads (sessions directory, connections file, run budgets, log
retention, sandbox options, validation mode, chat endpoint) is a field here, so the command
line, the environment and osiris.yaml cannot disagree about names, types or defaults.
Precedence is fixed: command line > environment > osiris.yaml > default, and `resolve`
records which of the four supplied each value (`osiris validate` prints it).

Secrets are not settings: API keys and passwords stay in the environment (and `${VAR}`
references in the connections file), never in osiris.yaml.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from osiris.cli.setting_names import CLI_FLAGS, ENV_VARS
from osiris.oml.source import parse_size

__all__ = ["CLI_FLAGS", "ENV_VARS", "Problem", "Resolved", "Settings", "SettingsError", "leaf_keys", "resolve"]

MiB = 2**20
DEFAULT_CHAT_URL = "https://api.openai.com/v1"
"""llm.client.DEFAULT_BASE_URL (repeated so reading settings does not import the chat client;
tests/cli/test_project_settings.py checks they agree)."""

ValidationMode = Literal["off", "warn", "strict"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RunSettings(_Section):
    step_memory: int = Field(default=512 * MiB, ge=1,
                             description="memory budget per step: a size (512MB, 2GiB; a bare number is MiB)")
    batch_rows: int = Field(default=65536, ge=1, description="preferred rows per record batch")
    backend: Literal["local", "ray"] = Field(default="local",
                                             description="`osiris run` backend: local, or ray (docs/scale-out.md)")

    @field_validator("step_memory", mode="before")
    @classmethod
    def _size(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return value * MiB  # a bare number is MiB, as `--step-memory 512` always was
        if isinstance(value, str):
            try:
                return parse_size(value, default_unit="MiB")
            except ValueError as error:
                raise ValueError(str(error)) from None
        return value


class LogSettings(_Section):
    keep: int | None = Field(default=None, ge=0, description="`osiris logs gc` keeps the newest N sessions")
    older_than_days: float | None = Field(default=None, ge=0,
                                          description="`osiris logs gc` deletes sessions older than this")


class E2BSettings(_Section):
    transport: Literal["e2b", "local"] = Field(default="e2b", description="e2b, or local: a worker process (tests, CI)")
    timeout_s: int = Field(default=600, ge=1, le=86_400, description="sandbox lifetime in seconds")
    cpu: int | None = Field(default=None, ge=1, le=64, description="least CPUs the sandbox must have")
    template: str | None = Field(default=None, description="E2B template (default: E2B's base image)")
    env: tuple[str, ...] = Field(default=(), description="host variables passed into the sandbox (names only)")


class RaySettings(_Section):
    address: str | None = Field(default=None, description="Ray cluster to join (default: start a local one)")
    partitions: int | None = Field(default=None, ge=1, le=1024,
                                   description="partitions per splittable source (default: the cluster's CPUs)")
    cpus: int | None = Field(default=None, ge=1, le=1024, description="CPUs of a local Ray cluster")


class ChatSettings(_Section):
    base_url: str = Field(default=DEFAULT_CHAT_URL, description="OpenAI-compatible endpoint of `osiris chat`")
    model: str | None = Field(default=None, description="model name")
    timeout_s: float = Field(default=120.0, gt=0, description="seconds to wait for one reply")
    retries: int = Field(default=3, ge=0, description="retries after the first request")
    backoff_s: float = Field(default=1.0, ge=0, description="first retry delay in seconds (doubles per retry)")
    stream: bool = Field(default=False, description="stream replies")


class Settings(_Section):
    """The whole of osiris.yaml; every field has a default, so an empty file is valid."""

    version: Literal[1] = Field(default=1, description="the osiris.yaml format (1)")
    sessions_dir: str = Field(default=".osiris/sessions", description="where run sessions are written")
    connections: str = Field(default="osiris_connections.yaml", description="the connections file")
    validation: ValidationMode = Field(default="warn",
                                       description="`osiris validate`: off, warn, or strict (warnings fail)")
    run: RunSettings = Field(default_factory=RunSettings)
    logs: LogSettings = Field(default_factory=LogSettings)
    e2b: E2BSettings = Field(default_factory=E2BSettings)
    ray: RaySettings = Field(default_factory=RaySettings)
    chat: ChatSettings = Field(default_factory=ChatSettings)


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


def leaf_keys(model: type[BaseModel] = Settings, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every setting as (dotted key, its pydantic FieldInfo), in declaration order."""
    for name, info in model.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, _Section):
            yield from leaf_keys(annotation, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", info


def resolve(file_values: Mapping[str, tuple[Any, str]], env: Mapping[str, str],
            cli: Mapping[str, Any]) -> Resolved:
    """Merge the four levels into a validated Settings; SettingsError names each bad value's source.

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
    nested: dict[str, Any] = {}
    for key, (value, _, _) in chosen.items():
        *sections, leaf = key.split(".")
        target = nested
        for section in sections:
            target = target.setdefault(section, {})
        target[leaf] = value
    try:
        settings = Settings.model_validate(nested)
    except ValidationError as error:
        raise SettingsError([_problem(item, chosen) for item in error.errors()]) from None
    sources = {key: chosen[key][1] if key in chosen else "default" for key, _ in leaf_keys()}
    return Resolved(settings, sources)


def _problem(item: Mapping[str, Any], chosen: Mapping[str, tuple[Any, str, str]]) -> Problem:
    loc = [str(part) for part in item["loc"]]
    key = ".".join(part for part in loc if not part.isdigit())
    value, _, where = chosen.get(key, (None, "", "osiris.yaml"))
    shown = "" if value is None else f" {value!r}"
    message = str(item["msg"]).removeprefix("Value error, ")
    return Problem("OML097", "error", where, f"setting '{key}'{shown}: {message}",
                   _hint(key))


def _hint(key: str) -> str:
    default = dict(leaf_keys()).get(key)
    if default is None:
        return "see docs/project.md for every setting"
    return f"{default.description}; default {default.default!r} (docs/project.md)"
