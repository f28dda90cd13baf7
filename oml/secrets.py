"""Secret masking: the one mechanism every layer uses to keep credentials out of what it writes.

It lives in oml/ because that is the lowest package that the compiler (OML080 excerpts and
messages), the runtime (events, metrics, status, logs, reports) and the chat (prompts,
transcripts, the console) may all import: the compiler must not import the runtime.
`runtime.secrets` re-exports it as the runtime's masker.

Two things are hidden:

- registered values (connection secrets, credential-looking environment variables) in every
  form they take once written somewhere: percent-encoded, JSON-escaped (once or twice), repr,
  unicode escapes, SQL/YAML single quotes, HTML. Every occurrence of every form is found,
  overlapping ones included, and each run of overlapping occurrences is masked as one, so the
  longer of two overlapping secrets never leaves a tail behind;
- whatever the value, text that is shaped like a credential: the password of a URL's userinfo
  (`scheme://user:***@host`), the value of a credential-looking key written as `key: value`,
  `key=value`, `"key": "value"`, `'key': 'value'`, in YAML flow and block forms (block scalars
  included), quoted or not, and `Bearer`/`Basic` tokens.

Masking is greedy (a false positive costs readability, a false negative leaks a credential) but
keeps structure: masking serialised JSON gives valid JSON, and a masked YAML line keeps its key.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus, unquote, urlsplit

__all__ = [
    "CREDENTIAL_KEY_PATTERN",
    "MASK",
    "SHORT_SECRET",
    "URL_PASSWORD",
    "has_signed_url",
    "SecretMasker",
    "has_url_password",
    "is_credential_env",
    "is_credential_key",
    "mask_text",
    "merge_ranges",
    "pattern_redactions",
    "replacement",
    "splice",
    "secrets_in_value",
    "strip_userinfo",
]

MASK = "***"
SHORT_SECRET = 4
"""Secrets shorter than this are masked only as whole tokens, so `ab` does not eat every `ab`."""

# -- what a credential-looking key is ------------------------------------------------------------
# Strong words may be glued to a prefix (PGPASSWORD, clientSecret, accessToken, apiKey); weak
# words only count as the last component of a name (db_pass, basic_auth, pg_dsn), and `key`
# only alone, so primary_key, sort_key and sslkey (a file path) are not credentials.
_STRONG = (
    r"(?:password|passwd|passphrase|secret|credentials?|token|pwd|apikey"
    r"|(?:api|access|private|role|anon|master|signing|encryption|account|storage|subscription"
    r"|client|auth|app|service|secret|session|shared)[_.\-]?key(?:[_.\-]?id)?)"
)
_WEAK = r"(?:pass|dsn|auth|authorization|bearer|cookie|connection[_.\-]?string|conn[_.\-]?str)"
_ALONE = r"(?:key|sas)"
CREDENTIAL_KEY_PATTERN = rf"(?:[A-Za-z0-9_.\-]*{_STRONG}|(?:[A-Za-z0-9_.\-]*[_.\-])?{_WEAK}|{_ALONE})"
"""A name that usually holds a credential (matched whole, case-insensitively)."""
_CREDENTIAL_KEY = re.compile(CREDENTIAL_KEY_PATTERN, re.IGNORECASE)
_KEY_WORD = re.compile(r"pass|pwd|secret|credential|token|key|dsn|auth|bearer|cookie|conn|sas", re.IGNORECASE)
"""Every credential key holds one of these (a cheap first test)."""
_ENV_EXTRA = re.compile(r"(?:^|_)(?:DATABASE_URL|DSN|URI|CREDENTIALS?)$|^KEY$", re.IGNORECASE)
_NOT_CREDENTIAL_ENV = frozenset({"PWD", "OLDPWD"})


def is_credential_key(name: str) -> bool:
    """True for field names that usually hold a credential (`password`, `api_key`, `dsn`, `key`)."""
    key = str(name).strip()
    # The compiler asks for every config key: most hold none of these words, and a search for
    # them is ten times cheaper than the whole-name match.
    return _KEY_WORD.search(key) is not None and _CREDENTIAL_KEY.fullmatch(key) is not None


def is_credential_env(name: str) -> bool:
    """True for environment variable names that usually hold one (not PWD or *_AUTH_SOCK)."""
    if name.upper() in _NOT_CREDENTIAL_ENV:
        return False
    return is_credential_key(name) or _ENV_EXTRA.search(name) is not None


# -- text shaped like a credential ---------------------------------------------------------------
_EDGE = r"A-Za-z0-9_.\-"
# `scheme://user:PASSWORD@host`: the password runs to the last `@` of the authority, so one
# holding `@` is masked whole; `\/\/` is the JSON-escaped form some serialisers write.
_URL_PASSWORD = re.compile(
    r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*:(?:\\?/){2}[^:/?#@\s\\'\"<>]*:)"
    r"(?P<secret>[^\s/?#'\"<>]+?)"
    r"@(?=[^@\s/?#'\"<>\\]*(?:[/?#\s'\"<>\\]|$))"
)
URL_PASSWORD = _URL_PASSWORD
"""Finds the password of a URL's userinfo (group `secret`); `has_url_password` in one call."""
_BEARER = re.compile(
    r"\b(?:[Bb]earer|Basic(?=\s+[A-Za-z0-9+/]*[0-9+/=]))\s+(?P<secret>[A-Za-z0-9._~+/\-]{8,}=*)"
)
_KEY = rf"(?<![{_EDGE}])(?:{CREDENTIAL_KEY_PATTERN})(?![{_EDGE}])(?:\\?[\"'])?"
_REFERENCE = r"(?P<ref>\$\{[A-Za-z_][A-Za-z0-9_]*\})(?=[ \t]*(?:[\s\"',;&}\])\\]|$))"
_QUOTED = (
    r"\\\"(?P<ejq>(?:[^\\\n\"]|\\[^\"\n])*)\\\""  # \"...\"  (JSON inside a JSON string)
    r"|\"(?![ \t]*(?:[,:}\]\r\n]|$))(?P<dq>(?:[^\"\\]|\\.)*)\""  # "..." (not a JSON string's end)
    r"|'(?P<sq>(?:[^'\\\n\"]|\\.|''|\"(?![ \t]*(?:[,:}\]]|$)))*)'"  # '...' (YAML doubles quotes; SQL, repr escape)
)
_LITERAL = r"(?P<lit>null|true|false|~|\*\*\*)(?=[ \t]*(?:[,}\]\r\n]|$))"
# `key: value` runs to the end of the line (a YAML plain scalar may hold spaces), but stops
# where a JSON string or container ends, so masking serialised JSON keeps it valid.
_COLON_VALUE = (
    r"(?P<bare>(?:\\.|[^\s\\\"{\[,}\]]|\"(?![ \t]*(?:[,:}\]\n]|$)))"
    r"(?:\\.|[^\n\\\",}\]]|,(?![ \t]*(?:\\?[\"']|\r?\n|$))"
    r"|[}\]](?![ \t]*(?:[,}\]\"\n]|$))|\"(?![ \t]*(?:[,:}\]\n]|$)))*)"
)
_EQUALS_VALUE = r"(?P<bare>(?:\\.|[^\s\\\"'&;,)}\]])+)"


