"""Typed views of component specs and connection families (see spec/schema/).

Frozen records (oml.records): the registry builds them from specs that already passed the spec JSON
Schema (spec/schema/), so nothing is validated twice and `omlc` never imports pydantic.
"""

from __future__ import annotations

from dataclasses import field
from typing import Any, Literal, get_args

from osiris.oml.records import Record, record, record_fields

Kind = Literal["extractor", "transform", "writer"]
SqlDialect = Literal["mysql", "postgres", "duckdb"]
"""The SQL dialects a component's `x-sql` field may be written in."""
SQL_DIALECTS: tuple[str, ...] = get_args(SqlDialect)


@record
class Constraint(Record):
    """One cross-field rule; exactly one of the three forms is set."""

    require_one_of: tuple[str, ...] | None = None
    exclusive: tuple[str, ...] | None = None
    when: dict[str, Any] | None = None
    require: tuple[str, ...] | None = None
    message: str


@record
class Example(Record):
    title: str
    config: dict[str, Any]
    notes: str | None = None


@record
class ComponentSpec(Record):
    name: str
    version: str
    title: str
    description: str
    kind: Kind
    family: str | None = None
    connection: Literal["required", "optional", "none"] = "none"
    aliases: tuple[str, ...] = ()
    modes: tuple[str, ...]
    capabilities: dict[str, bool]
    outputs: tuple[str, ...]
    connection_fields: tuple[str, ...] = ()
    object_stores: tuple[str, ...] = ()
    """Object-store families (`s3`, `gcs`, `azure`) whose alias a step may name instead of
    `family`'s, to read or write an `s3://`, `gs://` or `az://` path (compiler/path_policy.py)."""
    secrets: tuple[str, ...] = ()
    renamed: dict[str, str] = field(default_factory=dict)
    config_schema: dict[str, Any]
    constraints: tuple[Constraint, ...] = ()
    examples: tuple[Example, ...] = ()
    fingerprint: str = ""
    """`sha256:` of the spec's canonical JSON; set by the registry."""

    def to_data(self) -> dict[str, Any]:
        """The spec as JSON-ready data, fields in declaration order (`osiris components show --json`)."""
        return _json_ready(self)

    def takes_family(self, name: str | None) -> bool:
        """Whether a step of this component may use a connection of family `name`."""
        return name is not None and (name == self.family or name in self.object_stores)

    @property
    def pipeline_modes(self) -> tuple[str, ...]:
        """Modes a pipeline step may use (`discover` is for tools, not pipelines)."""
        return tuple(m for m in self.modes if m != "discover")

    @property
    def properties(self) -> dict[str, Any]:
        return self.config_schema.get("properties", {})

    @property
    def secret_keys(self) -> frozenset[str]:
        """Top-level config keys that hold secrets."""
        return frozenset(p.lstrip("/").split("/")[0] for p in self.secrets)

    def sql_dialects(self) -> dict[str, SqlDialect]:
        """Config keys holding SQL -> the dialect whose lexer reads it (`x-sql: mysql`).

        The dialect is always explicit: the binder reads quotes, escapes and comments by the
        server's rules, and a wrong guess is an injection hole. A marker that names no dialect
        is an error in the spec, not a default.
        """
        result: dict[str, SqlDialect] = {}
        for key, prop in self.properties.items():
            marker = prop.get("x-sql") if isinstance(prop, dict) else None
            if marker is None:
                continue
            if marker not in SQL_DIALECTS:
                raise ValueError(f"{self.name}: `x-sql` of `{key}` must be one of {', '.join(SQL_DIALECTS)}, "
                                 f"not {marker!r}")
            result[key] = marker
        return result

    def path_fields(self) -> dict[str, str]:
        """Config keys holding a file path (`x-path: read|write`) -> how the step uses it; the
        path policy (compiler/path_policy.py) confines exactly these."""
        return {key: prop["x-path"] for key, prop in self.properties.items()
                if isinstance(prop, dict) and "x-path" in prop}


@record
class FamilyField(Record):
    type: Literal["string", "integer", "boolean", "object"]
    secret: bool = False
    default: Any = None
    description: str | None = None
    enum: tuple[str, ...] | None = None
    """The values a string field may take (checked when the connections file is loaded)."""
    fields: dict[str, FamilyField] | None = None
    """The sub-fields of an `object` field (e.g. MySQL's `ssl: {mode, ca}`)."""
    override: Literal["grant", "free"] | None = None
    """Whether a step's config may replace this field: `grant` only when the alias lists it in
    `allow_override` (it changes where a credential goes or whose it is); `free` always (it
    moves no credential, e.g. the default schema); absent: never."""


@record
class Family(Record):
    name: str
    description: str
    fields: dict[str, FamilyField]
    required: tuple[str, ...] = ()

    @property
    def secret_fields(self) -> frozenset[str]:
        return frozenset(k for k, f in self.fields.items() if f.secret)

    @property
    def step_overrides(self) -> dict[str, str]:
        """Field -> `grant` or `free`, for the fields a step's config may replace."""
        return {k: f.override for k, f in self.fields.items() if f.override is not None}


def _json_ready(value: Any) -> Any:  # noqa: ANN401 - plain data, recursively
    """Records as mappings and tuples as lists, as JSON has them."""
    if isinstance(value, Record):
        return {item.name: _json_ready(getattr(value, item.name)) for item in record_fields(value)}
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(item) for item in value]
    return value
