"""`python -m tests.runtime.cli_harness ARGS...`: the real `osiris` CLI with test drivers installed.

Used by subprocess tests that need the CLI's own process (signals, exit codes, stdout and
stderr) together with test doubles: it registers them as default overrides (and their specs
as the default spec registry), then calls `runtime.cli.main`. `mysql.extractor` is replaced by
`Leaky`, a driver that tries to leak its connection's secrets through every channel a driver has.
"""

from __future__ import annotations

import logging
import sys

import pyarrow as pa

from osiris.runtime.driver import DriverError, StepContext
from osiris.runtime.registry import set_default_overrides
from tests.runtime.doubles import OVERRIDES, spec_registry


class Leaky:
    """Puts the password and a DSN holding it into events, metrics, logs, progress and its error."""

    def extract(self, ctx: StepContext) -> pa.RecordBatchReader:
        password = str(ctx.connection.get("password"))
        dsn = f"mysql://{ctx.connection.get('user')}:{password}@{ctx.connection.get('host')}/db"
        ctx.event("connecting", password=password, dsn=dsn, nested={"list": [password]})
        ctx.metric("leak_attempts", 1, None, note=password, where=dsn)
        logging.getLogger("leaky.driver").warning("connecting with password=%s via %s", password, dsn)
        logging.getLogger("leaky.driver").error("raw secret %s", password)
        raise DriverError(
            f"cannot connect to {dsn} (password {password!r} rejected)",
            hint=f"check that {password} is right",
        )


def main(argv: list[str]) -> int:
    set_default_overrides({**OVERRIDES, "mysql.extractor": Leaky})
    # The test components' specs too: `osiris run --manifest` verifies every step against its spec.
    import osiris.compiler.spec_cache as spec_registry_module
    specs = spec_registry()
    spec_registry_module.default_registry = lambda: specs  # type: ignore[assignment]
    from osiris.cli.osiris import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
