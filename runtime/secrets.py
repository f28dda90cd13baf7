"""The runtime's secret masker: every string the runtime writes passes through one `SecretMasker`.

Secrets are registered before anything is written: fields a connection family marks
`secret: true` and credential-looking fields of the connections a run uses (`add_connection`),
the password inside any URL- or DSN-shaped value, and environment variables with
credential-looking names (`add_environment`), so a library that echoes one cannot leak it.
Credential-shaped text (`password: x`, `"token": "x"`, `key=value`, URL userinfo) is masked
whatever its value.

The mechanism itself lives in `oml.secrets`, the lowest layer, because the compiler (which
must not import the runtime) and the chat hide secrets with the same code; this module is the
runtime's name for it.
"""

from __future__ import annotations

from osiris.oml.secrets import (
    MASK,
    SHORT_SECRET,
    SecretMasker,
    is_credential_env,
    is_credential_key,
    mask_text,
    secrets_in_value,
    strip_userinfo,
)

__all__ = [
    "MASK",
    "SHORT_SECRET",
    "SecretMasker",
    "is_credential_env",
    "is_credential_key",
    "mask_text",
    "secrets_in_value",
    "strip_userinfo",
]
