"""The compiler passes, in order. Each is a function (Pipeline, CompileContext) -> Pipeline."""

from osiris.compiler.passes.bind_params import bind_params
from osiris.compiler.passes.check_cursors import check_cursors
from osiris.compiler.passes.confine_paths import confine_paths
from osiris.compiler.passes.emit import emit
from osiris.compiler.passes.plan import plan
from osiris.compiler.passes.resolve_connections import resolve_connections
from osiris.compiler.passes.validate import validate

PASSES = (bind_params, validate, resolve_connections, check_cursors, confine_paths, plan)
"""Everything before `emit`; `emit` also returns the artifact bytes."""

__all__ = ["PASSES", "bind_params", "check_cursors", "confine_paths", "emit", "plan", "resolve_connections", "validate"]