@functools.cache
def _kv_patterns() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    """(`key: value`, `key=value`, YAML block value) patterns, compiled on first use: the compiler
    imports this module on every run but masks text only when it has something to report."""
    colon = rf"{_KEY}[ \t]*:(?![:=/])[ \t]*(?:{_REFERENCE}|{_QUOTED}|{_LITERAL}|{_COLON_VALUE})"
    equals = rf"{_KEY}[ \t]*==?(?!=)[ \t]*(?:{_REFERENCE}|{_QUOTED}|{_LITERAL}|{_EQUALS_VALUE})"
    # A YAML block value: `password: |` (or nothing) then more-indented lines.
    block = (
        rf"^(?P<indent>[ \t]*)(?:-[ \t]+)?{_KEY}[ \t]*:[ \t]*(?:[|>][0-9+\-]*[ \t]*)?(?:#[^\n]*)?\r?\n"
        r"(?P<body>(?:(?P=indent)[ \t]+\S[^\n]*(?:\n|$)|[ \t]*\r?\n)*)"
    )
    return (
        re.compile(colon, re.IGNORECASE),
        re.compile(equals, re.IGNORECASE),
        re.compile(block, re.IGNORECASE | re.MULTILINE),
    )
_LINE_CONTENT = re.compile(r"[^\s][^\r\n]*")
_JSON_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+\-]?\d+)?")
_BACKSLASH_ESCAPE = re.compile(r"\\(.)")
_NOT_SECRETS = frozenset({"null", "true", "false", "none"})
_VALUE_GROUPS = ("ejq", "dq", "sq", "bare")
"""The groups of a key/value match that hold a value to hide (`ref` and `lit` are left alone)."""
_NUMBER_CHARS = frozenset("0123456789.eE+-")
_ENV_REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")


