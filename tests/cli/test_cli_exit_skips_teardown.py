"""The console scripts end with os._exit after every atexit handler, keeping codes and output.

cli/quick_exit.py skips CPython's module teardown (~50-60 ms a command). What must not change:
the exit code, every byte written to stdout and stderr, and the atexit work others registered
(logging's flush, temporary directories' finalizers, Ray's shutdown), which runs first.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _run(argv: list[str], cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=120)


def _in_process(program: str, args: list[str]) -> subprocess.CompletedProcess[str]:
    """The same command through main(argv): the quick exit is not armed there."""
    code = f"import sys\nfrom osiris.cli.{program} import main\nsys.exit(main({args!r}))"
    return _run([sys.executable, "-c", code])


def test_a_long_output_arrives_whole_through_a_pipe() -> None:
    quick = _run([str(BIN / "omlc"), "schema"])
    usual = _in_process("omlc", ["schema"])
    assert quick.returncode == usual.returncode == 0
    assert quick.stdout == usual.stdout and len(quick.stdout) > 10_000
    json.loads(quick.stdout)


@pytest.mark.parametrize(("program", "args", "code"), [
    ("omlc", ["check", "no-such-pipeline.yaml"], 1),
    ("omlc", ["compyle"], 2),
    ("osiris", ["run"], 2),
    ("osiris", ["--version"], 0),
])
def test_exit_codes_and_messages_are_those_of_main(program: str, args: list[str], code: int) -> None:
    quick = _run([str(BIN / program), *args])
    usual = _in_process(program, args)
    assert quick.returncode == usual.returncode == code
    assert (quick.stdout, quick.stderr) == (usual.stdout, usual.stderr)


def test_handlers_registered_later_run_first_and_the_teardown_is_skipped(tmp_path: Path) -> None:
    script = f"""
import atexit, sys, tempfile
from osiris.cli import quick_exit
quick_exit.arm()
kept = tempfile.TemporaryDirectory(dir={str(tmp_path)!r})        # cleaned by its weakref finalizer at exit
atexit.register(lambda: open({str(tmp_path / "handler")!r}, "w").write("ran"))
class Teardown:
    def __del__(self, open=open):  # bound now: builtins may be gone by the time teardown frees it
        open({str(tmp_path / "teardown")!r}, "w").write("ran")
keep = Teardown()                                                  # freed only by module teardown
print("written before the exit", end="")
sys.exit(quick_exit.leave_with(3))
"""
    done = _run([sys.executable, "-c", script])
    assert done.returncode == 3
    assert done.stdout == "written before the exit"
    assert (tmp_path / "handler").read_text() == "ran"
    assert not [p for p in tmp_path.iterdir() if p.is_dir()], "the temporary directory's finalizer did not run"
    assert not (tmp_path / "teardown").exists(), "the module teardown ran: the quick exit did not happen"


def test_an_unarmed_process_ends_as_usual(tmp_path: Path) -> None:
    script = f"""
import sys
from osiris.cli import quick_exit
quick_exit.leave_with(3)  # never armed (an in-process caller): no os._exit
class Teardown:
    def __del__(self, open=open):  # bound now: builtins may be gone by the time teardown frees it
        open({str(tmp_path / "teardown")!r}, "w").write("ran")
keep = Teardown()
sys.exit(0)
"""
    done = _run([sys.executable, "-c", script])
    assert done.returncode == 0
    assert (tmp_path / "teardown").read_text() == "ran"
