"""Secret masking: every string the runtime writes passes through one `SecretMasker`.

Secrets come from three places, all registered before anything is written:

- fields a connection family marks `secret: true` (resolved from `osiris_connections.yaml`);
- credential-looking fields anywhere in a connection (`password`, `token`, `api_key`, ...)
  and the password inside any URL-shaped value (`postgresql://user:PASSWORD@host/db`);
- environment variables with credential-looking names (`*_PASSWORD`, `*_TOKEN`, ...), so a
  library that echoes one in an error message cannot leak it.

Besides exact values, two patterns are masked whatever their value: the password part of a
URL (`://user:***@`) and `password=...` pairs in key/value DSNs. Masking is deliberately
greedy: a false positive costs readability, a false negative leaks a credential.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus, unquote, urlsplit

__all__ = ["MASK", "SecretMasker", "is_credential_env", "is_credential_key", "secrets_in_value"]

MASK = "***"

_CREDENTIAL_KEY = re.compile(
    r"(pass(word|wd|phrase)?|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|"
    r"service[_-]?role[_-]?key|anon[_-]?key|credential|auth|dsn|^key$|_key$|-key$)",
    re.IGNORECASE,
)
_CREDENTIAL_ENV = re.compile(
    r"(PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|_KEY$|^KEY$|_PWD$|DSN|"
    r"CREDENTIAL|DATABASE_URL$|_URI$)",
    re.IGNORECASE,
)
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/?#@\s]*:)(?P<pw>[^@\s/]+)(?P<tail>@)")
_KV_PASSWORD = re.compile(
    r"(?P<head>(?:\b(?:password|passwd|pwd|secret|token|api_key|apikey)\s*=\s*|"
    r"[\"'](?:password|passwd|pwd|secret|token|api_key|apikey)[\"']\s*:\s*))"
    r"(?P<quote>['\"]?)(?!\$\{[A-Za-z_][A-Za-z0-9_]*\}['\"\s,;&]|\$\{[A-Za-z_][A-Za-z0-9_]*\}$)"
    r"(?P<pw>[^\s'\",;&]+)",
    re.IGNORECASE,
)
SHORT_SECRET = 4
"""Secrets shorter than this are masked only as whole tokens, so `ab` does not eat every `ab`."""


def is_credential_key(key: str) -> bool:
    """True for connection field names that usually hold a credential."""
    return bool(_CREDENTIAL_KEY.search(key))


def is_credential_env(name: str) -> bool:
    """True for environment variable names that usually hold a credential (not PWD or *_AUTH_SOCK)."""
    return bool(_CREDENTIAL_ENV.search(name))


def secrets_in_value(value: Any) -> list[str]:
    """The password embedded in a URL-shaped value (raw and percent-decoded), if any."""
    if not isinstance(value, str) or "://" not in value:
        return []
    found: list[str] = []
    try:
        password = urlsplit(value.strip()).password
    except ValueError:
        password = None
    if password:
        found += [password, unquote(password)]
    for match in _URL_PASSWORD.finditer(value):
        found += [match.group("pw"), unquote(match.group("pw"))]
    return found


class SecretMasker:
    """A thread-safe set of secret values and the function that hides them in text and data."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self.add(*values)

    def add(self, *values: Any) -> None:
        """Register secret values (non-strings and empty strings are ignored)."""
        new: set[str] = set()
        for value in values:
            if value is None or isinstance(value, bool):
                continue
            text = str(value)
            if not text.strip():
                continue
            # The forms a value takes once quoted into a URL or escaped into JSON.
            for form in (
                text,
                quote(text, safe=""),
                quote_plus(text),
                json.dumps(text)[1:-1],
                repr(text)[1:-1],
            ):
                if form:
                    new.add(form)
        with self._lock:
            if new - self._values:
                self._values |= new
                self._pattern = _compile(self._values)

    def add_connection(self, fields: Mapping[str, Any], secret_fields: Iterable[str] = ()) -> None:
        """Register a resolved connection's secrets: declared, credential-looking and in URLs."""
        secret_fields = set(secret_fields)
        for key, value in fields.items():
            if key in secret_fields or is_credential_key(str(key)):
                self.add(value)
            self.add(*secrets_in_value(value))

    def add_environment(self, environ: Mapping[str, str]) -> None:
        """Register environment values whose names look like credentials (`MYSQL_PASSWORD`)."""
        for name, value in environ.items():
            if is_credential_env(name) and len(value) >= SHORT_SECRET:
                self.add(value)
            self.add(*secrets_in_value(value))

    @property
    def values(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._values)

    def mask(self, text: str) -> str:
        """`text` with every registered secret and every URL/DSN password replaced by `***`."""
        if not text:
            return text
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(MASK, text)
        text = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK + m.group("tail"), text)
        return _KV_PASSWORD.sub(_mask_kv, text)

    def mask_data(self, value: Any) -> Any:
        """A deep copy of JSON-like data with every string (keys included) masked."""
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, Mapping):
            return {self.mask(str(k)): self.mask_data(v) for k, v in value.items()}
        if isinstance(value, (list, tuple, set, frozenset)):
            return [self.mask_data(v) for v in value]
        if value is None or isinstance(value, (bool, int, float)):
            return value
        return self.mask(str(value))


def _mask_kv(match: re.Match[str]) -> str:
    if match.group("pw") == MASK:
        return match.group(0)
    return match.group("head") + match.group("quote") + MASK


def _compile(values: set[str]) -> re.Pattern[str]:
    # Longest first, so a secret that contains another is masked whole.
    parts = []
    for value in sorted(values, key=lambda v: (-len(v), v)):
        escaped = re.escape(value)
        if len(value) < SHORT_SECRET:
            escaped = rf"(?<![A-Za-z0-9]){escaped}(?![A-Za-z0-9])"
        parts.append(escaped)
    return re.compile("|".join(parts))