_SIGNED_URL = re.compile(
    r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s]*[?&;](?:x-amz-signature|x-amz-credential|x-amz-security-token|"
    r"awsaccesskeyid|signature|x-goog-signature|x-goog-credential|googleaccessid|sig|access_token|token)=",
    re.IGNORECASE,
)


def has_signed_url(text: str) -> bool:
    """True when `text` holds a pre-signed or SAS URL (`?X-Amz-Signature=`, `?sig=`,
    `?AWSAccessKeyId=`, `?X-Goog-Signature=` ...): the signature is a credential."""
    return _SIGNED_URL.search(text) is not None


def has_url_password(text: str) -> bool:
    """True when `text` holds a URL whose userinfo has a password (`scheme://user:pw@host`)."""
    return _URL_PASSWORD.search(text) is not None


def strip_userinfo(url: str) -> str:
    """`url` without its `user:password@` part (for storing or showing an endpoint)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return mask_text(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def secrets_in_value(value: Any) -> list[str]:
    """Secrets embedded in a value, as written and percent-decoded: a URL's password and the
    values of `password=...`-style pairs in a key/value DSN."""
    if not isinstance(value, str):
        return []
    written = [*_url_passwords(value), *_dsn_values(value)]
    return [form for secret in written for form in (secret, unquote(secret))]


def _url_passwords(value: str) -> list[str]:
    """The pattern's finds, and urlsplit's (which takes quotes and `<>` the pattern stops at)."""
    found = [match.group("secret") for match in _URL_PASSWORD.finditer(value)]
    try:
        password = urlsplit(value.strip()).password
    except ValueError:  # not a URL urlsplit accepts: the pattern found what it could
        return found
    return [password, *found] if password else found


def _dsn_values(value: str) -> list[str]:
    """`password=...` values (not `null`/`true`/`false`: masking every one of those in every
    JSON document would hide nothing and break the documents)."""
    values = (_value_of(match) for match in _kv_patterns()[1].finditer(value))
    return [secret for secret in values if secret and secret.lower() not in _NOT_SECRETS]


def _value_of(match: re.Match[str]) -> str | None:
    """The unescaped value a key/value match names (None for `${VAR}` references and literals)."""
    if match.group("dq") is not None:
        return _BACKSLASH_ESCAPE.sub(r"\1", match.group("dq"))
    if match.group("sq") is not None:
        return _BACKSLASH_ESCAPE.sub(r"\1", match.group("sq")).replace("''", "'")
    return match.group("ejq") or match.group("bare")


def _html(text: str) -> str:
    """html.escape(text), without importing html (its entity tables cost every omlc start)."""
    for char, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"), ("'", "&#x27;")):
        text = text.replace(char, entity)
    return text


def _forms(text: str) -> set[str]:
    """The ways `text` is written once it passes through a URL, JSON, repr, SQL, YAML or HTML."""
    ascii_json = json.dumps(text)[1:-1]
    forms = {
        text,
        quote(text, safe=""),  # a URL component
        quote(text),  # a URL path (keeps /)
        quote_plus(text),  # a query string or form body (space as +)
        ascii_json,  # JSON, non-ASCII as \uXXXX
        json.dumps(text, ensure_ascii=False)[1:-1],  # JSON keeping non-ASCII
        json.dumps(ascii_json)[1:-1],  # JSON inside a JSON string
        repr(text)[1:-1],  # Python repr
        text.replace("\\", "\\\\").replace("'", "\\'"),  # repr inside a string holding both quotes
        repr(text.encode("utf-8"))[2:-1],  # repr of the UTF-8 bytes
        text.encode("unicode_escape").decode("ascii"),  # unicode_escape
        text.replace("'", "''"),  # SQL and YAML single-quoted strings
        _html(text),  # HTML (the report)
    }
    forms |= {re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), f) for f in forms if "%" in f}
    return {f for f in forms if f}


class SecretMasker:
    """A thread-safe set of secret values and the functions that hide them in text and data."""

    def __init__(self, values: Iterable[Any] = ()) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._finder: re.Pattern[str] | None = None
        self.add(*values)

    def add(self, *values: Any) -> None:
        """Register secret values (None, booleans and blank strings are ignored)."""
        new: set[str] = set()
        for value in values:
            if value is None or isinstance(value, bool):
                continue
            text = str(value)
            if text.strip() and text != MASK:
                new |= _forms(text)
        with self._lock:
            if new - self._values:
                self._values |= new
                self._finder = _finder(self._values)

    def add_connection(self, fields: Mapping[str, Any], secret_fields: Iterable[str] = ()) -> None:
        """Register a resolved connection's secrets: declared, credential-looking and in URLs/DSNs."""
        secret_fields = set(secret_fields)
        for key, value in fields.items():
            if isinstance(value, Mapping):
                self.add_connection(value)
                continue
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
        """`text` with every registered secret and every credential-shaped value replaced by `***`."""
        if not text:
            return text
        return splice(text, self.redactions(text))

    def redactions(self, text: str) -> list[tuple[int, int]]:
        """The sorted, disjoint [start, end) ranges of `text` that `mask` replaces."""
        finder = self._finder
        ranges = [(m.start(), m.start() + len(m.group(1))) for m in finder.finditer(text)] if finder is not None else []
        if "@" in text:
            ranges += [m.span("secret") for m in _URL_PASSWORD.finditer(text)]
        ranges += [m.span("secret") for m in _BEARER.finditer(text)]
        if ":" in text:
            ranges += _pair_ranges(_kv_patterns()[0], text)
            if "\n" in text:
                ranges += _block_ranges(text)
        if "=" in text:
            ranges += _pair_ranges(_kv_patterns()[1], text)
        return merge_ranges(_whole_numbers(text, ranges))

    def dumps(self, value: Any, **options: Any) -> str:
        """`value` masked, then serialised as JSON: the way to write masked JSON (masking the
        serialised text instead could not tell a JSON string's end from a value's)."""
        return json.dumps(self.mask_data(value), **options)

    def mask_data(self, value: Any) -> Any:
        """A deep copy of JSON-like data with every string (keys included) masked, and the value
        of every credential-looking key replaced whole."""
        if isinstance(value, str):
            return self.mask(value)
        if isinstance(value, Mapping):
            return {
                self.mask(str(k)): MASK if _is_secret_value(k, v) else self.mask_data(v) for k, v in value.items()
            }
        if isinstance(value, (list, tuple, set, frozenset)):
            return [self.mask_data(v) for v in value]
        if value is None or isinstance(value, (bool, int, float)):
            return value
        return self.mask(str(value))


