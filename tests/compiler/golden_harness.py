"""Golden cases for the compiler: one harness for the tests and for regenerating them.

    golden/valid/<case>/pipeline.yaml        a valid pipeline
    golden/valid/<case>/expected/...         its compiled tree, byte for byte
    golden/invalid/<CODE>-<slug>.yaml        an invalid pipeline
    golden/invalid/<CODE>-<slug>.txt         its diagnostics as `omlc check` prints them
    golden/diff/<case>/{old,new}.yaml        two versions of a pipeline
    golden/diff/<case>/expected.{txt,json,md}  `omlc diff old.yaml new.yaml` in each format
    <case>.connections.yaml / osiris_connections.yaml   the connections file to use (optional)
    <case>.args.json / args.json             {"params": {...}, "profile": ..., "env": {...}} (optional)

Regenerate after an intended change, then review the diff:

    .venv/bin/python tests/compiler/golden_harness.py --update
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from osiris.compiler.api import CompileOptions, CompileResult, compile_text  # noqa: E402
from osiris.compiler.render import render_text  # noqa: E402

GOLDEN = REPO / "golden"


def _options(args_file: Path, connections: Path | None, base: Path) -> CompileOptions:
    args = json.loads(args_file.read_text()) if args_file.is_file() else {}
    explicit = args.get("connections")
    chosen = (base / explicit) if explicit else connections
    return CompileOptions(
        connections=chosen,
        connections_label=chosen.name if chosen is not None else None,
        search_connections=False,
        params=args.get("params", {}),
        profile=args.get("profile"),
        env=args.get("env", {}),
    )


def compile_valid(case: Path) -> CompileResult:
    conns = case / "osiris_connections.yaml"
    options = _options(case / "args.json", conns if conns.is_file() else None, case)
    return compile_text((case / "pipeline.yaml").read_text(encoding="utf-8"), "pipeline.yaml", options)


def compile_invalid(path: Path) -> tuple[CompileResult, str]:
    stem = path.with_suffix("")
    conns = Path(f"{stem}.connections.yaml")
    options = _options(Path(f"{stem}.args.json"), conns if conns.is_file() else None, path.parent)
    text = path.read_text(encoding="utf-8")
    result = compile_text(text, path.name, options)
    rendered = render_text([(path.name, result.diagnostics)], {path.name: text})
    return result, rendered


def diff_output(case: Path, fmt: str) -> str:
    """`omlc diff old.yaml new.yaml --format fmt` of a golden diff case, run in that folder."""
    from osiris.compiler.diff import diff, side_from_compile
    from osiris.compiler.diff_render import RENDERERS
    from osiris.compiler.spec_cache import default_registry

    conns = case / "osiris_connections.yaml"
    options = _options(case / "args.json", conns if conns.is_file() else None, case)
    sides = []
    for name in ("old.yaml", "new.yaml"):
        result = compile_text((case / name).read_text(encoding="utf-8"), name, options)
        if not result.ok:
            raise SystemExit(f"{case.name}/{name} does not compile:\n" + render_text([(name, result.diagnostics)]))
        sides.append(side_from_compile(name, result))
    return RENDERERS[fmt](diff(sides[0], sides[1], default_registry()))


DIFF_FORMATS = {"text": "expected.txt", "json": "expected.json", "markdown": "expected.md"}


def diff_cases() -> list[Path]:
    return sorted(p for p in (GOLDEN / "diff").iterdir() if (p / "old.yaml").is_file())


def valid_cases() -> list[Path]:
    return sorted(p for p in (GOLDEN / "valid").iterdir() if (p / "pipeline.yaml").is_file())


def invalid_cases() -> list[Path]:
    return sorted(p for p in (GOLDEN / "invalid").glob("*.yaml")
                  if not p.name.endswith(".connections.yaml"))


def expected_tree(case: Path) -> dict[str, bytes]:
    root = case / "expected"
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def update() -> None:
    import shutil

    for case in valid_cases():
        result = compile_valid(case)
        if not result.ok:
            raise SystemExit(f"{case.name}: a valid golden case does not compile:\n"
                             + render_text([(result.file, result.diagnostics)]))
        shutil.rmtree(case / "expected", ignore_errors=True)
        for relative, data in result.artifacts.items():
            target = case / "expected" / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        print(f"updated golden/valid/{case.name}/expected ({len(result.artifacts)} files)")
    for path in invalid_cases():
        result, rendered = compile_invalid(path)
        path.with_suffix(".txt").write_text(rendered, encoding="utf-8")
        print(f"updated golden/invalid/{path.with_suffix('.txt').name}")
    for case in diff_cases():
        for fmt, name in DIFF_FORMATS.items():
            (case / name).write_text(diff_output(case, fmt), encoding="utf-8")
        print(f"updated golden/diff/{case.name}/expected.*")


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        raise SystemExit("usage: python tests/compiler/golden_harness.py --update")
    update()
