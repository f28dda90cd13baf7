"""Nodes of the in-string expression language (see grammar.lark)."""

from __future__ import annotations

from dataclasses import dataclass

from osiris.oml.span import Span


@dataclass(frozen=True)
class Text:
    """Literal text between interpolations (`$${` already unescaped to `${`)."""

    value: str
    start: int
    """Offset of this piece in the original string, for splicing."""


@dataclass(frozen=True)
class Reference:
    """`${a.b}`: a parameter (`params.x`) or a step output (`extract.df`)."""

    parts: tuple[str, ...]
    span: Span
    start: int
    end: int
    """Offsets of `${` and one past `}` in the original string."""

    @property
    def text(self) -> str:
        return "${" + ".".join(self.parts) + "}"

    @property
    def is_param(self) -> bool:
        return self.parts[0] == "params"


@dataclass(frozen=True)
class EnvReference:
    """`${VAR}` or `${VAR:-default}` in osiris_connections.yaml."""

    name: str
    default: str | None
    span: Span


@dataclass(frozen=True)
class ConnectionRef:
    """`@family.alias`, naming an alias in osiris_connections.yaml."""

    family: str
    alias: str
    span: Span

    @property
    def text(self) -> str:
        return f"@{self.family}.{self.alias}"


Piece = Text | Reference
