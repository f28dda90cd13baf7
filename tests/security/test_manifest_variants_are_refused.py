"""More ways to edit a compiled manifest than the first attacks: each is refused before anything runs.

Each attack edits a compiled directory (fingerprints recomputed where the attack needs them to
match) and runs the real `osiris run --manifest` in its own process with a timeout; the
refusal is checked with `manifest_attacks.assert_refused` (the code, a failed session with a
manifest_error event, exit 1, no traceback, no step started, nothing changed outside the
session). The last tests check that what the compiler writes still runs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from osiris.compiler.api import CompileOptions, compile_path, write_output
from osiris.oml.canonical import fingerprint
from tests.security.manifest_attacks import (
    SUPABASE,
    TWO_EXTRACTORS,
    assert_refused,
    compiled_project,
    osiris_run,
    snapshot,
    step,
    tamper,
)

pytestmark = pytest.mark.timeout(120)


def _refused(tmp_path: Path, code: str, edit=None, raw=None, **project: Any) -> dict[str, Any]:  # noqa: ANN001
    proj = compiled_project(tmp_path, **project)
    if edit is not None:
        tamper(proj / "compiled", edit)
    if raw is not None:
        raw(proj / "compiled")
    before = snapshot(tmp_path)
    return assert_refused(tmp_path, proj, before, osiris_run(proj), code)


# -- cfg and meta.json are strict JSON ------------------------------------------------------------
def _duplicate_path(compiled: Path) -> None:
    """The attacker's config: `path` twice. json.loads keeps the last, so the fingerprint of the
    innocent value matches; a reader that keeps the first sees the other file."""
    cfgs = json.loads((compiled / "cfg.json").read_text(encoding="utf-8"))
    text = json.dumps(cfgs).replace('"write": {', '"write": {"path": "../../evil.csv", ', 1)
    (compiled / "cfg.json").write_text(text, encoding="utf-8")
    assert fingerprint(json.loads((compiled / "cfg.json").read_text())["write"]) == fingerprint(cfgs["write"])


def _duplicate_step(compiled: Path) -> None:
    """cfg.json naming a step twice: the same trick one level up."""
    cfgs = json.loads((compiled / "cfg.json").read_text(encoding="utf-8"))
    evil = json.dumps({**cfgs["write"], "path": "../../evil.csv"})
    (compiled / "cfg.json").write_text('{"write": ' + evil + ", " + json.dumps(cfgs)[1:], encoding="utf-8")


def _duplicate_fingerprints(compiled: Path) -> None:
    meta = json.loads((compiled / "meta.json").read_text(encoding="utf-8"))
    body = json.dumps(meta)[1:-1]
    (compiled / "meta.json").write_text('{"fingerprints": {}, ' + body + "}", encoding="utf-8")


def _deep(name: str, depth: int):  # noqa: ANN202
    def raw(compiled: Path) -> None:
        target = compiled / name
        data = json.loads(target.read_text(encoding="utf-8"))
        (data["write"] if name == "cfg.json" else data)["extra"] = "__DEEP__"
        target.write_text(json.dumps(data).replace('"__DEEP__"', "[" * depth + "]" * depth), encoding="utf-8")
    raw.__name__ = f"{name.replace('/', '_')}_{depth}_deep"
    return raw


@pytest.mark.parametrize("raw", [
    _duplicate_path, _duplicate_step, _duplicate_fingerprints,
    _deep("cfg.json", 200_000), _deep("meta.json", 200_000),  # past Python's recursion limit
    _deep("cfg.json", 150), _deep("meta.json", 150),  # parsed, but deeper than any compiled file
], ids=lambda f: f.__name__.strip("_"))
def test_json_files_with_repeated_keys_or_deep_nesting_are_malformed(tmp_path, raw):  # noqa: ANN001
    status = _refused(tmp_path, "OML092", raw=raw)
    assert "RecursionError" not in json.dumps(status)
    assert not (tmp_path / "evil.csv").exists()


# -- the schema: waits, counts, types ----------------------------------------------------------------
def _retry(**values: Any):  # noqa: ANN202
    def edit(data, cfgs) -> None:  # noqa: ANN001
        step(data, "read")["retry"].update(values)
    edit.__name__ = "_".join(f"{k}={v}" for k, v in values.items())
    return edit


def _manifest_version(value: Any):  # noqa: ANN202, ANN401
    def edit(data, cfgs) -> None:  # noqa: ANN001
        data["manifest_version"] = value
    edit.__name__ = f"manifest_version={value!r}"
    return edit


@pytest.mark.parametrize("edit", [
    _retry(backoff_seconds=1e300, max_attempts=3),  # overflowed the wait: an internal error
    _retry(max_backoff_seconds=1e300, max_attempts=3),
    _retry(backoff_seconds=86401),
    _retry(max_attempts=0), _retry(max_attempts=-1), _retry(max_attempts=10**30),
    _retry(backoff_seconds=-1),
    _manifest_version(1), _manifest_version(1.0), _manifest_version(None), _manifest_version([]),
    _manifest_version("1"), _manifest_version("2"), _manifest_version("4"), _manifest_version("3\n"),
    _manifest_version("\u00b2"), _manifest_version("9" * 5000),  # digits `int` refuses or cannot bound
], ids=lambda f: f.__name__)
def test_schema_values_out_of_range_are_refused(tmp_path, edit):  # noqa: ANN001
    _refused(tmp_path, "OML092", edit)


@pytest.mark.parametrize("bad", [
    "re\u0430d",  # Cyrillic a: a homoglyph of `read`
    "read\u200f", "read\u202e", "\u202eread",  # right-to-left marks
    "read\x00", "read\n", "rea\nd", "\uff52ead",  # NUL, newlines, a fullwidth letter
])
def test_unicode_tricks_in_step_ids_are_refused(tmp_path, bad):  # noqa: ANN001
    def edit(data, cfgs) -> None:  # noqa: ANN001
        step(data, "read")["id"] = bad
    _refused(tmp_path, "OML092", edit)


# -- the graph -----------------------------------------------------------------------------------
def _writer_needs_but_reads_nothing(data, cfgs) -> None:  # noqa: ANN001
    step(data, "write")["inputs"] = {}
    data["edges"] = []


def _order_twice(data, cfgs) -> None:  # noqa: ANN001
    data["order"] = ["read", "read", "write"]


def _order_enormous(data, cfgs) -> None:  # noqa: ANN001
    data["order"] = data["order"] + ["read"] * 100_000


def _input_reads_itself(data, cfgs) -> None:  # noqa: ANN001
    step(data, "write")["inputs"] = {"read": {"step": "write", "output": "df"}}
    data["edges"] = [{"from": "write", "output": "df", "to": "write", "input": "read"}]


def _unknown_output(data, cfgs) -> None:  # noqa: ANN001
    step(data, "write")["inputs"] = {"read": {"step": "read", "output": "nope"}}
    data["edges"] = [{"from": "read", "output": "nope", "to": "write", "input": "read"}]


def _extractor_reads_another_output(data, cfgs) -> None:  # noqa: ANN001
    data["steps"].insert(1, {**step(data, "read"), "id": "read2",
                             "needs": ["read"], "level": 1,
                             "inputs": {"renamed": {"step": "read", "output": "df"}}})
    cfgs["read2"] = cfgs["read"]
    data["edges"].insert(0, {"from": "read", "output": "df", "to": "read2", "input": "renamed"})
    data["order"], data["levels"] = ["read", "read2", "write"], [["read"], ["read2", "write"]]


@pytest.mark.parametrize("edit", [_writer_needs_but_reads_nothing, _order_twice, _order_enormous,
                                  _input_reads_itself, _unknown_output, _extractor_reads_another_output],
                         ids=lambda f: f.__name__.strip("_"))
def test_more_inconsistent_graphs_are_refused(tmp_path, edit):  # noqa: ANN001
    _refused(tmp_path, "OML094", edit)


# -- connections --------------------------------------------------------------------------------------
CONNECTIONS = ("version: 1\nconnections:\n  supabase:\n    main:\n      url: http://127.0.0.1:9\n"
               "      key: ${SUPA_KEY}\n")


def _alias(ref: str | None):  # noqa: ANN202
    def edit(data, cfgs) -> None:  # noqa: ANN001
        step(data, "write")["connection"] = ref
        data["connections"] = [ref] if ref else []
    return edit


@pytest.mark.parametrize(("ref", "connections", "message"), [
    ("@supabase.ghost", CONNECTIONS, "uses @supabase.ghost, which osiris_connections.yaml does not define"),
    (None, CONNECTIONS, "needs a `supabase` connection and osiris_connections.yaml has no default alias"),
    ("@supabase.main", None, "uses @supabase.main, which (no connections file) does not define"),
], ids=["unknown-alias", "no-default-alias", "no-connections-file"])
def test_a_connection_the_file_does_not_define_is_refused_before_any_step(tmp_path, ref, connections, message):  # noqa: ANN001
    proj = compiled_project(tmp_path, SUPABASE, CONNECTIONS)
    tamper(proj / "compiled", _alias(ref))
    if connections is None:
        (proj / "osiris_connections.yaml").unlink()
    before = snapshot(tmp_path)
    result = osiris_run(proj, env={"SUPA_KEY": "k"})
    assert_refused(tmp_path, proj, before, result, "OML095")
    assert message in result.stderr


# -- what the compiler writes still runs ---------------------------------------------------------------
def test_an_extractor_that_needs_another_extractor_runs_from_its_manifest(tmp_path):
    """Its `needs` compiles to an input named after the step it waits for; that is not a data input."""
    proj = compiled_project(tmp_path, TWO_EXTRACTORS)
    result = osiris_run(proj)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (proj / "out" / "copy.csv").read_text(encoding="utf-8") == 'id,name\n1,"a"\n2,"b"\n'


def test_a_manifest_larger_than_the_input_cap_still_runs(tmp_path):
    """The compiler writes more than it reads (a 2 MB, 10,000-step pipeline is a 5 MB manifest):
    a compiled manifest may be 16 times the input cap (at least 64 MiB), so what omlc writes, osiris runs."""
    steps = "\n".join(
        f"  - {{id: copy{i}, component: filesystem.csv_writer, needs: [read], config: {{path: out/c{i}.csv}}}}"
        for i in range(40))
    pipeline = ('oml_version: "0.1.0"\nname: fan\nsteps:\n  - id: read\n    component: filesystem.csv_extractor\n'
                f"    config: {{path: data/in.csv}}\n{steps}\n")
    cap = len(pipeline.encode()) + 100
    project = tmp_path / "proj"
    (project / "data").mkdir(parents=True)
    (project / "data" / "in.csv").write_text("id\n1\n", encoding="utf-8")
    (project / "pipeline.yaml").write_text(pipeline, encoding="utf-8")
    env = {"OSIRIS_MAX_INPUT_SIZE": str(cap)}
    result = compile_path(project / "pipeline.yaml", CompileOptions(cwd=project, env=env))
    assert result.ok, result.diagnostics
    write_output(result, project / "compiled")
    assert (project / "compiled" / "manifest.yaml").stat().st_size > cap
    run = osiris_run(project, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    assert len(list((project / "out").iterdir())) == 40


def test_a_manifest_file_beyond_the_size_limit_is_refused_unread(tmp_path):
    """A cfg.json of 64 MiB + 1 (sparse: the size is checked before a byte is read)."""
    def enormous(compiled: Path) -> None:
        with open(compiled / "cfg.json", "r+b") as file:
            file.truncate(64 * 2**20 + 1)

    status = _refused(tmp_path, "OML092", raw=enormous)
    assert "more than a manifest file may be (67,108,864" in status["error"]["message"], status


# -- what runs is what was verified -------------------------------------------------------------------
SWAP_DURING_RUN = """\
import sys
from pathlib import Path

