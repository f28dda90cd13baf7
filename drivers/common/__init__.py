"""Small helpers every driver may use: atomic file output, path resolution, Arrow type names,
the metered batch loop."""

from osiris.drivers.common.arrow_types import ArrowTypeError, parse_arrow_type, parse_schema_overrides
from osiris.drivers.common.atomic import atomic_path, error_code, os_error
from osiris.drivers.common.metered import metered
from osiris.drivers.common.paths import display_path, missing_file_error, resolve_config_path

__all__ = [
    "ArrowTypeError",
    "atomic_path",
    "display_path",
    "error_code",
    "metered",
    "missing_file_error",
    "os_error",
    "parse_arrow_type",
    "parse_schema_overrides",
    "resolve_config_path",
]
