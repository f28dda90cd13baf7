"""Find secrets written inline in OML: spec-declared secret fields and credential-looking keys.

The original's key-name heuristic had loopholes (length limits, values starting with `${`).
Here any non-empty value of a secret field is rejected, whatever it looks like (a parameter
reference would carry the secret into the compiled cfg just the same), and any string holding
a URL with a password (`scheme://user:pass@host`) is rejected wherever it appears.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from oml.pointer import join

CREDENTIAL_KEY = re.compile(
    r"^(password|passwd|pwd|pass|secret|client_secret|token|access_token|refresh_token|auth_token|"
    r"bearer|api_?key|apikey|key|access_?key(_id)?|secret_?access_?key|private_?key|"
    r"service_role_key|anon_key|credentials?|dsn|connection_string|conn_str)$",
    re.IGNORECASE,
)
URL_WITH_PASSWORD = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:[^@\s/]+@")


def find_inline_secrets(config: dict[str, Any], secret_keys: frozenset[str],
                        base: str) -> Iterator[tuple[str, str]]:
    """Yield (pointer, reason) for each inline secret in a step config."""
    for key, value in config.items():
        pointer = join(base, key)
        if key in secret_keys and value not in (None, ""):
            yield pointer, f"`{key}` is a secret field of this component"
            continue
        yield from _walk(value, pointer, key)


def _walk(value: Any, pointer: str, key: str | None) -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, join(pointer, k), str(k))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _walk(item, join(pointer, i), None)
    elif isinstance(value, str) and value:
        if key is not None and key != "connection" and CREDENTIAL_KEY.match(key):
            yield pointer, f"`{key}` looks like a credential"
        elif URL_WITH_PASSWORD.search(value):
            yield pointer, "the value is a URL with a password in it"


def secret_values_in(config: dict[str, Any], secret_keys: frozenset[str]) -> list[str]:
    """Every string value `find_inline_secrets` would flag (used to keep them out of messages)."""
    found: list[str] = []
    lookup: Callable[[str], Any] = lambda p: _get(config, p)  # noqa: E731
    for pointer, _ in find_inline_secrets(config, secret_keys, ""):
        value = lookup(pointer)
        if isinstance(value, str):
            found.append(value)
    return found


def _get(config: Any, pointer: str) -> Any:
    target = config
    for token in pointer.split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        target = target[int(token)] if isinstance(target, list) else target[token]
    return target
