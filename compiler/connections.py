"""osiris_connections.yaml: parsed once, by this module, for the compiler and the runtime alike.

```yaml
version: 1
connections:
  mysql:
    shop:
      host: db.internal
      database: shop
      user: reader
      password: ${MYSQL_PASSWORD}        # ${VAR} and ${VAR:-default} read the environment
      default: true                      # used when a step omits `connection`
      allow_override: [database]         # step config keys that may replace these fields
```

The compiler only needs to know which aliases exist and what a step may override (it never
copies their fields into an artifact); the runtime calls `resolve()` to get the fields,
secrets included, when a step starts. `overridable()` is the one rule both apply to step
overrides: a credential goes only to the host written next to it (docs/connections.md).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from osiris.oml.diagnostics import Diagnostics
from osiris.oml.expr.nodes import EnvReference, Text
from osiris.oml.expr.parser import CONNECTION_FAST, ScalarPosition, has_expression, parse_env_template
from osiris.oml.source import InputError, max_input_bytes, read_text
from osiris.oml.span import Span
from osiris.oml.suggest import did_you_mean, one_of
from osiris.oml.yaml_loader import YNode, load_yaml

if TYPE_CHECKING:  # a runtime resolves aliases without loading the component specs
    from osiris.spec.models import Family, FamilyField
    from osiris.spec.registry import Registry

def split_ref(text: str) -> tuple[str, str] | None:
    """`@mysql.shop` -> ("mysql", "shop"); None for anything else. Every reference OML can
    write parses as the OML parser parses it (`oml.expr.parser.CONNECTION_FAST`, the grammar's
    `connection` rule); beyond that, the alias is everything after the family's dot, because a
    default alias the connections file defines (`shop.eu`) is referred to the same way."""
    match = CONNECTION_FAST.fullmatch(text)
    if match is not None:
        return match.group(1), match.group(2)
    family, dot, alias = text[1:].partition(".") if text.startswith("@") else ("", "", "")
    if not dot or not alias or CONNECTION_FAST.fullmatch(f"@{family}.x") is None:
        return None
    return family, alias


DEFAULT_FILE_NAME = "osiris_connections.yaml"
RESERVED_KEYS = ("default", "allow_override")


@dataclass(frozen=True)
class AliasDecl:
    family: str
    alias: str
    span: Span
    fields: Mapping[str, Any]
    """Field values as written, `${VAR}` unexpanded."""
    templates: Mapping[str, tuple[Text | EnvReference, ...]]
    """Per field that contains environment references, its parsed pieces (parsed once, at
    load; `resolve()` substitutes from them). A sub-field of an object field is `ssl.ca`."""
    is_default: bool = False
    allow_override: frozenset[str] = frozenset()
    """Fields a step's config may replace although they move a credential (`grant` fields)."""

    @cached_property
    def env_refs(self) -> Mapping[str, tuple[EnvReference, ...]]:
        """Per field, the environment references it contains."""
        return {key: tuple(p for p in pieces if isinstance(p, EnvReference))
                for key, pieces in self.templates.items()}


