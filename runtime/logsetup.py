"""Logging and uncaught-exception output that cannot leak secrets.

Drivers and client libraries log through `logging`; without a handler Python's last-resort
handler would print their WARNINGs to stderr unmasked, and an exception escaping a thread
would print its traceback. `masked_logging` routes both through a `SecretMasker` for the
duration of a command: to a file (a run's osiris.log) or to stderr.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path

from osiris.compiler.files import open_private
from osiris.runtime.secrets import SecretMasker

__all__ = ["MaskingFormatter", "masked_logging"]


class MaskingFormatter(logging.Formatter):
    def __init__(self, masker: SecretMasker) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s")
        self.masker = masker

    def format(self, record: logging.LogRecord) -> str:
        return self.masker.mask(super().format(record))


class _PrivateFileHandler(logging.FileHandler):
    """A run's osiris.log is a session file: 0600 from its creation."""

    def _open(self):  # type: ignore[no-untyped-def]
        return open_private(self.baseFilename, self.mode)


@contextlib.contextmanager
def masked_logging(masker: SecretMasker, *, file: Path | None = None, debug: bool = False) -> Iterator[None]:
    """Log WARNING+ (DEBUG+ with `debug`) masked to `file`, or to stderr when no file is given."""
    if file is not None:
        handler: logging.Handler = _PrivateFileHandler(file, encoding="utf-8", delay=True)
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.DEBUG if debug else logging.WARNING)
    handler.setFormatter(MaskingFormatter(masker))
    root = logging.getLogger()
    previous_level = root.level
    if debug and root.level > logging.DEBUG:
        root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    previous_hook = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        text = "".join(traceback.format_exception(args.exc_type, args.exc_value, args.exc_traceback))
        logging.getLogger("osiris.runtime").error(
            "uncaught exception in thread %s:\n%s", getattr(args.thread, "name", "?"), text
        )
        sys.stderr.write(
            masker.mask(
                f"osiris: internal error in a worker thread: {args.exc_type.__name__}: {args.exc_value}\n"
            )
        )

    threading.excepthook = hook
    try:
        yield
    finally:
        threading.excepthook = previous_hook
        root.removeHandler(handler)
        root.setLevel(previous_level)
        handler.close()
