"""JSON Pointers (RFC 6901) between plain data and the positioned tree."""

from __future__ import annotations

from collections.abc import Iterable


def escape(token: str | int) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")


def join(base: str, *tokens: str | int) -> str:
    return base + "".join("/" + escape(t) for t in tokens)


def from_path(base: str, path: Iterable[str | int]) -> str:
    return join(base, *path)