@dataclass
class ConnectionsFile:
    path: str
    aliases: dict[str, dict[str, AliasDecl]] = field(default_factory=dict)
    family_specs: dict[str, Family] = field(default_factory=dict)
    """The registry's Family of every family the file names (fields, defaults, secrets)."""
    roots: tuple[str, ...] = ()
    """`filesystem: roots:`: directories outside the project that step paths may use (see
    compiler/path_policy.py), as written."""

    @property
    def secret_fields(self) -> dict[str, frozenset[str]]:
        """Family name -> its secret fields, from the registry's Family."""
        return {name: family.secret_fields for name, family in self.family_specs.items()}

    def families(self) -> list[str]:
        return sorted(self.aliases)

    def lookup(self, family: str, alias: str) -> AliasDecl | None:
        return self.aliases.get(family, {}).get(alias)

    def default_alias(self, family: str) -> str | None:
        """The alias marked `default: true`, else one named `default`, else None."""
        aliases = self.aliases.get(family, {})
        marked = sorted(a for a, decl in aliases.items() if decl.is_default)
        if marked:
            return marked[0]
        return "default" if "default" in aliases else None

    def values(self, family: str, alias: str,
               env: Mapping[str, str] | None = None) -> tuple[dict[str, Any], tuple[str, ...]]:
        """The alias's field values, secrets included, with `${VAR}` substituted from `env`
        (default: os.environ) and the family's defaults filled in; and the variables that were
        not set. The runtime wraps them in its one resolved type (`runtime.driver.ResolvedConnection`)."""
        decl = self.aliases[family][alias]
        env = os.environ if env is None else env
        spec = self.family_specs.get(family)
        values: dict[str, Any] = {} if spec is None else _defaults(spec.fields)
        missing: list[str] = []
        for key, raw in decl.fields.items():
            if isinstance(raw, Mapping):
                sub = dict(values.get(key) or {})
                for name, item in raw.items():
                    pieces = decl.templates.get(f"{key}.{name}")
                    sub[name] = item if pieces is None else _substitute(pieces, env, missing)
                values[key] = sub
                continue
            pieces = decl.templates.get(key)
            values[key] = raw if pieces is None else _substitute(pieces, env, missing)
        return values, tuple(sorted(set(missing)))

    def rules(self, family: str, alias: str) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
        """(secret fields, fields a step may override, the family's other fields) of an alias:
        what masking and `overridable` need, for compiler and runtime alike."""
        spec = self.family_specs.get(family)
        if spec is None:
            return frozenset(), frozenset(), frozenset()
        may = overridable(spec, self.aliases[family][alias])
        return spec.secret_fields, may, frozenset(spec.fields) - may


def overridable(family: Family, decl: AliasDecl) -> frozenset[str]:
    """The fields a step's config may replace for this alias: the family's `free` fields and the
    `grant` fields the alias lists in `allow_override`. Compiler (OML077) and runtime use this."""
    return frozenset(k for k, kind in family.step_overrides.items()
                     if kind == "free" or k in decl.allow_override)


