"""What the host puts in the sandbox before starting the worker, and the worker's environment.

One upload holds everything: the bootstrap script, `job/boot.json` (which build to run and
where to find or unpack it), `job/run.json` (session id, mounts, path map, executor options),
the dependency lock, the compiled manifest directory, the wheel unless the sandbox's
template or cache already holds this build, and the input files staging found. None of it
holds a secret, and neither does the worker's environment (`worker_env`): the resolved
connections reach the worker over its stdin (runtime.e2b.host.payload).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from osiris.runtime.e2b.host.options import E2BOptions
from osiris.runtime.e2b.host.staging import Staging
from osiris.runtime.e2b.host.transport import Sandbox, UploadFile
from osiris.runtime.e2b.host.wheel import Build
from osiris.runtime.e2b.sandbox.bootstrap import MARKER
from osiris.runtime.local.executor import ExecOptions
from osiris.runtime.secrets import SecretMasker

__all__ = ["FIXED_ENV", "build_installed", "job_files", "worker_env"]

log = logging.getLogger("osiris.e2b")
FIXED_ENV = {"PYTHONUNBUFFERED": "1", "OSIRIS_E2B": "1"}


def worker_env(opts: E2BOptions, host_env: Mapping[str, str], secrets: SecretMasker) -> dict[str, str]:
    """The fixed variables and the `--e2b-env` allow-list; nothing else, and no secret.

    Step code can read its process's environment (/proc/self/environ), so a variable whose
    value holds a connection secret (`secrets` knows them) is refused with ValueError, even
    when its name looks harmless; credential-looking names are refused by E2BOptions.
    """
    env = dict(FIXED_ENV)
    for name in opts.env_names:
        if name not in host_env:
            log.warning("--e2b-env %s: not set on the host, not passed", name)
        elif secrets.mask(host_env[name]) != host_env[name]:
            raise ValueError(
                f"--e2b-env {name}: its value holds a connection secret, which step code in the "
                "sandbox could read from its environment"
            )
        else:
            env[name] = host_env[name]
    return env


def build_installed(sandbox: Sandbox, build: Build) -> bool:
    """True when the sandbox's template (or the local cache) already holds this build."""
    return bool(sandbox.cache_dir) and sandbox.exists(f"{sandbox.cache_dir}/{build.build_id}/{MARKER}")


def job_files(
    *,
    root: str,
    sandbox: Sandbox,
    build: Build,
    installed: bool,
    lock: str,
    staging: Staging,
    session_id: str,
    compiled: Path,
    tmp_dir: Path,
    exec_options: ExecOptions,
    opts: E2BOptions,
) -> list[UploadFile]:
    boot = {
        "build_id": build.build_id,
        "wheel": None if installed else f"dist/{build.filename}",
        "site_dirs": [d for d in (sandbox.cache_dir, f"{root}/site") if d],
        "lock": "job/requirements.lock",
        "heartbeat_s": opts.heartbeat_s,
    }
    run: dict[str, Any] = {
        "session_id": session_id,
        "mounts": [m.to_json() for m in staging.mounts],
        "map": [[f"{root}/tmp", str(tmp_dir)], [f"{root}/job/compiled", str(compiled)]],
        "exec": {
            "batch_rows": exec_options.batch_rows,
            "channel_capacity": exec_options.channel_capacity,
            "step_memory_bytes": exec_options.step_memory_bytes,
            "keep_spill": exec_options.keep_spill,
            "debug": exec_options.debug,
        },
        "heartbeat_s": opts.heartbeat_s,
        "shutdown_grace_s": opts.shutdown_grace_s,
    }
    bootstrap = resources.files("osiris.runtime.e2b.sandbox").joinpath("bootstrap.py").read_bytes()
    files = [
        UploadFile(f"{root}/bootstrap.py", bootstrap),
        UploadFile(f"{root}/job/boot.json", json.dumps(boot, indent=1).encode()),
        UploadFile(f"{root}/job/run.json", json.dumps(run, indent=1, ensure_ascii=False).encode()),
        UploadFile(f"{root}/job/requirements.lock", lock.encode()),
    ]
    for path in sorted(compiled.rglob("*")):
        if path.is_file() and not path.name.startswith("."):
            files.append(UploadFile(f"{root}/job/compiled/{path.relative_to(compiled).as_posix()}", path))
    if not installed:
        files.append(UploadFile(f"{root}/dist/{build.filename}", build.path))
    return files + staging.uploads
