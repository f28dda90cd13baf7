"""Reading the files every Osiris tool is given (pipelines, connections, manifests), safely.

Untrusted input must not make a tool hang or eat the machine before a single diagnostic:
`omlc check /dev/zero` read forever, a FIFO blocked in open(), and a 5 MB file cost seconds
and hundreds of MB. So a file is read only when it is a regular file no larger than the
input cap (os.stat before opening, fstat after, since a FIFO can be swapped in between, and
the open is non-blocking so that swap cannot hang it), and at most cap + 1 bytes are read.
Text handed over in memory (a model's draft, an embedder's string) meets the same cap.

The cap: OSIRIS_MAX_INPUT_SIZE (bytes, or a size such as 16MiB), default 4 MiB, which holds
a 10,000-step pipeline twice over. It also bounds how many values a YAML document may hold
(one per 8 bytes of the cap, aliases counted each time they are used; oml.yaml_compose).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path

__all__ = ["DEFAULT_MAX_INPUT_BYTES", "ENV_MAX_INPUT", "InputError", "check_size", "max_input_bytes",
           "parse_size", "read_bytes", "read_text"]

DEFAULT_MAX_INPUT_BYTES = 4 * 2**20
ENV_MAX_INPUT = "OSIRIS_MAX_INPUT_SIZE"

_UNITS = {"b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "kib": 1024, "mib": 1024**2, "gib": 1024**3}
_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)?\s*", re.IGNORECASE)


class InputError(Exception):
    """A file or text that will not be read: (code, message, help)."""

    def __init__(self, code: str, message: str, help: str | None = None) -> None:  # noqa: A002
        super().__init__(message)
        self.code, self.message, self.help = code, message, help


def parse_size(text: str, default_unit: str = "B") -> int:
    """`512MB`, `2GiB`, `4194304` -> bytes (decimal and binary units); ValueError otherwise."""
    match = _SIZE.fullmatch(text)
    if not match:
        raise ValueError(f"expected a size like 512MB or 2GiB, got {text!r}")
    value = int(float(match.group(1)) * _UNITS[(match.group(2) or default_unit).lower()])
    if value < 1:
        raise ValueError(f"expected a size above zero, like 512MB or 2GiB, got {text!r}")
    return value


def max_input_bytes(env: Mapping[str, str] | None = None) -> int:
    """The input cap `env` (default os.environ) sets; InputError (OML011) for a malformed value."""
    raw = (os.environ if env is None else env).get(ENV_MAX_INPUT, "").strip()
    if not raw:
        return DEFAULT_MAX_INPUT_BYTES
    try:
        return parse_size(raw)
    except ValueError as error:
        raise InputError("OML011", f"{ENV_MAX_INPUT}={raw!r} is not a size: {error}",
                         "set it to a number of bytes or a size such as 16MiB, or unset it "
                         f"for the default {_shown(DEFAULT_MAX_INPUT_BYTES)}") from None


def check_size(size: int, label: str, limit: int) -> None:
    """InputError (OML011) when `size` bytes exceed `limit`."""
    if size > limit:
        raise InputError("OML011", f"{label} is {size:,} bytes, over the input limit of {_shown(limit)}",
                         f"split it, or raise the limit with {ENV_MAX_INPUT} (e.g. "
                         f"{ENV_MAX_INPUT}=16MiB) if the file is trusted")


def read_bytes(path: Path | str, label: str, limit: int) -> bytes:
    """The bytes of `path`, which must be a regular file of at most `limit` bytes.

    InputError: OML014 for a device, FIFO or socket, OML011 when too large, OML091 when
    missing, a directory or unreadable. Never blocks, never reads more than limit + 1 bytes."""
    try:
        info = os.stat(path)
        _check_regular(info.st_mode, label)
        check_size(info.st_size, label, limit)
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise InputError("OML091", f"no such file: {label}") from None
    except InputError:
        raise
    except OSError as error:
        raise InputError("OML091", f"cannot read {label}: {error.strerror or error}") from None
    try:
        _check_regular(os.fstat(fd).st_mode, label)  # what was opened, not what was stat'ed
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(limit + 1 - size, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:  # it grew after the stat: only limit + 1 bytes were read
            raise InputError("OML011", f"{label} grew past the input limit of {_shown(limit)} while being read")
        return b"".join(chunks)
    except OSError as error:
        raise InputError("OML091", f"cannot read {label}: {error.strerror or error}") from None
    finally:
        os.close(fd)


def read_text(path: Path | str, label: str, limit: int) -> str:
    """`read_bytes` decoded as UTF-8 (no newline translation); OML091 when it is not UTF-8."""
    data = read_bytes(path, label, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise InputError("OML091", f"{label} is not UTF-8 text (byte {error.start})") from None


def _check_regular(mode: int, label: str) -> None:
    if stat.S_ISREG(mode):
        return
    if stat.S_ISDIR(mode):
        raise InputError("OML091", f"{label} is a directory, not a file")
    kind = ("a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a character device" if stat.S_ISCHR(mode) else "a block device" if stat.S_ISBLK(mode)
            else "not a regular file")
    raise InputError("OML014", f"{label} is {kind}, not a regular file",
                     "Osiris reads pipelines, connections and manifests only from regular files; "
                     "copy the content into a file first")


def _shown(size: int) -> str:
    return f"{size // 2**20} MiB" if size % 2**20 == 0 else f"{size:,} bytes"