def _is_secret_value(key: Any, value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return False
    if isinstance(value, str) and (not value or value == MASK or _ENV_REFERENCE.fullmatch(value)):
        return False
    return is_credential_key(str(key))


def _pair_ranges(pattern: re.Pattern[str], text: str) -> list[tuple[int, int]]:
    ranges = []
    for match in pattern.finditer(text):
        group = next((g for g in _VALUE_GROUPS if match.group(g) is not None), None)
        if group is None:
            continue  # a ${VAR} reference or a literal (null, true, ***): nothing to hide
        start, end = match.span(group)
        if end > start and not _ENV_REFERENCE.fullmatch(match.group(group)):
            ranges.append((start, end))
    return ranges


def _block_ranges(text: str) -> list[tuple[int, int]]:
    ranges = []
    for match in _kv_patterns()[2].finditer(text):
        offset = match.start("body")
        ranges += [(offset + m.start(), offset + m.end()) for m in _LINE_CONTENT.finditer(match.group("body"))]
    return ranges


def _whole_numbers(text: str, ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """A range inside a number grows to the whole number: `9***5` is neither honest nor JSON."""
    widened = []
    for start, end in ranges:
        if text[start:end].isdigit():
            while start > 0 and text[start - 1] in _NUMBER_CHARS:
                start -= 1
            while end < len(text) and text[end] in _NUMBER_CHARS:
                end += 1
        widened.append((start, end))
    return widened


def merge_ranges(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping or touching ranges become one, so overlapping secrets are masked as one run."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def splice(text: str, ranges: list[tuple[int, int]]) -> str:
    """`text` with each range replaced by `***` (`"***"` where a bare JSON number stood, so
    masked JSON stays JSON)."""
    if not ranges:
        return text
    out, last = [], 0
    for start, end in ranges:
        out.append(text[last:start])
        out.append(replacement(text, start, end))
        last = end
    out.append(text[last:])
    return "".join(out)


def replacement(text: str, start: int, end: int) -> str:
    """What `text[start:end]` becomes when masked: `***`, or `"***"` for a bare JSON number
    (a value, not part of a string), so masked JSON stays JSON."""
    if _JSON_NUMBER.fullmatch(text, start, end):
        before = text[:start].rstrip()[-1:]
        after = text[end:].lstrip()[:1]
        if before in ("", ":", "[", ",") and after in ("", ",", "}", "]") and not _in_string(text, start):
            return f'"{MASK}"'
    return MASK


def _in_string(text: str, index: int) -> bool:
    """Is `index` inside a double-quoted string of its line (JSON strings never span lines)?"""
    inside, escaped = False, False
    for char in text[text.rfind("\n", 0, index) + 1 : index]:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            inside = not inside
    return inside


def _finder(values: set[str]) -> re.Pattern[str]:
    """One pattern that reports, at every position, the longest registered form starting there."""
    parts = []
    for value in sorted(values, key=lambda v: (-len(v), v)):
        escaped = re.escape(value)
        if len(value) < SHORT_SECRET:
            escaped = rf"(?<![A-Za-z0-9]){escaped}(?![A-Za-z0-9])"
        parts.append(escaped)
    return re.compile("(?=(" + "|".join(parts) + "))")


_PATTERNS_ONLY = SecretMasker()


def pattern_redactions(text: str) -> list[tuple[int, int]]:
    """The ranges `mask_text` replaces."""
    return _PATTERNS_ONLY.redactions(text)


def mask_text(text: str) -> str:
    """`text` with every credential-shaped value masked (no registered values): for callers that
    know no secrets by value, such as the compiler rendering a diagnostic."""
    return _PATTERNS_ONLY.mask(text)
