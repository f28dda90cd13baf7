"""Where each setting can be set from: its environment variable and its command-line flag.

Plain data beside cli/settings.py (which re-exports both), so a command can tell that nothing
but its own flags sets a value without importing the settings model (pydantic builds it
with its plugin lookup: ~20 ms of `omlc compile`'s start-up, cli/project.py `command_line_only`).
"""

from __future__ import annotations

__all__ = ["CLI_FLAGS", "ENV_VARS"]

ENV_VARS: dict[str, str] = {
    "sessions_dir": "OSIRIS_SESSIONS_DIR",
    "connections": "OSIRIS_CONNECTIONS",
    "validation": "OSIRIS_VALIDATION",
    "run.step_memory": "OSIRIS_STEP_MEMORY",
    "run.batch_rows": "OSIRIS_BATCH_ROWS",
    "run.backend": "OSIRIS_BACKEND",
    "logs.keep": "OSIRIS_LOGS_KEEP",
    "logs.older_than_days": "OSIRIS_LOGS_OLDER_THAN_DAYS",
    "e2b.transport": "OSIRIS_E2B_TRANSPORT",
    "e2b.timeout_s": "OSIRIS_E2B_TIMEOUT",
    "e2b.cpu": "OSIRIS_E2B_CPU",
    "e2b.template": "OSIRIS_E2B_TEMPLATE",
    "ray.address": "RAY_ADDRESS",
    "ray.partitions": "OSIRIS_RAY_PARTITIONS",
    "ray.cpus": "OSIRIS_RAY_CPUS",
    "chat.base_url": "OSIRIS_LLM_BASE_URL",
    "chat.model": "OSIRIS_LLM_MODEL",
    "chat.timeout_s": "OSIRIS_LLM_TIMEOUT",
    "chat.retries": "OSIRIS_LLM_RETRIES",
    "chat.backoff_s": "OSIRIS_LLM_BACKOFF",
    "chat.stream": "OSIRIS_LLM_STREAM",
}
"""The environment variable that sets each setting (e2b.env has none: it names variables)."""

CLI_FLAGS: dict[str, str] = {
    "sessions_dir": "--session-dir",
    "connections": "--connections",
    "validation": "osiris validate --mode",
    "run.step_memory": "osiris run --step-memory",
    "run.batch_rows": "osiris run --batch-rows",
    "run.backend": "osiris run --backend",
    "logs.keep": "osiris logs gc --keep",
    "logs.older_than_days": "osiris logs gc --older-than",
    "e2b.transport": "--e2b-transport",
    "e2b.timeout_s": "--e2b-timeout",
    "e2b.cpu": "--e2b-cpu",
    "e2b.template": "--e2b-template",
    "e2b.env": "--e2b-env",
    "ray.address": "--ray-address",
    "ray.partitions": "--partitions",
    "ray.cpus": "--ray-cpus",
    "chat.base_url": "osiris chat --base-url",
    "chat.model": "osiris chat --model",
    "chat.timeout_s": "osiris chat --timeout",
    "chat.stream": "osiris chat --stream",
}