def _defaults(fields: Mapping[str, FamilyField]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, spec in fields.items():
        if spec.fields:
            values[key] = _defaults(spec.fields)
        elif spec.default is not None:
            values[key] = spec.default
    return values


def _substitute(pieces: tuple[Text | EnvReference, ...], env: Mapping[str, str], missing: list[str]) -> str:
    out = []
    for piece in pieces:
        if isinstance(piece, EnvReference):
            value = env.get(piece.name)
            if value is None or (value == "" and piece.default is not None):
                if piece.default is None:
                    missing.append(piece.name)
                    value = ""
                else:
                    value = piece.default
            out.append(value)
        else:
            out.append(piece.value)
    return "".join(out)


def find_connections_file(explicit: str | Path | None, cwd: Path | None = None) -> Path | None:
    """`--connections F` if given, else ./osiris_connections.yaml if it exists."""
    if explicit is not None:
        return Path(explicit)
    candidate = (cwd or Path.cwd()) / DEFAULT_FILE_NAME
    return candidate if candidate.exists() else None  # a FIFO or device there is refused, not skipped


def load_connections(path: Path, label: str, registry: Registry,
                     diagnostics: Diagnostics) -> ConnectionsFile | None:
    """Parse and check a connections file; problems become OML074 diagnostics at its lines."""
    try:  # a regular file within the input cap, never blocking (a FIFO, /dev/zero: OML014)
        text = read_text(path, label, max_input_bytes())
    except InputError as error:
        diagnostics.add(error.code, Span.whole_file(label), error.message, help=error.help)
        return None
    local = Diagnostics()
    root = load_yaml(text, label, local)
    result = None if root is None else _Loader(label, text, registry, local).load(root)
    for d in local:  # syntax problems in this file are connection-file problems
        if d.code == "OML001":
            diagnostics.add("OML074", d.span, d.message, help=d.help, pointer=d.pointer)
        else:
            diagnostics.extend([d])
    if root is None and not local.has_errors:
        diagnostics.add("OML074", Span.whole_file(label), "the connections file is empty",
                        help="start with `version: 1` and `connections:`")
    return result


class _Loader:
    def __init__(self, label: str, text: str, registry: Registry, diagnostics: Diagnostics) -> None:
        self.label = label
        self.lines = text.splitlines()
        self.registry = registry
        self.d = diagnostics

    def load(self, root: YNode) -> ConnectionsFile | None:
        if root.kind != "map":
            self.d.add("OML074", root.span, "the connections file must be a mapping",
                       help="start with `version: 1` and `connections:`")
            return None
        version = root.get("version")
        if version is None or version.value != 1:
            at = version.span if version is not None else Span.whole_file(self.label)
            self.d.add("OML074", at, "the connections file needs `version: 1`", pointer="/version")
        for key, _ in root.items():
            if key.value not in ("version", "connections", "filesystem"):
                self.d.add("OML074", key.span, f"unknown key '{key.value}' in the connections file",
                           help=did_you_mean(key.value, ("version", "connections", "filesystem")),
                           pointer=key.pointer)
        connections = root.get("connections")
        result = ConnectionsFile(path=self.label, roots=self.roots(root.get("filesystem")))
        if connections is None or connections.kind != "map":
            at = connections.span if connections is not None else Span.whole_file(self.label)
            self.d.add("OML074", at, "`connections:` must map families to aliases",
                       help="e.g. `connections: {mysql: {shop: {host: ..., database: ...}}}`",
                       pointer="/connections")
            return result
        for family_key, aliases in connections.items():
            family = self.registry.family(family_key.value)
            if family is None:
                self.d.add("OML074", family_key.span, f"unknown connection family '{family_key.value}'",
                           help=did_you_mean(family_key.value, self.registry.families)
                           or f"families: {one_of(self.registry.families)}", pointer=family_key.pointer)
                continue
            result.family_specs[family.name] = family
            if aliases.kind != "map":
                self.d.add("OML074", aliases.span, f"`{family.name}` must map alias names to fields",
                           pointer=aliases.pointer)
                continue
            for alias_key, body in aliases.items():
                decl = self.alias(family.name, alias_key, body)
                if decl is not None:
                    result.aliases.setdefault(family.name, {})[alias_key.value] = decl
        return result

    def roots(self, node: YNode | None) -> tuple[str, ...]:
        """`filesystem: {roots: [dir, ...]}`: the operator's grant of directories outside the project."""
        if node is None:
            return ()
        roots = node.get("roots") if node.kind == "map" else None
        if roots is None or roots.kind != "seq" or len(node.items()) != 1:
            self.d.add("OML074", node.span, "`filesystem:` takes one key, `roots:`, a list of directories",
                       help="e.g. `filesystem: {roots: [/data/exports]}`", pointer=node.pointer)
            return ()
        found = []
        for item in roots.value:
            if item.kind != "scalar" or not isinstance(item.value, str) or not item.value or "\x00" in item.value:
                self.d.add("OML074", item.span, "each entry of `filesystem: roots:` is a directory path",
                           pointer=item.pointer)
                continue
            found.append(item.value)
        return tuple(found)

    def alias(self, family: str, key: YNode, body: YNode) -> AliasDecl | None:
        spec = self.registry.families[family]
        if body.kind != "map":
            self.d.add("OML074", body.span, f"alias '{family}.{key.value}' must be a mapping of fields",
                       pointer=body.pointer)
            return None
        fields: dict[str, Any] = {}
        templates: dict[str, tuple[Text | EnvReference, ...]] = {}
        is_default = False
        allow: frozenset[str] = frozenset()
        allowed = (*spec.fields, *RESERVED_KEYS)
        for field_key, value in body.items():
            name = field_key.value
            if name == "default":
                is_default = value.value is True
                continue
            if name == "allow_override":
                allow = self.allow_override(spec, value)
                continue
            if name not in spec.fields:
                self.d.add("OML074", field_key.span, f"unknown field '{name}' for a {family} connection",
                           help=did_you_mean(name, allowed) or f"fields: {one_of(allowed)}",
                           pointer=field_key.pointer)
                continue
            field_spec = spec.fields[name]
            if field_spec.fields is not None:
                sub = self.object_field(family, name, field_spec, value, templates)
                if sub is not None:
                    fields[name] = sub
                continue
            if self.scalar(family, name, field_spec, value, templates):
                fields[name] = value.value
        for required in spec.required:
            if required not in fields:
                self.d.add("OML074", key.span, f"alias '{family}.{key.value}' lacks required field '{required}'",
                           pointer=body.pointer)
        return AliasDecl(family, key.value, key.span, fields, templates, is_default, allow)

    def scalar(self, family: str, name: str, spec: FamilyField, value: YNode,
               templates: dict[str, tuple[Text | EnvReference, ...]]) -> bool:
        """Check one scalar field (kind, enum) and parse its `${VAR}` references."""
        if value.kind != "scalar":
            self.d.add("OML074", value.span, f"field '{name}' must be a scalar", pointer=value.pointer)
            return False
        if spec.enum is not None and value.value is not None and str(value.value) not in spec.enum:
            self.d.add("OML074", value.span, f"`{name}` of a {family} connection cannot be {value.value!r}",
                       help=did_you_mean(str(value.value), spec.enum) or f"one of: {one_of(spec.enum)}",
                       pointer=value.pointer)
            return False
        if isinstance(value.value, str) and has_expression(value.value):
            pieces = parse_env_template(value.value, ScalarPosition(value.span, value.style, self.lines),
                                        self.d, value.pointer)
            if any(isinstance(p, EnvReference) for p in pieces):
                templates[name] = tuple(pieces)
        return True

    def object_field(self, family: str, name: str, spec: FamilyField, value: YNode,
                     templates: dict[str, tuple[Text | EnvReference, ...]]) -> dict[str, Any] | None:
        """A field made of sub-fields, e.g. MySQL's `ssl: {mode: verify_identity, ca: ca.pem}`."""
        subfields = spec.fields or {}
        if value.kind != "map":
            self.d.add("OML074", value.span, f"field '{name}' must be a mapping of {one_of(subfields)}",
                       help=f"e.g. `{name}: {{{next(iter(subfields), 'mode')}: ...}}`", pointer=value.pointer)
            return None
        result: dict[str, Any] = {}
        for sub_key, sub_value in value.items():
            sub = str(sub_key.value)
            if sub not in subfields:
                self.d.add("OML074", sub_key.span, f"unknown field '{name}.{sub}' for a {family} connection",
                           help=did_you_mean(sub, subfields) or f"fields of `{name}`: {one_of(subfields)}",
                           pointer=sub_key.pointer)
                continue
            local: dict[str, tuple[Text | EnvReference, ...]] = {}
            if self.scalar(family, f"{name}.{sub}", subfields[sub], sub_value, local):
                result[sub] = sub_value.value
                templates.update(local)
        return result

    def allow_override(self, spec: Family, value: YNode) -> frozenset[str]:
        """`allow_override: [field, ...]`: each must be a field a step can set (never a secret)."""
        items = value.value if value.kind == "seq" else None
        if items is None or any(item.kind != "scalar" for item in items):
            self.d.add("OML074", value.span, "`allow_override` must be a list of field names",
                       help="e.g. `allow_override: [database]`", pointer=value.pointer)
            return frozenset()
        granted: set[str] = set()
        settable = spec.step_overrides
        for item in items:
            name = str(item.value)
            field_spec = spec.fields.get(name)
            if field_spec is not None and field_spec.secret:
                self.d.add("OML074", item.span, f"`{name}` is a secret, which a step can never set",
                           help="keep secrets in this file only; remove it from `allow_override`",
                           pointer=item.pointer)
            elif name not in settable:
                self.d.add("OML074", item.span, f"a step cannot set `{name}` of a {spec.name} connection",
                           help=did_you_mean(name, settable) or f"fields a step may set: {one_of(settable)}",
                           pointer=item.pointer)
            else:
                granted.add(name)
        return frozenset(granted)
