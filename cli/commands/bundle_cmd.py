"""`osiris logs bundle ID -o run.zip`: one session's files in a zip to attach to a bug report.

Every text file passes through the one masker (oml/secrets.py: the secrets of the project's
connections file, credential-looking environment values and credential shapes such as URL
passwords and `password=...`), on top of what the runtime masked when it wrote them. Files
that are not UTF-8 text cannot be checked for secrets and are left out (listed). Links are not
followed. The zip is written beside its target and linked into place only when complete: an
existing file is never overwritten, and a failure leaves nothing behind.
"""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from osiris.oml.secrets import SecretMasker

__all__ = ["bundle_command", "write_bundle"]


def bundle_command(root: Path, args: argparse.Namespace) -> int:
    from osiris.runtime.session import SessionError, find_session

    out = Path(args.out)
    if os.path.lexists(out):
        sys.stderr.write(f"osiris logs bundle: error: {out} exists; it is never overwritten\n"
                         "  hint: choose another name with -o, or delete the file first\n")
        return 2
    try:
        info = find_session(root, args.session_id)
    except SessionError as error:
        sys.stderr.write(f"osiris logs bundle: error: {error}\n")
        return 2
    try:
        added, left_out = write_bundle(info.path, out, prefix=info.id, masker=_masker(args.connections))
    except FileExistsError:
        sys.stderr.write(f"osiris logs bundle: error: {out} appeared meanwhile; it is never overwritten\n")
        return 2
    except OSError as error:
        sys.stderr.write(f"osiris logs bundle: error: cannot write {out}: {error.strerror or error}\n")
        return 1
    if args.json:
        print(json.dumps({"session_id": info.id, "out": str(out), "files": added, "left_out": left_out}, indent=2))
        return 0
    print(f"bundled session {info.id} into {out} ({len(added)} files, secrets masked)")
    for name in left_out:
        print(f"  left out {name} (not text: its secrets could not be checked)")
    return 0


def _masker(connections: str | None) -> SecretMasker:
    """The environment's credentials and, when the connections file loads, every alias's secrets."""
    from osiris.cli.chat import make_guard
    from osiris.runtime.connections import ConnectionsUnavailable, load_connections_file

    try:
        loaded = load_connections_file(connections, Path.cwd())
    except ConnectionsUnavailable:  # a broken file has no secrets to add; shapes are still masked
        loaded = None
    return make_guard(loaded, os.environ)


def write_bundle(session: Path, out: Path, *, prefix: str, masker: SecretMasker) -> tuple[list[str], list[str]]:
    """Zip `session`'s regular files (text masked) into `out`, which must not exist.

    Returns (files added, files left out), as paths relative to the session directory.
    """
    added: list[str] = []
    left_out: list[str] = []
    directory = out.parent if str(out.parent) else Path(".")
    fd, temp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=directory)
    try:
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in _regular_files(session):
                name = path.relative_to(session).as_posix()
                try:
                    text = path.read_bytes().decode("utf-8")
                except UnicodeDecodeError:
                    left_out.append(name)
                    continue
                info = zipfile.ZipInfo(f"{prefix}/{name}", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o600 << 16
                archive.writestr(info, masker.mask(text))
                added.append(name)
        os.link(temp, out)  # fails if `out` appeared meanwhile: never overwrite
    finally:
        os.unlink(temp)
    return added, left_out


def _regular_files(root: Path) -> list[Path]:
    """Regular files under `root`, sorted, without following links."""
    found: list[Path] = []
    for current, dirs, files in os.walk(root, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            path = Path(current) / name
            if stat.S_ISREG(path.lstat().st_mode):
                found.append(path)
    return sorted(found)
