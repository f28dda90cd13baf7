"""`python -m tests.security.overrides_unverified_cli ARGS...`: the real `osiris` CLI with manifest
verification's connection-override check switched off.

`osiris run --manifest` refuses a cfg that overrides an alias field the alias does not grant
(OML096, compiler/manifest_verify.py) before anything runs. The runtime refuses it again when the
step resolves its connection (`ResolvedConnection.check_overrides`); this harness takes the first
layer away so tests reach the second, in a process of its own.
"""

from __future__ import annotations

import sys

import osiris.compiler.manifest_verify as manifest_verify


def main(argv: list[str]) -> int:
    manifest_verify._check_overrides = lambda *args, **kwargs: None  # the runtime's check remains
    from osiris.cli.osiris import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