import osiris.compiler.manifest_verify as verify
from osiris.cli.osiris import main

original = verify.verify_manifest


def verify_then_swap(*args, **kwargs):
    original(*args, **kwargs)
    # the attacker's moment: everything was checked, nothing copied or run yet
    for name, data in ((n, Path(sys.argv[1] + "." + n.replace("/", "_")).read_bytes()) for n in sys.argv[2:]):
        Path("compiled", name).write_bytes(data)


verify.verify_manifest = verify_then_swap
sys.exit(main(["run", "--manifest", "compiled"]))
"""


@pytest.mark.parametrize("swapped", [["cfg.json"], ["cfg.json", "manifest.yaml", "meta.json"]],
                         ids=["cfg", "whole-directory"])
def test_files_swapped_after_verification_are_neither_run_nor_copied(tmp_path, swapped):  # noqa: ANN001
    """A cfg (or every file, fingerprints recomputed) replaced between the check and the copy:
    the session holds, and the run uses, exactly the bytes that were verified."""
    proj = compiled_project(tmp_path)
    compiled = proj / "compiled"
    verified = {name: (compiled / name).read_bytes() for name in ("cfg.json", "manifest.yaml", "meta.json")}
    evil = tmp_path / "evil" / "compiled"
    shutil.copytree(compiled, evil)

    def retarget(data, cfgs) -> None:  # noqa: ANN001
        cfgs["write"]["path"] = "out/evil.csv"

    tamper(evil, retarget)
    for name in swapped:
        (tmp_path / f"swap.{name.replace('/', '_')}").write_bytes((evil / name).read_bytes())
    script = tmp_path / "swap_run.py"
    script.write_text(SWAP_DURING_RUN, encoding="utf-8")
    # the installed package, as osiris_run uses: not this file's tree, which under mutmut holds trampolines
    # that only work inside its test process
    result = subprocess.run([sys.executable, str(script), str(tmp_path / "swap"), *swapped], cwd=proj,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (compiled / "cfg.json").read_bytes() != verified["cfg.json"]  # the swap happened
    assert (proj / "out" / "copy.csv").is_file()
    assert not (proj / "out" / "evil.csv").exists()
    (session,) = (proj / ".osiris" / "sessions").iterdir()
    for name, data in verified.items():
        assert (session / "compiled" / name).read_bytes() == data, name
