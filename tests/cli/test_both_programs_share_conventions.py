"""`omlc` and `osiris` follow one set of conventions: exit codes, the error guard, --debug and
OSIRIS_DEBUG, a closed stdout, a missing optional dependency, an unknown command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from osiris.cli import omlc, osiris
from osiris.cli.exits import ExitCode

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "examples" / "quickstart" / "pipeline.yaml"
PROGRAMS = {"omlc": omlc.main, "osiris": osiris.main}


def _boom_compile(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    import osiris.compiler.api as compiler_api

    def boom(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(compiler_api, "compile_path", boom)


@pytest.mark.parametrize("prog", PROGRAMS)
def test_an_internal_error_is_one_line_and_exit_3_in_both(prog, monkeypatch, capsys, tmp_path) -> None:
    monkeypatch.delenv("OSIRIS_DEBUG", raising=False)
    monkeypatch.setenv("SHOP_DB_PASSWORD", "hunter2-secret")
    _boom_compile(monkeypatch, RuntimeError("bug near hunter2-secret"))
    code = PROGRAMS[prog](["compile", str(QUICKSTART), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == ExitCode.INTERNAL == 3
    assert f"{prog}: internal error[OML090]: RuntimeError: bug near ***" in err
    assert "Traceback" not in err and "hunter2-secret" not in err


@pytest.mark.parametrize("how", ["flag", "env"])
@pytest.mark.parametrize("prog", PROGRAMS)
def test_debug_flag_and_env_show_a_masked_traceback_without_locals(prog, how, monkeypatch, capsys, tmp_path):
    monkeypatch.delenv("OSIRIS_DEBUG", raising=False)
    monkeypatch.setenv("SHOP_DB_PASSWORD", "hunter2-secret")
    if how == "env":
        monkeypatch.setenv("OSIRIS_DEBUG", "1")
    _boom_compile(monkeypatch, RuntimeError("bug near hunter2-secret"))
    argv = ["compile", str(QUICKSTART), "--out", str(tmp_path / "out")]
    code = PROGRAMS[prog](["--debug", *argv] if how == "flag" else argv)
    err = capsys.readouterr().err
    assert code == 3
    assert "Traceback (most recent call last)" in err and "in boom" in err
    assert "hunter2-secret" not in err
    assert "kwargs =" not in err and "args =" not in err  # no local variables


@pytest.mark.parametrize("prog", PROGRAMS)
def test_a_missing_optional_dependency_names_the_pip_extra_exit_2(prog, monkeypatch, capsys, tmp_path) -> None:
    _boom_compile(monkeypatch, ModuleNotFoundError("No module named 'duckdb'", name="duckdb"))
    code = PROGRAMS[prog](["compile", str(QUICKSTART), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == ExitCode.USAGE
    assert "osiris-oml[run]" in err and "duckdb" in err and "internal error" not in err


def test_a_missing_module_that_is_no_extra_is_an_internal_error(monkeypatch, capsys, tmp_path) -> None:
    _boom_compile(monkeypatch, ModuleNotFoundError("No module named 'nonesuch'", name="nonesuch"))
    assert omlc.main(["compile", str(QUICKSTART), "--out", str(tmp_path / "out")]) == 3
    assert "internal error[OML090]: ModuleNotFoundError" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "nearest"), [
    (["omlc", "compil", "x.yaml"], "'compile'"),
    (["osiris", "compil", "x.yaml"], "'compile'"),
    (["osiris", "--debug", "lgos", "list"], "'logs'"),
    (["osiris", "logs", "bundel", "last"], "'bundle'"),
    (["osiris", "oml", "valdate", "x.yaml"], "'validate'"),
])
def test_an_unknown_command_names_the_nearest_one_exit_2(argv, nearest, capsys) -> None:
    assert PROGRAMS[argv[0]](argv[1:]) == 2
    err = capsys.readouterr().err
    assert "unknown command" in err and f"did you mean {nearest}?" in err


@pytest.mark.parametrize("prog", PROGRAMS)
def test_a_closed_stdout_exits_141_quietly_in_both(prog, tmp_path) -> None:
    argv = ["explain", "--markdown"] if prog == "omlc" else ["components", "list"]
    child = subprocess.Popen([sys.executable, "-m", f"osiris.cli.{prog}", *argv], cwd=tmp_path,
                             env={**os.environ, "PYTHONPATH": str(REPO)},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()
    with child.stderr:
        stderr = child.stderr.read().decode()
    assert child.wait(timeout=60) == ExitCode.BROKEN_PIPE == 141, stderr
    assert stderr == ""


def test_the_runtime_and_chat_codes_agree_with_the_enum() -> None:
    from osiris.cli import signals
    from osiris.llm import chat
    from osiris.runtime import run

    assert (run.EXIT_OK, run.EXIT_FAILED, run.EXIT_USAGE, run.EXIT_CANCELLED) == (0, 1, 2, 130)
    assert (chat.EXIT_OK, chat.EXIT_FAILED, chat.EXIT_CANCELLED) == (0, 1, 130)
    assert (signals.EXIT_INTERRUPTED, signals.EXIT_TERMINATED) == (ExitCode.CANCELLED, ExitCode.TERMINATED)


def test_omlc_write_errors_follow_format_json(tmp_path, capsys) -> None:
    import json

    blocker = tmp_path / "out"
    blocker.write_text("a file, not a directory")
    assert omlc.main(["compile", str(QUICKSTART), "--out", str(blocker), "--format", "json"]) == 1
    captured = capsys.readouterr()
    body = json.loads(captured.out)
    [diagnostic] = body["files"][0]["diagnostics"]
    assert diagnostic["code"] == "OML091" and diagnostic["file"] == str(blocker)
    assert body["summary"]["errors"] == 1 and captured.err == ""


def test_omlc_write_errors_follow_format_sarif(tmp_path, capsys) -> None:
    import json

    blocker = tmp_path / "out"
    blocker.write_text("x")
    assert omlc.main(["compile", str(QUICKSTART), "--out", str(blocker), "--format", "sarif"]) == 1
    [result] = json.loads(capsys.readouterr().out)["runs"][0]["results"]
    assert result["ruleId"] == "OML091"


def test_omlc_explain_json_prints_the_catalog_entry(capsys) -> None:
    import json

    assert omlc.main(["explain", "OML091", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "io_error"
    assert omlc.main(["explain", "--json"]) == 0
    assert {"OML090", "OML091"} <= {c["code"] for c in json.loads(capsys.readouterr().out)}


@pytest.mark.parametrize(("argv", "env", "debug"), [
    (["run", "p.yaml"], None, False),
    (["run", "p.yaml"], "1", True),
    (["run", "p.yaml"], "0", False),
    (["--debug", "run", "p.yaml"], None, True),
])
def test_osiris_debug_env_is_the_debug_flag_for_run(argv, env, debug, monkeypatch, tmp_path) -> None:
    import osiris.cli.commands.run_cmd as run_cmd

    seen: list[bool] = []
    monkeypatch.setattr(run_cmd, "run_command", lambda args, parser: seen.append(args.debug) or 0)
    monkeypatch.chdir(tmp_path)
    if env is None:
        monkeypatch.delenv("OSIRIS_DEBUG", raising=False)
    else:
        monkeypatch.setenv("OSIRIS_DEBUG", env)
    assert osiris.main(argv) == 0
    assert seen == [debug]
